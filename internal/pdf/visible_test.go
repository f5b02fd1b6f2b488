package pdf

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sealkeep/internal/cms"
	"sealkeep/internal/testenv"
)

// sealPNG is a red disc on a transparent background.
func sealPNG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			if (x-32)*(x-32)+(y-32)*(y-32) < 30*30 {
				img.Set(x, y, color.NRGBA{R: 220, A: 255})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sealJPEG is a solid blue square.
func sealJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i+2], img.Pix[i+3] = 230, 255
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// render rasterises one page at 72 dpi with pdftoppm (an independent
// renderer) and returns a pixel reader in PDF coordinates.
func render(t *testing.T, path string, page int) func(x, y int) color.RGBA {
	t.Helper()
	pdftoppm := testenv.Tool(t, "pdftoppm")
	n := strconv.Itoa(page)
	dir := t.TempDir()
	out, err := exec.Command(pdftoppm, "-f", n, "-l", n, "-r", "72", "-png", "-singlefile", path, filepath.Join(dir, "p")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "p.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	h := img.Bounds().Dy()
	return func(x, y int) color.RGBA {
		r, g, b, _ := img.At(x, h-1-y).RGBA()
		return color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8)}
	}
}

func TestVisibleSeal(t *testing.T) {
	cases := []struct {
		file  string
		ap    Appearance
		probe [2]int // a point inside the image, in PDF coordinates
		want  func(color.RGBA) bool
	}{
		{"libreoffice-pdfa2b.pdf", Appearance{Page: 2, Rect: [4]float64{50, 50, 300, 150}, Image: nil, Lines: []string{"Jane Doe, P.E.", "Texas licence 123456", "2026-11-26"}},
			[2]int{100, 100}, func(c color.RGBA) bool { return c.R > 180 && c.G < 80 && c.B < 80 }},
		{"cairo-chart.pdf", Appearance{Page: 3, Rect: [4]float64{400, 600, 480, 680}},
			[2]int{440, 640}, func(c color.RGBA) bool { return c.B > 180 && c.R < 80 && c.G < 80 }},
		{"pdflib-acroform-objstm.pdf", Appearance{Page: 2, Rect: [4]float64{300, 100, 560, 180}, Lines: []string{"Jörg Müller, Dipl.-Ing.", "Licence ÖBB-42"}},
			[2]int{0, 0}, nil},
	}
	cases[0].ap.Image = sealPNG(t)
	cases[1].ap.Image = sealJPEG(t)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			in := filepath.Join("testdata", "corpus", c.file)
			ap := c.ap
			out, res, err := sealFile(t, in, t.TempDir(), SealOptions{Visible: &ap})
			if err != nil {
				t.Fatal(err)
			}
			checkSealed(t, in, out, res, 1, false)
			if c.want != nil {
				px := render(t, out, ap.Page)
				if got := px(c.probe[0], c.probe[1]); !c.want(got) {
					t.Errorf("pixel at %v is %v: the seal image is not drawn", c.probe, got)
				}
				before := render(t, in, ap.Page)
				if got := before(c.probe[0], c.probe[1]); c.want(got) {
					t.Fatalf("the probe pixel already had the seal colour before sealing")
				}
			}
		})
	}
}

func TestVisibleSealRefusals(t *testing.T) {
	in := filepath.Join("testdata", "corpus", "cairo-chart.pdf")
	for name, ap := range map[string]Appearance{
		"page 0":          {Page: 0, Rect: [4]float64{0, 0, 10, 10}},
		"page past end":   {Page: 4, Rect: [4]float64{0, 0, 10, 10}},
		"empty rectangle": {Page: 1, Rect: [4]float64{10, 10, 10, 50}},
		"not an image":    {Page: 1, Rect: [4]float64{0, 0, 100, 100}, Image: []byte("GIF89a")},
		"tiny text box":   {Page: 1, Rect: [4]float64{0, 0, 3, 3}, Lines: []string{"a very long line of text"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := sealFile(t, in, dir, SealOptions{Visible: &ap})
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
			assertEmptyDir(t, dir)
		})
	}
}

