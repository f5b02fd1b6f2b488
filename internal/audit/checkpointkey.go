package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"sealkeep/internal/errs"
	"sealkeep/internal/fileperm"
	"sealkeep/internal/redact"
)

// maxKeyFileSize caps what [LoadCheckpointKey] reads; a PKCS#8 Ed25519 PEM
// file is about 120 bytes.
const maxKeyFileSize = 4096

// ErrCheckpointKey reports a checkpoint key file that cannot be used. Its
// messages never include the file's contents.
var ErrCheckpointKey = errs.New(errs.Invalid, "audit: checkpoint key file")

// CheckpointKey is the Ed25519 key that signs checkpoints. It never prints
// its secret: String, GoString, Format (every verb), MarshalJSON and
// LogValue show only the public key id, and where fmt prints it by
// reflection (in an unexported field) it reaches only a [redact.Secret].
type CheckpointKey struct {
	priv *redact.Secret // ed25519.PrivateKey bytes
}

// newCheckpointKey takes ownership of priv.
func newCheckpointKey(priv ed25519.PrivateKey) CheckpointKey {
	return CheckpointKey{priv: redact.NewSecret(priv)}
}

// key returns the private key, or nil for the zero CheckpointKey.
func (k CheckpointKey) key() ed25519.PrivateKey {
	if b := k.priv.Bytes(); len(b) == ed25519.PrivateKeySize {
		return b
	}
	return nil
}

// GenerateCheckpointKey returns a new random key, held only in memory.
func GenerateCheckpointKey() (CheckpointKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: generating: %w", ErrCheckpointKey, err)
	}
	return newCheckpointKey(priv), nil
}

// Public returns the public key, to give to whoever verifies checkpoints.
func (k CheckpointKey) Public() ed25519.PublicKey {
	priv := k.key()
	if priv == nil {
		return nil
	}
	return priv.Public().(ed25519.PublicKey)
}

// KeyID returns [KeyID] of the public key.
func (k CheckpointKey) KeyID() string { return KeyID(k.Public()) }

// SignCheckpoint signs head at time now; see [SignCheckpoint].
func (k CheckpointKey) SignCheckpoint(head Entry, now time.Time) (Checkpoint, error) {
	return SignCheckpoint(k.key(), head, now)
}

// NoteSigner returns a signer of C2SP signed notes (golang.org/x/mod/sumdb/note)
// with this key under the key name name: an Ed25519 note key, whose key ID
// is the first four bytes of SHA-256(name || "\n" || 0x01 || public key), as
// note.NewEd25519VerifierKey(name, k.Public()) computes it. The name must be
// non-empty UTF-8 without spaces or "+". A note's text is UTF-8 without NUL,
// so a note signature can never be mistaken for a [Checkpoint] signature,
// whose message starts with a zero byte.
func (k CheckpointKey) NoteSigner(name string) (note.Signer, error) {
	priv := k.key()
	if priv == nil {
		return nil, fmt.Errorf("%w: no key", ErrCheckpointKey)
	}
	if name == "" || !utf8.ValidString(name) || strings.ContainsRune(name, '+') || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return nil, fmt.Errorf("audit: invalid note key name %q", name)
	}
	h := sha256.New()
	h.Write([]byte(name + "\n\x01"))
	h.Write(priv.Public().(ed25519.PublicKey))
	return noteSigner{name: name, hash: binary.BigEndian.Uint32(h.Sum(nil)), key: k}, nil
}

// noteSigner signs notes with a [CheckpointKey]; it holds the key, never
// its bytes, so it prints redacted too.
type noteSigner struct {
	name string
	hash uint32
	key  CheckpointKey
}

func (s noteSigner) Name() string    { return s.name }
func (s noteSigner) KeyHash() uint32 { return s.hash }
func (s noteSigner) Sign(msg []byte) ([]byte, error) {
	priv := s.key.key()
	if priv == nil {
		return nil, fmt.Errorf("%w: no key", ErrCheckpointKey)
	}
	return ed25519.Sign(priv, msg), nil
}

// String returns a redacted description.
func (k CheckpointKey) String() string {
	if k.key() == nil {
		return "audit.CheckpointKey(none)"
	}
	return "audit.CheckpointKey(REDACTED, key_id=" + k.KeyID() + ")"
}

// GoString returns the same redacted description as String.
func (k CheckpointKey) GoString() string { return k.String() }

// Format writes the redacted description for every verb.
func (k CheckpointKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON returns the redacted description as a JSON string.
func (k CheckpointKey) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%q", k.String()), nil
}

// LogValue returns the redacted description.
func (k CheckpointKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// CreateCheckpointKeyFile generates a key and writes it to path as a PKCS#8
// PEM file ("PRIVATE KEY", as openssl genpkey -algorithm ed25519 writes),
// mode 0600. It refuses to overwrite an existing file.
func CreateCheckpointKeyFile(path string) (CheckpointKey, error) {
	k, err := GenerateCheckpointKey()
	if err != nil {
		return CheckpointKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.key())
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: encoding: %w", ErrCheckpointKey, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(data)
	defer clear(der)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: %w", ErrCheckpointKey, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return CheckpointKey{}, fmt.Errorf("%w: writing %s: %w", ErrCheckpointKey, path, err)
	}
	return k, nil
}

// LoadCheckpointKey reads a key written by [CreateCheckpointKeyFile] (or
// openssl genpkey -algorithm ed25519). The file must be a regular file of at
// most 4 KiB, readable by its owner only, holding one PEM "PRIVATE KEY"
// block with a PKCS#8 Ed25519 key and nothing else.
func LoadCheckpointKey(path string) (CheckpointKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: %w", ErrCheckpointKey, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: %w", ErrCheckpointKey, err)
	}
	switch {
	case !st.Mode().IsRegular():
		return CheckpointKey{}, fmt.Errorf("%w: %s is not a regular file", ErrCheckpointKey, path)
	case st.Size() > maxKeyFileSize:
		return CheckpointKey{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrCheckpointKey, path, maxKeyFileSize)
	}
	// Whoever may read the key, or replace it (through its directory),
	// could sign checkpoints of a rewritten history.
	if err := fileperm.Private(path, st.Mode()); err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: %w", ErrCheckpointKey, err)
	}
	if err := fileperm.Dirs(path, "the checkpoint key "+path); err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: %w", ErrCheckpointKey, err)
	}
	data, err := redact.ReadSecret(f, maxKeyFileSize)
	defer clear(data)
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: reading %s: %w", ErrCheckpointKey, path, err)
	}
	if len(data) > maxKeyFileSize {
		return CheckpointKey{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrCheckpointKey, path, maxKeyFileSize)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(block.Headers) != 0 {
		return CheckpointKey{}, fmt.Errorf("%w: %s does not hold a PEM PRIVATE KEY block", ErrCheckpointKey, path)
	}
	defer clear(block.Bytes)
	for _, c := range rest {
		if c != '\n' && c != '\r' && c != ' ' && c != '\t' {
			return CheckpointKey{}, fmt.Errorf("%w: %s has data after the key", ErrCheckpointKey, path)
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return CheckpointKey{}, fmt.Errorf("%w: %s is not a PKCS#8 private key", ErrCheckpointKey, path)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return CheckpointKey{}, fmt.Errorf("%w: %s holds a %T, not an Ed25519 key", ErrCheckpointKey, path, key)
	}
	return newCheckpointKey(priv), nil
}
