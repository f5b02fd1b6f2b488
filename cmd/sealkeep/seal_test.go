package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"image"
	"image/png"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sealkeep/internal/cms/tsatest"
	// The fake: key provider, for the scripts (test binaries only).
	_ "sealkeep/internal/signer/fake"
)

// sealPKI writes, in dir, key.pem (an ECDSA key, its leaf and the root) and
// root.pem, and returns the root.
func sealPKI(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seal test root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rt, rt, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "seal test signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	leafDER, err := x509.CreateCertificate(rand.Reader, lt, root, leafKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	var key []byte
	for _, b := range []*pem.Block{{Type: "PRIVATE KEY", Bytes: p8}, {Type: "CERTIFICATE", Bytes: leafDER}, {Type: "CERTIFICATE", Bytes: rootDER}} {
		key = append(key, pem.EncodeToMemory(b)...)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

// runOut runs the CLI with stdout captured.
func runOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	code := run(args)
	w.Close()
	os.Stdout = old
	return code, string(<-done)
}

// TestSealVerifyBT seals at PAdES B-T with a real TSA (openssl ts) through
// the CLI and checks verify's exit codes: 0 when the signer and the TSA
// chain to --trust, 1 when the TSA's root is missing, 2 for a file that
// is not a PDF.
func TestSealVerifyBT(t *testing.T) {
	t.Setenv("SEALKEEP_HOME", "")
	dir := t.TempDir()
	sealPKI(t, dir)
	url, tsaRoot := tsatest.Start(t)
	in := filepath.Join("..", "..", "internal", "pdf", "testdata", "corpus", "qpdf-linearized.pdf")
	out := filepath.Join(dir, "bt.pdf")
	if code, _ := runOut(t, "seal", in, out, "--key", filepath.Join(dir, "key.pem"), "--tsa", url, "--level", "B-T"); code != 0 {
		t.Fatalf("seal exit %d", code)
	}
	rootPEM, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	both := filepath.Join(dir, "both.pem")
	if err := os.WriteFile(both, append(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tsaRoot.Raw})...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout := runOut(t, "verify", out, "--trust", both, "--json")
	if code != 0 {
		t.Fatalf("verify exit %d:\n%s", code, stdout)
	}
	var rep struct {
		Verdict    string
		Signatures []struct {
			SigningTimeSource string `json:"signing_time_source"`
			Timestamp         *struct {
				Valid, Trusted bool
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if s := rep.Signatures[0]; rep.Verdict != "valid" || s.SigningTimeSource != "timestamp" || s.Timestamp == nil || !s.Timestamp.Valid || !s.Timestamp.Trusted {
		t.Fatalf("%s", stdout)
	}
	if code, _ := runOut(t, "verify", out, "--trust", filepath.Join(dir, "root.pem")); code != 1 {
		t.Fatalf("verify without the TSA root: exit %d, want 1", code)
	}
	garbage := filepath.Join(dir, "garbage.pdf")
	if err := os.WriteFile(garbage, []byte("%PDF-1.7\nnot really\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := runOut(t, "verify", garbage); code != 2 {
		t.Fatalf("verify of a non-PDF: exit %d, want 2", code)
	}
	if code, _ := runOut(t, "verify", in); code != 1 {
		t.Fatalf("verify of an unsigned PDF: exit %d, want 1", code)
	}
}

// TestSealVisibleImage seals with a visible PNG seal image, certification
// P=2 and the legacy subfilter through the CLI; the result verifies.
func TestSealVisibleImage(t *testing.T) {
	t.Setenv("SEALKEEP_HOME", "")
	dir := t.TempDir()
	sealPKI(t, dir)
	img := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(dir, "seal.png")
	if err := os.WriteFile(pngPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join("..", "..", "internal", "pdf", "testdata", "corpus", "libreoffice-report.pdf")
	out := filepath.Join(dir, "visible.pdf")
	code, _ := runOut(t, "seal", in, out, "--key", filepath.Join(dir, "key.pem"), "--visible-page", "2",
		"--visible-rect", "300,36,560,120", "--seal-image", pngPath, "--docmdp", "2", "--subfilter", "pkcs7",
		"--name", "Jane Doe, P.E. 12345", "--reason", "Issued for construction")
	if code != 0 {
		t.Fatalf("seal exit %d", code)
	}
	code, stdout := runOut(t, "verify", out, "--trust", filepath.Join(dir, "root.pem"), "--json")
	var rep struct {
		Verdict    string
		Signatures []struct {
			DocMDP    int    `json:"docmdp"`
			SubFilter string `json:"subfilter"`
			Reason    string `json:"reason"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d %v:\n%s", code, err, stdout)
	}
	if s := rep.Signatures[0]; rep.Verdict != "valid" || s.DocMDP != 2 || s.SubFilter != "adbe.pkcs7.detached" || s.Reason != "Issued for construction" {
		t.Fatalf("%s", stdout)
	}
	// Bad option values are usage errors and write nothing.
	for _, args := range [][]string{
		{"--visible-page", "2", "--visible-rect", "1,2,3"},
		{"--visible-page", "99"},
		{"--seal-image", pngPath},
		{"--visible-page", "1", "--seal-image", filepath.Join(dir, "missing.png")},
	} {
		bad := filepath.Join(dir, "bad.pdf")
		a := append([]string{"seal", in, bad, "--key", filepath.Join(dir, "key.pem")}, args...)
		if code, _ := runOut(t, a...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", args, code)
		}
		if _, err := os.Stat(bad); !os.IsNotExist(err) {
			t.Fatalf("%v: output written", args)
		}
	}
}
