package pdf

import (
	"bytes"
	"container/list"
	"fmt"
)

// maxResolve bounds nested resolution (a reference to a stream whose
// /Length is a reference inside an object stream, ...) and chains of
// references to references.
const maxResolve = 16

// Entry returns the cross-reference entry of object num as seen by this
// revision, and the section that holds it; ok is false when no section of
// this revision or an older one lists the object.
func (rv *Revision) Entry(num int) (e XrefEntry, s *Section, ok bool) {
	for _, s := range rv.r.sections[rv.first:] {
		if e, ok := s.Entries[num]; ok {
			return e, s, true
		}
	}
	return XrefEntry{}, nil, false
}

// Get reads object ref as it was in this revision. A reference to an object
// that is free or absent returns an error wrapping [ErrNotFound]; callers
// that follow the specification's "null" reading can test for it.
func (rv *Revision) Get(ref Ref) (Object, error) {
	r := rv.r
	if r.resolving >= maxResolve {
		return nil, limit("object references nested deeper than %d", maxResolve)
	}
	r.resolving++
	defer func() { r.resolving-- }()

	e, s, ok := rv.Entry(ref.Num)
	if !ok || e.Type == EntryFree {
		return nil, fmt.Errorf("%w: object %d %d in revision %d", ErrNotFound, ref.Num, ref.Gen, rv.Index)
	}
	if e.Type == EntryCompressed {
		if ref.Gen != 0 {
			return nil, fmt.Errorf("%w: object %d %d in revision %d", ErrNotFound, ref.Num, ref.Gen, rv.Index)
		}
		return rv.compressed(ref, e)
	}
	if e.Gen != ref.Gen {
		return nil, fmt.Errorf("%w: object %d %d in revision %d (the entry has generation %d)", ErrNotFound, ref.Num, ref.Gen, rv.Index, e.Gen)
	}
	abs := r.base + e.Offset
	p, err := rv.headerAt(abs, ref)
	if err != nil {
		// The listed offset provably holds something else: repair.
		fixed, rerr := r.repairOffset(ref, s)
		if rerr != nil {
			return nil, fmt.Errorf("object %d %d (xref offset %d): %w", ref.Num, ref.Gen, e.Offset, err)
		}
		if p, err = rv.headerAt(fixed, ref); err != nil {
			return nil, fmt.Errorf("object %d %d (repaired offset %d): %w", ref.Num, ref.Gen, fixed, err)
		}
		r.repairf(s, "object %d %d: cross-reference offset %d is wrong; the object was found at %d", ref.Num, ref.Gen, e.Offset, fixed-r.base)
		abs = fixed
	}
	ind, err := p.body(ref, abs, rv.length)
	if err != nil {
		return nil, fmt.Errorf("object %d %d: %w", ref.Num, ref.Gen, err)
	}
	return ind.obj, nil
}

// headerAt checks that "N G obj" for ref starts at abs and returns a parser
// positioned after it.
func (rv *Revision) headerAt(abs int64, ref Ref) (*parser, error) {
	if abs < rv.r.base || abs >= rv.r.size {
		return nil, malformed(abs, "object offset outside the file")
	}
	p := rv.r.parser(abs)
	got, start, err := p.header()
	if err != nil {
		return nil, err
	}
	if got != ref || start-abs > 4 { // a few bytes of white space before the header are common
		return nil, malformed(start, "found object %d %d where the cross-reference table puts %d %d", got.Num, got.Gen, ref.Num, ref.Gen)
	}
	return p, nil
}

// length resolves an indirect stream /Length.
func (rv *Revision) length(ref Ref) (int64, error) {
	o, err := rv.Get(ref)
	if err != nil {
		return 0, err
	}
	n, ok := o.(Integer)
	if !ok {
		return 0, fmt.Errorf("%w: stream /Length object %v is a %s", ErrMalformed, ref, kindName(o))
	}
	return int64(n), nil
}

// objStm is a decoded object stream with the offsets of its objects,
// indexed once when it is decoded.
type objStm struct {
	at      int64 // absolute offset of the stream data: the cache key
	nums    []int
	offsets []int64
	data    *chunks
	cost    int64 // memory held: the data's pieces and the index
	elem    *list.Element
}

// objStmCacheBytes bounds the memory of the decoded object streams kept
// for later lookups together with the stream being decoded, least
// recently used first out; the stream in use is always kept. A stream
// needed again after it was dropped is decoded again, and that counts
// against the budget (Limits.MaxDecodedTotal), so lookups that alternate
// between more large streams than the cache holds end in ErrLimit instead
// of decoding without end. The pieces of a dropped stream are reused for
// the next one, so alternating streams make no garbage and memory stays
// near objStmCacheBytes plus one stream (Limits.MaxDecoded).
const objStmCacheBytes = 16 << 20

