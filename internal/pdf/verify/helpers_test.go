package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/pdf"
	"sealkeep/internal/testenv"
)

// corpusDir holds the real-world corpus of internal/pdf (see its
// MANIFEST.md).
const corpusDir = "../testdata/corpus"

// sealable are the corpus files the manifest says seal OK.
var sealable = []string{
	"cairo-chart.pdf", "chromium-invoice.pdf", "distiller3-1996-incremental.pdf",
	"ghostscript-groff-manpage.pdf", "img2pdf-scan-linearized.pdf", "libreoffice-acroform.pdf",
	"libreoffice-pdfa2b.pdf", "libreoffice-report.pdf", "mupdf-incremental-update.pdf",
	"pdflib-acroform-objstm.pdf", "pdftex-article-objstm.pdf", "pdftex-register-346pages.pdf",
	"qpdf-linearized.pdf", "qpdf-objstm-xrefstream.pdf", "qpdf-pdf20.pdf",
	"qpdf-qdf-uncompressed.pdf", "signpdf-signed.pdf",
}

// testPKI is a root CA and leaves it issued, made once per test binary.
// The leaves have no extended key usage, so poppler trusts them once the
// root is in its NSS database.
type testPKI struct {
	root    *x509.Certificate
	rootKey crypto.Signer
	leaf    *x509.Certificate
	key     crypto.Signer
	// expired is a leaf valid from three years ago to one year ago.
	expired    *x509.Certificate
	expiredKey crypto.Signer
	// other is a second root that issued nothing here.
	other *x509.Certificate
	// rsaLeaf is an RSA-2048 leaf, for the fuzz target (RSA verification
	// is cheap under coverage instrumentation, ECDSA is not).
	rsaLeaf *x509.Certificate
	rsaKey  crypto.Signer
}

var (
	pkiOnce sync.Once
	thePKI  testPKI
)

func mustKey() crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

func pki(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		now := time.Now()
		p := testPKI{rootKey: mustKey(), key: mustKey(), expiredKey: mustKey()}
		rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sealkeep verify test root"},
			NotBefore: now.AddDate(-5, 0, 0), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		p.root = mustCert(rt, rt, p.rootKey.Public(), p.rootKey)
		leaf := func(serial int64, cn string, nb, na time.Time, pub crypto.PublicKey) *x509.Certificate {
			return mustCert(&x509.Certificate{SerialNumber: big.NewInt(serial),
				Subject:   pkix.Name{CommonName: cn, Organization: []string{"sealkeep tests"}},
				NotBefore: nb, NotAfter: na, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}, p.root, pub, p.rootKey)
		}
		p.leaf = leaf(2, "Jane Doe, P.E.", now.Add(-time.Hour), now.AddDate(1, 0, 0), p.key.Public())
		p.expired = leaf(3, "Old Seal", now.AddDate(-3, 0, 0), now.AddDate(-1, 0, 0), p.expiredKey.Public())
		ok := mustKey()
		ot := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "unrelated root"},
			NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		p.other = mustCert(ot, ot, ok.Public(), ok)
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		p.rsaKey = rk
		p.rsaLeaf = leaf(4, "RSA signer", now.Add(-time.Hour), now.AddDate(1, 0, 0), rk.Public())
		thePKI = p
	})
	return thePKI
}

func (p testPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

// sealCfg says how sealFile signs.
type sealCfg struct {
	opts    pdf.SealOptions
	cert    *x509.Certificate
	key     crypto.Signer
	tsa     func(ctx context.Context, sig []byte) ([]byte, error)
	noChain bool
}

// sealFile seals in into dir/name with pdf.Seal and cms.SignDetached.
func sealFile(t testing.TB, in, out string, cfg sealCfg) {
	t.Helper()
	p := pki(t)
	if cfg.cert == nil {
		cfg.cert, cfg.key = p.leaf, p.key
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	so := cms.SignOptions{Signer: cfg.key, Certificate: cfg.cert, Chain: []*x509.Certificate{p.root},
		Legacy: cfg.opts.SubFilter == pdf.PKCS7Detached, Timestamp: cfg.tsa}
	if cfg.noChain {
		so.Chain = nil
	}
	size, err := cms.EstimateSize(so)
	if err != nil {
		t.Fatal(err)
	}
	cfg.opts.ContentsSize = size
	_, err = pdf.Seal(context.Background(), f, fi.Size(), out, cfg.opts, func(ctx context.Context, digest []byte) ([]byte, error) {
		return cms.SignDetached(ctx, digest, so)
	})
	if err != nil {
		t.Fatalf("seal %s: %v", in, err)
	}
}

// verifyBytes verifies b with the test root as anchor.
func verifyBytes(t testing.TB, b []byte, opts Options) (*Report, error) {
	t.Helper()
	if opts.Roots == nil {
		opts.Roots = pki(t).roots()
	}
	return Verify(context.Background(), bytes.NewReader(b), int64(len(b)), opts)
}

func mustVerify(t testing.TB, b []byte, opts Options) *Report {
	t.Helper()
	rep, err := verifyBytes(t, b, opts)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nssDB makes an NSS database that trusts the test root, for pdfsig.
func nssDB(t *testing.T) string {
	t.Helper()
	certutil := testenv.Tool(t, "certutil")
	dir := t.TempDir()
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki(t).root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "--empty-password"},
		{"-A", "-d", "sql:" + dir, "-n", "sealkeep-test-root", "-t", "C,C,C", "-i", rootPEM},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// pdfsig runs pdfsig with the NSS database and returns its output.
func pdfsig(t *testing.T, nss, path string) string {
	t.Helper()
	out, _ := exec.Command(testenv.Tool(t, "pdfsig"), "-nssdir", "sql:"+nss, path).CombinedOutput()
	return string(out)
}

// sigBlocks splits pdfsig output into one block per signature.
func sigBlocks(out string) []string {
	parts := strings.Split(out, "Signature #")
	if len(parts) <= 1 {
		return nil
	}
	return parts[1:]
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
