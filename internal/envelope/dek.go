package envelope

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"sealkeep/internal/redact"
)

// MaxEncryptionsPerDEK is the number of blobs one DEK may seal: half the
// 2^32 random-nonce limit of NIST SP 800-38D. The store counts
// encryptions; custody moves to a new DEK version before this number.
const MaxEncryptionsPerDEK uint64 = 1 << 31

// MaxBlobPlaintext caps the plaintext of a key blob (a PKCS#8 RSA-4096 key
// is about 2.4 KiB, an expanded ML-DSA-87 key under 5 KiB).
const MaxBlobPlaintext = 64 << 10

const (
	blobHeaderSize = 1 + 4 // format, DEK version
	minBlobSize    = blobHeaderSize + nonceSize + 1 + tagSize
	maxBlobSize    = blobHeaderSize + nonceSize + MaxBlobPlaintext + tagSize
)

// DEK is an organization's data encryption key, version Version, in the
// clear. It redacts itself in every formatting path. Its owner calls Zero
// when done; a zeroed DEK refuses to seal or open.
type DEK struct {
	org     string
	version uint32
	key     *redact.Secret
}

// Binding names the private key a blob holds: version Version of signing
// identity Identity of organization Org.
type Binding struct {
	Org, Identity string
	Version       int
}

// NewDEK returns a new random DEK for org.
func NewDEK(org string, version uint32) (*DEK, error) {
	if err := (DEKBinding{Org: org, DEKVersion: version}).check(); err != nil {
		return nil, err
	}
	return &DEK{org: org, version: version, key: redact.NewSecret(randomKey())}, nil
}

// WrapDEK wraps dek under the active version of kek, which it returns. If
// a rotation makes another version active between reading the active
// version and wrapping, it reads it again (at most three times in all).
func WrapDEK(ctx context.Context, kek KEK, dek *DEK) (wrapped []byte, kekVersion uint32, err error) {
	if err := dek.usable(); err != nil {
		return nil, 0, err
	}
	for range 3 {
		kekVersion = kek.ActiveVersion()
		wrapped, err = kek.Wrap(ctx, kekVersion, DEKBinding{Org: dek.org, DEKVersion: dek.version}, dek.key.Bytes())
		if !errors.Is(err, ErrNotActive) {
			break
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return wrapped, kekVersion, nil
}

// UnwrapDEK unwraps DEK version dekVersion of org, wrapped under KEK
// version kekVersion. A wrapped DEK of another org or version fails with
// ErrAuthentication.
func UnwrapDEK(ctx context.Context, kek KEK, org string, dekVersion, kekVersion uint32, wrapped []byte) (*DEK, error) {
	key, err := kek.Unwrap(ctx, kekVersion, DEKBinding{Org: org, DEKVersion: dekVersion}, wrapped)
	if err != nil {
		return nil, err
	}
	if len(key) != keySize {
		clear(key)
		return nil, fmt.Errorf("%w: unwrapped DEK of %d bytes", ErrMalformed, len(key))
	}
	return &DEK{org: org, version: dekVersion, key: redact.NewSecret(key)}, nil
}

// Org returns the organization the DEK belongs to.
func (d *DEK) Org() string { return d.org }

// Version returns the DEK version.
func (d *DEK) Version() uint32 { return d.version }

// Zero erases the key. The DEK is unusable afterwards.
func (d *DEK) Zero() { d.key.Zero() }

func (d *DEK) usable() error {
	if d == nil || d.key.Len() != keySize {
		return fmt.Errorf("%w: DEK is zeroed", ErrInvalidInput)
	}
	return nil
}

func (d *DEK) clone() *DEK {
	return &DEK{org: d.org, version: d.version, key: redact.NewSecret(bytes.Clone(d.key.Bytes()))}
}

func (b Binding) check() error {
	if err := checkName("org", b.Org); err != nil {
		return err
	}
	if err := checkName("identity", b.Identity); err != nil {
		return err
	}
	if b.Version < 1 {
		return fmt.Errorf("%w: key version %d", ErrInvalidInput, b.Version)
	}
	return nil
}

// blobAD is the additional data of a key blob.
func blobAD(b Binding, dekVersion uint32) []byte {
	return additionalData([]byte("sealkeep/key-blob"), []byte{formatV1},
		[]byte(b.Org), []byte(b.Identity), be64(uint64(b.Version)), be32(dekVersion))
}

// Seal encrypts plaintext (1 to MaxBlobPlaintext bytes) into a blob bound
// to b. b.Org must be the DEK's org.
func (d *DEK) Seal(b Binding, plaintext []byte) ([]byte, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	if b.Org != d.org {
		return nil, fmt.Errorf("%w: binding names another org than the DEK's", ErrInvalidInput)
	}
	if len(plaintext) == 0 || len(plaintext) > MaxBlobPlaintext {
		return nil, fmt.Errorf("%w: plaintext of %d bytes, want 1 to %d", ErrInvalidInput, len(plaintext), MaxBlobPlaintext)
	}
	header := binary.BigEndian.AppendUint32([]byte{formatV1}, d.version)
	return seal(d.key.Bytes(), header, plaintext, blobAD(b, d.version))
}

// Open decrypts a blob bound to b. A blob of another org, identity,
// version or DEK, or altered in any way, fails with ErrAuthentication; one
// that does not parse fails with ErrMalformed.
func (d *DEK) Open(b Binding, blob []byte) ([]byte, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	v, err := BlobDEKVersion(blob)
	if err != nil {
		return nil, err
	}
	if b.Org != d.org || v != d.version {
		return nil, ErrAuthentication
	}
	body := blob[blobHeaderSize:]
	return open(d.key.Bytes(), body[:nonceSize], body[nonceSize:], blobAD(b, d.version))
}

// BlobDEKVersion parses a blob's header and returns the DEK version it was
// sealed under.
func BlobDEKVersion(blob []byte) (uint32, error) {
	switch {
	case len(blob) < minBlobSize:
		return 0, fmt.Errorf("%w: blob of %d bytes, shorter than the minimum %d", ErrMalformed, len(blob), minBlobSize)
	case len(blob) > maxBlobSize:
		return 0, fmt.Errorf("%w: blob of %d bytes, longer than the maximum %d", ErrMalformed, len(blob), maxBlobSize)
	case blob[0] != formatV1:
		return 0, fmt.Errorf("%w: unknown blob format %d", ErrMalformed, blob[0])
	}
	v := binary.BigEndian.Uint32(blob[1:blobHeaderSize])
	if v == 0 {
		return 0, fmt.Errorf("%w: blob names DEK version 0", ErrMalformed)
	}
	return v, nil
}

// String returns a redacted description: org and version, never the key.
func (d *DEK) String() string {
	return fmt.Sprintf("envelope.DEK{org: %q, version: %d, key: %s}", d.org, d.version, redact.Redacted)
}

// GoString returns the same as String.
func (d *DEK) GoString() string { return d.String() }

// Format prints String for every verb.
func (d *DEK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(d.String())) }

// LogValue logs org and version, and the key as [redact.Redacted].
func (d *DEK) LogValue() slog.Value {
	return slog.GroupValue(slog.String("org", d.org), slog.Uint64("version", uint64(d.version)),
		slog.String("key", redact.Redacted))
}

// MarshalJSON returns org, version and the key as [redact.Redacted].
func (d *DEK) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Org     string `json:"org"`
		Version uint32 `json:"version"`
		Key     string `json:"key"`
	}{d.org, d.version, redact.Redacted})
}

// MarshalText returns String.
func (d *DEK) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
