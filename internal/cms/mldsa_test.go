package cms

import (
	"context"
	"crypto"
	"crypto/mldsa"
	"errors"
	"testing"
)

// TestMLDSA signs and verifies with ML-DSA (RFC 9882: pure ML-DSA over the
// DER signed attributes, SHA-512 messageDigest). OpenSSL 3.0 has no ML-DSA,
// so the oracle here is crypto/mldsa alone, plus the tamper checks.
func TestMLDSA(t *testing.T) {
	pk := getPKI(t)
	for _, params := range []mldsa.Parameters{mldsa.MLDSA44(), mldsa.MLDSA65(), mldsa.MLDSA87()} {
		t.Run(params.String(), func(t *testing.T) {
			key, err := mldsa.GenerateKey(params)
			if err != nil {
				t.Fatal(err)
			}
			cert := pk.newLeaf(t, "Jane Doe, P.E. "+params.String(), key.Public(), nil)
			opts := SignOptions{Signer: &opaqueSigner{s: key}, Certificate: cert, Chain: pk.opts("P-256").Chain}
			opts.Digest = AutoDigest(key.Public())
			if opts.Digest != crypto.SHA512 {
				t.Fatalf("AutoDigest = %v, want SHA-512", opts.Digest)
			}
			digest := digestOf(opts.Digest, []byte("post-quantum seal"))
			der, err := SignDetached(context.Background(), digest, opts)
			if err != nil {
				t.Fatal(err)
			}
			est, err := EstimateSize(opts)
			if err != nil || est != len(der) {
				t.Errorf("EstimateSize %d (%v), actual %d: ML-DSA signatures have a fixed size", est, err, len(der))
			}
			sd := mustParse(t, der)
			res, err := sd.Verify(digest)
			if err != nil {
				t.Fatal(err)
			}
			if res.SignatureAlgorithm != params.String() || !res.SigningCertV2OK {
				t.Errorf("result %+v", res)
			}
			// The signature value and the signed attributes are bound.
			sig := sd.si.signature
			sig[10] ^= 1
			if _, err := sd.Verify(digest); !errors.Is(err, ErrSignatureInvalid) {
				t.Errorf("flipped signature: %v", err)
			}
			sig[10] ^= 1
			if params == mldsa.MLDSA44() {
				tamperLoop(t, der, digest, pk.inter.Raw)
			}
		})
	}
	// A PSS request for an ML-DSA key is refused.
	key, _ := mldsa.GenerateKey(mldsa.MLDSA44())
	cert := pk.newLeaf(t, "pss", key.Public(), nil)
	if _, err := EstimateSize(SignOptions{Signer: key, Certificate: cert, PSS: true}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("PSS with ML-DSA: %v", err)
	}
}
