package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"sealkeep/internal/signer"
	"sealkeep/internal/testenv"
)

type signCase struct {
	name   string
	kt     string
	pss    bool
	digest crypto.Hash // 0: default (SHA-256)
	auto   bool
}

var signCases = []signCase{
	{name: "RSA-2048/PKCS1", kt: "RSA-2048"},
	{name: "RSA-2048/PSS", kt: "RSA-2048", pss: true},
	{name: "RSA-3072/PKCS1/SHA-384", kt: "RSA-3072", digest: crypto.SHA384},
	{name: "RSA-3072/PSS/SHA-512", kt: "RSA-3072", pss: true, digest: crypto.SHA512},
	{name: "P-256", kt: "P-256"},
	{name: "P-384/auto", kt: "P-384", auto: true},
	{name: "P-256/SHA-512", kt: "P-256", digest: crypto.SHA512},
}

func (c signCase) options(p *testPKI) SignOptions {
	o := p.opts(c.kt)
	o.PSS = c.pss
	o.Digest = c.digest
	if c.auto {
		o.Digest = AutoDigest(o.Signer.Public())
	}
	return o
}

func digestOf(h crypto.Hash, content []byte) []byte {
	if h == 0 {
		h = crypto.SHA256
	}
	d := h.New()
	d.Write(content)
	return d.Sum(nil)
}

// opensslVerify runs `openssl cms -verify` over the detached signature
// and the content: the independent oracle.
func opensslVerify(t *testing.T, sig, content []byte, root *x509.Certificate) error {
	t.Helper()
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	sigPath, contentPath := filepath.Join(dir, "sig.der"), filepath.Join(dir, "content.bin")
	os.WriteFile(sigPath, sig, 0o600)
	os.WriteFile(contentPath, content, 0o600)
	ca := writePEM(t, dir, "root.pem", root)
	out, err := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath,
		"-content", contentPath, "-CAfile", ca, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

func opensslPrint(t *testing.T, sig []byte) string {
	t.Helper()
	openssl := testenv.Tool(t, "openssl")
	path := filepath.Join(t.TempDir(), "sig.der")
	os.WriteFile(path, sig, 0o600)
	out, err := exec.Command(openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", path).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -print: %v\n%s", err, out)
	}
	return string(out)
}

func TestSignVerify(t *testing.T) {
	p := getPKI(t)
	for _, c := range signCases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.options(p)
			content := make([]byte, 5000)
			rand.Read(content)
			sig, err := SignDetached(context.Background(), digestOf(opts.Digest, content), opts)
			if err != nil {
				t.Fatal(err)
			}
			if n := opts.Signer.(*opaqueSigner).calls.Load(); n != 1 {
				t.Errorf("SignContext called %d times, want 1", n)
			}
			if err := opensslVerify(t, sig, content, p.root); err != nil {
				t.Fatalf("openssl cms -verify refused our signature: %v", err)
			}
			printed := opensslPrint(t, sig)
			if !strings.Contains(printed, "1.2.840.113549.1.9.16.2.47") && !strings.Contains(printed, "signingCertificateV2") {
				t.Errorf("openssl does not show signing-certificate-v2:\n%s", printed)
			}
			if strings.Contains(printed, "signingTime") {
				t.Errorf("B-B signature carries signingTime:\n%s", printed)
			}

			sd, err := Parse(sig)
			if err != nil {
				t.Fatal(err)
			}
			checkSortedSet(t, "signed attributes", sd.si.signedAttrsDER)
			want := opts.Digest
			if want == 0 {
				want = crypto.SHA256
			}
			if sd.DigestAlgorithm() != want {
				t.Fatalf("DigestAlgorithm %v, want %v", sd.DigestAlgorithm(), want)
			}
			res, err := sd.Verify(digestOf(want, content))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Signer.Equal(opts.Certificate) || !res.SigningCertV2OK || res.SigningCertV1OK || res.SigningTime != nil ||
				res.Timestamp != nil || res.TimestampErr != nil || len(res.Certificates) != 2 {
				t.Errorf("unexpected result %+v", res)
			}
			wantAlg := map[bool]string{false: "RSA-PKCS1v15-", true: "RSASSA-PSS-"}[c.pss]
			if strings.HasPrefix(c.kt, "P-") {
				wantAlg = "ECDSA-"
			}
			if !strings.HasPrefix(res.SignatureAlgorithm, wantAlg) || !strings.HasSuffix(res.SignatureAlgorithm, strings.TrimPrefix(want.String(), "SHA-")) {
				t.Errorf("SignatureAlgorithm %q", res.SignatureAlgorithm)
			}
			inter := x509.NewCertPool()
			inter.AddCert(p.inter)
			if err := VerifyChain(res.Signer, inter, p.roots(), time.Now()); err != nil {
				t.Errorf("VerifyChain: %v", err)
			}

			// The digest of other content fails, here and in openssl.
			other := append([]byte{}, content...)
			other[0] ^= 1
			if _, err := sd.Verify(digestOf(want, other)); !errors.Is(err, ErrDigestMismatch) {
				t.Errorf("Verify(other content) = %v, want ErrDigestMismatch", err)
			}
			if err := opensslVerify(t, sig, other, p.root); err == nil {
				t.Errorf("openssl accepted the signature over other content")
			}

			// The size estimate bounds the actual size tightly.
			est, err := EstimateSize(opts)
			if err != nil {
				t.Fatal(err)
			}
			if est < len(sig) || est-len(sig) > 8 {
				t.Errorf("EstimateSize %d, actual %d", est, len(sig))
			}
		})
	}
}