func (rv *Revision) objStm(num int) (*objStm, error) {
	r := rv.r
	o, err := rv.Get(Ref{Num: num})
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	st, ok := o.(*Stream)
	if !ok || st.Dict.Name("Type") != "ObjStm" {
		return nil, fmt.Errorf("%w: object %d is not an object stream", ErrMalformed, num)
	}
	if c, ok := r.objstms[st.Offset]; ok {
		r.objstmLRU.MoveToBack(c.elem)
		return c, nil
	}
	n, ok1 := st.Dict["N"].(Integer)
	first, ok2 := st.Dict["First"].(Integer)
	if !ok1 || !ok2 || n < 0 || first < 0 {
		return nil, malformed(st.Offset, "object stream %d has no valid /N and /First", num)
	}
	if n > Integer(r.lim.MaxObjects) {
		return nil, limit("object stream %d holds more than %d objects", num, r.lim.MaxObjects)
	}
	rd, err := r.decoder(st.Dict, st.Offset, st.Length)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	data, err := r.readAll(rd)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	size := data.size()
	if int64(first) > size {
		return nil, malformed(st.Offset, "object stream %d: /First beyond its data", num)
	}
	c := &objStm{at: st.Offset, data: data}
	lx := newLexer(data, 0, int64(first), r.lim.MaxStringLen)
	for i := 0; i < int(n); i++ {
		a, err := lx.next()
		if err != nil {
			return nil, fmt.Errorf("object stream %d: %w", num, err)
		}
		b, err := lx.next()
		if err != nil {
			return nil, fmt.Errorf("object stream %d: %w", num, err)
		}
		if a.kind != tInt || b.kind != tInt || a.i < 0 || a.i > maxObjNum || b.i < 0 || int64(first)+b.i >= size {
			return nil, malformed(st.Offset, "object stream %d: bad header pair %d", num, i)
		}
		c.nums = append(c.nums, int(a.i))
		c.offsets = append(c.offsets, int64(first)+b.i)
	}
	c.cost = data.footprint() + 16*int64(cap(c.nums))
	r.cacheObjStm(c)
	return c, nil
}

// cacheObjStm adds a decoded object stream to the cache and drops the
// least recently used ones beyond objStmCacheBytes.
func (r *Reader) cacheObjStm(c *objStm) {
	if r.objstms == nil {
		r.objstms, r.objstmLRU = map[int64]*objStm{}, list.New()
	}
	c.elem = r.objstmLRU.PushBack(c)
	r.objstms[c.at] = c
	r.objstmBytes += c.cost
	for r.objstmBytes > objStmCacheBytes && r.objstmLRU.Len() > 1 {
		r.dropObjStm()
	}
}

// dropObjStm drops the least recently used object stream from the cache
// and keeps its full-size pieces for reuse.
func (r *Reader) dropObjStm() {
	old := r.objstmLRU.Remove(r.objstmLRU.Front()).(*objStm)
	delete(r.objstms, old.at)
	r.objstmBytes -= old.cost
	for _, p := range old.data.c {
		if cap(p) == chunkMax && int64(len(r.spare)) < r.lim.MaxDecoded/chunkMax+1 {
			r.spare = append(r.spare, p[:0])
		}
	}
}

// piece returns an empty buffer of capacity size for a stream being
// decoded that holds inUse bytes so far. When the cache and that stream
// would hold more than objStmCacheBytes, cached streams are dropped first
// and their pieces reused.
func (r *Reader) piece(size int, inUse int64) []byte {
	for r.objstmLRU != nil && r.objstmLRU.Len() > 0 && r.objstmBytes+inUse+int64(size) > objStmCacheBytes {
		r.dropObjStm()
	}
	if size == chunkMax && len(r.spare) > 0 {
		p := r.spare[len(r.spare)-1]
		r.spare = r.spare[:len(r.spare)-1]
		return p
	}
	return make([]byte, 0, size)
}

func (rv *Revision) compressed(ref Ref, e XrefEntry) (Object, error) {
	c, err := rv.objStm(e.Stream)
	if err != nil {
		return nil, err
	}
	if e.Index >= len(c.nums) || c.nums[e.Index] != ref.Num {
		return nil, fmt.Errorf("%w: object %d is not at index %d of object stream %d", ErrMalformed, ref.Num, e.Index, e.Stream)
	}
	p := &parser{lex: newLexer(c.data, c.offsets[e.Index], c.data.size(), rv.r.lim.MaxStringLen), lim: &rv.r.lim}
	o, err := p.object(0)
	if err != nil {
		return nil, fmt.Errorf("object %d in object stream %d: %w", ref.Num, e.Stream, err)
	}
	return o, nil
}

// Resolve follows references until o is a direct object.
func (rv *Revision) Resolve(o Object) (Object, error) {
	for i := 0; i < maxResolve; i++ {
		ref, ok := o.(Ref)
		if !ok {
			return o, nil
		}
		var err error
		if o, err = rv.Get(ref); err != nil {
			return nil, err
		}
	}
	return nil, limit("chain of more than %d references", maxResolve)
}

