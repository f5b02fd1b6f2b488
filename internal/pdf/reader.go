package pdf

import (
	"bufio"
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Reader reads the structure of one PDF file through an [io.ReaderAt]. It
// keeps the cross-reference data in memory and reads objects on demand, so
// memory grows with the number of objects used, not with the file size.
// A Reader is not safe for concurrent use.
type Reader struct {
	ra      io.ReaderAt
	size    int64
	base    int64 // offset of "%PDF-"; file offsets in the file are relative to it
	lim     Limits
	version string

	sections  []*Section  // chain order: newest first
	revisions []*Revision // oldest first
	warnings  []string

	objstms     map[int64]*objStm // decoded object streams by data offset
	objstmLRU   *list.List        // of *objStm, least recently used first
	objstmBytes int64             // the cost of the cached object streams
	spare       [][]byte          // pieces of dropped object streams, for reuse
	decoded     int64             // decoded stream bytes so far, against MaxDecodedTotal
	decodes     int               // streams decoded so far (tests count them)
	repair      map[Ref][]int64
	resolving   int
}

// XrefKind says how a cross-reference section is written.
type XrefKind int

// The kinds of cross-reference section.
const (
	XrefTable  XrefKind = iota + 1 // a classic "xref" table and "trailer"
	XrefStream                     // a /Type /XRef stream (PDF 1.5)
)

// EntryType is the type of a cross-reference entry.
type EntryType int

// The cross-reference entry types (§7.5.8.3).
const (
	EntryFree       EntryType = iota // free or unused
	EntryInUse                       // an object at a byte offset
	EntryCompressed                  // an object inside an object stream
)

// XrefEntry is one cross-reference entry.
type XrefEntry struct {
	Type EntryType
	// Offset is the object's offset as written in the file, relative to the
	// %PDF- header (EntryInUse).
	Offset int64
	// Gen is the generation number (EntryInUse, EntryFree).
	Gen int
	// Stream and Index locate an EntryCompressed object.
	Stream, Index int
}

// Section is one cross-reference section: a table with its trailer, or an
// xref stream, reached from the final startxref through /Prev links.
type Section struct {
	Kind XrefKind
	// Offset is the absolute file offset of the "xref" keyword or of the
	// xref stream's object header.
	Offset int64
	// Trailer is the trailer dictionary (for an xref stream, its dictionary).
	Trailer Dict
	// Hybrid is the absolute offset of the /XRefStm stream of a hybrid
	// file's table, or 0; its entries are merged into Entries.
	Hybrid int64
	// EOF is the absolute offset just after the "%%EOF" that closes the
	// section (the "startxref N %%EOF" after it), or -1 when there is none,
	// as for the first-page section of a linearized file.
	EOF int64
	// End is EOF plus the end-of-line that follows it, if any (-1 if none).
	End int64
	// Entries maps object numbers to this section's entries.
	Entries map[int]XrefEntry
	// repairs lists the damage of this section that reading it needed
	// (see [Revision.Repairs]).
	repairs []string
}

// Revision is one version of the document: the original file or one
// incremental update. A linearized file's first-page section belongs to
// revision 0 together with its main section.
type Revision struct {
	r *Reader
	// Index is 0 for the original document, 1 for the first update, ...
	Index int
	// Sections are this revision's cross-reference sections, newest first.
	Sections []*Section
	// End is the absolute offset just after this revision's last %%EOF and
	// its end-of-line: the revision is the byte prefix [0, End).
	End int64
	// EOF is the absolute offset just after that %%EOF marker.
	EOF int64
	// Trailer merges the trailers of the sections, newest entries first.
	Trailer Dict
	first   int // index of Sections[0] in r.sections
	// unlisted caches the object headers of this revision's bytes that no
	// section lists (see [Revision.Repairs]); nil until scanned.
	unlisted []string
}

// Open reads the file structure: header, every cross-reference section and
// trailer. It returns [ErrEncrypted] for an encrypted file. lim may be nil
// for [DefaultLimits].
func Open(ra io.ReaderAt, size int64, lim *Limits) (*Reader, error) {
	r := &Reader{ra: ra, size: size}
	if lim != nil {
		r.lim = lim.withDefaults()
	} else {
		r.lim = DefaultLimits
	}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	start, eof, err := r.findStartxref()
	if err != nil {
		return nil, err
	}
	if err := r.readChain(start, eof); err != nil {
		return nil, err
	}
	last := r.Latest()
	for _, s := range r.sections {
		if _, ok := s.Trailer["Encrypt"]; ok {
			return nil, ErrEncrypted
		}
	}
	if _, ok := last.Trailer["Root"].(Ref); !ok {
		return nil, malformed(last.Sections[0].Offset, "trailer has no /Root reference")
	}
	return r, nil
}

// Size is the file size in bytes.
func (r *Reader) Size() int64 { return r.size }

// HeaderOffset is the offset of "%PDF-": non-zero when junk precedes the
// header, in which case offsets inside the file are relative to it.
func (r *Reader) HeaderOffset() int64 { return r.base }

// Version is the header version, e.g. "1.7" or "2.0".
func (r *Reader) Version() string { return r.version }

// Revisions lists the revisions, oldest first.
func (r *Reader) Revisions() []*Revision { return r.revisions }

// Latest is the newest revision.
func (r *Reader) Latest() *Revision { return r.revisions[len(r.revisions)-1] }

// Warnings lists the damage that was tolerated or repaired while reading.
func (r *Reader) Warnings() []string { return r.warnings }

func (r *Reader) warnf(format string, args ...any) {
	if len(r.warnings) < 100 {
		r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
	}
}

// readAt reads exactly len(b) bytes at off or fails with ErrMalformed.
func (r *Reader) readAt(b []byte, off int64) error {
	n, err := r.ra.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return malformed(off, "reading: %v", err)
}

// headerWindow is how far into the file the %PDF- header may be preceded
// by junk (Acrobat's own limit is 1024 bytes).
const headerWindow = 1024

func (r *Reader) readHeader() error {
	n := int64(headerWindow)
	if r.size < n {
		n = r.size
	}
	b := make([]byte, n)
	if err := r.readAt(b, 0); err != nil {
		return err
	}
	i := bytes.Index(b, []byte("%PDF-"))
	if i < 0 {
		return fmt.Errorf("%w: no %%PDF- header in the first %d bytes: not a PDF file", ErrMalformed, headerWindow)
	}
	v := b[i+5:]
	j := 0
	for j < len(v) && (v[j] >= '0' && v[j] <= '9' || v[j] == '.') {
		j++
	}
	if j < 3 || v[1] != '.' {
		return malformed(int64(i), "bad %%PDF- header version")
	}
	r.base, r.version = int64(i), string(v[:j])
	if i > 0 {
		r.warnf("%d bytes of junk before the %%PDF- header", i)
	}
	return nil
}

// tailWindow is how much of the end of the file is searched for the final
// startxref and %%EOF (junk after %%EOF is tolerated within it).
const tailWindow = 64 << 10

// maxJunk bounds the junk tolerated after the final %%EOF.
const maxJunk = 1024

// findStartxref returns the final startxref value and the absolute offset
// just after the last %%EOF.
func (r *Reader) findStartxref() (int64, int64, error) {
	n := int64(tailWindow)
	if r.size-r.base < n {
		n = r.size - r.base
	}
	b := make([]byte, n)
	if err := r.readAt(b, r.size-n); err != nil {
		return 0, 0, err
	}
	e := bytes.LastIndex(b, []byte("%%EOF"))
	if e < 0 {
		return 0, 0, fmt.Errorf("%w: no %%%%EOF marker at the end: the file is truncated or not a PDF", ErrMalformed)
	}
	if junk := bytes.TrimRight(b[e+5:], " \r\n\t\f\x00"); len(junk) > 0 {
		// A little junk after %%EOF is common (mail gateways, padding). A
		// lot, or anything that looks like PDF structure, is an update that
		// was cut off: sealing on top of it would sign bytes nobody parsed.
		if len(junk) > maxJunk || bytes.Contains(junk, []byte("obj")) || bytes.Contains(junk, []byte("xref")) ||
			bytes.Contains(junk, []byte("trailer")) || bytes.Contains(junk, []byte("stream")) {
			return 0, 0, fmt.Errorf("%w: %d bytes after the last %%%%EOF look like an unfinished update: the file is truncated", ErrMalformed, len(junk))
		}
		r.warnf("%d bytes after the final %%%%EOF", len(b)-e-5)
	}
	s := bytes.LastIndex(b[:e], []byte("startxref"))
	if s < 0 {
		return 0, 0, fmt.Errorf("%w: no startxref before the final %%%%EOF: the file is truncated", ErrMalformed)
	}
	abs := r.size - n + int64(s)
	f := bytes.Fields(b[s+9 : e])
	if len(f) != 1 {
		return 0, 0, malformed(abs, "startxref is not followed by one offset")
	}
	v, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || v < 0 || v >= r.size-r.base {
		return 0, 0, malformed(abs, "startxref offset %q is outside the file", f[0])
	}
	return v, r.size - n + int64(e) + 5, nil
}

func (r *Reader) lexer(off int64) *lexer {
	return newLexer(r.ra, off, r.size, r.lim.MaxStringLen)
}

func (r *Reader) parser(off int64) *parser {
	return &parser{lex: r.lexer(off), lim: &r.lim}
}

// readChain reads the sections from the final startxref along /Prev and
// groups them into revisions.
func (r *Reader) readChain(start, lastEOF int64) error {
	seen := map[int64]bool{}
	linearizedMerge := map[int]bool{} // section index i is in the same revision as i+1
	off := start
	for {
		if seen[off] {
			return malformed(r.base+off, "cross-reference /Prev loop")
		}
		seen[off] = true
		if len(r.sections) >= r.lim.MaxRevisions {
			return limit("more than %d cross-reference sections", r.lim.MaxRevisions)
		}
		s, moved, err := r.readSection(off)
		if err != nil {
			return err
		}
		r.sections = append(r.sections, s)
		if moved != "" {
			// The damage belongs to the section that holds the wrong
			// offset: the one whose /Prev led here, or, for the final
			// startxref, the newest section itself.
			r.repairf(r.sections[max(0, len(r.sections)-2)], "%s", moved)
		}
		prevObj, ok := s.Trailer["Prev"]
		if !ok {
			break
		}
		prev, ok := prevObj.(Integer)
		if !ok || prev < 0 || int64(prev) >= r.size-r.base {
			return malformed(s.Offset, "trailer /Prev is not an offset inside the file")
		}
		if r.base+int64(prev) > s.Offset {
			// Only a linearized file's first-page section points forward.
			if len(linearizedMerge) > 0 || !r.linearized() {
				return malformed(s.Offset, "trailer /Prev points forward in a file that is not linearized")
			}
			linearizedMerge[len(r.sections)-1] = true
		}
		off = int64(prev)
	}
	// The newest section ends at the file's final %%EOF.
	if r.sections[0].EOF < 0 {
		r.sections[0].EOF, r.sections[0].End = lastEOF, r.eolAfter(lastEOF)
	}
	// Group into revisions, oldest first.
	var groups [][]int
	for i := len(r.sections) - 1; i >= 0; i-- {
		if len(groups) > 0 && linearizedMerge[i] {
			groups[len(groups)-1] = append(groups[len(groups)-1], i)
			continue
		}
		groups = append(groups, []int{i})
	}
	for gi, g := range groups {
		rv := &Revision{r: r, Index: gi, EOF: -1, End: -1, Trailer: Dict{}}
		// g holds section indexes oldest first; Sections are newest first.
		for k := len(g) - 1; k >= 0; k-- {
			s := r.sections[g[k]]
			rv.Sections = append(rv.Sections, s)
			if s.End > rv.End {
				rv.EOF, rv.End = s.EOF, s.End
			}
			for key, v := range s.Trailer {
				if _, ok := rv.Trailer[key]; !ok {
					rv.Trailer[key] = v
				}
			}
		}
		rv.first = g[len(g)-1]
		if gi > 0 {
			// An update trailer must repeat /Root and /Info; some writers
			// forget, and every reader then uses the previous ones.
			for _, k := range []Name{"Root", "Info"} {
				if _, ok := rv.Trailer[k]; !ok {
					if v, ok := r.revisions[gi-1].Trailer[k]; ok {
						rv.Trailer[k] = v
					}
				}
			}
		}
		if rv.End < 0 {
			return malformed(rv.Sections[0].Offset, "revision %d is not closed by startxref and %%%%EOF", gi)
		}
		r.revisions = append(r.revisions, rv)
	}
	return nil
}

// eolAfter returns off plus the end-of-line at off, if any.
func (r *Reader) eolAfter(off int64) int64 {
	var b [2]byte
	n, _ := r.ra.ReadAt(b[:], off)
	switch {
	case n >= 1 && b[0] == '\n':
		return off + 1
	case n == 2 && b[0] == '\r' && b[1] == '\n':
		return off + 2
	case n >= 1 && b[0] == '\r':
		return off + 1
	}
	return off
}

// linearized reports whether the first object of the file is a
// linearization parameter dictionary.
func (r *Reader) linearized() bool {
	p := r.parser(r.base) // the header line is a comment
	if err := p.lex.skipSpace(); err != nil {
		return false
	}
	if _, _, err := p.header(); err != nil {
		return false
	}
	o, err := p.object(0)
	if err != nil {
		return false
	}
	d, _ := o.(Dict)
	_, ok := d["Linearized"]
	return ok
}

// startxrefWindow is how far from a wrong startxref or /Prev value the
// section is searched for.
const startxrefWindow = 64

// readSection reads the section at offset off (relative to the header). A
// slightly wrong startxref or /Prev offset is repaired by searching a small
// window around it for a section that parses completely; moved then says
// so.
func (r *Reader) readSection(off int64) (s *Section, moved string, err error) {
	abs := r.base + off
	s, err = r.readSectionAt(abs)
	if err == nil || !errors.Is(err, ErrMalformed) {
		return s, "", err
	}
	lo := abs - startxrefWindow
	if lo < r.base {
		lo = r.base
	}
	b := make([]byte, min(r.size-lo, 2*startxrefWindow))
	if rerr := r.readAt(b, lo); rerr != nil {
		return nil, "", err
	}
	for d := int64(1); d <= startxrefWindow; d++ {
		for _, cand := range []int64{abs - d, abs + d} {
			i := cand - lo
			if i < 0 || i >= int64(len(b)) || (i > 0 && !isSpace(b[i-1])) {
				continue
			}
			if !bytes.HasPrefix(b[i:], []byte("xref")) && (b[i] < '0' || b[i] > '9') {
				continue
			}
			if s2, err2 := r.readSectionAt(cand); err2 == nil {
				return s2, fmt.Sprintf("startxref points %d bytes away from the cross-reference section at %d", cand-abs, cand), nil
			}
		}
	}
	return nil, "", err
}

func (r *Reader) readSectionAt(abs int64) (*Section, error) {
	if abs < r.base || abs >= r.size {
		return nil, malformed(abs, "cross-reference offset outside the file")
	}
	p := r.parser(abs)
	t, err := p.lex.next()
	if err != nil {
		return nil, err
	}
	var s *Section
	switch {
	case t.is("xref"):
		s, err = r.readTable(p, t.start)
	case t.kind == tInt:
		p.lex.unread(t)
		s, err = r.readXrefStream(p)
	default:
		return nil, malformed(abs, "no cross-reference section at startxref/Prev offset (found %s)", t.describe())
	}
	if err != nil {
		return nil, err
	}
	s.EOF, s.End = r.closingEOF(p)
	return s, nil
}

// closingEOF looks for "startxref N %%EOF" right after a section.
func (r *Reader) closingEOF(p *parser) (int64, int64) {
	t, err := p.lex.next()
	if err != nil || !t.is("startxref") {
		return -1, -1
	}
	if t, err = p.lex.next(); err != nil || t.kind != tInt {
		return -1, -1
	}
	if p.lex.skipWhite() != nil {
		return -1, -1
	}
	if ok, _ := p.lex.hasPrefix("%%EOF"); !ok {
		return -1, -1
	}
	eof := p.lex.pos() + 5
	return eof, r.eolAfter(eof)
}

func (r *Reader) addEntry(s *Section, num int, e XrefEntry, total *int) error {
	if _, ok := s.Entries[num]; ok {
		return nil // the first entry for a number wins (§7.5.4)
	}
	if *total++; *total > r.lim.MaxObjects {
		return limit("more than %d cross-reference entries", r.lim.MaxObjects)
	}
	s.Entries[num] = e
	return nil
}

func (r *Reader) entryCount() int {
	n := 0
	for _, s := range r.sections {
		n += len(s.Entries)
	}
	return n
}

func (r *Reader) readTable(p *parser, start int64) (*Section, error) {
	s := &Section{Kind: XrefTable, Offset: start, Entries: map[int]XrefEntry{}}
	total := r.entryCount()
	for {
		t, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if t.is("trailer") {
			break
		}
		t2, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if t.kind != tInt || t2.kind != tInt || t.i < 0 || t2.i < 0 || t.i+t2.i > maxObjNum {
			return nil, malformed(t.start, "bad cross-reference subsection header (found %s)", t.describe())
		}
		if t2.i > int64(r.lim.MaxObjects) {
			return nil, limit("cross-reference subsection of %d entries", t2.i)
		}
		first := t.i
		for i := int64(0); i < t2.i; i++ {
			o, err := p.lex.next()
			if err != nil {
				return nil, err
			}
			if o.is("trailer") {
				// A subsection shorter than its header says, ending cleanly
				// at the trailer: keep the entries that are there.
				r.repairf(s, "cross-reference subsection %d %d has only %d entries", t.i, t2.i, i)
				p.lex.unread(o)
				break
			}
			g, err := p.lex.next()
			if err != nil {
				return nil, err
			}
			k, err := p.lex.next()
			if err != nil {
				return nil, err
			}
			if o.kind != tInt || g.kind != tInt || o.i < 0 || g.i < 0 || g.i > 65535 || !k.is("n") && !k.is("f") {
				return nil, malformed(o.start, "bad cross-reference entry for object %d", t.i+i)
			}
			if i == 0 && first == 1 && o.i == 0 && g.i == 65535 && k.is("f") {
				// A well-known producer bug: the table starts with object
				// 0's entry but the subsection says it starts at 1.
				r.repairf(s, "cross-reference subsection starts at 1 with the entry of object 0; read as starting at 0")
				first = 0
			}
			num := int(first + i)
			e := XrefEntry{Type: EntryFree, Gen: int(g.i)}
			if k.is("n") {
				if o.i == 0 {
					r.repairf(s, "object %d: in-use entry at offset 0, treated as free", num)
				} else {
					e = XrefEntry{Type: EntryInUse, Offset: o.i, Gen: int(g.i)}
				}
			}
			if err := r.addEntry(s, num, e, &total); err != nil {
				return nil, err
			}
		}
	}
	o, err := p.object(0)
	if err != nil {
		return nil, err
	}
	d, ok := o.(Dict)
	if !ok {
		return nil, malformed(start, "trailer is a %s, not a dictionary", kindName(o))
	}
	s.Trailer = d
	if x, ok := d["XRefStm"]; ok {
		xo, ok := x.(Integer)
		if !ok || xo <= 0 || int64(xo) >= r.size-r.base {
			return nil, malformed(start, "bad /XRefStm offset")
		}
		s.Hybrid = r.base + int64(xo)
		hp := r.parser(s.Hybrid)
		hs, err := r.readXrefStream(hp)
		if err != nil {
			return nil, fmt.Errorf("hybrid /XRefStm: %w", err)
		}
		for num, e := range hs.Entries {
			if err := r.addEntry(s, num, e, &total); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (r *Reader) readXrefStream(p *parser) (*Section, error) {
	ind, err := p.indirectObject(nil)
	if err != nil {
		return nil, err
	}
	st, ok := ind.obj.(*Stream)
	if !ok || st.Dict.Name("Type") != "XRef" {
		return nil, malformed(ind.start, "object %d %d is not a cross-reference stream", ind.ref.Num, ind.ref.Gen)
	}
	s := &Section{Kind: XrefStream, Offset: ind.start, Trailer: st.Dict, Entries: map[int]XrefEntry{}}
	d := st.Dict
	size, ok := d["Size"].(Integer)
	if !ok || size < 0 || size > maxObjNum {
		return nil, malformed(ind.start, "xref stream has no valid /Size")
	}
	wa, ok := d["W"].(Array)
	if !ok || len(wa) != 3 {
		return nil, malformed(ind.start, "xref stream /W is not an array of three integers")
	}
	var w [3]int
	for i, x := range wa {
		v, ok := x.(Integer)
		if !ok || v < 0 || v > 8 {
			return nil, malformed(ind.start, "xref stream /W entry is not an integer in 0..8")
		}
		w[i] = int(v)
	}
	if w[1] == 0 {
		return nil, malformed(ind.start, "xref stream /W has a zero-width offset field")
	}
	index := Array{Integer(0), size}
	if x, ok := d["Index"]; ok {
		if index, ok = x.(Array); !ok || len(index)%2 != 0 {
			return nil, malformed(ind.start, "xref stream /Index is not an array of pairs")
		}
	}
	rd, err := r.decoder(d, st.Offset, st.Length)
	if err != nil {
		return nil, err
	}
	// The records are read as they are decoded: the data is never held.
	data := bufio.NewReaderSize(rd, 64<<10)
	rec := w[0] + w[1] + w[2]
	f := make([]byte, rec)
	total := r.entryCount()
	truncated := false
	for len(index) > 0 && !truncated {
		first, ok1 := index[0].(Integer)
		n, ok2 := index[1].(Integer)
		index = index[2:]
		if !ok1 || !ok2 || first < 0 || n < 0 || first+n > maxObjNum {
			return nil, malformed(ind.start, "bad xref stream /Index pair")
		}
		for i := 0; i < int(n); i++ {
			if _, err := io.ReadFull(data, f); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					// A truncated stream, like a table subsection that
					// ends early: keep the complete records that are there.
					r.repairf(s, "xref stream %d %d: its data holds %d of the %d entries of /Index pair %d %d", ind.ref.Num, ind.ref.Gen, i, n, first, n)
					truncated = true
					break
				}
				return nil, err
			}
			typ := int64(1)
			if w[0] > 0 {
				typ = field(f[:w[0]])
			}
			a, b := field(f[w[0]:w[0]+w[1]]), field(f[w[0]+w[1]:])
			num := int(first) + i
			var e XrefEntry
			switch typ {
			case 0:
				e = XrefEntry{Type: EntryFree, Gen: int(b)}
			case 1:
				if a == 0 {
					r.repairf(s, "object %d: in-use entry at offset 0, treated as free", num)
					e = XrefEntry{Type: EntryFree}
				} else {
					e = XrefEntry{Type: EntryInUse, Offset: a, Gen: int(b)}
				}
			case 2:
				if a > maxObjNum || b > maxObjNum {
					return nil, malformed(ind.start, "bad compressed entry for object %d", num)
				}
				e = XrefEntry{Type: EntryCompressed, Stream: int(a), Index: int(b)}
			default:
				continue // unknown types are references to null (§7.5.8.3)
			}
			if err := r.addEntry(s, num, e, &total); err != nil {
				return nil, err
			}
		}
	}
	// Data after the records is read too (within the limits), so that a
	// damaged stream fails its checksum as before.
	if _, err := io.Copy(io.Discard, data); err != nil && !truncated {
		return nil, err
	}
	return s, nil
}

// field decodes a big-endian xref stream field; 8-byte values are capped
// so they cannot overflow int64 into a negative offset.
func field(b []byte) int64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	if v > 1<<62 {
		return 1 << 62
	}
	return int64(v)
}
