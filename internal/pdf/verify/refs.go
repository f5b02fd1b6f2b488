package verify

import (
	"fmt"
	"sort"

	"sealkeep/internal/pdf"
)

// holder is one place that refers to an object: the indirect object whose
// value holds the reference (trailer for the trailer dictionary), the
// top-level key of that object under which it sits ("" in an array), and
// the generation the reference names.
type holder struct {
	num int
	key pdf.Name
	gen int
}

// trailer is the holder number of the trailer dictionary.
const trailer = -1

// maxRefObjects bounds the objects that the referrer index reads (about a
// second of work; real documents have a few thousand): beyond it, whether
// an object is used elsewhere is not established, and the change that
// depends on it is other.
const maxRefObjects = 1 << 16

// errUses means the referrer index was not built: the revision has more
// than maxRefObjects objects.
var errUses = fmt.Errorf("the revision has more than %d objects, too many to look up where an object is used", maxRefObjects)

// referrers returns, for every object of revision rv, the places in rv
// that refer to it: the trailer and every live object of the revision
// (the newest entry of each number), reachable or not, as pyHanko's
// reverse cross-reference reads the whole signed revision. Objects are
// read in file order, object streams one after the other, so that each is
// decoded once. It reads the whole document, so it is built only when an
// update changes an existing object whose uses matter, and cached.
func (v *verifier) referrers(rv *pdf.Revision) (map[int][]holder, error) {
	if idx, ok := v.refIdx[rv.Index]; ok {
		if idx == nil {
			return nil, errUses
		}
		return idx, nil
	}
	if v.refIdx == nil {
		v.refIdx = map[int]map[int][]holder{}
	}
	type entry struct {
		num int
		e   pdf.XrefEntry
	}
	var live []entry
	seen := map[int]bool{}
	for _, s := range v.r.Revisions()[:rv.Index+1] {
		for _, sec := range s.Sections {
			for n := range sec.Entries {
				if !seen[n] {
					seen[n] = true
					if e, _, ok := rv.Entry(n); ok && e.Type != pdf.EntryFree {
						live = append(live, entry{n, e})
					}
				}
			}
		}
	}
	if len(live) > maxRefObjects {
		v.refIdx[rv.Index] = nil
		return nil, errUses
	}
	sort.Slice(live, func(i, j int) bool {
		a, b := live[i].e, live[j].e
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Type == pdf.EntryCompressed {
			return a.Stream < b.Stream || a.Stream == b.Stream && a.Index < b.Index
		}
		return a.Offset < b.Offset
	})
	idx := map[int][]holder{}
	addRefs(idx, trailer, rv.Trailer)
	for i, x := range live {
		if i%1024 == 0 {
			if err := v.ctx.Err(); err != nil {
				return nil, err
			}
		}
		o, err := rv.Get(pdf.Ref{Num: x.num, Gen: entryGen(x.e)})
		switch {
		case err != nil:
		case isXref(o):
			addRefs(idx, trailer, o) // an xref stream's dictionary is a trailer
		default:
			addRefs(idx, x.num, o)
		}
	}
	v.refIdx[rv.Index] = idx
	return idx, nil
}

// addRefs records in idx the references inside o, the value of object
// from, under their top-level keys.
func addRefs(idx map[int][]holder, from int, o pdf.Object) {
	var d pdf.Dict
	switch x := o.(type) {
	case pdf.Dict:
		d = x
	case *pdf.Stream:
		d = x.Dict
	default:
		collectRefs(o, 0, func(r pdf.Ref) { idx[r.Num] = append(idx[r.Num], holder{num: from, gen: r.Gen}) })
		return
	}
	for k, y := range d {
		collectRefs(y, 0, func(r pdf.Ref) { idx[r.Num] = append(idx[r.Num], holder{num: from, key: k, gen: r.Gen}) })
	}
}

// collectRefs calls f with every reference inside o (not following them).
func collectRefs(o pdf.Object, depth int, f func(pdf.Ref)) {
	if depth > 64 {
		return
	}
	switch x := o.(type) {
	case pdf.Ref:
		f(x)
	case pdf.Dict:
		for _, y := range x {
			collectRefs(y, depth+1, f)
		}
	case pdf.Array:
		for _, y := range x {
			collectRefs(y, depth+1, f)
		}
	case *pdf.Stream:
		collectRefs(x.Dict, depth+1, f)
	}
}

// isXref reports whether o is a cross-reference stream.
func isXref(o pdf.Object) bool {
	st, ok := o.(*pdf.Stream)
	return ok && st.Dict.Name("Type") == "XRef"
}