// Dict resolves o and requires a dictionary (a stream's dictionary counts).
func (rv *Revision) Dict(o Object) (Dict, error) {
	o, err := rv.Resolve(o)
	if err != nil {
		return nil, err
	}
	switch d := o.(type) {
	case Dict:
		return d, nil
	case *Stream:
		return d.Dict, nil
	}
	return nil, fmt.Errorf("%w: expected a dictionary, found a %s", ErrMalformed, kindName(o))
}

// Array resolves o and requires an array.
func (rv *Revision) Array(o Object) (Array, error) {
	o, err := rv.Resolve(o)
	if err != nil {
		return nil, err
	}
	a, ok := o.(Array)
	if !ok {
		return nil, fmt.Errorf("%w: expected an array, found a %s", ErrMalformed, kindName(o))
	}
	return a, nil
}

// Int resolves o and requires an integer.
func (rv *Revision) Int(o Object) (int64, error) {
	o, err := rv.Resolve(o)
	if err != nil {
		return 0, err
	}
	i, ok := o.(Integer)
	if !ok {
		return 0, fmt.Errorf("%w: expected an integer, found a %s", ErrMalformed, kindName(o))
	}
	return int64(i), nil
}

// StreamData reads and decodes a stream's data (FlateDecode with PNG
// predictors, or no filter) within the cap on one stream
// (Limits.MaxDecoded); the decoded bytes count against the Reader's
// budget (Limits.MaxDecodedTotal).
func (r *Reader) StreamData(s *Stream) ([]byte, error) {
	rd, err := r.decoder(s.Dict, s.Offset, s.Length)
	if err != nil {
		return nil, err
	}
	c, err := r.readAll(rd)
	if err != nil {
		return nil, err
	}
	return c.bytes(), nil
}

// repairOffset finds object ref by scanning the file for "N G obj" headers,
// once the cross-reference entry has been proved wrong. It picks the last
// definition before the section that lists the object.
func (r *Reader) repairOffset(ref Ref, s *Section) (int64, error) {
	if r.repair == nil {
		idx, err := r.scanHeaders()
		if err != nil {
			return 0, err
		}
		r.repair = idx
	}
	best := int64(-1)
	for _, off := range r.repair[ref] {
		if off < s.Offset && off > best {
			best = off
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: object %d %d is not in the file", ErrMalformed, ref.Num, ref.Gen)
	}
	return best, nil
}

// scanHeaders streams through the file once and indexes every "N G obj".
func (r *Reader) scanHeaders() (map[Ref][]int64, error) {
	idx := map[Ref][]int64{}
	count := 0
	err := r.eachHeader(r.base, r.size, func(ref Ref, off int64) error {
		if count++; count > r.lim.MaxObjects {
			return limit("more than %d object headers while repairing", r.lim.MaxObjects)
		}
		idx[ref] = append(idx[ref], off)
		return nil
	})
	return idx, err
}

// eachHeader streams through the bytes [from, to) and calls visit with
// every "N G obj" header that starts there, in file order.
func (r *Reader) eachHeader(from, to int64, visit func(ref Ref, off int64) error) error {
	const window = 1 << 16
	const overlap = 32
	buf := make([]byte, window+overlap)
	before := byte('\n') // the byte before the current position
	if from > r.base {
		var b [1]byte
		if err := r.readAt(b[:], from-1); err != nil {
			return err
		}
		before = b[0]
	}
	for off := from; off < to; off += window {
		n := min(int64(len(buf)), r.size-off)
		b := buf[:n]
		if err := r.readAt(b, off); err != nil {
			return err
		}
		for i := 0; i < len(b) && i < window && off+int64(i) < to; i++ {
			if i > 0 {
				before = b[i-1]
			}
			if b[i] < '0' || b[i] > '9' || !isSpace(before) {
				continue
			}
			ref, ok := headerAt(b[i:])
			if !ok {
				continue
			}
			if err := visit(ref, off+int64(i)); err != nil {
				return err
			}
		}
		if len(b) >= window {
			before = b[window-1]
		}
	}
	return nil
}

// headerAt matches `\d+\s+\d+\s+obj` followed by a non-regular byte.
func headerAt(b []byte) (Ref, bool) {
	num, i := digits(b, 0)
	if i == 0 || i > 10 {
		return Ref{}, false
	}
	j := i
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j == i {
		return Ref{}, false
	}
	gen, k := digits(b, j)
	if k == j || k-j > 5 {
		return Ref{}, false
	}
	m := k
	for m < len(b) && isSpace(b[m]) {
		m++
	}
	if m == k || !bytes.HasPrefix(b[m:], []byte("obj")) || (m+3 < len(b) && isRegular(b[m+3])) {
		return Ref{}, false
	}
	if num > maxObjNum || gen > 65535 {
		return Ref{}, false
	}
	return Ref{Num: int(num), Gen: int(gen)}, true
}

func digits(b []byte, i int) (int64, int) {
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && v < 1<<40 {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, i
}
