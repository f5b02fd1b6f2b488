package pdf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// corpusFile describes one file of testdata/corpus as MANIFEST.md does.
type corpusFile struct {
	name      string
	kind      XrefKind
	revisions int
	pages     int
	fields    int // terminal fields in the AcroForm
	sigs      int
	refuse    error // expected refusal, nil for "Seal OK"
}

var corpus = []corpusFile{
	{"cairo-chart.pdf", XrefTable, 1, 3, 0, 0, nil},
	{"certified-docmdp-p1.pdf", XrefTable, 1, 10, 1, 1, ErrCertified},
	{"chromium-invoice.pdf", XrefTable, 1, 4, 0, 0, nil},
	{"distiller3-1996-incremental.pdf", XrefTable, 2, 1, 0, 0, nil},
	{"ghostscript-groff-manpage.pdf", XrefTable, 1, 10, 0, 0, nil},
	{"img2pdf-scan-linearized.pdf", XrefTable, 1, 2, 0, 0, nil},
	{"libreoffice-acroform.pdf", XrefTable, 1, 1, 6, 0, nil},
	{"libreoffice-pdfa2b.pdf", XrefTable, 1, 7, 0, 0, nil},
	{"libreoffice-report.pdf", XrefTable, 1, 7, 0, 0, nil},
	{"mupdf-incremental-update.pdf", XrefTable, 2, 7, 0, 0, nil},
	{"pdflib-acroform-objstm.pdf", XrefStream, 1, 2, 10, 0, nil},
	{"pdftex-article-objstm.pdf", XrefStream, 1, 8, 0, 0, nil},
	{"pdftex-register-346pages.pdf", XrefStream, 1, 346, 0, 0, nil},
	{"qpdf-aes256-userpw.pdf", XrefStream, 1, 8, 0, 0, ErrEncrypted},
	{"qpdf-linearized.pdf", XrefTable, 1, 5, 0, 0, nil},
	{"qpdf-objstm-xrefstream.pdf", XrefStream, 1, 17, 0, 0, nil},
	{"qpdf-pdf20.pdf", XrefTable, 1, 3, 0, 0, nil},
	{"qpdf-qdf-uncompressed.pdf", XrefTable, 1, 1, 0, 0, nil},
	{"signpdf-signed.pdf", XrefTable, 2, 4, 1, 1, nil},
}

func openFile(t testing.TB, path string) (*Reader, *os.File) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(f, fi.Size(), nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", filepath.Base(path), err)
	}
	return r, f
}

// TestCorpusStructure checks the reader against the facts MANIFEST.md
// records for each file (taken with qpdf, pdfsig and by hand).
func TestCorpusStructure(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", "corpus", c.name)
			if errors.Is(c.refuse, ErrEncrypted) {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				fi, _ := f.Stat()
				if _, err := Open(f, fi.Size(), nil); !errors.Is(err, ErrEncrypted) {
					t.Fatalf("Open: got %v, want ErrEncrypted", err)
				}
				return
			}
			r, _ := openFile(t, path)
			rv := r.Latest()
			if got := len(r.Revisions()); got != c.revisions {
				t.Errorf("revisions = %d, want %d", got, c.revisions)
			}
			if got := rv.Sections[0].Kind; got != c.kind {
				t.Errorf("newest xref kind = %v, want %v", got, c.kind)
			}
			if rv.End != r.Size() && rv.EOF > r.Size() {
				t.Errorf("latest revision ends at %d, file size %d", rv.End, r.Size())
			}
			n, err := rv.NumPages()
			if err != nil || n != c.pages {
				t.Errorf("NumPages = %d, %v; want %d", n, err, c.pages)
			}
			if _, _, err := rv.Page(n); err != nil {
				t.Errorf("Page(%d): %v", n, err)
			}
			if _, _, err := rv.Page(n + 1); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("Page(%d) past the end: got %v, want ErrInvalidInput", n+1, err)
			}
			if box, rot, err := rv.PageBox(1); err != nil || box[2] <= box[0] || box[3] <= box[1] || rot%90 != 0 {
				t.Errorf("PageBox(1) = %v, %d, %v", box, rot, err)
			}
			fields, err := rv.Fields()
			if err != nil || len(fields) != c.fields {
				t.Errorf("Fields = %d, %v; want %d", len(fields), err, c.fields)
			}
			sigs, err := rv.Signatures()
			if err != nil || len(sigs) != c.sigs {
				t.Fatalf("Signatures = %d, %v; want %d", len(sigs), err, c.sigs)
			}
			for _, s := range sigs {
				br := s.ByteRange
				if len(br) != 4 || br[1] != s.ContentsStart || br[2] != s.ContentsEnd {
					t.Errorf("signature %q: /ByteRange %v does not exclude exactly /Contents [%d,%d)", s.Field.Name, br, s.ContentsStart, s.ContentsEnd)
				}
			}
			t.Logf("version %s, %d revisions, warnings %q", r.Version(), len(r.Revisions()), r.Warnings())
		})
	}
}
