package pdf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sealkeep/internal/testenv"
)

// hybridPDF writes a hybrid-reference file (ISO 32000-2 §7.5.8.4): the
// classic table lists the catalog, the object stream and the xref stream;
// the page tree lives in the object stream and is listed only by the
// /XRefStm stream that the trailer names.
func hybridPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	off := map[int]int{}
	obj := func(n int, body string) {
		off[n] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, body)
	}
	obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	objs := []string{"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"}
	hdr := fmt.Sprintf("2 0 3 %d ", len(objs[0])+1)
	body := hdr + objs[0] + " " + objs[1]
	obj(4, fmt.Sprintf("<< /Type /ObjStm /N 2 /First %d /Length %d >>\nstream\n%s\nendstream", len(hdr), len(body), body))
	// The xref stream: entries for 2 and 3 (compressed in 4), with a PNG
	// Up predictor as real producers write.
	rows := [][]byte{{2, 0, 4, 0}, {2, 0, 4, 1}}
	var raw []byte
	prev := make([]byte, 4)
	for _, r := range rows {
		raw = append(raw, 2) // PNG "Up"
		for i := range r {
			raw = append(raw, r[i]-prev[i])
		}
		prev = r
	}
	data := deflated(raw)
	xs := b.Len()
	off[5] = xs
	fmt.Fprintf(&b, "5 0 obj\n<< /Type /XRef /Size 6 /Index [2 2] /W [1 2 1] /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >> /Length %d >>\nstream\n", len(data))
	b.Write(data)
	b.WriteString("\nendstream\nendobj\n")
	x := b.Len()
	b.WriteString("xref\n0 2\n0000000000 65535 f \n")
	fmt.Fprintf(&b, "%010d 00000 n \n", off[1])
	fmt.Fprintf(&b, "4 2\n%010d 00000 n \n%010d 00000 n \n", off[4], off[5])
	fmt.Fprintf(&b, "trailer\n<< /Size 6 /Root 1 0 R /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n", xs, x)
	return b.Bytes()
}

func TestHybridFile(t *testing.T) {
	in := filepath.Join(t.TempDir(), "hybrid.pdf")
	if err := os.WriteFile(in, hybridPDF(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := qpdfCheck(t, in); code != 0 {
		t.Fatalf("the synthetic hybrid file is not valid for qpdf:\n%s", out)
	}
	r, _ := openFile(t, in)
	s := r.Latest().Sections[0]
	if s.Kind != XrefTable || s.Hybrid == 0 || s.Entries[3].Type != EntryCompressed {
		t.Fatalf("section %+v does not merge the /XRefStm entries", s)
	}
	if _, page, err := r.Latest().Page(1); err != nil || page.Name("Type") != "Page" {
		t.Fatalf("Page(1) from the object stream: %v", err)
	}
	out, res, err := sealFile(t, in, t.TempDir(), SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSealed(t, in, out, res, 1, false)
}

// TestSealQpdfVariants rewrites corpus files with qpdf into layouts the
// corpus lacks (linearized with object streams, uncompressed object
// streams, QDF with object streams) and seals each.
func TestSealQpdfVariants(t *testing.T) {
	qpdf := testenv.Tool(t, "qpdf")
	variants := map[string][]string{
		"linearized-objstm": {"--linearize", "--object-streams=generate"},
		"objstm-plain":      {"--object-streams=generate", "--compress-streams=n"},
		"qdf-objstm":        {"--qdf", "--object-streams=generate"},
	}
	for _, name := range []string{"libreoffice-acroform.pdf", "ghostscript-groff-manpage.pdf", "qpdf-pdf20.pdf"} {
		for vname, args := range variants {
			t.Run(vname+"/"+name, func(t *testing.T) {
				t.Parallel()
				in := filepath.Join(t.TempDir(), "in.pdf")
				cmd := exec.Command(qpdf, append(args, filepath.Join("testdata", "corpus", name), in)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("qpdf: %v\n%s", err, out)
				}
				out, res, err := sealFile(t, in, t.TempDir(), SealOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkSealed(t, in, out, res, 1, false)
			})
		}
	}
}
