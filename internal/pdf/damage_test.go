package pdf

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthPDF writes a small classic PDF: objects numbered from 1 in order,
// a correct xref table, and a trailer with /Size, /Root 1 0 R and extra.
// Tests damage it on purpose; the base file is checked by qpdf in
// TestSynthBaseIsValid.
func synthPDF(objs []string, extra string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, extra, x)
	return b.Bytes()
}

var baseObjs = []string{
	"<< /Type /Catalog /Pages 2 0 R >>",
	"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
	"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
}

func withObjs(repl map[int]string, more ...string) []string {
	objs := append(append([]string{}, baseObjs...), more...)
	for i, o := range repl {
		objs[i-1] = o
	}
	return objs
}

// appendUpdate appends an incremental update with no objects whose
// trailer has the given /Prev.
func appendUpdate(pdf []byte, prev int) ([]byte, int) {
	x := len(pdf)
	s := fmt.Sprintf("xref\n0 0\ntrailer\n<< /Size 4 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", prev, x)
	return append(append([]byte{}, pdf...), s...), x
}

func lastStartxref(pdf []byte) int {
	i := bytes.LastIndex(pdf, []byte("startxref"))
	var n int
	fmt.Sscan(string(pdf[i+9:]), &n)
	return n
}

func deflated(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// sealBytes seals pdf (written to a temp file) and returns the error and
// the output directory, which must stay empty when sealing fails.
func sealBytes(t *testing.T, pdf []byte, lim *Limits) (string, error) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(t.TempDir(), "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := sealFile(t, in, dir, SealOptions{Limits: lim})
	if err != nil {
		assertEmptyDir(t, dir)
	}
	return filepath.Join(dir, "sealed.pdf"), err
}

func TestSynthBaseIsValid(t *testing.T) {
	in := filepath.Join(t.TempDir(), "base.pdf")
	if err := os.WriteFile(in, synthPDF(baseObjs, ""), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := qpdfCheck(t, in); code != 0 {
		t.Fatalf("the synthetic base file is not valid: %s", out)
	}
	out, res, err := sealFile(t, in, t.TempDir(), SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSealed(t, in, out, res, 1, false)
}

// TestRefusals covers FAULTS.md 9, 10 and 13: every damaged or hostile
// input fails with the expected sentinel and leaves no output.
func TestRefusals(t *testing.T) {
	base := synthPDF(baseObjs, "")
	selfLoop, _ := appendUpdate(base, len(base)) // /Prev points to itself
	// Two sections pointing at each other: patch the base trailer's /Prev.
	withPrev := synthPDF(baseObjs, "/Prev 0000000000 ")
	twoLoop, upd := appendUpdate(withPrev, lastStartxref(withPrev))
	twoLoop = bytes.Replace(twoLoop, []byte("/Prev 0000000000"), []byte(fmt.Sprintf("/Prev %010d", upd)), 1)

	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	bomb := deflated(make([]byte, 8<<20))
	cases := []struct {
		name string
		pdf  []byte
		lim  *Limits
		want error
		msg  string
	}{
		{"empty", nil, nil, ErrMalformed, "header"},
		{"not a pdf", []byte("hello, world\n"), nil, ErrMalformed, "header"},
		{"no EOF", base[:len(base)-7], nil, ErrMalformed, "%%EOF"},
		{"prev self loop", selfLoop, nil, ErrMalformed, "loop"},
		{"prev two-section loop", twoLoop, nil, ErrMalformed, "points forward"},
		{"prev loop in linearized file", linearizedLoop(t), nil, ErrMalformed, "loop"},
		{"deep nesting", synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 2 0 R /X " + deep + " >>"}), ""), nil, ErrLimit, "nested"},
		{"deep nesting in trailer", synthPDF(baseObjs, "/X "+deep), nil, ErrLimit, "nested"},
		{"huge subsection", bytes.Replace(base, []byte("xref\n0 4\n"), []byte("xref\n0 400000000\n"), 1), nil, ErrLimit, "subsection"},
		{"object count", base, &Limits{MaxObjects: 2}, ErrLimit, "entries"},
		{"length cycle", synthPDF(withObjs(map[int]string{3: "<< /Type /Page /Parent 2 0 R /Annots 4 0 R >>"}, "<< /Length 4 0 R >>\nstream\nxx\nendstream"), ""), nil, ErrLimit, "nested"},
		{"page tree loop", synthPDF(withObjs(map[int]string{2: "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"}), ""), nil, ErrMalformed, "loop"},
		{"reference chain", synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 4 0 R >>"}, "5 0 R", "4 0 R"), ""), nil, ErrLimit, ""},
		{"catalog missing", synthPDF(withObjs(map[int]string{1: "<< /Type /Pages >>"}), ""), nil, ErrMalformed, "/Type /Pages"},
		{"wrong stream length", synthPDF(withObjs(map[int]string{3: "<< /Type /Page /Parent 2 0 R /Annots 4 0 R >>"}, "<< /Length 40 >>\nstream\nxx\nendstream"), ""), nil, ErrMalformed, "endstream"},
		{"truncated update", append(append([]byte{}, base...), "4 0 obj\n<< /Type /Annot"...), nil, ErrMalformed, "truncated"},
		{"bad string escape run", synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 2 0 R /S (unterminated >>"}), ""), nil, ErrMalformed, ""},
		{"duplicate key", synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 2 0 R /Pages 2 0 R >>"}), ""), nil, ErrMalformed, "duplicate"},
		{"startxref far off", bytes.Replace(base, []byte("%\xe2\xe3\xcf\xd3\n"), []byte("%"+strings.Repeat("x", 200)+"\n"), 1), nil, ErrMalformed, ""},
		{"encrypted trailer", synthPDF(baseObjs, "/Encrypt << /Filter /Standard >> "), nil, ErrEncrypted, ""},
		{"decompression bomb", xrefStreamPDF(bomb), &Limits{MaxDecoded: 1 << 20}, ErrLimit, "decompresses"},
		{"integer overflow", synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 2 0 R /N 99999999999999999999 >>"}), ""), nil, ErrMalformed, "range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := sealBytes(t, c.pdf, c.lim)
			if err == nil {
				t.Fatalf("Seal succeeded, want %v", c.want)
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Seal: got %v, want %v mentioning %q", err, c.want, c.msg)
			}
		})
	}
}

// linearizedLoop makes the main section of a linearized file point back
// to the first-page section that points to it.
func linearizedLoop(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "corpus", "qpdf-linearized.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte("trailer << /Size 13 "))
	return append(append(append([]byte{}, b[:i]...), "trailer << /Prev 216 "...), b[i+len("trailer << "):]...)
}

// xrefStreamPDF writes a file whose only cross-reference section is an xref
// stream with the given (already deflated) data.
func xrefStreamPDF(data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	x := b.Len()
	fmt.Fprintf(&b, "1 0 obj\n<< /Type /XRef /Size 2 /W [1 2 1] /Root 1 0 R /Filter /FlateDecode /Length %d >>\nstream\n", len(data))
	b.Write(data)
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", x)
	return b.Bytes()
}

// TestTolerated checks the bounded repairs: each damaged file seals, and
// pdfsig and qpdf accept the result.
func TestTolerated(t *testing.T) {
	qdf, err := os.ReadFile(filepath.Join("testdata", "corpus", "qpdf-qdf-uncompressed.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	nl := bytes.IndexByte(qdf, '\n') + 1
	cases := []struct {
		name    string
		pdf     []byte
		warning string
	}{
		{"junk after EOF", append(append([]byte{}, qdf...), "garbage that is not a PDF\n"...), "after the final"},
		// Seven bytes inserted after the header shift every offset: the
		// startxref window search and the object header scan repair them.
		{"shifted offsets", append(append(append([]byte{}, qdf[:nl]...), "%xxxxx\n"...), qdf[nl:]...), "cross-reference offset"},
		{"offset zero entry", offsetZeroEntry(), "offset 0"},
		{"startxref early", shiftStartxref(synthPDF(baseObjs, ""), -3), "startxref points"},
		{"startxref late", shiftStartxref(synthPDF(baseObjs, ""), 2), "startxref points"},
		{"short subsection", bytes.Replace(synthPDF(withObjs(nil, "null"), ""), []byte("xref\n0 5\n"), []byte("xref\n0 6\n"), 1), "has only 5 entries"},
		{"subsection off by one", bytes.Replace(synthPDF(baseObjs, ""), []byte("xref\n0 4\n"), []byte("xref\n1 4\n"), 1), "starts at 1"},
		{"update without /Root", updateWithoutRoot(), ""},
		{"direct form field", synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [<< /FT /Tx /T (direct) >>] /DA (/Helv 0 Tf 0 g) >> >>"}), ""), ""},
		{"junk before header", append([]byte("junk from a mail gateway\n"), synthPDF(baseObjs, "")...), "before the %PDF- header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.pdf")
			if err := os.WriteFile(in, c.pdf, 0o600); err != nil {
				t.Fatal(err)
			}
			out, res, err := sealFile(t, in, t.TempDir(), SealOptions{})
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if !strings.Contains(strings.Join(res.Warnings, "\n"), c.warning) {
				t.Errorf("warnings %q do not mention %q", res.Warnings, c.warning)
			}
			valid, total, sigOut := pdfsigValid(t, out)
			if valid != 1 || total != 1 {
				t.Errorf("pdfsig:\n%s", sigOut)
			}
			if code, qout := qpdfCheck(t, out); code == 2 {
				t.Errorf("qpdf --check found errors:\n%s", qout)
			}
		})
	}
}

// updateWithoutRoot appends an update (replacing the page) whose trailer
// has no /Root.
func updateWithoutRoot() []byte {
	base := synthPDF(baseObjs, "")
	var b bytes.Buffer
	b.Write(base)
	at := b.Len()
	b.WriteString("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] >>\nendobj\n")
	x := b.Len()
	fmt.Fprintf(&b, "xref\n3 1\n%010d 00000 n \ntrailer\n<< /Size 4 /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", at, lastStartxref(base), x)
	return b.Bytes()
}

// shiftStartxref moves the final startxref value by d bytes.
func shiftStartxref(pdf []byte, d int) []byte {
	i := bytes.LastIndex(pdf, []byte("startxref\n"))
	return append(append([]byte{}, pdf[:i]...), fmt.Sprintf("startxref\n%d\n%%%%EOF\n", lastStartxref(pdf)+d)...)
}

// offsetZeroEntry lists the unused object 4 as in use at offset 0.
func offsetZeroEntry() []byte {
	pdf := synthPDF(withObjs(nil, "null"), "")
	at := bytes.Index(pdf, []byte("4 0 obj"))
	return bytes.Replace(pdf, []byte(fmt.Sprintf("%010d 00000 n", at)), []byte("0000000000 00000 n"), 1)
}

// TestTruncated cuts corpus files at many lengths (FAULTS.md 9): every cut
// fails cleanly with no output, except cuts that only drop the final EOL.
func TestTruncated(t *testing.T) {
	for _, name := range []string{"qpdf-qdf-uncompressed.pdf", "pdflib-acroform-objstm.pdf", "signpdf-signed.pdf", "distiller3-1996-incremental.pdf"} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", name))
		if err != nil {
			t.Fatal(err)
		}
		var cuts []int
		for i := 0; i < 40; i++ {
			cuts = append(cuts, len(data)*i/40)
		}
		for i := 1; i <= 64; i++ {
			cuts = append(cuts, len(data)-i)
		}
		for _, n := range cuts {
			_, err := sealBytes(t, data[:n], nil)
			if err == nil {
				if len(bytes.TrimRight(data[n:], "\r\n")) != 0 {
					t.Errorf("%s cut at %d of %d: sealed without error", name, n, len(data))
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s cut at %d: got %v, want ErrMalformed", name, n, err)
			}
		}
	}
}

// TestSignatureTooLarge covers FAULTS.md 15 and the signer failing: no
// output, and an existing file at the output path is untouched.
func TestSignatureTooLarge(t *testing.T) {
	in := filepath.Join("testdata", "corpus", "cairo-chart.pdf")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	dir := t.TempDir()
	out := filepath.Join(dir, "existing.pdf")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sign SignFunc
		want error
	}{
		{func(context.Context, []byte) ([]byte, error) { return make([]byte, 2049), nil }, ErrContentsTooSmall},
		{func(context.Context, []byte) ([]byte, error) { return nil, errBoom }, errBoom},
	} {
		_, err := Seal(context.Background(), f, fi.Size(), out, SealOptions{ContentsSize: 2048}, c.sign)
		if !errors.Is(err, c.want) {
			t.Fatalf("Seal: got %v, want %v", err, c.want)
		}
		if b, _ := os.ReadFile(out); string(b) != "keep me" {
			t.Fatal("the existing output file was changed")
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("temporary files left behind: %v", ents)
		}
	}
}

var errBoom = errors.New("signer unavailable")

// TestScanHeadersWindowEdges puts object headers across and exactly at the
// 64 KiB scan window boundaries used by the offset repair.
func TestScanHeadersWindowEdges(t *testing.T) {
	for _, at := range []int{1 << 16, 1<<16 - 3, 1<<16 - 9, 2 << 16} {
		data := bytes.Repeat([]byte{' '}, at)
		data = append(data, "12 0 obj\n<< >>\nendobj\n"...)
		r := &Reader{ra: bytes.NewReader(data), size: int64(len(data)), lim: DefaultLimits}
		idx, err := r.scanHeaders()
		if err != nil {
			t.Fatal(err)
		}
		if got := idx[Ref{Num: 12}]; len(got) != 1 || got[0] != int64(at) {
			t.Errorf("header at %d: found %v", at, got)
		}
	}
}

// shrinking is a ReaderAt whose data is cut in half once the copy starts
// (the parser reads the start of the file once, in the header and tail
// windows; the copy reads it again), as a file truncated by another
// process while it is sealed.
type shrinking struct {
	data   []byte
	starts int
}

func (s *shrinking) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 && len(p) > 1024 {
		s.starts++
	}
	d := s.data
	if s.starts > 1 {
		d = d[:len(d)/2]
	}
	if off >= int64(len(d)) {
		return 0, io.EOF
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestInputShrinksWhileSealing(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "corpus", "qpdf-qdf-uncompressed.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Seal(context.Background(), &shrinking{data: data}, int64(len(data)), filepath.Join(dir, "out.pdf"), SealOptions{}, newTestSigner(t).sign)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "shrank") {
		t.Fatalf("got %v, want ErrMalformed about the input shrinking", err)
	}
	assertEmptyDir(t, dir)
}
