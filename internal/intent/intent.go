// Package intent is the canonical seal intent: the exact statement of what
// one MFA step-up approves (issue 9, section 3). The server computes an
// [Intent] for a seal request; the user's fresh TOTP code (package auth)
// or, later, a passkey assertion approves its [Intent.Digest] and nothing
// else; the seal pipeline seals exactly what the intent names and records
// the digest in the seal's audit entry, where a verifier can recompute it.
//
// # Canonical encoding
//
// [Intent.Canonical] is a domain-separated list of fields, each a 4-byte
// big-endian length followed by its bytes:
//
//	"sealkeep/seal-intent/v1", org, user, identity,
//	version (uint64 BE), version thumbprint (32), document SHA-256 (32),
//	number of options (uint32 BE), then each option's key and value in
//	byte order of the keys, nonce (16), expiry (int64 BE, UTC unix µs)
//
// [Parse] reads exactly that and nothing else, so that
// Parse(i.Canonical()) == i and a digest names one intent. The digest is
// SHA-256 of the canonical bytes.
package intent

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sealkeep/internal/errs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxLifetime is the longest an intent may be valid for.
const MaxLifetime = 5 * time.Minute

// Limits of an intent's fields.
const (
	MaxNameLen     = 256  // org, user, identity, option keys, in bytes
	MaxOptions     = 32   // seal options
	MaxOptionValue = 1024 // bytes of one option value
)

const tag = "sealkeep/seal-intent/v1"

// ErrInvalid reports an intent that is malformed, expired or valid for
// longer than [MaxLifetime].
var ErrInvalid = errs.New(errs.Invalid, "invalid seal intent")

// Intent is one seal as the user approves it: who (User) seals which
// document (DocumentSHA256) with which certificate (Identity, Version and
// its certificate's Thumbprint, the SHA-256 of its DER) in which org, with
// which options (field name, PAdES level, appearance, ...), once (Nonce),
// until Expires.
type Intent struct {
	Org            string
	User           string
	Identity       string
	Version        int
	Thumbprint     [32]byte
	DocumentSHA256 [32]byte
	Options        map[string]string
	Nonce          [16]byte
	Expires        time.Time // UTC, microseconds
}

// New returns an intent with a fresh random nonce, valid for lifetime
// (at most [MaxLifetime]) from now.
func New(org, user, identity string, version int, thumbprint, document [32]byte, options map[string]string, now time.Time, lifetime time.Duration) (Intent, error) {
	in := Intent{Org: org, User: user, Identity: identity, Version: version, Thumbprint: thumbprint,
		DocumentSHA256: document, Options: options, Expires: now.Add(lifetime).UTC().Truncate(time.Microsecond)}
	_, _ = rand.Read(in.Nonce[:])
	if lifetime <= 0 || lifetime > MaxLifetime {
		return Intent{}, fmt.Errorf("%w: lifetime %v (want up to %v)", ErrInvalid, lifetime, MaxLifetime)
	}
	if err := in.check(); err != nil {
		return Intent{}, err
	}
	return in, nil
}

// Check reports whether the intent is well formed and may be approved at
// now: not expired, and expiring at most [MaxLifetime] after now.
func (in Intent) Check(now time.Time) error {
	if err := in.check(); err != nil {
		return err
	}
	switch {
	case !now.Before(in.Expires):
		return fmt.Errorf("%w: expired at %s", ErrInvalid, in.Expires.Format(time.RFC3339))
	case in.Expires.Sub(now) > MaxLifetime:
		return fmt.Errorf("%w: valid for more than %v", ErrInvalid, MaxLifetime)
	}
	return nil
}

func (in Intent) check() error {
	for _, f := range [...]struct{ name, v string }{{"org", in.Org}, {"user", in.User}, {"identity", in.Identity}} {
		if err := checkText(f.name, f.v, MaxNameLen, false); err != nil {
			return err
		}
	}
	if in.Version < 1 {
		return fmt.Errorf("%w: certificate version %d", ErrInvalid, in.Version)
	}
	if in.Thumbprint == ([32]byte{}) || in.DocumentSHA256 == ([32]byte{}) || in.Nonce == ([16]byte{}) {
		return fmt.Errorf("%w: a thumbprint, a document digest and a nonce are required", ErrInvalid)
	}
	if len(in.Options) > MaxOptions {
		return fmt.Errorf("%w: %d options (limit %d)", ErrInvalid, len(in.Options), MaxOptions)
	}
	for k, v := range in.Options {
		if err := checkText("option key", k, MaxNameLen, false); err != nil {
			return err
		}
		if err := checkText("option value", v, MaxOptionValue, true); err != nil {
			return err
		}
	}
	if in.Expires.IsZero() || in.Expires.Nanosecond()%1000 != 0 || in.Expires.Location() != time.UTC {
		return fmt.Errorf("%w: the expiry must be a UTC time in microseconds", ErrInvalid)
	}
	return nil
}

