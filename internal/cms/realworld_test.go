package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/testenv"
)

// openssl runs openssl with args in dir and fails the test on error.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "openssl"), args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// readPEMCert reads the one certificate of a PEM file, as DER.
func readPEMCert(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return blk.Bytes
}

// TestWeakDigestSignatures: openssl cms signatures with SHA-1 and MD5 (what
// old Adobe and Windows signers wrote) are parsed, their digest compared and
// their signature verified, and WeakAlgorithm says they prove nothing. A
// changed content is still a digest mismatch, not a weak-algorithm error.
func TestWeakDigestSignatures(t *testing.T) {
	p := getPKI(t)
	dir := t.TempDir()
	content := make([]byte, 2000)
	rand.Read(content)
	os.WriteFile(filepath.Join(dir, "content.bin"), content, 0o600)
	l := p.leaves["RSA-2048"]
	writePEM(t, dir, "leaf.pem", l.cert)
	writeKey(t, dir, "leaf.key", l.key)
	for _, c := range []struct {
		name, md string
		hash     crypto.Hash
		args     []string
	}{
		{"SHA-1", "sha1", crypto.SHA1, nil},
		{"SHA-1 PSS", "sha1", crypto.SHA1, []string{"-keyopt", "rsa_padding_mode:pss"}},
		{"MD5", "md5", crypto.MD5, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := strings.ReplaceAll(c.name, " ", "-")
			out := name + ".der"
			openssl(t, dir, append([]string{"cms", "-sign", "-binary", "-md", c.md, "-in", "content.bin", "-signer", "leaf.pem",
				"-inkey", "leaf.key", "-outform", "DER", "-out", out}, c.args...)...)
			der, _ := os.ReadFile(filepath.Join(dir, out))
			sd := mustParse(t, der)
			if sd.DigestAlgorithm() != c.hash {
				t.Fatalf("digest %v", sd.DigestAlgorithm())
			}
			sum := digestOf(c.hash, content)
			res, err := sd.Verify(sum)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res.WeakAlgorithm, ErrWeakAlgorithm) || !strings.Contains(res.WeakAlgorithm.Error(), c.hash.String()+" is not accepted for signatures") {
				t.Fatalf("WeakAlgorithm = %v", res.WeakAlgorithm)
			}
			if ok, err := sd.DigestMatches(sum); !ok || err != nil {
				t.Fatalf("DigestMatches = %v, %v", ok, err)
			}
			other := digestOf(c.hash, append(content, 1))
			if _, err := sd.Verify(other); !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("changed content: %v", err)
			}
			if ok, err := sd.DigestMatches(other); ok || err != nil {
				t.Fatalf("DigestMatches(changed) = %v, %v", ok, err)
			}
		})
	}
	// SHA-256 is not weak.
	der, err := SignDetached(t.Context(), digestOf(crypto.SHA256, content), p.opts("P-256"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := mustParse(t, der).Verify(digestOf(crypto.SHA256, content)); err != nil || res.WeakAlgorithm != nil {
		t.Fatalf("SHA-256: %v %v", err, res.WeakAlgorithm)
	}
	// Nothing is signed with SHA-1.
	if _, err := SignDetached(t.Context(), digestOf(crypto.SHA1, content), SignOptions{Signer: l.key, Certificate: l.cert, Digest: crypto.SHA1}); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Fatalf("SignDetached SHA-1: %v", err)
	}
}

