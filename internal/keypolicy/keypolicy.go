// Package keypolicy is sealkeep's key and certificate policy: which signing
// keys it generates and accepts, and which certificates may carry a seal.
//
// # Algorithms
//
// The policy follows NIST SP 800-57 Part 1 (at least 112-bit security) and
// what PDF validators accept for PAdES signatures:
//
//   - RSA-2048, RSA-3072, RSA-4096 (the default), public exponent 65537 only;
//     other sizes (RSA-1024, RSA-2049, RSA-8192) are refused so that every
//     key is one of three well-tested shapes.
//   - ECDSA-P256 and ECDSA-P384. P-192 and P-224 are refused (P-224 is
//     112-bit but poorly supported by PDF validators), P-521 is refused
//     because the design's allow-list stops at P-384 and some validators
//     still reject it; secp256k1, brainpool and explicit curve parameters are
//     refused.
//   - ML-DSA-44, ML-DSA-65, ML-DSA-87 (FIPS 204), for post-quantum seals.
//
// Ed25519 is refused: PAdES validators (Adobe Acrobat among them) do not
// accept it in PDF signatures. DSA is refused outright.
//
// Keys the x509 parser itself rejects (secp256k1, explicit parameters) reach
// the user as a policy error too: see [ExplainUnparsable].
//
// # Certificates
//
// [CheckLeaf] decides whether a certificate may seal documents (validity,
// not a CA, key usage, extended key usage); [CheckChain] decides whether the
// supplied chain links up to its top. Each failure wraps one of the
// exported sentinels, so that callers can tell them apart with errors.Is.
package keypolicy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"sealkeep/internal/errs"
)

// Algorithm names accepted by [Generate] and returned by [CheckPublicKey].
const (
	RSA2048   = "RSA-2048"
	RSA3072   = "RSA-3072"
	RSA4096   = "RSA-4096"
	ECDSAP256 = "ECDSA-P256"
	ECDSAP384 = "ECDSA-P384"
	MLDSA44   = "ML-DSA-44"
	MLDSA65   = "ML-DSA-65"
	MLDSA87   = "ML-DSA-87"

	// Default is the algorithm used when none is configured.
	Default = RSA4096
)

// Policy errors. Every error returned by this package wraps exactly one of
// them.
var (
	// ErrWeakKey means the key is of an allowed family but too weak or of an
	// unsupported shape: RSA below 2048 bits or of an odd size, an exponent
	// other than 65537, a curve outside P-256/P-384.
	ErrWeakKey = errs.New(errs.Invalid, "key is weaker than the key policy allows")
	// ErrUnsupportedAlgorithm means the key's algorithm (Ed25519, DSA, ...)
	// is not allowed for PDF sealing at all.
	ErrUnsupportedAlgorithm = errs.New(errs.Invalid, "key algorithm is not allowed by the key policy")
	// ErrExpired means the certificate's validity period has ended.
	ErrExpired = errs.New(errs.Invalid, "certificate has expired")
	// ErrNotYetValid means the certificate's validity period has not begun.
	ErrNotYetValid = errs.New(errs.Invalid, "certificate is not yet valid")
	// ErrLeafIsCA means the signing certificate is a CA certificate
	// (basicConstraints CA:TRUE or keyCertSign usage).
	ErrLeafIsCA = errs.New(errs.Invalid, "signing certificate is a CA certificate")
	// ErrKeyUsage means the certificate's key usage does not allow document
	// signatures (digitalSignature or nonRepudiation).
	ErrKeyUsage = errs.New(errs.Invalid, "certificate key usage does not allow document signing")
	// ErrExtKeyUsage means the certificate's extended key usage excludes
	// document signing.
	ErrExtKeyUsage = errs.New(errs.Invalid, "certificate extended key usage does not allow document signing")
	// ErrChain means the supplied certificate chain does not link.
	ErrChain = errs.New(errs.Invalid, "certificate chain is broken")
	// ErrMismatch means a private key and a certificate (or two public keys
	// that must be equal) do not match.
	ErrMismatch = errs.New(errs.Verification, "key does not match the certificate")
	// ErrCriticalExtension means a certificate carries a critical extension
	// that crypto/x509 does not process: RFC 5280 makes relying parties,
	// sealkeep's own verifier included, reject it, so no seal made with it
	// would verify.
	ErrCriticalExtension = errs.New(errs.Invalid, "certificate has a critical extension that cannot be processed")
)

