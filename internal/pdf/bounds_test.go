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
	sizes, err := benchdata.InflatedStreams(b)
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