// TestCertification seals with DocMDP and checks which later seals are
// allowed, reading the permission back with Certification.
func TestCertification(t *testing.T) {
	in := filepath.Join("testdata", "corpus", "qpdf-qdf-uncompressed.pdf")
	for _, p := range []int{1, 2, 3} {
		t.Run("P="+strconv.Itoa(p), func(t *testing.T) {
			out, res, err := sealFile(t, in, t.TempDir(), SealOptions{DocMDP: p})
			if err != nil {
				t.Fatal(err)
			}
			checkSealed(t, in, out, res, 1, false)
			r, _ := openFile(t, out)
			if got, err := r.Latest().Certification(); err != nil || got != p {
				t.Fatalf("Certification = %d, %v; want %d", got, err, p)
			}
			dir := t.TempDir()
			out2, res2, err := sealFile(t, out, dir, SealOptions{})
			if p == 1 {
				if !errors.Is(err, ErrCertified) {
					t.Fatalf("approval seal on a P=1 document: got %v, want ErrCertified", err)
				}
				assertEmptyDir(t, dir)
				return
			}
			if err != nil {
				t.Fatalf("approval seal on a P=%d document: %v", p, err)
			}
			checkSealed(t, out, out2, res2, 2, false)
			// The approval seal touches no catalog entry beyond the form.
			r2, _ := openFile(t, out2)
			_, c1, _ := r.Latest().Catalog()
			_, c2, _ := r2.Latest().Catalog()
			for _, k := range []Name{"Version", "Extensions", "Perms"} {
				if format(c1[k]) != format(c2[k]) {
					t.Errorf("catalog /%s changed from %s to %s", k, format(c1[k]), format(c2[k]))
				}
			}
		})
	}
	t.Run("already signed", func(t *testing.T) {
		dir := t.TempDir()
		_, _, err := sealFile(t, filepath.Join("testdata", "corpus", "signpdf-signed.pdf"), dir, SealOptions{DocMDP: 2})
		if !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("got %v, want ErrInvalidInput", err)
		}
		assertEmptyDir(t, dir)
	})
}

// TestSealWithCMS seals with the project's CMS builder (PAdES B-B and the
// legacy form, PKCS#1 v1.5 and PSS), sizing /Contents with EstimateSize.
func TestSealWithCMS(t *testing.T) {
	s := newTestSigner(t)
	in := filepath.Join("testdata", "corpus", "mupdf-incremental-update.pdf")
	for _, c := range []struct {
		name   string
		opts   cms.SignOptions
		filter SubFilter
	}{
		{"PAdES B-B", cms.SignOptions{Signer: s.key, Certificate: s.cert}, CAdESDetached},
		{"PAdES B-B PSS SHA-384", cms.SignOptions{Signer: s.key, Certificate: s.cert, PSS: true, Digest: crypto.SHA384}, CAdESDetached},
		{"legacy", cms.SignOptions{Signer: s.key, Certificate: s.cert, Legacy: true}, PKCS7Detached},
	} {
		t.Run(c.name, func(t *testing.T) {
			size, err := cms.EstimateSize(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			out := filepath.Join(t.TempDir(), "sealed.pdf")
			digest := c.opts.Digest
			res, err := Seal(context.Background(), f, fi.Size(), out, SealOptions{SubFilter: c.filter, ContentsSize: size, Digest: digest, Time: sealTime},
				func(ctx context.Context, d []byte) ([]byte, error) { return cms.SignDetached(ctx, d, c.opts) })
			if err != nil {
				t.Fatal(err)
			}
			checkSealed(t, in, out, res, 1, false)
		})
	}
}

// TestSealExistingField signs into an unsigned signature field that a
// preparer placed, invisibly and with a visible seal sized to its /Rect.
func TestSealExistingField(t *testing.T) {
	pdf := synthPDF(withObjs(map[int]string{
		1: "<< /Type /Catalog /Pages 2 0 R /AcroForm 4 0 R >>",
		3: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [5 0 R 6 0 R] >>",
	},
		"<< /Fields [5 0 R 6 0 R] /DA (/Helv 0 Tf 0 g) >>",
		"<< /FT /Sig /T (Engineer) /Type /Annot /Subtype /Widget /Rect [20 20 180 80] /P 3 0 R /F 4 >>",
		"<< /FT /Tx /T (Notes) /Type /Annot /Subtype /Widget /Rect [20 100 180 120] /P 3 0 R >>"), "")
	in := filepath.Join(t.TempDir(), "prepared.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, vis := range []*Appearance{nil, {Image: sealPNG(t), Lines: []string{"Jane Doe, P.E."}}} {
		out, res, err := sealFile(t, in, t.TempDir(), SealOptions{FieldName: "Engineer", Visible: vis})
		if err != nil {
			t.Fatal(err)
		}
		checkSealed(t, in, out, res, 1, false)
		if _, _, sigOut := pdfsigValid(t, out); !strings.Contains(sigOut, "Signature Field Name: Engineer") {
			t.Errorf("pdfsig does not show the prepared field:\n%s", sigOut)
		}
		r, _ := openFile(t, out)
		if fields, err := r.Latest().Fields(); err != nil || len(fields) != 2 {
			t.Errorf("Fields after signing in place: %d, %v; want the same 2", len(fields), err)
		}
		if vis != nil {
			if got := render(t, out, 1)(50, 50); got.R < 180 || got.G > 80 {
				t.Errorf("pixel inside the field's /Rect is %v: the seal image is not drawn there", got)
			}
		}
	}
	dir := t.TempDir()
	if _, _, err := sealFile(t, in, dir, SealOptions{FieldName: "Notes"}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("signing into a text field: got %v, want ErrInvalidInput", err)
	}
	assertEmptyDir(t, dir)
}
