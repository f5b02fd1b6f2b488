package benchdata

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sealkeep/internal/pdf"
	"sealkeep/internal/testenv"
)

// TestWritePDF checks generated files with qpdf --check and our reader:
// valid structure, the page count asked for, the size asked for.
func TestWritePDF(t *testing.T) {
	qpdf := testenv.Tool(t, "qpdf")
	for _, tc := range []struct {
		size  int64
		pages int
	}{{1 << 20, 100}, {6 << 20, 3}, {200 << 10, 1}} {
		path := filepath.Join(t.TempDir(), "gen.pdf")
		if err := CreatePDF(path, tc.size, tc.pages); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := fi.Size() - tc.size; d > 0 || -d > 4096+tc.size/100 {
			t.Errorf("%d pages in %d bytes: file is %d bytes", tc.pages, tc.size, fi.Size())
		}
		if out, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("qpdf --check %d/%d: %v\n%s", tc.size, tc.pages, err, out)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pdf.Open(f, fi.Size(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := r.Latest().NumPages(); err != nil || n != tc.pages {
			t.Errorf("NumPages = %d, %v; want %d", n, err, tc.pages)
		}
		if w := r.Warnings(); len(w) != 0 {
			t.Errorf("reader warnings: %q", w)
		}
		f.Close()
	}
}

func TestWritePDFRefuses(t *testing.T) {
	for _, tc := range []struct {
		size  int64
		pages int
	}{{1 << 20, 0}, {1000, 1}, {1 << 20, 1000}} {
		if _, err := WritePDF(&bytes.Buffer{}, tc.size, tc.pages); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("WritePDF(%d, %d) = %v, want ErrInvalidInput", tc.size, tc.pages, err)
		}
	}
}

func TestWritePDFDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := WritePDF(&a, 300<<10, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := WritePDF(&b, 300<<10, 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two files of the same size and page count differ")
	}
}

// TestCopyHashReadHash checks the floors against an independent read of the file:
// same bytes at the output, their SHA-256 returned, no temporary left.
func TestCopyHashReadHash(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := CreatePDF(in, 3<<20, 2); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "copy.pdf")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := CopyHash(in, out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(in)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Error("copy differs from the input")
	}
	if w := sha256.Sum256(want); !bytes.Equal(sum, w[:]) {
		t.Errorf("digest %x, want %x", sum, w)
	}
	if rh, err := ReadHash(in); err != nil || !bytes.Equal(rh, sum) {
		t.Errorf("ReadHash = %x, %v; want %x", rh, err, sum)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("output directory holds %d entries, want 1", len(ents))
	}
	if _, err := CopyHash(filepath.Join(dir, "missing.pdf"), out); err == nil {
		t.Error("copying a missing file succeeded")
	}
}
