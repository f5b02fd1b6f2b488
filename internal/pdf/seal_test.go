package pdf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/testenv"
)

var sealTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// sealFile seals testdata/corpus/name into dir and returns the output path.
func sealFile(t *testing.T, in, dir string, opts SealOptions) (string, *SealResult, error) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sealed.pdf")
	if opts.Time.IsZero() {
		opts.Time = sealTime
	}
	if opts.Name == "" {
		opts.Name = "Jane Doe, P.E."
		opts.Reason = "Sealed by the engineer of record"
		opts.Location = "Austin, Texas"
	}
	res, err := Seal(context.Background(), f, fi.Size(), out, opts, newTestSigner(t).sign)
	return out, res, err
}

// qpdfCheck runs qpdf --check and returns its exit status and output.
func qpdfCheck(t *testing.T, path string) (int, string) {
	t.Helper()
	qpdf := testenv.Tool(t, "qpdf")
	out, err := exec.Command(qpdf, "--check", path).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// pdfsigValid runs pdfsig and returns how many signatures it reports as
// valid, and how many it found.
func pdfsigValid(t *testing.T, path string) (valid, total int, out string) {
	t.Helper()
	pdfsig := testenv.Tool(t, "pdfsig")
	b, _ := exec.Command(pdfsig, path).CombinedOutput()
	out = string(b)
	return strings.Count(out, "Signature Validation: Signature is Valid."), strings.Count(out, "Signature #"), out
}

// checkSealed applies the independent oracles to a sealed file.
func checkSealed(t *testing.T, in, out string, res *SealResult, wantSigs int, qpdfWarns bool) {
	t.Helper()
	orig, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sealed, orig) {
		t.Fatal("the input is not a byte prefix of the output")
	}
	br := res.ByteRange
	if br[0] != 0 || br[3]+br[2] != int64(len(sealed)) || br[1] <= int64(len(orig)) {
		t.Fatalf("/ByteRange %v does not cover the whole output of %d bytes", br, len(sealed))
	}
	if sealed[br[1]] != '<' || sealed[br[2]-1] != '>' || !bytes.HasPrefix(sealed[br[1]-10:], []byte("/Contents <")) {
		t.Fatalf("/ByteRange %v does not exclude exactly the /Contents string", br)
	}
	// qpdf --check of the output may only repeat the input's warnings
	// (exit 3); inputs without warnings must give exit 0.
	if outCode, outOut := qpdfCheck(t, out); outCode != 0 && !(outCode == 3 && qpdfWarns) {
		t.Errorf("qpdf --check: exit %d:\n%s", outCode, outOut)
	}
	valid, total, sigOut := pdfsigValid(t, out)
	if valid != wantSigs || total != wantSigs {
		t.Errorf("pdfsig: %d of %d signatures valid, want %d:\n%s", valid, total, wantSigs, sigOut)
	}
}

// TestSealCorpus seals every corpus file, or checks that it is refused
// exactly as MANIFEST.md says, with no output file.
func TestSealCorpus(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := filepath.Join("testdata", "corpus", c.name)
			dir := t.TempDir()
			out, res, err := sealFile(t, in, dir, SealOptions{})
			if c.refuse != nil {
				if !errors.Is(err, c.refuse) {
					t.Fatalf("Seal: got %v, want %v", err, c.refuse)
				}
				assertEmptyDir(t, dir)
				return
			}
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			checkSealed(t, in, out, res, c.sigs+1, c.name == "signpdf-signed.pdf")
			checkVersion(t, in, out)
		})
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("output left behind: %s", e.Name())
	}
}

// checkVersion: the header is never rewritten, a PDF 2.0 file gains no
// /Version or ETSI extension, an older one is raised to 1.7 and declares
// ESIC for its PAdES signature, and every field of the input stays.
func checkVersion(t *testing.T, in, out string) {
	t.Helper()
	rin, _ := openFile(t, in)
	r, _ := openFile(t, out)
	if r.Version() != rin.Version() {
		t.Errorf("header version %s became %s", rin.Version(), r.Version())
	}
	_, cat, err := r.Latest().Catalog()
	if err != nil {
		t.Fatal(err)
	}
	ext, _ := r.Latest().Dict(cat["Extensions"])
	if r.Version() == "2.0" {
		if _, ok := cat["Version"]; ok || ext != nil {
			t.Errorf("PDF 2.0 file got /Version %v and /Extensions %v", cat["Version"], ext)
		}
	} else if cat.Name("Version") < "1.7" && r.Version() < "1.7" || ext == nil || ext["ESIC"] == nil {
		t.Errorf("catalog /Version %v, /Extensions %v", cat["Version"], ext)
	}
	_, catIn, err := rin.Latest().Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for k := range catIn { // /Metadata, /OutputIntents, /Outlines, ...
		if _, ok := cat[k]; !ok {
			t.Errorf("catalog lost /%s", k)
		}
	}
	afIn, _ := rin.Latest().AcroForm()
	af, _ := r.Latest().AcroForm()
	for k := range afIn { // /DR, /DA, /NeedAppearances, ...
		if _, ok := af[k]; !ok {
			t.Errorf("AcroForm lost /%s", k)
		}
	}
	if sf, _ := af["SigFlags"].(Integer); sf&3 != 3 {
		t.Errorf("AcroForm /SigFlags %v", af["SigFlags"])
	}
	before, err := rin.Latest().Fields()
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.Latest().Fields()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Errorf("%d fields before sealing, %d after", len(before), len(after))
	}
	for i := range before {
		if before[i].Name != after[i].Name || before[i].Ref != after[i].Ref {
			t.Errorf("field %d changed: %q %v -> %q %v", i, before[i].Name, before[i].Ref, after[i].Name, after[i].Ref)
		}
	}
}
