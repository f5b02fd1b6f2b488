package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sealkeep/internal/testenv"
)

// TestRevisionView reads the same object as it was in each revision of a
// file with a real incremental update (MuPDF changed /Info /ModDate).
func TestRevisionView(t *testing.T) {
	r, _ := openFile(t, filepath.Join("testdata", "corpus", "mupdf-incremental-update.pdf"))
	revs := r.Revisions()
	if len(revs) != 2 {
		t.Fatalf("%d revisions", len(revs))
	}
	info, ok := revs[1].Trailer["Info"].(Ref)
	if !ok {
		t.Fatal("no /Info in the latest trailer")
	}
	// The update added /ModDate (MuPDF wrote it as a name, a real quirk).
	var has [2]bool
	for i, rv := range revs {
		d, err := rv.Dict(info)
		if err != nil {
			t.Fatalf("revision %d: %v", i, err)
		}
		_, has[i] = d["ModDate"]
	}
	if has != [2]bool{false, true} {
		t.Errorf("/ModDate present in revisions 0 and 1: %v, want [false true]", has)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "corpus", "mupdf-incremental-update.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	// Revision 0 is a prefix that ends with its own %%EOF.
	if end := revs[0].End; !bytes.HasSuffix(bytes.TrimRight(data[:end], "\r\n"), []byte("%%EOF")) || revs[0].EOF > end {
		t.Errorf("revision 0 ends at %d: %q", end, data[max(0, end-10):end])
	}
	if revs[1].End != int64(len(data)) {
		t.Errorf("revision 1 ends at %d, file size %d", revs[1].End, len(data))
	}
	// An object added by the update does not exist in revision 0.
	for num, e := range revs[1].Sections[0].Entries {
		if _, _, ok := revs[0].Entry(num); ok || e.Type != EntryInUse {
			continue
		}
		if _, err := revs[0].Get(Ref{Num: num, Gen: e.Gen}); !errors.Is(err, ErrNotFound) {
			t.Errorf("object %d added by the update: revision 0 gives %v, want ErrNotFound", num, err)
		}
		if _, err := revs[1].Get(Ref{Num: num, Gen: e.Gen}); err != nil {
			t.Errorf("object %d in revision 1: %v", num, err)
		}
	}
}

// TestExistingSignatureSpan checks the signature of signpdf-signed.pdf: its
// /ByteRange ends where its revision ends, and the /Contents offsets point
// at the hex string in the file.
func TestExistingSignatureSpan(t *testing.T) {
	path := filepath.Join("testdata", "corpus", "signpdf-signed.pdf")
	r, _ := openFile(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := r.Latest().Signatures()
	if err != nil || len(sigs) != 1 {
		t.Fatalf("Signatures: %d, %v", len(sigs), err)
	}
	s := sigs[0]
	if s.Dict.Name("SubFilter") != "adbe.pkcs7.detached" {
		t.Errorf("SubFilter %q", s.Dict.Name("SubFilter"))
	}
	br := s.ByteRange
	if end := br[2] + br[3]; end != r.Latest().End && end != r.Latest().EOF {
		t.Errorf("/ByteRange ends at %d; the revision ends at %d", end, r.Latest().End)
	}
	hex := data[s.ContentsStart:s.ContentsEnd]
	if hex[0] != '<' || hex[len(hex)-1] != '>' || len(hex) != 2*len(s.Contents)+2 || s.Contents[0] != 0x30 {
		t.Errorf("/Contents span [%d,%d) is not the CMS hex string", s.ContentsStart, s.ContentsEnd)
	}
	// The signer used a linearization-free file with a 1-byte-early
	// startxref; the revision sections still start at their keywords.
	for _, rv := range r.Revisions() {
		for _, sec := range rv.Sections {
			if !bytes.HasPrefix(data[sec.Offset:], []byte("xref")) {
				t.Errorf("section offset %d does not start at xref", sec.Offset)
			}
		}
	}
}

// TestLinearizedRevisions checks that a linearized file's two sections form
// one revision whose end is the end of the file.
func TestLinearizedRevisions(t *testing.T) {
	for _, name := range []string{"qpdf-linearized.pdf", "img2pdf-scan-linearized.pdf"} {
		r, _ := openFile(t, filepath.Join("testdata", "corpus", name))
		revs := r.Revisions()
		if len(revs) != 1 || len(revs[0].Sections) != 2 || revs[0].End != r.Size() {
			t.Errorf("%s: %d revisions, %d sections, end %d of %d", name, len(revs), len(revs[0].Sections), revs[0].End, r.Size())
		}
		// Chain order: the final startxref leads to the first-page section
		// near the start, whose /Prev leads forward to the main section.
		if s := revs[0].Sections; s[0].Offset > 1024 || s[1].Offset < s[0].Offset {
			t.Errorf("%s: sections at %d and %d", name, s[0].Offset, s[1].Offset)
		}
	}
}

func TestAppendObject(t *testing.T) {
	d := Dict{"Type": Name("Sig"), "A B#": Array{Integer(-3), Real(0.5), Real(2), Bool(true), Null{}, Ref{Num: 7}}, "S": String{Value: []byte("a(b)\\\n\x00é")}, "H": String{Value: []byte{0, 255}, Hex: true}}
	got, err := AppendObject(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	want := `<</A#20B#23 [-3 0.5 2.0 true null 7 0 R]/H <00FF>/S (a\(b\)\\\n\000\303\251)/Type /Sig>>`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := AppendObject(nil, &Stream{}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("a stream inline: %v", err)
	}
}

// TestPageBoxAgainstPdfinfo compares PageBox with poppler's pdfinfo for
// the last page of every readable corpus file.
func TestPageBoxAgainstPdfinfo(t *testing.T) {
	pdfinfo := testenv.Tool(t, "pdfinfo")
	for _, c := range corpus {
		if errors.Is(c.refuse, ErrEncrypted) {
			continue
		}
		path := filepath.Join("testdata", "corpus", c.name)
		r, _ := openFile(t, path)
		box, rot, err := r.Latest().PageBox(c.pages)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		n := strconv.Itoa(c.pages)
		out, err := exec.Command(pdfinfo, "-f", n, "-l", n, "-box", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("MediaBox: %9.2f %9.2f %9.2f %9.2f", box[0], box[1], box[2], box[3])
		if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), strings.Join(strings.Fields(want), " ")) ||
			!strings.Contains(string(out), fmt.Sprintf("rot: %3d", rot)) {
			t.Errorf("%s page %d: PageBox %v rotate %d; pdfinfo says:\n%s", c.name, c.pages, box, rot, out)
		}
	}
}

// TestCertificationIgnoresBrokenSignature: a signature dictionary without
// /ByteRange is an error for Signatures (the verifier reports it) but does
// not stop the DocMDP check that sealing needs.
func TestCertificationIgnoresBrokenSignature(t *testing.T) {
	pdf := synthPDF(withObjs(map[int]string{1: "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>"},
		"<< /FT /Sig /T (old) /V 5 0 R >>", "<< /Type /Sig /Filter /Adobe.PPKLite /Contents <00> >>"), "")
	r, err := Open(bytes.NewReader(pdf), int64(len(pdf)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Latest().Signatures(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ByteRange") {
		t.Errorf("Signatures: got %v, want an ErrMalformed about /ByteRange", err)
	}
	if p, err := r.Latest().Certification(); p != 0 || err != nil {
		t.Errorf("Certification = %d, %v; want 0, nil", p, err)
	}
}
