package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"sealkeep/internal/benchdata"
)

// hostile returns the bytes of a generated hostile file.
func hostile(t *testing.T, write func(w *bytes.Buffer) (int64, error)) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hostileWant is what stops the reader on each file of the bounded-cost
// benchmark with the default limits.
var hostileWant = map[string]string{
	"objstm-interleaved": "decompresses to more than 32 MiB (the cap on one stream)",
	"objstm-wide-update": "decompresses to more than 32 MiB (the cap on one stream)",
	"objstm-budget":      "more than 256 MiB of decoded stream data in this file",
	"flate-bomb":         "decompresses to more than 32 MiB (the cap on one stream)",
	"deep-nesting":       "nested deeper than 64",
	"prev-loop":          "more than 1000 cross-reference sections",
}

// TestHostileFiles seals each file of the bounded-cost benchmark (issue 7,
// FAULTS.md 13 and 32) with the default limits: each ends in ErrLimit,
// "over the processing limit", with the limit that stopped it, and leaves
// no output. (Verification, which uses the same reader, is tested in
// internal/pdf/verify.)
func TestHostileFiles(t *testing.T) {
	files := benchdata.HostileFiles()
	if len(files) != len(hostileWant) {
		t.Fatalf("%d hostile files, %d expectations", len(files), len(hostileWant))
	}
	for _, h := range files {
		t.Run(h.Name, func(t *testing.T) {
			b := hostile(t, func(w *bytes.Buffer) (int64, error) { return h.Write(w) })
			_, err := sealBytes(t, b, nil)
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "over the processing limit") || !strings.Contains(err.Error(), hostileWant[h.Name]) {
				t.Fatalf("Seal: %v; want ErrLimit mentioning %q", err, hostileWant[h.Name])
			}
		})
	}
}

