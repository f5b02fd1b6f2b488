package pdf

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readAll reads every object that the revision's own sections list, so
// that offset repairs are found, and returns the revision's repairs.
func readAll(t *testing.T, rv *Revision) []string {
	t.Helper()
	for _, s := range rv.Sections {
		for n, e := range s.Entries {
			switch e.Type {
			case EntryInUse:
				rv.Get(Ref{Num: n, Gen: e.Gen})
			case EntryCompressed:
				rv.Get(Ref{Num: n})
			}
		}
	}
	rep, err := rv.Repairs()
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestRepairsCorpus: no revision of the real-world corpus needs a repair.
func TestRepairsCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.pdf"))
	if err != nil || len(files) == 0 {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			continue // the encrypted file
		}
		for _, rv := range r.Revisions() {
			if rep := readAll(t, rv); len(rep) != 0 {
				t.Errorf("%s revision %d: %q", filepath.Base(f), rv.Index, rep)
			}
		}
	}
}

// TestRepairsPerRevision: each kind of damage in an update is recorded on
// that update's revision, not on the original, and vice versa.
func TestRepairsPerRevision(t *testing.T) {
	base := synthPDF(baseObjs, "")
	prev := lastStartxref(base)
	// update appends body (object text) and then the xref section that
	// xref(at) returns, given the offset where body starts.
	update := func(b []byte, body string, xref func(at int) string) []byte {
		out := append([]byte{}, b...)
		at := len(out)
		out = append(out, body...)
		x := len(out)
		return fmt.Appendf(out, "%sstartxref\n%d\n%%%%EOF\n", xref(at), x)
	}
	page := "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] >>\nendobj\n"
	table := func(off int, prev int) string {
		return fmt.Sprintf("xref\n3 1\n%010d 00000 n \ntrailer\n<< /Size 4 /Root 1 0 R /Prev %d >>\n", off, prev)
	}
	// An uncompressed xref stream (object 5) listing object 3; /Index asks
	// for two entries, the data holds one.
	xrefStm := func(at, prev int) string {
		data := []byte{1, byte(at >> 8), byte(at), 0}
		return fmt.Sprintf("5 0 obj\n<< /Type /XRef /Size 6 /W [1 2 1] /Index [3 2] /Root 1 0 R /Prev %d /Length %d >>\nstream\n%s\nendstream\nendobj\n", prev, len(data), data)
	}
	// The same, Flate-compressed: a complete zlib stream whose data ends
	// early is a truncated xref stream (repaired); cut Flate data is
	// damage of the compression itself (refused, below).
	flateStm := func(cut int) func(at, prev int) string {
		return func(at, prev int) string {
			var buf bytes.Buffer
			w, _ := zlib.NewWriterLevel(&buf, zlib.NoCompression)
			w.Write([]byte{1, byte(at >> 8), byte(at), 0})
			w.Close()
			data := buf.Bytes()[:buf.Len()-cut]
			return fmt.Sprintf("5 0 obj\n<< /Type /XRef /Size 6 /W [1 2 1] /Index [3 2] /Root 1 0 R /Prev %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n", prev, len(data), data)
		}
	}
	withStm := func(stm func(at, prev int) string) []byte {
		out := append([]byte{}, base...)
		at := len(out)
		out = append(out, page...)
		x := len(out)
		return fmt.Appendf(out, "%sstartxref\n%d\n%%%%EOF\n", stm(at, prev), x)
	}
	cut := withStm(flateStm(6))
	if _, err := Open(bytes.NewReader(cut), int64(len(cut)), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut Flate data in an xref stream: %v, want ErrMalformed", err)
	}
	inner := "\n7 0 obj\n<< >>\nendobj\n\n"
	// Seven bytes after the header shift every object of the original.
	nl := bytes.IndexByte(base, '\n') + 1
	shifted := append(append(append([]byte{}, base[:nl]...), "%xxxxx\n"...), base[nl:]...)
	cases := []struct {
		name      string
		pdf       []byte
		rev       int // the revision with the repair; the other has none
		mentioned string
	}{
		{"clean update", update(base, page, func(at int) string { return table(at, prev) }), -1, ""},
		{"wrong object offset", update(base, "% moved\n"+page, func(at int) string { return table(at, prev) }), 1, "cross-reference offset"},
		{"prev off", update(base, page, func(at int) string { return table(at, prev+3) }), 1, "startxref points"},
		{"unlisted object", update(base, page+"4 0 obj\n<< /Hidden true >>\nendobj\n", func(at int) string { return table(at, prev) }), 1, "object 4 0 at byte"},
		{"truncated xref stream", withStm(xrefStm), 1, "holds 1 of the 2 entries"},
		{"truncated compressed xref stream", withStm(flateStm(0)), 1, "holds 1 of the 2 entries"},
		{"stream data is not an object", update(base, page+fmt.Sprintf("6 0 obj\n<< /Length %d >>\nstream\n%sendstream\nendobj\n", len(inner), inner),
			func(at int) string {
				return fmt.Sprintf("xref\n3 1\n%010d 00000 n \n6 1\n%010d 00000 n \ntrailer\n<< /Size 7 /Root 1 0 R /Prev %d >>\n", at, at+len(page), prev)
			}), -1, ""},
		{"object beyond /Size", update(base, "5 0 obj\n<< /Hidden true >>\nendobj\n", func(at int) string {
			return fmt.Sprintf("xref\n5 1\n%010d 00000 n \ntrailer\n<< /Size 4 /Root 1 0 R /Prev %d >>\n", at, prev)
		}), 1, "trailer's /Size is 4"},
		{"damaged original", update(shifted, page, func(at int) string { return table(at, prev+7) }), 0, "cross-reference offset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open(bytes.NewReader(c.pdf), int64(len(c.pdf)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Revisions()) != 2 {
				t.Fatalf("%d revisions", len(r.Revisions()))
			}
			for _, rv := range r.Revisions() {
				rep := readAll(t, rv)
				switch {
				case rv.Index == c.rev && !strings.Contains(strings.Join(rep, "\n"), c.mentioned):
					t.Errorf("revision %d: repairs %q do not mention %q", rv.Index, rep, c.mentioned)
				case rv.Index != c.rev && len(rep) != 0:
					t.Errorf("revision %d: unexpected repairs %q", rv.Index, rep)
				}
			}
		})
	}
}
