package signer_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/signer"
	_ "sealkeep/internal/signer/fake"
)

// tampering signs with its key, then lets edit change the signature.
type tampering struct {
	crypto.Signer
	edit func(digest []byte, opts crypto.SignerOpts, sig []byte) []byte
}

func (s tampering) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if err != nil {
		return nil, err
	}
	return s.edit(digest, opts, sig), nil
}

func flip(_ []byte, _ crypto.SignerOpts, sig []byte) []byte {
	sig[len(sig)-1] ^= 0x80
	return sig
}

func TestVerified(t *testing.T) {
	digest := sha256.Sum256([]byte("sealed drawing"))
	rsaKey := pkitest.Key(t, keypolicy.RSA2048, "verified").(*rsa.PrivateKey)
	ecKey := pkitest.Key(t, keypolicy.ECDSAP256, "verified")
	mlKey := pkitest.Key(t, keypolicy.MLDSA44, "verified")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)

	// What a KMS emulator does: PSS with the maximum salt length, whatever
	// the caller asked for.
	maxSalt := func(d []byte, opts crypto.SignerOpts, _ []byte) []byte {
		sig, err := rsa.SignPSS(rand.Reader, rsaKey, opts.HashFunc(), d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pssEqualsHash := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	// A signature by another key of the same type.
	otherKey := pkitest.Key(t, keypolicy.RSA2048, "verified other")
	otherSig := func(d []byte, opts crypto.SignerOpts, _ []byte) []byte {
		sig, _ := otherKey.Sign(rand.Reader, d, opts)
		return sig
	}

	tests := []struct {
		name string
		s    crypto.Signer
		msg  []byte
		opts crypto.SignerOpts
		want error
	}{
		{"RSA PKCS#1 v1.5", rsaKey, digest[:], crypto.SHA256, nil},
		{"RSA PKCS#1 v1.5 flipped", tampering{rsaKey, flip}, digest[:], crypto.SHA256, signer.ErrBadSignature},
		{"RSA PKCS#1 v1.5 other key", tampering{rsaKey, otherSig}, digest[:], crypto.SHA256, signer.ErrBadSignature},
		{"RSA-PSS salt = hash", rsaKey, digest[:], pssEqualsHash, nil},
		{"RSA-PSS maximum salt", tampering{rsaKey, maxSalt}, digest[:], pssEqualsHash, nil},
		{"RSA-PSS flipped", tampering{rsaKey, flip}, digest[:], pssEqualsHash, signer.ErrBadSignature},
		{"RSA PKCS#1 v1.5 asked, PSS returned", tampering{rsaKey, maxSalt}, digest[:], crypto.SHA256, signer.ErrBadSignature},
		{"ECDSA", ecKey, digest[:], crypto.SHA256, nil},
		{"ECDSA flipped", tampering{ecKey, flip}, digest[:], crypto.SHA256, signer.ErrBadSignature},
		{"ML-DSA", mlKey, []byte("message"), crypto.Hash(0), nil},
		{"ML-DSA with context", mlKey, []byte("message"), &mldsa.Options{Context: "sealkeep"}, nil},
		{"ML-DSA flipped", tampering{mlKey, flip}, []byte("message"), crypto.Hash(0), signer.ErrBadSignature},
		{"Ed25519 unsupported", edKey, []byte("message"), crypto.Hash(0), signer.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := signer.Verified(tc.s)
			if !keypolicy.PublicKeysEqual(v.Public(), tc.s.Public()) {
				t.Fatal("Public differs from the wrapped signer's")
			}
			sig, err := v.Sign(rand.Reader, tc.msg, tc.opts)
			if tc.want == nil {
				if err != nil || len(sig) == 0 {
					t.Fatalf("Sign = %x, %v", sig, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || sig != nil {
				t.Fatalf("Sign = %x, %v; want nil, %v", sig, err, tc.want)
			}
		})
	}
}

func TestVerifiedKeepsContextSigner(t *testing.T) {
	ctx := context.Background()
	s, err := signer.Open(ctx, "fake:verified-context")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := signer.Verified(s).(signer.ContextSigner); !ok {
		t.Error("Verified dropped ContextSigner")
	}
	if _, ok := signer.Verified(pkitest.Key(t, keypolicy.ECDSAP256, "plain")).(signer.ContextSigner); ok {
		t.Error("Verified added ContextSigner to a plain signer")
	}
	digest := sha256.Sum256([]byte("x"))
	bad, err := signer.Open(ctx, "fake:verified-context?fail=badsig")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.SignContext(ctx, bad, rand.Reader, digest[:], crypto.SHA256); err != nil {
		t.Fatalf("the unwrapped fake badsig signer should return its corrupted signature: %v", err)
	}
	if _, err := signer.SignContext(ctx, signer.Verified(bad), rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, signer.ErrBadSignature) {
		t.Fatalf("Verified(badsig).SignContext error = %v, want ErrBadSignature", err)
	}
	denied, _ := signer.Open(ctx, "fake:verified-context?fail=denied")
	if _, err := signer.SignContext(ctx, signer.Verified(denied), rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("Verified passes provider errors through: got %v", err)
	}
}
