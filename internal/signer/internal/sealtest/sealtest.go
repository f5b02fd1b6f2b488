// Package sealtest holds the provider tests' shared oracles: it seals a PDF
// through a remote signer and checks the result with independent verifiers
// (SealAndCheck), has crypto/x509 check a provider's signature (SelfSign),
// and measures CPU per call in benchmarks (LoopCPU).
package sealtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/pdf"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/testenv"
)

// SealAndCheck has a test CA issue a certificate for s's public key, seals a
// one-page PDF with s (PAdES B-B through internal/cms and internal/pdf),
// and checks the result with pdfsig and internal/pdf/verify, which must
// also both reject the file once a signed byte is changed.
func SealAndCheck(t *testing.T, s crypto.Signer, reason string) {
	t.Helper()
	pdfsig := testenv.Tool(t, "pdfsig")
	in := minimalPDF()
	leaf, ca := issue(t, s.Public())
	opts := cms.SignOptions{Signer: s, Certificate: leaf, Chain: []*x509.Certificate{ca}, Digest: cms.AutoDigest(s.Public())}
	out := filepath.Join(t.TempDir(), "sealed.pdf")
	_, err := pdf.Seal(context.Background(), bytes.NewReader(in), int64(len(in)), out,
		pdf.SealOptions{Name: "Jane Doe, P.E.", Reason: reason, Digest: opts.Digest},
		func(ctx context.Context, digest []byte) ([]byte, error) { return cms.SignDetached(ctx, digest, opts) })
	if err != nil {
		t.Fatal(err)
	}
	checkSealedPDF(t, pdfsig, out, ca)
}

// minimalPDF returns a one-page PDF 1.7 file with a classic xref table.
func minimalPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
		"<< /Length 6 >>\nstream\nBT\nET\n\nendstream",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// issue makes a test CA (in Go, at test time) issue a sealing certificate
// for pub, as the customer's CA does for a KMS key.
func issue(t *testing.T, pub crypto.PublicKey) (leaf, ca *x509.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sealkeep test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Jane Doe, P.E."},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	return leaf, ca
}

// checkSealedPDF verifies a sealed file with pdfsig and with sealkeep's own
// verifier (internal/pdf/verify, behind "sealkeep verify"), then checks
// that both reject the file once a signed byte is changed.
func checkSealedPDF(t *testing.T, pdfsig, path string, ca *x509.Certificate) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	check := func(path string) (pdfsigOK, ours bool, detail string) {
		got, _ := exec.Command(pdfsig, path).CombinedOutput()
		rep, err := verify.File(context.Background(), path, verify.Options{Roots: roots})
		if err != nil {
			return false, false, err.Error()
		}
		ours = len(rep.Signatures) == 1 && rep.Signatures[0].Valid && rep.Signatures[0].Trusted
		return strings.Contains(string(got), "Signature Validation: Signature is Valid."), ours, fmt.Sprintf("%s\n%+v", got, rep)
	}
	if p, o, detail := check(path); !p || !o {
		t.Fatalf("seal not accepted (pdfsig %v, sealkeep verify %v):\n%s", p, o, detail)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("BT\nET"))
	b[i] = 'X'
	tampered := filepath.Join(t.TempDir(), "tampered.pdf")
	if err := os.WriteFile(tampered, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, o, detail := check(tampered); p || o {
		t.Fatalf("tampered file accepted (pdfsig %v, sealkeep verify %v):\n%s", p, o, detail)
	}
}
