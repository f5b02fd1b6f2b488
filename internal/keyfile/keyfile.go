// Package keyfile imports a signing certificate and its private key brought
// by the customer: PEM files (PKCS #1, PKCS #8, SEC 1, encrypted PKCS #8) or
// PKCS #12 (.p12/.pfx) files.
//
// # Parsing and validation
//
// [Parse] reads the file and finds the leaf certificate (the one whose
// public key is the private key's); the other certificates, in whatever
// order they came, become the chain, ordered from the leaf's issuer up.
// Certificates are kept byte for byte (x509.Certificate.Raw): sealkeep
// never re-encodes a customer certificate. Parse does not judge the key or
// the certificates; [Bundle.Validate] applies the key policy
// ([keypolicy.CheckPublicKey], [keypolicy.CheckLeaf],
// [keypolicy.CheckChain]) and the key/certificate match.
//
// # Encryption
//
// Encrypted PKCS #8 ("ENCRYPTED PRIVATE KEY") is read when it uses PBES2
// with PBKDF2 (HMAC-SHA-1/224/256/384/512) and AES-CBC, which is what
// `openssl pkcs8 -topk8 -v2 aes-256-cbc` and OpenSSL 3's defaults produce.
// Legacy PEM encryption ("Proc-Type: 4,ENCRYPTED", an MD5-based key
// derivation with one iteration) and PBES1 are refused with
// [ErrLegacyEncryption]. PKCS #12 files are read with
// software.sslmate.com/src/go-pkcs12, which handles the modern AES/PBES2
// protection and the legacy 3DES and RC2-40 protection; sealkeep never
// writes any of them. Iteration counts above [MaxIterations] are refused
// before any key derivation, so a hostile file cannot stall an import.
//
// # Passphrases
//
// The passphrase callback given to Parse is called only when the file is
// encrypted (a PKCS #12 file is first tried with the empty password, as
// `openssl pkcs12 -passout pass:` makes). [ReadPassphrase] reads one from a
// file, an environment variable or a terminal prompt, never from a flag.
package keyfile

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"crypto/x509"

	"sealkeep/internal/errs"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer/local"
)

// Import errors. Parse and Validate wrap exactly one of these (or a
// keypolicy error) so that callers can tell them apart with errors.Is.
var (
	// ErrWrongPassphrase means the passphrase does not decrypt the file.
	ErrWrongPassphrase = errs.New(errs.Invalid, "wrong passphrase")
	// ErrNoPassphrase means the file is encrypted and no passphrase source
	// was available.
	ErrNoPassphrase = errs.New(errs.Invalid, "a passphrase is needed")
	// ErrNoKey means the file holds no private key.
	ErrNoKey = errs.New(errs.Invalid, "the file holds no private key")
	// ErrNoCertificate means the file holds no certificate.
	ErrNoCertificate = errs.New(errs.Invalid, "the file holds no certificate")
	// ErrSeveralKeys means the file holds more than one private key.
	ErrSeveralKeys = errs.New(errs.Invalid, "the file holds several private keys")
	// ErrMismatch means no certificate in the file carries the private
	// key's public key. It is keypolicy.ErrMismatch.
	ErrMismatch = keypolicy.ErrMismatch
	// ErrMalformed means the file is neither well-formed PEM nor PKCS #12,
	// or a part of it does not parse.
	ErrMalformed = errs.New(errs.Invalid, "malformed key file")
	// ErrLegacyEncryption means the file uses an encryption scheme that is
	// too weak to accept (legacy PEM encryption, PBES1, DES).
	ErrLegacyEncryption = errs.New(errs.Invalid, "insecure legacy encryption")
)

// MaxSize is the largest key file Parse reads.
const MaxSize = 1 << 20

// MaxIterations is the largest PBKDF2 or PKCS #12 iteration count Parse
// accepts.
const MaxIterations = 2_000_000

// Bundle is a private key with its certificate and chain. Every formatting
// path (fmt verbs, slog, JSON) redacts the key.
type Bundle struct {
	// Key is the private key. Never log or print it; Bundle's own
	// formatting redacts it.
	Key crypto.Signer
	// Leaf is the certificate whose public key is Key's.
	Leaf *x509.Certificate
	// Chain holds the other certificates of the file, ordered from the
	// leaf's issuer upwards as far as they link; certificates that link to
	// nothing follow in file order (Validate then reports the break).
	Chain []*x509.Certificate
}

// Zero wipes the private key in place (see [local.Wipe]) and drops it. Call
// it as soon as the key has been stored or used: an imported key must not
// outlive the import. It accepts a nil Bundle.
func (b *Bundle) Zero() {
	if b == nil {
		return
	}
	local.Wipe(b.Key)
	b.Key = nil
}

// Validate applies the key policy at time now: the key's algorithm, the
// key/certificate match, the leaf's validity and usages, and the chain's
// links. It reports every problem found, joined.
func (b *Bundle) Validate(now time.Time) error {
	var errs []error
	if b.Key == nil {
		return ErrNoKey
	}
	if b.Leaf == nil {
		return ErrNoCertificate
	}
	if _, err := keypolicy.CheckPublicKey(b.Key.Public()); err != nil {
		errs = append(errs, fmt.Errorf("private key: %w", err))
	}
	if !keypolicy.PublicKeysEqual(b.Key.Public(), b.Leaf.PublicKey) {
		errs = append(errs, fmt.Errorf("%w: the certificate %q does not carry the private key's public key", ErrMismatch, b.Leaf.Subject.String()))
	}
	if err := keypolicy.CheckLeaf(b.Leaf, now); err != nil {
		errs = append(errs, fmt.Errorf("certificate %q: %w", b.Leaf.Subject.String(), err))
	}
	if err := keypolicy.CheckChain(b.Leaf, b.Chain); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// summary describes the bundle without its key.
func (b Bundle) summary() string {
	leaf := "none"
	if b.Leaf != nil {
		leaf = fmt.Sprintf("%q sha256:%s", b.Leaf.Subject.String(), keypolicy.Thumbprint(b.Leaf.Raw))
	}
	key := "none"
	if b.Key != nil {
		key = "[REDACTED]"
	}
	return fmt.Sprintf("keyfile.Bundle{Leaf: %s, Chain: %d certificate(s), Key: %s}", leaf, len(b.Chain), key)
}

// String describes the bundle; the key is redacted.
func (b Bundle) String() string { return b.summary() }

// GoString is String, so that %#v redacts too.
func (b Bundle) GoString() string { return b.summary() }

// Format makes every fmt verb print the redacted summary.
func (b Bundle) Format(f fmt.State, _ rune) { fmt.Fprint(f, b.summary()) }

// LogValue makes slog print the redacted summary.
func (b Bundle) LogValue() slog.Value { return slog.StringValue(b.summary()) }

// MarshalJSON encodes the certificates' thumbprints and subjects, never the
// key.
func (b Bundle) MarshalJSON() ([]byte, error) {
	type cert struct {
		Subject    string `json:"subject"`
		Thumbprint string `json:"sha256"`
	}
	out := struct {
		Leaf  *cert  `json:"leaf,omitempty"`
		Chain []cert `json:"chain"`
		Key   string `json:"key"`
	}{Chain: []cert{}, Key: "[REDACTED]"}
	if b.Leaf != nil {
		out.Leaf = &cert{b.Leaf.Subject.String(), keypolicy.Thumbprint(b.Leaf.Raw)}
	}
	for _, c := range b.Chain {
		out.Chain = append(out.Chain, cert{c.Subject.String(), keypolicy.Thumbprint(c.Raw)})
	}
	return json.Marshal(out)
}
