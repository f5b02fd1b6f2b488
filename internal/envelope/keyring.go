package envelope

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"sealkeep/internal/fileperm"
	"sealkeep/internal/redact"
)

// MaxKEKVersions caps the number of versions (retired ones included) in a
// keyring.
const MaxKEKVersions = 1024

const (
	keyringFormat   = "sealkeep-keyring v1"
	checksumPrefix  = "checksum sha256:"
	maxKeyringSize  = 64 << 10
	encodedKeySize  = 44 // padded base64 of 32 bytes
	retiredKeyToken = "retired"
	tempPrefix      = ".sealkeep-keyring-" // temporary copies, renamed into place
)

// Keyring is a [KEK] whose versions are held locally: from a keyring file
// ([CreateKeyringFile], [OpenKeyringFile]) or an environment variable
// ([KeyringFromEnv]). It has the [KEKRotator] methods, which a keyring from
// the environment refuses with [ErrReadOnly]; wrap such a keyring
// (struct{ KEK }{k}) to hide them from a type assertion. It is safe for
// concurrent use and redacts itself in every formatting path.
type Keyring struct {
	mu   sync.RWMutex
	path string // "" for a keyring from the environment
	kr   keyring
}

// keyring is the parsed content of a keyring file.
type keyring struct {
	active   uint32
	versions []kekVersion // increasing
}

type kekVersion struct {
	v   uint32
	key *redact.Secret // nil when retired
}

// CreateKeyringFile creates a new keyring file at path, mode 0600, with
// one random version, 1, active. It refuses to overwrite an existing file,
// and a directory group or others may write ([ErrKeyringPermissions]).
func CreateKeyringFile(path string) (*Keyring, error) {
	kr := keyring{active: 1, versions: []kekVersion{{v: 1, key: redact.NewSecret(randomKey())}}}
	data := kr.marshal()
	defer clear(data)
	if err := keyringPermErr(fileperm.Dir(filepath.Dir(path), "the keyring "+path)); err != nil {
		kr.zero()
		return nil, err
	}
	unlock, err := lockDir(filepath.Dir(path)) // rotations clean up temporary files
	if err == nil {
		defer unlock()
		err = writeFile(path, data, false)
	}
	if err != nil {
		kr.zero()
		return nil, err
	}
	return &Keyring{path: path, kr: kr}, nil
}

// OpenKeyringFile reads the keyring file at path. It refuses a file that
// group or others may read or write, or whose directory they may write
// ([ErrKeyringPermissions]).
func OpenKeyringFile(path string) (*Keyring, error) {
	kr, err := readKeyringFile(path)
	if err != nil {
		return nil, err
	}
	return &Keyring{path: path, kr: kr}, nil
}

// KeyringFromEnv parses a keyring from the value of an environment
// variable, in the keyring file format. The keyring is read-only. Go
// strings cannot be erased: unset the variable once it is read.
func KeyringFromEnv(value string) (*Keyring, error) {
	data := []byte(value)
	defer clear(data)
	kr, err := parseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("envelope: keyring from the environment: %w", err)
	}
	return &Keyring{kr: kr}, nil
}

func readKeyringFile(path string) (keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return keyring{}, fmt.Errorf("envelope: open keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return keyring{}, fmt.Errorf("envelope: open keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return keyring{}, fmt.Errorf("%w: keyring %s is not a regular file", ErrMalformed, path)
	}
	if err := fileperm.Private(path, fi.Mode()); err != nil {
		return keyring{}, fmt.Errorf("%w: keyring %w", ErrKeyringPermissions, err)
	}
	// Whoever may write the keyring's directory, or its link target's,
	// could replace it with one whose keys they know.
	if err := keyringPermErr(fileperm.Dirs(path, "the keyring "+path)); err != nil {
		return keyring{}, err
	}
	data, err := redact.ReadSecret(f, maxKeyringSize)
	defer clear(data)
	if err != nil {
		return keyring{}, fmt.Errorf("envelope: read keyring %s: %w", path, err)
	}
	kr, err := parseKeyring(data)
	if err != nil {
		return keyring{}, fmt.Errorf("envelope: keyring %s: %w", path, err)
	}
	return kr, nil
}