// TestNegativeSerial: a CA and a signer certificate with negative serial
// numbers, made by openssl (crypto/x509 refuses to make or read them), are
// read leniently with a warning: exact bytes, the real serial, the signer
// found by issuerAndSerialNumber, the chain built through the negative CA.
func TestNegativeSerial(t *testing.T) {
	p := getPKI(t)
	dir := t.TempDir()
	openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
		"-subj", "/CN=Old CA with a negative serial", "-days", "10", "-set_serial", "-1234", "-out", "ca.pem",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
	l := p.leaves["P-256"]
	writeKey(t, dir, "leaf.key", l.key)
	openssl(t, dir, "req", "-new", "-key", "leaf.key", "-subj", "/CN=Adobe ID, negative serial", "-out", "leaf.csr")
	os.WriteFile(filepath.Join(dir, "ext.cnf"), []byte("keyUsage=critical,digitalSignature,nonRepudiation\n"), 0o600)
	openssl(t, dir, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "-0x8f00aa",
		"-days", "5", "-extfile", "ext.cnf", "-out", "leaf.pem")
	caDER, leafDER := readPEMCert(t, filepath.Join(dir, "ca.pem")), readPEMCert(t, filepath.Join(dir, "leaf.pem"))
	if _, err := x509.ParseCertificate(leafDER); err == nil {
		t.Fatal("crypto/x509 now reads negative serials: the lenient path is no longer exercised")
	}
	content := []byte("drawing S-101")
	os.WriteFile(filepath.Join(dir, "content.bin"), content, 0o600)
	openssl(t, dir, "cms", "-sign", "-binary", "-cades", "-in", "content.bin", "-signer", "leaf.pem", "-inkey", "leaf.key",
		"-certfile", "ca.pem", "-outform", "DER", "-out", "sig.der")
	der, _ := os.ReadFile(filepath.Join(dir, "sig.der"))
	sd := mustParse(t, der)
	if len(sd.Certificates) != 2 || len(sd.Warnings) != 2 || !strings.Contains(strings.Join(sd.Warnings, "\n"), "negative serial number -9371818") {
		t.Fatalf("certificates %d, warnings %q", len(sd.Certificates), sd.Warnings)
	}
	res, err := sd.Verify(digestOf(crypto.SHA256, content))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Signer.Raw, leafDER) || res.Signer.SerialNumber.Int64() != -0x8f00aa || !res.SigningCertV2OK {
		t.Fatalf("signer %x serial %v", res.Signer.Raw[:8], res.Signer.SerialNumber)
	}
	var ca *x509.Certificate
	for _, c := range res.Certificates {
		if bytes.Equal(c.Raw, caDER) {
			ca = c
		}
	}
	if ca == nil || ca.SerialNumber.Int64() != -1234 {
		t.Fatal("the CA is not read back exactly")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if err := VerifyChain(res.Signer, x509.NewCertPool(), roots, res.Signer.NotBefore.Add(1)); err != nil {
		t.Fatalf("chain through the negative-serial CA: %v", err)
	}
	// The signature over the leaf is the CA's over the original bytes: a
	// changed serial byte is caught.
	c2, _, err := ParseCertificate(flipSerial(t, leafDER))
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.CheckSignatureFrom(ca); err == nil {
		t.Fatal("a certificate with another serial still verifies")
	}
}

// flipSerial changes the last octet of a certificate's serial number.
func flipSerial(t *testing.T, der []byte) []byte {
	t.Helper()
	at, _, serial, ok := negativeSerial(der)
	if !ok {
		t.Fatal("no negative serial")
	}
	out := bytes.Clone(der)
	out[at+len(serial.Bytes())-1] ^= 1
	return out
}

// TestUnreadableCertificate: an embedded certificate that cannot be read
// and is not the signer's is left out with a warning; the signature still
// verifies. One that names the signer's issuer and serial makes it fail.
// When it is the only certificate, the signer is not found and the error
// says why.
func TestUnreadableCertificate(t *testing.T) {
	p := getPKI(t)
	digest := make([]byte, 32)
	der, err := SignDetached(t.Context(), digest, p.opts("P-256"))
	if err != nil {
		t.Fatal(err)
	}
	junk := tlv(0x30, tlv(0x30, []byte{2, 1, 1})) // a SEQUENCE that is no certificate
	withCerts := func(certs ...[]byte) []byte {
		return rewrite(t, der, func(f [][]byte) [][]byte {
			f[3] = tlv(0xa0, bytes.Join(certs, nil))
			return f
		})
	}
	sd := mustParse(t, withCerts(junk, p.leaves["P-256"].cert.Raw, p.inter.Raw))
	if len(sd.Certificates) != 2 || len(sd.Warnings) != 1 || !strings.Contains(sd.Warnings[0], "embedded certificate 1 could not be read") {
		t.Fatalf("certificates %d, warnings %q", len(sd.Certificates), sd.Warnings)
	}
	if _, err := sd.Verify(digest); err != nil {
		t.Fatalf("a junk extra certificate broke the signature: %v", err)
	}
	// An unreadable twin of the signer's certificate (same issuer and
	// serial, a broken public key): another verifier might read it as the
	// signer, so the signature is refused.
	leaf := p.leaves["P-256"].cert
	twin := bytes.Clone(leaf.Raw)
	i := bytes.Index(twin, leaf.RawSubjectPublicKeyInfo) + len(leaf.RawSubjectPublicKeyInfo) - 3
	twin[i] ^= 0xff
	if _, err := x509.ParseCertificate(twin); err == nil {
		t.Fatal("the twin still parses")
	}
	sd = mustParse(t, withCerts(leaf.Raw, twin, p.inter.Raw))
	if _, err := sd.Verify(digest); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "cannot be read matches the signer identifier") {
		t.Fatalf("unreadable twin of the signer: %v", err)
	}
	sd = mustParse(t, withCerts(junk))
	if _, err := sd.Verify(digest); !errors.Is(err, ErrSignerNotFound) || !strings.Contains(err.Error(), "1 embedded certificate(s) could not be read") {
		t.Fatalf("only junk: %v", err)
	}
}
