package verify

import (
	"sealkeep/internal/pdf"
)

// holder is one place that refers to an object: the indirect object whose
// value holds the reference (trailer for the trailer dictionary) and the
// top-level key of that object under which it sits ("" in an array).
type holder struct {
	num int
	key pdf.Name
}

// trailer is the holder number of the trailer dictionary.
const trailer = -1

// maxRefWalk bounds the objects one referrer index reads.
const maxRefWalk = 1 << 21

// referrers returns, for revision rv, every object reachable from its
// trailer mapped to the places that refer to it. It reads the whole
// document once per revision, so it is built only when an update rewrites
// an existing stream in place, and cached.
func (v *verifier) referrers(rv *pdf.Revision) (map[int][]holder, error) {
	if idx, ok := v.refIdx[rv.Index]; ok {
		return idx, nil
	}
	idx := map[int][]holder{}
	seen := map[int]bool{}
	var queue []int
	add := func(from int, key pdf.Name, o pdf.Object) {
		collectRefs(o, 0, func(r pdf.Ref) {
			idx[r.Num] = append(idx[r.Num], holder{num: from, key: key})
			if !seen[r.Num] {
				seen[r.Num] = true
				queue = append(queue, r.Num)
			}
		})
	}
	for k, x := range rv.Trailer {
		add(trailer, k, x)
	}
	for read := 0; len(queue) > 0 && read < maxRefWalk; read++ {
		if read%1024 == 0 {
			if err := v.ctx.Err(); err != nil {
				return nil, err
			}
		}
		n := queue[0]
		queue = queue[1:]
		e, _, ok := rv.Entry(n)
		if !ok || e.Type == pdf.EntryFree {
			continue
		}
		o, err := rv.Get(pdf.Ref{Num: n, Gen: entryGen(e)})
		if err != nil {
			continue
		}
		switch x := o.(type) {
		case pdf.Dict:
			for k, y := range x {
				add(n, k, y)
			}
		case *pdf.Stream:
			for k, y := range x.Dict {
				add(n, k, y)
			}
		default:
			add(n, "", o)
		}
	}
	if v.refIdx == nil {
		v.refIdx = map[int]map[int][]holder{}
	}
	v.refIdx[rv.Index] = idx
	return idx, nil
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
