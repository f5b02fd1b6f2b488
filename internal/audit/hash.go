package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"sealkeep/internal/errs"
)

// hashDomain separates entry hashes from every other SHA-256 use.
const hashDomain = "sealkeep/audit/v1"

// Hash is a SHA-256 digest of an entry. It marshals as 64 lowercase hex
// digits in JSON and text.
type Hash [32]byte

// ErrHashFormat reports a hash that is not 64 lowercase hex digits.
var ErrHashFormat = errs.New(errs.Invalid, "audit: hash must be 64 lowercase hex digits")

// String returns the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (the PrevHash of entry 1).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText returns the lowercase hex form.
func (h Hash) MarshalText() ([]byte, error) {
	return hex.AppendEncode(make([]byte, 0, 2*len(h)), h[:]), nil
}

// UnmarshalText accepts exactly 64 lowercase hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("%w: got %d characters", ErrHashFormat, len(b))
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ErrHashFormat
		}
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// ComputeHash returns SHA-256 over [Entry.Canonical]. It ignores e.Hash.
func (e Entry) ComputeHash() [32]byte {
	var buf [512]byte
	return sha256.Sum256(e.AppendCanonical(buf[:0]))
}

// Canonical returns the domain-separated canonical encoding of every field
// except Hash. See [Entry.AppendCanonical].
func (e Entry) Canonical() []byte { return e.AppendCanonical(nil) }

// AppendCanonical appends the canonical encoding of e to dst and returns the
// extended buffer. The encoding is, in order: the tag "sealkeep/audit/v1",
// Chain, Seq, Time as UTC unix microseconds, Actor.Kind, Actor.ID, Action,
// Subject.Org, Subject.Identity, Subject.Version, the number of Details
// followed by each key and value in ascending key order, and PrevHash.
// Strings are a 4-byte big-endian length then the bytes; integers are 8-byte
// big-endian (Time and Subject.Version two's complement); the detail count is
// 4 bytes. Every variable-length field is length-prefixed, so two different
// entries never encode alike.
func (e Entry) AppendCanonical(dst []byte) []byte {
	dst = appendString(dst, hashDomain)
	dst = appendString(dst, e.Chain)
	dst = binary.BigEndian.AppendUint64(dst, e.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Time.UnixMicro()))
	dst = appendString(dst, e.Actor.Kind)
	dst = appendString(dst, e.Actor.ID)
	dst = appendString(dst, string(e.Action))
	dst = appendString(dst, e.Subject.Org)
	dst = appendString(dst, e.Subject.Identity)
	dst = binary.BigEndian.AppendUint64(dst, uint64(int64(e.Subject.Version)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Details)))
	var stack [16]detail // no allocation for the usual few details
	details := stack[:0]
	for k, v := range e.Details {
		details = append(details, detail{k, v})
	}
	slices.SortFunc(details, func(a, b detail) int { return strings.Compare(a.key, b.key) })
	for _, d := range details {
		dst = appendString(dst, d.key)
		dst = appendString(dst, d.value)
	}
	return append(dst, e.PrevHash[:]...)
}

type detail struct{ key, value string }

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