// ActiveVersion returns the version that wraps.
func (k *Keyring) ActiveVersion() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.kr.active
}

// Versions returns the versions that are not retired, in increasing order.
func (k *Keyring) Versions() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var vs []uint32
	for _, kv := range k.kr.versions {
		if kv.key != nil {
			vs = append(vs, kv.v)
		}
	}
	return vs
}

// Wrap wraps dek under version v, which must be the active version.
func (k *Keyring) Wrap(ctx context.Context, v uint32, b DEKBinding, dek []byte) ([]byte, error) {
	return k.withKey(ctx, v, true, func(key []byte) ([]byte, error) { return wrapDEK(key, v, b, dek) })
}

// Unwrap unwraps a DEK wrapped under version v.
func (k *Keyring) Unwrap(ctx context.Context, v uint32, b DEKBinding, wrapped []byte) ([]byte, error) {
	return k.withKey(ctx, v, false, func(key []byte) ([]byte, error) { return unwrapDEK(key, v, b, wrapped) })
}

// withKey calls f with the key of version v under the read lock; active
// requires v to be the active version.
func (k *Keyring) withKey(ctx context.Context, v uint32, active bool, f func(key []byte) ([]byte, error)) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, err := k.kr.key(v)
	if err != nil {
		return nil, err
	}
	if active && v != k.kr.active {
		return nil, fmt.Errorf("%w: version %d, active is %d", ErrNotActive, v, k.kr.active)
	}
	return f(key.Bytes())
}

// AddVersion adds a random version after the highest one, makes it active
// and rewrites the keyring file atomically. The previous versions keep
// unwrapping until retired.
func (k *Keyring) AddVersion(ctx context.Context) (uint32, error) {
	return k.update(ctx, func(kr *keyring) (uint32, error) {
		last := kr.versions[len(kr.versions)-1].v
		if len(kr.versions) >= MaxKEKVersions || last == math.MaxUint32 {
			return 0, fmt.Errorf("envelope: keyring %s is full (%d versions)", k.path, len(kr.versions))
		}
		kr.active = last + 1
		kr.versions = append(kr.versions, kekVersion{v: kr.active, key: redact.NewSecret(randomKey())})
		return kr.active, nil
	})
}

// Retire erases version v from the keyring and rewrites the file
// atomically: wrapped DEKs under v can never be unwrapped again. Retiring
// a retired version does nothing; the active version cannot be retired.
func (k *Keyring) Retire(ctx context.Context, v uint32) error {
	_, err := k.update(ctx, func(kr *keyring) (uint32, error) {
		i := slices.IndexFunc(kr.versions, func(kv kekVersion) bool { return kv.v == v })
		switch {
		case i < 0:
			return 0, fmt.Errorf("%w: %d", ErrUnknownKEKVersion, v)
		case v == kr.active:
			return 0, fmt.Errorf("%w: version %d", ErrRetireActive, v)
		}
		kr.versions[i].key.Zero()
		kr.versions[i].key = nil
		return v, nil
	})
	return err
}

// update re-reads the keyring file, applies change, and replaces the file
// and the keyring's state with the result, all under a lock on the file's
// directory that other processes' rotations also take.
func (k *Keyring) update(ctx context.Context, change func(*keyring) (uint32, error)) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if k.path == "" {
		return 0, fmt.Errorf("%w: it was read from the environment; rotate a keyring file", ErrReadOnly)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	target, err := filepath.EvalSymlinks(k.path)
	if err != nil {
		return 0, fmt.Errorf("envelope: keyring: %w", err)
	}
	unlock, err := lockDir(filepath.Dir(target))
	if err != nil {
		return 0, err
	}
	defer unlock()
	kr, err := readKeyringFile(k.path)
	if err != nil {
		return 0, err
	}
	var v uint32
	if err = k.kr.keptBy(&kr); err != nil {
		err = fmt.Errorf("keyring %s: %w", k.path, err)
	} else if v, err = change(&kr); err == nil {
		data := kr.marshal()
		err = writeFile(k.path, data, true)
		clear(data)
		if err == nil {
			err = removeStaleCopies(filepath.Dir(target))
		}
	}
	if err != nil {
		kr.zero()
		return 0, err
	}
	k.kr.zero()
	k.kr = kr
	return v, nil
}