// openBytes opens b with lim.
func openBytes(t *testing.T, b []byte, lim *Limits) *Reader {
	t.Helper()
	r, err := Open(bytes.NewReader(b), int64(len(b)), lim)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDecodeBudgetEdge decodes a file whose decoded stream bytes (an xref
// stream and four object streams, counted by inflating each stream with
// compress/zlib) total T: a budget of T reads every form field, T-1 is
// over the processing limit. The same for the cap on one stream at the
// largest stream's size.
func TestDecodeBudgetEdge(t *testing.T) {
	b := hostile(t, func(w *bytes.Buffer) (int64, error) { return benchdata.WriteInterleaved(w, 40, 4, 300<<10) })
	sizes, err := benchdata.InflatedStreams(b, -1)
	if err != nil {
		t.Fatal(err)
	}
	var total, largest int64
	for _, n := range sizes {
		total, largest = total+n, max(largest, n)
	}
	if len(sizes) != 5 || largest < 300<<10 {
		t.Fatalf("the generated file has streams of %v bytes", sizes)
	}
	read := func(lim Limits) (*Reader, error) {
		r, err := Open(bytes.NewReader(b), int64(len(b)), &lim)
		if err != nil {
			return nil, err
		}
		fields, err := r.Latest().Fields()
		if err == nil && len(fields) != 40 {
			t.Fatalf("%d fields, want 40", len(fields))
		}
		return r, err
	}
	r, err := read(Limits{MaxDecodedTotal: total})
	if err != nil {
		t.Fatalf("budget of exactly %d bytes: %v", total, err)
	}
	if r.decoded != total {
		t.Errorf("counted %d decoded bytes, the streams inflate to %d", r.decoded, total)
	}
	if _, err := read(Limits{MaxDecodedTotal: total - 1}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes of decoded stream data", total-1)) {
		t.Errorf("budget of %d bytes: %v, want the budget's ErrLimit", total-1, err)
	}
	if _, err := read(Limits{MaxDecoded: largest}); err != nil {
		t.Errorf("cap of exactly %d bytes on one stream: %v", largest, err)
	}
	if _, err := read(Limits{MaxDecoded: largest - 1}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "cap on one stream") {
		t.Errorf("cap of %d bytes on one stream: %v, want the cap's ErrLimit", largest-1, err)
	}
}

// TestObjStmDecodedOnce looks up 10,000 objects interleaved across five
// object streams, three times over: each object stream is decoded once
// (plus the xref stream), however the lookups alternate.
func TestObjStmDecodedOnce(t *testing.T) {
	b := hostile(t, func(w *bytes.Buffer) (int64, error) { return benchdata.WriteInterleaved(w, 10000, 5, 64<<10) })
	r := openBytes(t, b, nil)
	for range 3 {
		fields, err := r.Latest().Fields()
		if err != nil {
			t.Fatal(err)
		}
		if len(fields) != 10000 {
			t.Fatalf("%d fields, want 10000", len(fields))
		}
		for i, f := range fields {
			if want := fmt.Sprintf("field %d", i); f.Name != want {
				t.Fatalf("field %d is named %q, want %q", i, f.Name, want)
			}
		}
	}
	if r.decodes != 6 {
		t.Errorf("%d stream decodings for 30,000 lookups in 5 object streams; want 6 (5 and the xref stream)", r.decodes)
	}
}

// TestObjStmCacheDropsAndCounts alternates between object streams larger
// than the cache: each lookup after the first round decodes its stream
// again, and each decoding counts against the budget, which stops the
// lookups within one read buffer past it.
func TestObjStmCacheDropsAndCounts(t *testing.T) {
	const pad = objStmCacheBytes/2 + 1<<20 // two do not fit
	b := hostile(t, func(w *bytes.Buffer) (int64, error) { return benchdata.WriteInterleaved(w, 30, 3, pad) })
	lim := &Limits{MaxDecodedTotal: 10 * pad}
	r := openBytes(t, b, lim)
	_, err := r.Latest().Fields()
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "of decoded stream data in this file") {
		t.Fatalf("Fields: %v, want the budget's ErrLimit", err)
	}
	if r.decodes < 10 || r.decodes > 12 {
		t.Errorf("%d decodings of object streams of %d bytes within a budget of %d", r.decodes, pad, lim.MaxDecodedTotal)
	}
	if over := r.decoded - lim.MaxDecodedTotal; over > 64<<10 {
		t.Errorf("decoded %d bytes past the budget", over)
	}
	if r.objstmBytes > objStmCacheBytes {
		t.Errorf("the cache holds %d bytes, more than %d", r.objstmBytes, objStmCacheBytes)
	}
	// Once the budget is spent, nothing more is decoded.
	n := r.decodes
	if _, err := r.Latest().Fields(); !errors.Is(err, ErrLimit) || r.decodes != n {
		t.Errorf("after the budget: %v and %d more decodings", err, r.decodes-n)
	}
}

// TestStreamDataCounts checks that StreamData is held to the cap on one
// stream and counts against the budget.
func TestStreamDataCounts(t *testing.T) {
	b := hostile(t, func(w *bytes.Buffer) (int64, error) { return benchdata.WriteFlateBomb(w, 1<<20) })
	r := openBytes(t, b, &Limits{MaxDecodedTotal: 3 << 20})
	o, err := r.Latest().Get(Ref{Num: 4})
	if err != nil {
		t.Fatal(err)
	}
	st := o.(*Stream)
	before := r.decoded
	data, err := r.StreamData(st)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) < 1<<20 || r.decoded-before != int64(len(data)) {
		t.Errorf("StreamData returned %d bytes and counted %d", len(data), r.decoded-before)
	}
	for r.decoded <= 3<<20 {
		if _, err = r.StreamData(st); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrLimit) {
		t.Errorf("StreamData past the budget: %v", err)
	}
	small := openBytes(t, b, &Limits{MaxDecoded: 1 << 20})
	if _, err := small.StreamData(st); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "cap on one stream") {
		t.Errorf("StreamData over the cap: %v", err)
	}
}

