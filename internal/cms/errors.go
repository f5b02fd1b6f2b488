package cms

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them (or a
// sentinel of [sealkeep/internal/signer] for failures of the signing key), so
// that callers can classify a failure with errors.Is while the message says
// precisely which field was wrong.
var (
	// ErrMalformed means the input is not a well-formed CMS object, timestamp
	// token or timestamp response: bad encoding, a missing or unexpected field,
	// trailing data.
	ErrMalformed = errors.New("cms: malformed")
	// ErrLimit means the input exceeds one of the hard limits (size, nesting
	// depth, element counts) or a timestamp token exceeds its size budget.
	ErrLimit = errors.New("cms: hard limit exceeded")
	// ErrUnsupported means a well-formed structure that PDF signatures do not
	// use and this package refuses: several signers, attribute certificates,
	// encapsulated content in a PDF signature, several timestamp tokens.
	ErrUnsupported = errors.New("cms: unsupported structure")
	// ErrUnsupportedAlgorithm means a digest, signature algorithm or key type
	// outside the allow-list (SHA-256/384/512; RSA PKCS#1 v1.5, RSASSA-PSS,
	// ECDSA on P-256/P-384/P-521, ML-DSA-44/65/87). A signature with a
	// SHA-1 or MD5 digest is read and reported with ErrWeakAlgorithm
	// instead.
	ErrUnsupportedAlgorithm = errors.New("cms: unsupported algorithm")
	// ErrWeakAlgorithm means a signature uses a digest that is recognised
	// only to be refused (SHA-1, MD5): see [Result.WeakAlgorithm].
	ErrWeakAlgorithm = errors.New("cms: weak algorithm")
	// ErrInvalidOptions means SignOptions or arguments that cannot produce a
	// signature (no signer, certificate not matching the key, wrong digest
	// length).
	ErrInvalidOptions = errors.New("cms: invalid signing options")
	// ErrSignerNotFound means no embedded certificate matches the SignerInfo's
	// signer identifier.
	ErrSignerNotFound = errors.New("cms: signer certificate not found")
	// ErrDigestMismatch means the messageDigest attribute (or a timestamp's
	// message imprint) differs from the digest of the content.
	ErrDigestMismatch = errors.New("cms: digest mismatch")
	// ErrSignatureInvalid means the signature value does not verify under the
	// signer certificate's public key.
	ErrSignatureInvalid = errors.New("cms: signature invalid")
	// ErrSigningCertMismatch means an ESS signing-certificate(-v2) attribute is
	// present but names a certificate other than the signer's.
	ErrSigningCertMismatch = errors.New("cms: ESS signing certificate does not match the signer")
	// ErrTimestampInvalid means a timestamp token failed verification.
	ErrTimestampInvalid = errors.New("cms: timestamp token invalid")
	// ErrTSA means the timestamp authority refused the request or answered
	// with something that is not a usable response.
	ErrTSA = errors.New("cms: timestamp authority failure")
	// ErrUntrusted means certificate path validation failed.
	ErrUntrusted = errors.New("cms: certificate not trusted")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