// keyringPermErr wraps an error of a fileperm directory check of a
// keyring.
func keyringPermErr(err error) error {
	switch {
	case errors.Is(err, fileperm.ErrTooOpen):
		return fmt.Errorf("%w: %w", ErrKeyringPermissions, err)
	case err != nil:
		return fmt.Errorf("envelope: keyring directory: %w", err)
	}
	return nil
}

// removeStaleCopies deletes the temporary keyring copies that a process
// killed in the middle of a rotation left in dir: they hold every KEK of
// their time, retired ones included, which would defeat crypto-erasure.
// Call it holding the directory lock.
func removeStaleCopies(dir string) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("envelope: keyring directory: %w", err)
	}
	for _, e := range es {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("envelope: removing a stale keyring copy: %w", err)
		}
	}
	return nil
}

// writeFile writes data to a temporary file in path's directory, syncs it,
// then renames it to path (replace) or links it there (create, which fails
// if path exists), and syncs the directory. A replaced path that is a
// symbolic link stays one: its target is replaced.
func writeFile(path string, data []byte, replace bool) error {
	if replace {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("envelope: write keyring: %w", err)
		}
		path = target
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("envelope: write keyring: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename it no longer exists
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if replace {
			err = os.Rename(tmp, path)
		} else {
			err = os.Link(tmp, path)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("envelope: keyring file %s already exists; refusing to overwrite it: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("envelope: write keyring %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("envelope: sync keyring directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("envelope: sync keyring directory: %w", err)
	}
	return nil
}

// key returns the key of version v.
func (kr *keyring) key(v uint32) (*redact.Secret, error) {
	i := slices.IndexFunc(kr.versions, func(kv kekVersion) bool { return kv.v == v })
	if i < 0 {
		return nil, fmt.Errorf("%w: %d", ErrUnknownKEKVersion, v)
	}
	if kr.versions[i].key == nil {
		return nil, fmt.Errorf("%w: version %d", ErrRetired, v)
	}
	return kr.versions[i].key, nil
}

// keptBy checks that fresh, a newer reading of the same file, still holds
// every version of kr: with the same key, or retired.
func (kr *keyring) keptBy(fresh *keyring) error {
	for _, kv := range kr.versions {
		i := slices.IndexFunc(fresh.versions, func(f kekVersion) bool { return f.v == kv.v })
		switch {
		case i < 0:
			return fmt.Errorf("%w: version %d is gone; reopen the keyring", ErrKeyringChanged, kv.v)
		case kv.key != nil && fresh.versions[i].key != nil && !kv.key.Equal(fresh.versions[i].key):
			return fmt.Errorf("%w: version %d holds another key; reopen the keyring", ErrKeyringChanged, kv.v)
		}
	}
	return nil
}

func (kr *keyring) zero() {
	for _, kv := range kr.versions {
		kv.key.Zero()
	}
}

// marshal returns the keyring file text. The caller clears it.
func (kr *keyring) marshal() []byte {
	out := make([]byte, 0, 128+64*len(kr.versions)) // no reallocation: no stray copies
	out = append(out, keyringFormat+"\n"...)
	out = fmt.Appendf(out, "active %d\n", kr.active)
	for _, kv := range kr.versions {
		out = fmt.Appendf(out, "key %d ", kv.v)
		if kv.key == nil {
			out = append(out, retiredKeyToken...)
		} else {
			out = base64.StdEncoding.AppendEncode(out, kv.key.Bytes())
		}
		out = append(out, '\n')
	}
	sum := sha256.Sum256(out)
	out = append(out, checksumPrefix...)
	out = hex.AppendEncode(out, sum[:])
	return append(out, '\n')
}

// parseKeyring parses the keyring file format (see the package doc).
// Errors name a line, never its content.
func parseKeyring(data []byte) (kr keyring, err error) {
	defer func() {
		if err != nil {
			kr.zero()
			kr = keyring{}
		}
	}()
	malformed := func(line int, format string, a ...any) error {
		return fmt.Errorf("%w: keyring line %d: %s", ErrMalformed, line, fmt.Sprintf(format, a...))
	}
	if len(data) > maxKeyringSize {
		return kr, fmt.Errorf("%w: keyring larger than %d bytes", ErrMalformed, maxKeyringSize)
	}
	body := bytes.TrimSuffix(data, []byte("\n"))
	lines := bytes.Split(body, []byte("\n"))
	if len(lines) < 4 {
		return kr, fmt.Errorf("%w: keyring has %d lines, want at least 4", ErrMalformed, len(lines))
	}
	if string(lines[0]) != keyringFormat {
		return kr, malformed(1, "not a keyring in format %q", keyringFormat)
	}
	f := bytes.Split(lines[1], []byte(" "))
	if len(f) != 2 || string(f[0]) != "active" {
		return kr, malformed(2, `want "active <version>"`)
	}
	active, ok := parseVersion(f[1])
	if !ok {
		return kr, malformed(2, "invalid version")
	}
	keyLines := lines[2 : len(lines)-1]
	if len(keyLines) > MaxKEKVersions {
		return kr, fmt.Errorf("%w: keyring has more than %d versions", ErrMalformed, MaxKEKVersions)
	}
	for i, ln := range keyLines {
		n := i + 3
		f := bytes.Split(ln, []byte(" "))
		if len(f) != 3 || string(f[0]) != "key" {
			return kr, malformed(n, `want "key <version> <base64 key>|retired"`)
		}
		v, ok := parseVersion(f[1])
		if !ok {
			return kr, malformed(n, "invalid version")
		}
		if len(kr.versions) > 0 && v <= kr.versions[len(kr.versions)-1].v {
			return kr, malformed(n, "versions must increase")
		}
		kv := kekVersion{v: v}
		if string(f[2]) != retiredKeyToken {
			if len(f[2]) != encodedKeySize {
				return kr, malformed(n, "key is not 32 bytes in padded standard base64")
			}
			k := make([]byte, base64.StdEncoding.DecodedLen(encodedKeySize))
			m, err := base64.StdEncoding.Strict().Decode(k, f[2])
			if err != nil || m != keySize {
				clear(k)
				return kr, malformed(n, "key is not 32 bytes in padded standard base64")
			}
			kv.key = redact.NewSecret(k[:keySize])
		}
		kr.versions = append(kr.versions, kv)
	}
	last := lines[len(lines)-1]
	sum := sha256.Sum256(body[:len(body)-len(last)])
	if string(last) != checksumPrefix+hex.EncodeToString(sum[:]) {
		return kr, malformed(len(lines), "checksum line missing or wrong: the file is corrupt or was edited")
	}
	kr.active = active
	if _, err := kr.key(active); err != nil {
		return kr, fmt.Errorf("%w: active version: %w", ErrMalformed, err)
	}
	return kr, nil
}

// parseVersion parses a decimal version, 1 to 2^32-1, without sign or
// leading zeros.
func parseVersion(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 || b[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return uint32(v), v <= math.MaxUint32
}

// String describes the keyring without its keys.
func (k *Keyring) String() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	src := "environment"
	if k.path != "" {
		src = k.path
	}
	var vs []uint32
	for _, kv := range k.kr.versions {
		vs = append(vs, kv.v)
	}
	return fmt.Sprintf("envelope.Keyring{source: %q, active: %d, versions: %v, keys: %s}", src, k.kr.active, vs, redact.Redacted)
}

// GoString returns the same as String.
func (k *Keyring) GoString() string { return k.String() }

// Format prints String for every verb.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue logs String.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON returns String as a JSON string.
func (k *Keyring) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// MarshalText returns String.
func (k *Keyring) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