func TestAutoDigest(t *testing.T) {
	p := getPKI(t)
	for kt, want := range map[string]crypto.Hash{"RSA-2048": crypto.SHA256, "RSA-3072": crypto.SHA256, "P-256": crypto.SHA256, "P-384": crypto.SHA384} {
		if got := AutoDigest(p.leaves[kt].key.Public()); got != want {
			t.Errorf("AutoDigest(%s) = %v, want %v", kt, got, want)
		}
	}
}

func TestLegacySigningTime(t *testing.T) {
	p := getPKI(t)
	opts := p.opts("P-256")
	opts.Legacy = true
	opts.SigningTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	content := []byte("legacy adbe.pkcs7.detached content")
	sig, err := SignDetached(context.Background(), digestOf(0, content), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := opensslVerify(t, sig, content, p.root); err != nil {
		t.Fatal(err)
	}
	if printed := opensslPrint(t, sig); !strings.Contains(printed, "signingTime") || !strings.Contains(printed, "UTCTIME:Mar  4 05:06:07 2026 GMT") {
		t.Errorf("openssl does not show the signingTime:\n%s", printed)
	}
	res, err := mustParse(t, sig).Verify(digestOf(0, content))
	if err != nil {
		t.Fatal(err)
	}
	if res.SigningTime == nil || !res.SigningTime.Equal(opts.SigningTime) || !res.SigningCertV2OK {
		t.Errorf("SigningTime %v, SigningCertV2OK %v", res.SigningTime, res.SigningCertV2OK)
	}
	est, err := EstimateSize(opts)
	if err != nil || est < len(sig) || est-len(sig) > 10 {
		t.Errorf("EstimateSize %d (%v), actual %d", est, err, len(sig))
	}
}

func mustParse(t testing.TB, der []byte) *SignedData {
	t.Helper()
	sd, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// TestOpenSSLSigned verifies signatures made by openssl cms -sign, the
// independent producer: PKCS#1 v1.5 with signingTime and smimeCapabilities,
// CAdES (-cades: signing-certificate-v2), RSASSA-PSS and ECDSA.
func TestOpenSSLSigned(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	p := getPKI(t)
	dir := t.TempDir()
	content := make([]byte, 3000)
	rand.Read(content)
	contentPath := filepath.Join(dir, "content.bin")
	os.WriteFile(contentPath, content, 0o600)
	chain := writePEM(t, dir, "chain.pem", p.inter)
	for _, c := range []struct {
		name, kt string
		args     []string
		v2       bool
		noattr   bool // no signed attributes: the signature covers the content digest
	}{
		{"RSA-PKCS1", "RSA-2048", nil, false, false},
		{"RSA-CAdES", "RSA-3072", []string{"-cades", "-md", "sha384"}, true, false},
		{"RSA-PSS", "RSA-2048", []string{"-keyopt", "rsa_padding_mode:pss", "-cades"}, true, false},
		{"ECDSA", "P-384", []string{"-md", "sha512"}, false, false},
		{"no signed attributes", "RSA-2048", []string{"-noattr"}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := p.leaves[c.kt]
			cert, key := writePEM(t, dir, c.name+".pem", l.cert), writeKey(t, dir, c.name+".key", l.key)
			out := filepath.Join(dir, c.name+".der")
			args := append([]string{"cms", "-sign", "-binary", "-in", contentPath, "-signer", cert, "-inkey", key,
				"-certfile", chain, "-outform", "DER", "-out", out}, c.args...)
			if b, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl cms -sign: %v\n%s", err, b)
			}
			der, _ := os.ReadFile(out)
			sd := mustParse(t, der)
			res, err := sd.Verify(digestOf(sd.DigestAlgorithm(), content))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Signer.Equal(l.cert) || (res.SigningTime == nil) != c.noattr || res.SignedAttributes == c.noattr || res.SigningCertV2OK != c.v2 {
				t.Fatalf("result %+v", res)
			}
			if !c.noattr && time.Since(*res.SigningTime).Abs() > time.Hour {
				t.Errorf("signingTime %v", res.SigningTime)
			}
			bad := digestOf(sd.DigestAlgorithm(), append(content, 0))
			want := ErrDigestMismatch
			if c.noattr {
				want = ErrSignatureInvalid
			}
			if _, err := sd.Verify(bad); !errors.Is(err, want) {
				t.Errorf("Verify(other content) = %v", err)
			}
		})
	}
}

