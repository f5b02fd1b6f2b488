package audit

import (
	"fmt"
	"time"

	"sealkeep/internal/errs"
)

// ErrCanonical reports bytes that are not the canonical encoding of an
// entry (see [Entry.AppendCanonical]).
var ErrCanonical = errs.New(errs.Invalid, "audit: not a canonical entry encoding")

// ParseCanonical decodes the canonical encoding of an entry (everything
// but its Hash), as [Entry.AppendCanonical] writes it, and refuses any
// other form: a wrong tag, a length past the end, details out of strictly
// ascending key order, trailing bytes. So the result encodes back to
// exactly b, and SHA-256 of b is its [Entry.ComputeHash]: a store may keep
// the encoding and read entries from it alone, and a verifier that
// recomputes the hash still checks every field. The entry's strings share
// one copy of b; b itself is not retained. Details is nil when the
// encoding has none. The result is not validated ([Entry.Validate]).
func ParseCanonical(b []byte) (Entry, error) {
	d := canonDecoder{s: string(b)}
	if d.str() != hashDomain {
		return Entry{}, fmt.Errorf("%w: wrong tag", ErrCanonical)
	}
	var e Entry
	e.Chain = d.str()
	e.Seq = d.u64()
	e.Time = time.UnixMicro(int64(d.u64())).UTC()
	e.Actor.Kind = d.str()
	e.Actor.ID = d.str()
	e.Action = Action(d.str())
	e.Subject.Org = d.str()
	e.Subject.Identity = d.str()
	e.Subject.Version = int(int64(d.u64()))
	n := d.u32()
	if d.err == nil && n > 0 {
		if uint64(n) > uint64(len(d.s))/8 { // each detail takes at least 8 bytes
			return Entry{}, fmt.Errorf("%w: %d details in %d bytes", ErrCanonical, n, len(d.s))
		}
		e.Details = make(map[string]string, n)
		prev := ""
		for i := range n {
			k, v := d.str(), d.str()
			if d.err != nil {
				break
			}
			if i > 0 && k <= prev {
				return Entry{}, fmt.Errorf("%w: detail keys out of order or repeated", ErrCanonical)
			}
			e.Details[k], prev = v, k
		}
	}
	if d.err == nil && len(d.s) != len(e.PrevHash) {
		return Entry{}, fmt.Errorf("%w: %d bytes where the previous hash (32) ends it", ErrCanonical, len(d.s))
	}
	if d.err != nil {
		return Entry{}, d.err
	}
	copy(e.PrevHash[:], d.s)
	return e, nil
}

// canonDecoder reads the fields of a canonical encoding from s; the first
// error sticks and later reads return zero values.
type canonDecoder struct {
	s   string
	err error
}

func (d *canonDecoder) take(n uint64) string {
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)) {
		d.err = fmt.Errorf("%w: truncated", ErrCanonical)
		return ""
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

func (d *canonDecoder) u32() uint32 {
	v := d.take(4)
	if d.err != nil {
		return 0
	}
	return d.u32from(v)
}

func (d *canonDecoder) u64() uint64 {
	v := d.take(8)
	if d.err != nil {
		return 0
	}
	return uint64(d.u32from(v[:4]))<<32 | uint64(d.u32from(v[4:]))
}

func (*canonDecoder) u32from(v string) uint32 {
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
}

func (d *canonDecoder) str() string { return d.take(uint64(d.u32())) }
