// Package local is the signer for keys held by sealkeep itself: decrypt,
// sign, drop (DESIGN.md rule 1).
//
// # Decrypt, sign, drop
//
// A [Signer] holds only the public key and a function that returns the
// key's plaintext (custody unwraps the org DEK and decrypts the key blob).
// Every signature calls that function, parses the plaintext, signs, and then
// zeroes the plaintext and the parsed key before returning, on every path:
// success, error and panic. No private key is ever cached. The parsed key
// must match the public key the signer was built with, so a blob swapped
// for another key cannot sign.
//
// What is zeroed: the plaintext bytes; the big.Int words of D, the primes
// and the CRT values of an RSA key, and the FIPS module's own copy of the
// key (reached by reflection, since crypto/rsa does not expose it); the
// scalar of an ECDSA key; the whole of an ML-DSA key. What is not: the
// temporaries crypto/rsa and crypto/x509 allocate while parsing, and the
// derived key crypto/ecdsa keeps in an internal weak cache until the parsed
// key is garbage-collected. Built with GOEXPERIMENT=runtimesecret, the work
// runs inside runtime/secret.Do, which erases registers, stack and those
// heap allocations as well.
//
// # Stored form
//
// [Marshal] produces the plaintext that custody encrypts: PKCS #8 DER
// (versioned, strict DER, parsed by crypto/x509). For RSA it carries the
// CRT values, which crypto/rsa (Go 1.24 and later) uses as stored and
// checks instead of recomputing: p·q = N, d·e ≡ 1 mod p−1 and q−1,
// qInv·q ≡ 1 mod p, d ≡ dP, dQ. crypto/rsa also verifies every RSA
// signature with the public exponent before returning it, so a corrupted
// key fails instead of producing a faulty signature. A compact non-ASN.1
// form with the same values was measured and dropped: it saved 0.7% of an
// RSA-3072 signature (see BenchmarkLocalOverhead).
package local

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"

	"sealkeep/internal/errs"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
)

// ErrCorruptKey means the stored plaintext does not parse as a key, or
// parses as a key that fails its consistency checks.
var ErrCorruptKey = errs.New(errs.Verification, "stored private key is corrupt")

// Signer signs with a locally stored key by decrypting it for every
// signature. It implements [signer.ContextSigner] and is safe for
// concurrent use if open is.
type Signer struct {
	pub  crypto.PublicKey
	open func(ctx context.Context) ([]byte, error)
}

// New returns a signer for the key whose public half is pub. open returns
// a fresh copy of the key's plaintext (the output of [Marshal]) on every
// call; the signer zeroes whatever it returns after use, even with an
// error. pub must be allowed by the key policy.
func New(pub crypto.PublicKey, open func(ctx context.Context) ([]byte, error)) (*Signer, error) {
	if open == nil {
		return nil, fmt.Errorf("%w: local signer needs a key source", signer.ErrUnsupported)
	}
	if _, err := keypolicy.CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", signer.ErrUnsupported, err)
	}
	return &Signer{pub: pub, open: open}, nil
}

// Public returns the public key; it does no I/O.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign is SignContext with a background context. The rand argument is
// ignored: crypto/rand is always used.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext decrypts the key (through open), signs digest with opts,
// and zeroes the key material before it returns. For ML-DSA keys, digest is
// the message itself.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) (sig []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plaintext, err := s.open(ctx)
	defer clear(plaintext) // also when open failed after producing bytes
	if err != nil {
		return nil, fmt.Errorf("local key: %w", err)
	}
	run(func() { sig, err = signOnce(plaintext, s.pub, digest, opts) })
	return sig, err
}

// signOnce parses plaintext, signs and wipes the parsed key.
func signOnce(plaintext []byte, pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	key, err := parse(plaintext)
	if key != nil {
		defer Wipe(key)
	}
	if err != nil {
		return nil, err
	}
	if !keypolicy.PublicKeysEqual(key.Public(), pub) {
		return nil, fmt.Errorf("local key: %w: the stored private key is not the one this signer was built for", keypolicy.ErrMismatch)
	}
	return key.Sign(rand.Reader, digest, opts)
}

// parse reads the stored form, PKCS #8 DER, strictly (see strictPKCS8).
// crypto/x509 checks an RSA key's consistency while parsing it.
func parse(b []byte) (crypto.Signer, error) {
	if !strictPKCS8(b) {
		return nil, fmt.Errorf("%w: not the PKCS #8 encoding sealkeep stores", ErrCorruptKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: not a consistent PKCS #8 private key", ErrCorruptKey)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			Wipe(k)
			return nil, fmt.Errorf("%w: multi-prime RSA keys are not supported", ErrCorruptKey)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case *mldsa.PrivateKey:
		return k, nil
	}
	if s, ok := k.(crypto.Signer); ok {
		Wipe(s)
	}
	return nil, fmt.Errorf("%w: stored %T keys are not allowed", ErrCorruptKey, k)
}

// Marshal returns the stored plaintext form of key, PKCS #8 DER; key must
// be allowed by the key policy. The caller encrypts it and zeroes it.
func Marshal(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", signer.ErrUnsupported)
	}
	if _, err := keypolicy.CheckPublicKey(key.Public()); err != nil {
		return nil, fmt.Errorf("%w: %w", signer.ErrUnsupported, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return nil, fmt.Errorf("%w: multi-prime RSA keys cannot be stored", signer.ErrUnsupported)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptKey, err)
		}
		return x509.MarshalPKCS8PrivateKey(k)
	case *ecdsa.PrivateKey, *mldsa.PrivateKey:
		return x509.MarshalPKCS8PrivateKey(k)
	}
	return nil, fmt.Errorf("%w: %T cannot be stored locally", signer.ErrUnsupported, key)
}
