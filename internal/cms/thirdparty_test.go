package cms

import (
	"crypto"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/testenv"
)

// TestThirdPartyPDFSignature verifies the CMS of a PDF signed by another
// producer (node-forge through @signpdf, see testdata/MANIFEST.md), over
// the PDF's own byte ranges. pdfsig is the oracle: it says valid, so must
// we; and a changed byte in the signed ranges must fail for both.
func TestThirdPartyPDFSignature(t *testing.T) {
	const path = "testdata/signpdf-signed.pdf"
	pdf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testenv.Tool(t, "pdfsig"), path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature is Valid") {
		t.Fatalf("pdfsig does not call the fixture valid (%v):\n%s", err, out)
	}

	der, br := pdfSignature(t, pdf)
	sd, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(doc []byte) []byte {
		h := sd.DigestAlgorithm().New()
		h.Write(doc[br[0] : br[0]+br[1]])
		h.Write(doc[br[2] : br[2]+br[3]])
		return h.Sum(nil)
	}
	res, err := sd.Verify(digest(pdf))
	if err != nil {
		t.Fatal(err)
	}
	if res.Signer.Subject.CommonName != "Corpus Test Signer (self-signed)" || res.DigestAlgorithm != crypto.SHA256 ||
		res.SigningTime == nil || !res.SigningTime.Equal(time.Date(2024, 3, 15, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("result: signer %q, digest %v, signingTime %v", res.Signer.Subject.CommonName, res.DigestAlgorithm, res.SigningTime)
	}
	t.Logf("third-party CMS: %d bytes, %s, ESS v2 %v, %d certificate(s)",
		len(der), res.SignatureAlgorithm, res.SigningCertV2OK, len(res.Certificates))

	tampered := []byte(string(pdf))
	tampered[br[0]+br[1]/2] ^= 1
	if _, err := sd.Verify(digest(tampered)); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("changed signed byte: %v, want ErrDigestMismatch", err)
	}
	tamperedPath := t.TempDir() + "/tampered.pdf"
	os.WriteFile(tamperedPath, tampered, 0o600)
	if out, _ := exec.Command(testenv.Tool(t, "pdfsig"), tamperedPath).CombinedOutput(); strings.Contains(string(out), "Signature is Valid") {
		t.Errorf("pdfsig still calls the tampered file valid")
	}
}

// pdfSignature returns the CMS object of the first signature of a PDF and
// its /ByteRange (a minimal extraction for fixtures, not a PDF parser).
func pdfSignature(t testing.TB, pdf []byte) (der []byte, br [4]int) {
	t.Helper()
	m := regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]`).FindSubmatch(pdf)
	if m == nil {
		t.Fatal("no /ByteRange")
	}
	for i := range br {
		br[i], _ = strconv.Atoi(string(m[i+1]))
	}
	// /Contents <hex> fills the gap between the two ranges.
	contents, err := hex.DecodeString(strings.Trim(string(pdf[br[1]:br[2]]), "<>"))
	if err != nil {
		t.Fatal(err)
	}
	if der, err = TrimPadding(contents); err != nil {
		t.Fatal(err)
	}
	return der, br
}
