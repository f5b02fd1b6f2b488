package pdf

import (
	"fmt"
	"slices"
)

// maxRepairs bounds the repairs recorded per section.
const maxRepairs = 20

// repairf records damage that reading section s needed: a warning for the
// whole file and a repair of the revision that holds s.
func (r *Reader) repairf(s *Section, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if slices.Contains(s.repairs, msg) {
		return
	}
	r.warnf("%s", msg)
	if len(s.repairs) < maxRepairs {
		s.repairs = append(s.repairs, msg)
	}
}

// Repairs lists what reading this revision needed beyond the
// specification: a startxref or /Prev offset that did not point at a
// cross-reference section, subsections or xref streams that end early,
// in-use entries at offset 0, object offsets that did not point at the
// object they name (found by the header scan), objects listed at or beyond
// the trailer's /Size, and object bodies in this
// revision's bytes that no cross-reference section of the revision lists
// ("N G obj" outside every section: a viewer that rebuilds the
// cross-reference table reads them, this reader does not). Readers repair
// such damage differently, so what a viewer shows of a damaged revision is
// not knowable. An offset repair is found when the object is read, so the
// list is complete once every object the revision lists has been read.
func (rv *Revision) Repairs() ([]string, error) {
	if rv.unlisted == nil {
		u, err := rv.scanUnlisted()
		if err != nil {
			return nil, err
		}
		rv.unlisted = u
	}
	out := append([]string{}, rv.unlisted...)
	for _, s := range rv.Sections {
		out = append(out, s.repairs...)
		// Objects at or beyond /Size: readers that size their table by
		// it ignore them.
		size, ok := s.Trailer["Size"].(Integer)
		if !ok {
			continue
		}
		over := -1
		for n, e := range s.Entries {
			if n >= int(size) && e.Type != EntryFree && n > over {
				over = n
			}
		}
		if over >= 0 {
			out = append(out, fmt.Sprintf("object %d is listed although the trailer's /Size is %d", over, size))
		}
	}
	return out, nil
}

// scanUnlisted finds the object headers in this revision's bytes (from
// the end of the previous revision to its own end) that no section of the
// revision lists and that do not lie inside an object that one lists (a
// stream's data may hold any bytes).
func (rv *Revision) scanUnlisted() ([]string, error) {
	r := rv.r
	from := r.base
	if rv.Index > 0 {
		from = r.revisions[rv.Index-1].End
	}
	listed := map[int64]bool{}
	for _, s := range rv.Sections {
		listed[s.Offset] = true
		if s.Hybrid > 0 {
			listed[s.Hybrid] = true
		}
		for _, e := range s.Entries {
			if e.Type == EntryInUse {
				listed[r.base+e.Offset] = true
			}
		}
	}
	var starts []int64 // listed objects inside [from, End), sorted
	for off := range listed {
		if off >= from && off < rv.End {
			starts = append(starts, off)
		}
	}
	slices.Sort(starts)
	ends := map[int64]int64{} // object start -> just after its endobj, -1 if it does not parse
	out := []string{}
	err := r.eachHeader(from, rv.End, func(ref Ref, off int64) error {
		if listed[off] {
			return nil
		}
		if i, _ := slices.BinarySearch(starts, off); i > 0 {
			q := starts[i-1]
			end, ok := ends[q]
			if !ok {
				end = -1
				if ind, err := r.parser(q).indirectObject(rv.length); err == nil {
					end = ind.end
				}
				ends[q] = end
			}
			if off < end {
				return nil // inside the listed object (stream data, a string)
			}
		}
		if len(out) < maxRepairs {
			out = append(out, fmt.Sprintf("object %d %d at byte %d is in no cross-reference section of revision %d", ref.Num, ref.Gen, off, rv.Index))
		}
		return nil
	})
	return out, err
}