func TestSignRefusals(t *testing.T) {
	p := getPKI(t)
	ctx := context.Background()
	d := make([]byte, 32)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edCert := p.newLeaf(t, "ed25519", edKey.Public(), nil)
	weakKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakCert := p.newLeaf(t, "rsa-1024", weakKey.Public(), nil)
	for _, c := range []struct {
		name   string
		mutate func(*SignOptions)
		digest []byte
		want   error
	}{
		{"no signer", func(o *SignOptions) { o.Signer = nil }, d, ErrInvalidOptions},
		{"no certificate", func(o *SignOptions) { o.Certificate = nil }, d, ErrInvalidOptions},
		{"key not the certificate's", func(o *SignOptions) { o.Certificate = p.leaves["P-384"].cert }, d, ErrInvalidOptions},
		{"short digest", func(*SignOptions) {}, d[:20], ErrInvalidOptions},
		{"SHA-1", func(o *SignOptions) { o.Digest = crypto.SHA1 }, d[:20], ErrUnsupportedAlgorithm},
		{"PSS with ECDSA", func(o *SignOptions) { o.PSS = true }, d, ErrInvalidOptions},
		{"Ed25519", func(o *SignOptions) { o.Signer, o.Certificate = edKey, edCert }, d, ErrUnsupportedAlgorithm},
		{"RSA-1024", func(o *SignOptions) { o.Signer, o.Certificate = weakKey, weakCert }, d, ErrUnsupportedAlgorithm},
		{"nil chain entry", func(o *SignOptions) { o.Chain = []*x509.Certificate{nil} }, d, ErrInvalidOptions},
		{"bad provider signature", func(o *SignOptions) { o.Signer.(*opaqueSigner).corrupt = true }, d, signer.ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := p.opts("P-256")
			c.mutate(&o)
			if _, err := SignDetached(ctx, c.digest, o); !errors.Is(err, c.want) {
				t.Errorf("SignDetached: %v, want %v", err, c.want)
			}
		})
	}
	// A cancelled context stops a signer without SignContext before it signs.
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	o := p.opts("P-256")
	o.Signer = p.leaves["P-256"].key
	if _, err := SignDetached(ctx2, d, o); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestVerifyChain(t *testing.T) {
	p := getPKI(t)
	inter := x509.NewCertPool()
	inter.AddCert(p.inter)
	l := p.leaves["P-256"].cert
	if err := VerifyChain(l, inter, p.roots(), time.Now()); err != nil {
		t.Fatal(err)
	}
	interAnchor := x509.NewCertPool()
	interAnchor.AddCert(p.inter) // a configured anchor need not be self-signed
	serverOnly := issue(t, &x509.Certificate{
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}, p.inter, p.leaves["P-256"].key.Public(), p.interKey)
	encOnly := issue(t, &x509.Certificate{KeyUsage: x509.KeyUsageKeyEncipherment}, p.inter, p.leaves["RSA-2048"].key.Public(), p.interKey)
	for _, c := range []struct {
		name  string
		leaf  *x509.Certificate
		inter *x509.CertPool
		roots *x509.CertPool
		at    time.Time
	}{
		{"no roots", l, inter, nil, time.Now()},
		{"missing intermediate", l, nil, p.roots(), time.Now()},
		{"expired at signing time", l, inter, p.roots(), time.Now().Add(72 * time.Hour)},
		{"not yet valid", l, inter, p.roots(), time.Now().Add(-72 * time.Hour)},
		{"server-auth only", serverOnly, inter, p.roots(), time.Now()},
		{"key encipherment only", encOnly, inter, p.roots(), time.Now()},
	} {
		if err := VerifyChain(c.leaf, c.inter, c.roots, c.at); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: %v, want ErrUntrusted", c.name, err)
		}
	}
	if err := VerifyChain(l, nil, interAnchor, time.Now()); err != nil {
		t.Errorf("intermediate as anchor: %v", err)
	}
}

func TestEstimateSizeLengthBoundaries(t *testing.T) {
	// The estimate is computed, not guessed: check the pieces that vary.
	for _, n := range []int{0, 127, 128, 255, 256, 65535, 65536} {
		if got := derLen(n); got != len(encodeTLV(0x04, make([]byte, n))) {
			t.Errorf("derLen(%d) = %d", n, got)
		}
	}
}

// checkSortedSet checks that a DER SET OF has its elements in ascending
// order of their encodings (X.690 section 11.6).
func checkSortedSet(t *testing.T, what string, set []byte) {
	t.Helper()
	s := cryptobyte.String(set)
	var body cryptobyte.String
	if !s.ReadASN1(&body, asn1.SET) {
		t.Fatalf("%s: not a SET", what)
	}
	var prev []byte
	for !body.Empty() {
		var e cryptobyte.String
		var tag asn1.Tag
		body.ReadAnyASN1Element(&e, &tag)
		if prev != nil && bytes.Compare(prev, e) > 0 {
			t.Errorf("%s: SET OF elements not in DER order", what)
		}
		prev = e
	}
}