var generators = map[string]func() (crypto.Signer, error){
	RSA2048:   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	RSA3072:   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) },
	RSA4096:   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 4096) },
	ECDSAP256: func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	ECDSAP384: func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
	MLDSA44:   func() (crypto.Signer, error) { return mldsa.GenerateKey(mldsa.MLDSA44()) },
	MLDSA65:   func() (crypto.Signer, error) { return mldsa.GenerateKey(mldsa.MLDSA65()) },
	MLDSA87:   func() (crypto.Signer, error) { return mldsa.GenerateKey(mldsa.MLDSA87()) },
}

// Algorithms lists the allowed algorithm names, sorted.
func Algorithms() []string {
	out := make([]string, 0, len(generators))
	for a := range generators {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// allowed is the list as users read it in error messages.
func allowed() string {
	return "allowed: RSA-2048, RSA-3072, RSA-4096 (e=65537), ECDSA-P256, ECDSA-P384, ML-DSA-44/65/87"
}

// Generate creates a new key of algorithm alg ("" means [Default]).
func Generate(alg string) (crypto.Signer, error) {
	if alg == "" {
		alg = Default
	}
	g, ok := generators[alg]
	if !ok {
		return nil, fmt.Errorf("%w: %q (%s)", ErrUnsupportedAlgorithm, alg, allowed())
	}
	return g()
}

// CheckPublicKey returns the policy name of pub's algorithm, or an error
// wrapping [ErrWeakKey] or [ErrUnsupportedAlgorithm] that names the policy.
func CheckPublicKey(pub crypto.PublicKey) (alg string, err error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", fmt.Errorf("%w: empty RSA key", ErrWeakKey)
		}
		bits := k.N.BitLen()
		switch {
		case bits < 2048:
			return "", fmt.Errorf("%w: RSA-%d is below the 2048-bit minimum (NIST SP 800-57); %s", ErrWeakKey, bits, allowed())
		case bits != 2048 && bits != 3072 && bits != 4096:
			return "", fmt.Errorf("%w: RSA-%d is not an allowed size (2048, 3072 or 4096 bits); %s", ErrWeakKey, bits, allowed())
		case k.E != 65537:
			return "", fmt.Errorf("%w: RSA public exponent %d is not allowed (only 65537); %s", ErrWeakKey, k.E, allowed())
		}
		return fmt.Sprintf("RSA-%d", bits), nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "", fmt.Errorf("%w: empty EC key", ErrWeakKey)
		}
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		}
		return "", fmt.Errorf("%w: EC curve %s is not allowed; %s", ErrWeakKey, k.Curve.Params().Name, allowed())
	case *mldsa.PublicKey:
		if k == nil {
			return "", fmt.Errorf("%w: empty ML-DSA key", ErrWeakKey)
		}
		name := k.Parameters().String()
		if _, ok := generators[name]; !ok {
			return "", fmt.Errorf("%w: %s; %s", ErrUnsupportedAlgorithm, name, allowed())
		}
		return name, nil
	case ed25519.PublicKey:
		return "", fmt.Errorf("%w: Ed25519 keys cannot seal PDFs (PAdES validators such as Adobe Acrobat do not accept them); %s", ErrUnsupportedAlgorithm, allowed())
	case nil:
		return "", fmt.Errorf("%w: no public key", ErrUnsupportedAlgorithm)
	default:
		return "", fmt.Errorf("%w: %T keys (DSA and others) are not allowed; %s", ErrUnsupportedAlgorithm, pub, allowed())
	}
}

// PublicKeysEqual reports whether a and b are the same public key. Keys of
// different types, and keys without an Equal method, are never equal.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	if a == nil || b == nil {
		return false
	}
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// Thumbprint returns the SHA-256 of der (a certificate or a public key) as
// lowercase hexadecimal.
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