func checkText(name, v string, limit int, emptyOK bool) error {
	switch {
	case v == "" && !emptyOK:
		return fmt.Errorf("%w: empty %s", ErrInvalid, name)
	case len(v) > limit:
		return fmt.Errorf("%w: %s of %d bytes (limit %d)", ErrInvalid, name, len(v), limit)
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		return fmt.Errorf("%w: %s is not UTF-8 without NUL", ErrInvalid, name)
	}
	return nil
}

// Canonical returns the canonical encoding (see the package doc).
func (in Intent) Canonical() []byte {
	var b []byte
	field := func(f []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	field([]byte(tag))
	field([]byte(in.Org))
	field([]byte(in.User))
	field([]byte(in.Identity))
	field(binary.BigEndian.AppendUint64(nil, uint64(in.Version)))
	field(in.Thumbprint[:])
	field(in.DocumentSHA256[:])
	keys := make([]string, 0, len(in.Options))
	for k := range in.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	field(binary.BigEndian.AppendUint32(nil, uint32(len(keys))))
	for _, k := range keys {
		field([]byte(k))
		field([]byte(in.Options[k]))
	}
	field(in.Nonce[:])
	field(binary.BigEndian.AppendUint64(nil, uint64(in.Expires.UnixMicro())))
	return b
}

// Digest is SHA-256 of [Intent.Canonical]: what a step-up approves.
func (in Intent) Digest() [32]byte { return sha256.Sum256(in.Canonical()) }

// MaxCanonicalLen bounds the input [Parse] accepts.
const MaxCanonicalLen = 1 << 16

// Parse reads a canonical encoding back, strictly: every field present
// with its exact length, option keys strictly ascending, nothing after the
// expiry, and a well-formed intent (expired or not).
func Parse(b []byte) (Intent, error) {
	if len(b) > MaxCanonicalLen {
		return Intent{}, fmt.Errorf("%w: encoding of %d bytes", ErrInvalid, len(b))
	}
	bad := fmt.Errorf("%w: malformed encoding", ErrInvalid)
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, false
		}
		f := b[4 : 4+n]
		b = b[4+n:]
		return f, true
	}
	fixed := func(dst []byte) bool {
		f, ok := next()
		return ok && len(f) == len(dst) && copy(dst, f) == len(dst)
	}
	var in Intent
	f, ok := next()
	if !ok || string(f) != tag {
		return Intent{}, bad
	}
	for _, dst := range []*string{&in.Org, &in.User, &in.Identity} {
		f, ok := next()
		if !ok {
			return Intent{}, bad
		}
		*dst = string(f)
	}
	var u64 [8]byte
	if !fixed(u64[:]) || binary.BigEndian.Uint64(u64[:]) > 1<<31 {
		return Intent{}, bad
	}
	in.Version = int(binary.BigEndian.Uint64(u64[:]))
	var u32 [4]byte
	if !fixed(in.Thumbprint[:]) || !fixed(in.DocumentSHA256[:]) || !fixed(u32[:]) {
		return Intent{}, bad
	}
	n := binary.BigEndian.Uint32(u32[:])
	if n > MaxOptions {
		return Intent{}, bad
	}
	if n > 0 {
		in.Options = make(map[string]string, n)
	}
	var prev []byte
	for i := range n {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 || (i > 0 && bytes.Compare(prev, k) >= 0) {
			return Intent{}, bad
		}
		in.Options[string(k)], prev = string(v), k
	}
	if !fixed(in.Nonce[:]) || !fixed(u64[:]) || len(b) != 0 {
		return Intent{}, bad
	}
	in.Expires = time.UnixMicro(int64(binary.BigEndian.Uint64(u64[:]))).UTC()
	if err := in.check(); err != nil {
		return Intent{}, err
	}
	return in, nil
}