// xrefStreamSection appends an xref stream object num (no filter, /W [1 4
// 2]) for entries (number -> type, field 2, field 3) and its startxref.
func xrefStreamSection(b []byte, num int, entries map[int][3]int64, extra string) []byte {
	x := len(b)
	entries[num] = [3]int64{1, int64(x), 0}
	var rec []byte
	var index string
	for n := 0; n <= num; n++ {
		e, ok := entries[n]
		if !ok {
			continue
		}
		index += fmt.Sprintf(" %d 1", n)
		rec = append(rec, byte(e[0]), byte(e[1]>>24), byte(e[1]>>16), byte(e[1]>>8), byte(e[1]), byte(e[2]>>8), byte(e[2]))
	}
	b = fmt.Appendf(b, "%d 0 obj\n<< /Type /XRef /Size %d /Index [%s] /W [1 4 2] %s /Length %d >>\nstream\n", num, num+1, index, extra, len(rec))
	b = append(b, rec...)
	return fmt.Appendf(b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", x)
}

// TestObjStmRedefined redefines object stream 4 in an update, with object
// 5 inside it changed: each revision reads its own object 5, in any order,
// although the object stream keeps its number.
func TestObjStmRedefined(t *testing.T) {
	b := []byte("%PDF-1.7\n")
	entries := map[int][3]int64{}
	obj := func(num int, body string) {
		entries[num] = [3]int64{1, int64(len(b)), 0}
		b = fmt.Appendf(b, "%d 0 obj\n%s\nendobj\n", num, body)
	}
	objStm := func(v string) {
		data := "5 0 " + v
		obj(4, fmt.Sprintf("<< /Type /ObjStm /N 1 /First 4 /Length %d >>\nstream\n%s\nendstream", len(data), data))
		entries[5] = [3]int64{2, 4, 0}
	}
	obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>")
	objStm("(old)")
	b = xrefStreamSection(b, 6, entries, "/Root 1 0 R")
	prev := entries[6][1]
	entries = map[int][3]int64{}
	objStm("(new)")
	b = xrefStreamSection(b, 7, entries, fmt.Sprintf("/Root 1 0 R /Prev %d", prev))

	r := openBytes(t, b, nil)
	if len(r.Revisions()) != 2 {
		t.Fatalf("%d revisions", len(r.Revisions()))
	}
	for _, i := range []int{0, 1, 1, 0, 1, 0} {
		o, err := r.Revisions()[i].Get(Ref{Num: 5})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]string{0: "old", 1: "new"}[i]
		if s, ok := o.(String); !ok || string(s.Value) != want {
			t.Fatalf("revision %d reads object 5 as %v, want (%s)", i, o, want)
		}
	}
	if r.decodes != 4 {
		t.Errorf("%d stream readings, want 4: one per object stream and per xref stream", r.decodes)
	}
}

// TestLexerIntegers checks the lexer's allocation-free path for unsigned
// integers against strconv, and that everything else still takes the
// general path: signs, reals, 19 digits and more, trailing letters.
func TestLexerIntegers(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind tokKind
		i    int64
		err  bool
	}{
		{"0", tInt, 0, false},
		{"007 ", tInt, 7, false},
		{"123456789012345678]", tInt, 123456789012345678, false},
		{"1234567890123456789", tInt, 1234567890123456789, false},
		{"9223372036854775807", tInt, 9223372036854775807, false},
		{"9223372036854775808", 0, 0, true},
		{"+5", tInt, 5, false},
		{"-5", tInt, -5, false},
		{"5.", tReal, 0, false},
		{"12a", 0, 0, true},
		{"12/x", tInt, 12, false},
	} {
		tok, err := newLexer(strings.NewReader(c.in), 0, int64(len(c.in)), 64).next()
		if (err != nil) != c.err || err == nil && (tok.kind != c.kind || c.kind == tInt && tok.i != c.i) {
			t.Errorf("%q: %v %d, %v; want %v %d (error %v)", c.in, tok.kind, tok.i, err, c.kind, c.i, c.err)
		}
	}
	// Across a buffer boundary: a number that starts in one 4 KiB chunk
	// and ends in the next.
	in := strings.Repeat(" ", chunk-3) + "123456 7"
	lx := newLexer(strings.NewReader(in), 0, int64(len(in)), 64)
	if a, err := lx.next(); err != nil || a.kind != tInt || a.i != 123456 || a.start != chunk-3 {
		t.Errorf("across the buffer: %v %d at %d, %v", a.kind, a.i, a.start, err)
	}
	if b, err := lx.next(); err != nil || b.i != 7 {
		t.Errorf("after it: %v %d, %v", b.kind, b.i, err)
	}
	// The general path re-reads from the token's start after the buffer
	// moved on.
	for in, want := range map[string]tokKind{"1234.5": tReal, "-12345": tInt, "12345a": 0} {
		in = strings.Repeat(" ", chunk-3) + in
		tok, err := newLexer(strings.NewReader(in), 0, int64(len(in)), 64).next()
		if want == 0 && err == nil || want != 0 && (err != nil || tok.kind != want || tok.start != chunk-3) {
			t.Errorf("%q across the buffer: %v at %d, %v", in[chunk-3:], tok.kind, tok.start, err)
		}
	}
}
