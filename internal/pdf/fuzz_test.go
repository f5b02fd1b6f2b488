package pdf

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sealkeep/internal/benchdata"
)

// fuzzLimits keep each fuzz input cheap.
var fuzzLimits = Limits{MaxDepth: 32, MaxElements: 4096, MaxObjects: 1 << 14, MaxStringLen: 1 << 16, MaxDecoded: 64 << 10, MaxDecodedTotal: 256 << 10, MaxRevisions: 64}

// corpusSnippets seeds the fuzzers with the heads and tails of the corpus
// files (header, first objects; xref, trailer, startxref) and small files.
func corpusSnippets(f *testing.F, whole bool) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.pdf"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if whole && len(b) < 64<<10 {
			f.Add(b)
		}
		f.Add(b[:min(len(b), 2048)])
		f.Add(b[max(0, len(b)-1024):])
	}
	f.Add(synthPDF(baseObjs, ""))
	f.Add(xrefStreamPDF(deflated([]byte{1, 0, 9, 0})))
	for _, b := range hostileSeeds(f) {
		f.Add(b)
	}
}

// hostileSeeds are small versions of the bounded-cost benchmark's files,
// at the edges of fuzzLimits: object streams under the cap on one stream,
// over it, and over the budget together; a Flate bomb; /Prev loops under
// and over MaxRevisions; nesting deeper than MaxDepth.
func hostileSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, w := range []func(io.Writer) (int64, error){
		func(w io.Writer) (int64, error) { return benchdata.WriteInterleaved(w, 30, 3, 16<<10) },
		func(w io.Writer) (int64, error) { return benchdata.WriteInterleaved(w, 30, 3, 128<<10) },
		func(w io.Writer) (int64, error) { return benchdata.WriteInterleaved(w, 60, 6, 60<<10) },
		func(w io.Writer) (int64, error) { return benchdata.WriteWideUpdate(w, 3, 128<<10) },
		func(w io.Writer) (int64, error) { return benchdata.WriteFlateBomb(w, 1<<20) },
		func(w io.Writer) (int64, error) { return benchdata.WritePrevLoop(w, 10) },
		func(w io.Writer) (int64, error) { return benchdata.WritePrevLoop(w, 80) },
		func(w io.Writer) (int64, error) { return benchdata.WriteDeepNesting(w, 100) },
	} {
		var b bytes.Buffer
		if _, err := w(&b); err != nil {
			f.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// FuzzLexer tokenises arbitrary bytes: no panic, offsets that only move
// forward, and literal strings that survive a write and re-read.
func FuzzLexer(f *testing.F) {
	corpusSnippets(f, false)
	f.Add([]byte(`(a\(b\)c\\ \101\12 \
) <48 65 6c6C6f> /Na#6De#20x [1 -2 +3 .5 -.25 4.] << /K true /N null >> 12 0 R`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lx := newLexer(bytes.NewReader(data), 0, int64(len(data)), fuzzLimits.MaxStringLen)
		last := int64(-1)
		for i := 0; i < 10000; i++ {
			tok, err := lx.next()
			if err != nil || tok.kind == tEOF {
				break
			}
			if tok.start <= last || tok.end <= tok.start || tok.end > int64(len(data)) {
				t.Fatalf("token %v at [%d,%d) after %d in %d bytes", tok.kind, tok.start, tok.end, last, len(data))
			}
			last = tok.start
			if tok.kind == tString {
				re := appendLiteral(nil, tok.b)
				l2 := newLexer(bytes.NewReader(re), 0, int64(len(re)), len(re)+1)
				t2, err := l2.next()
				if err != nil || t2.kind != tString || !bytes.Equal(t2.b, tok.b) {
					t.Fatalf("string %q written as %q reads back as %q, %v", tok.b, re, t2.b, err)
				}
			}
		}
		// Objects that parse must write out and parse back to the same value.
		p := &parser{lex: newLexer(bytes.NewReader(data), 0, int64(len(data)), fuzzLimits.MaxStringLen), lim: &fuzzLimits}
		o, err := p.object(0)
		if err != nil {
			return
		}
		out, err := AppendObject(nil, o)
		if err != nil {
			return
		}
		p2 := &parser{lex: newLexer(bytes.NewReader(out), 0, int64(len(out)), fuzzLimits.MaxStringLen), lim: &fuzzLimits}
		o2, err := p2.object(0)
		if err != nil {
			t.Fatalf("%q written as %q does not parse: %v", data, out, err)
		}
		if !equalObjects(o, o2) {
			t.Fatalf("%q written as %q reads back as %#v, not %#v", data, out, o2, o)
		}
	})
}

// equalObjects compares objects ignoring how strings were written.
func equalObjects(a, b Object) bool {
	switch a := a.(type) {
	case String:
		b, ok := b.(String)
		return ok && bytes.Equal(a.Value, b.Value)
	case Array:
		b, ok := b.(Array)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalObjects(a[i], b[i]) {
				return false
			}
		}
		return true
	case Dict:
		b, ok := b.(Dict)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !equalObjects(v, b[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// FuzzXref parses one cross-reference section (table with trailer, or
// xref stream) at offset 0.
func FuzzXref(f *testing.F) {
	corpusSnippets(f, false)
	f.Add([]byte("xref\n0 3\n0000000000 65535 f \n0000000017 00000 n\r\n0000000081 00000 n\rtrailer\n<< /Size 3 /Root 1 0 R /Prev 0 >>\nstartxref\n0\n%%EOF\n"))
	f.Add([]byte("xref\r1 1\r0000000010 00000 n\rtrailer<</Size 2/XRefStm 9>>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Reader{ra: bytes.NewReader(data), size: int64(len(data)), lim: fuzzLimits}
		s, err := r.readSectionAt(0)
		if err != nil {
			return
		}
		if s.Trailer == nil || len(s.Entries) > fuzzLimits.MaxObjects {
			t.Fatalf("section without trailer or over the entry limit")
		}
		for _, e := range s.Entries {
			if e.Type == EntryInUse && e.Offset <= 0 {
				t.Fatalf("in-use entry at offset %d", e.Offset)
			}
		}
	})
}

// FuzzOpen runs the whole reader and everything sealing reads.
func FuzzOpen(f *testing.F) {
	corpusSnippets(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Open(bytes.NewReader(data), int64(len(data)), &fuzzLimits)
		if err != nil {
			return
		}
		for _, rv := range r.Revisions() {
			if rv.End > int64(len(data)) || rv.End < 0 {
				t.Fatalf("revision %d ends at %d of %d", rv.Index, rv.End, len(data))
			}
			rv.Catalog()
			if n, err := rv.NumPages(); err == nil && n > 0 {
				rv.Page(1)
				rv.Page(n)
			}
			if sigs, err := rv.Signatures(); err == nil {
				for _, s := range sigs {
					if s.ContentsStart >= 0 && (s.ContentsEnd > int64(len(data)) || data[s.ContentsStart] != '<') {
						t.Fatalf("bad /Contents span [%d,%d)", s.ContentsStart, s.ContentsEnd)
					}
				}
			}
			rv.Certification()
		}
		// Build the sealing update in memory (no file is written).
		opts := SealOptions{Name: "fuzz", ContentsSize: 64, Time: sealTime}
		if err := opts.check(); err != nil {
			t.Fatal(err)
		}
		check := func(u *update, err error) {
			if err == nil && (u.contents <= u.byteRange || u.contents >= u.pos()) {
				t.Fatalf("placeholders at %d and %d outside the update [%d,%d)", u.byteRange, u.contents, u.start, u.pos())
			}
		}
		check(prepare(r, opts))
		// Sign in place into each unsigned signature field, visibly.
		fields, _ := r.Latest().Fields()
		for _, f := range fields {
			if f.Type == "Sig" && f.Dict["V"] == nil {
				o := opts
				o.FieldName = f.Name
				o.Visible = &Appearance{Lines: []string{"fuzz"}}
				check(prepare(r, o))
			}
		}
	})
}
