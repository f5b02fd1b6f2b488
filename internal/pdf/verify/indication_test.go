package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/cms/tsatest"
	"sealkeep/internal/pdf/ossltest"
	"sealkeep/internal/testenv"
)

// bundle writes key, cert and the test root as one PEM file for ossltest.
func bundle(t *testing.T, key crypto.Signer, cert *x509.Certificate) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bundle.pem")
	writeFile(t, path, bytes.Join([][]byte{pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pemCert(cert.Raw), pemCert(pki(t).root.Raw)}, nil))
	return path
}

// opensslSealed signs the base document (chromium-invoice.pdf) with openssl
// cms -sign and the given key and certificate.
func opensslSealed(t *testing.T, key crypto.Signer, cert *x509.Certificate, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "openssl.pdf")
	ossltest.SignPDF(t, filepath.Join(corpusDir, "chromium-invoice.pdf"), out, bundle(t, key, cert), time.Now().Add(-time.Minute), args...)
	return readFile(t, out)
}

// leafOf issues a leaf from the test root like pki's, edited by edit.
func leafOf(p testPKI, pub crypto.PublicKey, edit func(*x509.Certificate)) *x509.Certificate {
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()),
		Subject:   pkix.Name{CommonName: "indication test leaf", Organization: []string{"sealkeep tests"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	edit(tmpl)
	return mustCert(tmpl, p.root, pub, p.rootKey)
}

// editCMS replaces the CMS of the (only or last) signature of b by
// edit(der), zero-padded to the same /Contents size.
func editCMS(t *testing.T, b []byte, edit func(der []byte) []byte) []byte {
	t.Helper()
	rep := mustVerify(t, b, Options{})
	br := rep.Signatures[len(rep.Signatures)-1].ByteRange
	der := edit(bytes.Clone(extractCMS(t, b, br)))
	h := hex.EncodeToString(der)
	room := int(br[2]-br[1]) - 2
	if len(h) > room {
		t.Fatalf("edited CMS does not fit")
	}
	out := bytes.Clone(b)
	copy(out[br[1]+1:br[2]-1], h+strings.Repeat("0", room-len(h)))
	return out
}

// TestIndications: one generated signature per sub-indication, with the
// verdict it maps to, through the same Verify as the CLI.
func TestIndications(t *testing.T) {
	p := pki(t)
	url, tsaRoot := tsatest.Start(t)
	withTSA := p.roots()
	withTSA.AddCert(tsaRoot)
	tsa := func(ctx context.Context, sig []byte) ([]byte, error) {
		return cms.RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
	}
	base := sealedBase(t)
	brS, brE, br := sigDictSpan(t, base)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	other := x509.NewCertPool()
	other.AddCert(p.other)
	tenMinutesAgo := time.Now().Add(-10 * time.Minute)
	revoked := &fakeCustody{status: CustodyStatus{Identity: "jane", Version: 1, Status: "revoked", Current: "revoked", RevokedAt: &tenMinutesAgo}, found: true}
	bt := sealBytes(t, base, sealCfg{tsa: tsa})

	for _, c := range []struct {
		name      string
		file      func(t *testing.T) []byte
		opts      Options
		verdict   string
		sub       string
		intact    bool
		reasonHas string
	}{
		{name: "sealed", file: func(*testing.T) []byte { return base }, verdict: Valid, intact: true},
		{name: "sealed B-T", file: func(*testing.T) []byte { return bt }, opts: Options{Roots: withTSA}, verdict: Valid, intact: true},
		{name: "changed byte", file: func(*testing.T) []byte {
			b := bytes.Clone(base)
			b[br[1]/2] ^= 1
			return b
		}, verdict: Invalid, sub: HashFailure, reasonHas: "the document changed"},
		{name: "signature value changed", file: func(t *testing.T) []byte {
			b := sealBytes(t, readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf")), sealCfg{cert: p.rsaLeaf, key: p.rsaKey})
			return editCMS(t, b, func(der []byte) []byte {
				sd, err := cms.Parse(der)
				if err != nil {
					t.Fatal(err)
				}
				sig := sd.SignatureValue()
				i := bytes.Index(der, sig)
				der[i+len(sig)/2] ^= 1
				return der
			})
		}, verdict: Invalid, sub: SigCryptoFailure, intact: true},
		{name: "byte range not at 0", file: func(t *testing.T) []byte {
			return replaceSame(t, base, brS, brE, fmt.Sprintf("[1 %d %d %d]", br[1]-1, br[2], br[3]))
		}, verdict: Invalid, sub: FormatFailure},
		{name: "byte range past the end", file: func(t *testing.T) []byte {
			return replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d %d]", br[1], br[2], br[3]+10))
		}, verdict: Invalid, sub: SignedDataNotFound},
		{name: "changed after the seal", file: func(t *testing.T) []byte {
			return appendRevision(t, base, map[int]string{nextNum(t, base): "<< /Unused true >>"}, nil)
		}, verdict: Modified, sub: FormatFailure, intact: true},
		{name: "no signer certificate", file: func(t *testing.T) []byte {
			return opensslSealed(t, p.key, p.leaf, "-nocerts")
		}, verdict: Invalid, sub: NoSigningCertificateFound, intact: true},
		{name: "SHA-1", file: func(t *testing.T) []byte {
			return opensslSealed(t, p.key, p.leaf, "-md", "sha1")
		}, verdict: Invalid, sub: CryptoConstraintsFailure, intact: true, reasonHas: "SHA-1 is not accepted for signatures"},
		{name: "MD5", file: func(t *testing.T) []byte {
			return opensslSealed(t, p.rsaKey, p.rsaLeaf, "-md", "md5")
		}, verdict: Invalid, sub: CryptoConstraintsFailure, intact: true, reasonHas: "MD5 is not accepted for signatures"},
		{name: "no signer certificate, changed", file: func(t *testing.T) []byte {
			b := opensslSealed(t, p.key, p.leaf, "-nocerts")
			b[br[1]/2] ^= 1
			return b
		}, verdict: Invalid, sub: HashFailure, reasonHas: "the document changed"},
		{name: "SHA-1 changed", file: func(t *testing.T) []byte {
			b := opensslSealed(t, p.key, p.leaf, "-md", "sha1")
			b[br[1]/2] ^= 1
			return b
		}, verdict: Invalid, sub: HashFailure},
		{name: "RSA-1024 signer", file: func(t *testing.T) []byte {
			return opensslSealed(t, rsa1024, leafOf(p, rsa1024.Public(), func(*x509.Certificate) {}), "-cades")
		}, verdict: Invalid, sub: CryptoConstraintsFailure, intact: true, reasonHas: "RSA-1024"},
		{name: "timestamp signature changed", file: func(t *testing.T) []byte {
			// The TSA's RSA signature value ends the token, which ends the
			// CMS (the last unsigned attribute).
			return editCMS(t, bt, func(der []byte) []byte { der[len(der)-10] ^= 1; return der })
		}, opts: Options{Roots: withTSA}, verdict: Invalid, sub: SigConstraintsFailure, intact: true, reasonHas: "signature timestamp"},
		{name: "timestamp before the certificate", file: func(t *testing.T) []byte {
			k := mustKey()
			c := leafOf(p, k.Public(), func(c *x509.Certificate) { c.NotBefore = time.Now().Add(time.Hour) })
			return sealBytes(t, base, sealCfg{cert: c, key: k, tsa: tsa})
		}, opts: Options{Roots: withTSA}, verdict: Invalid, sub: NotYetValid, intact: true},
		{name: "timestamp before the certificate, TSA not trusted", file: func(t *testing.T) []byte {
			k := mustKey()
			c := leafOf(p, k.Public(), func(c *x509.Certificate) { c.NotBefore = time.Now().Add(time.Hour) })
			return sealBytes(t, base, sealCfg{cert: c, key: k, tsa: tsa})
		}, verdict: Invalid, sub: OutOfBoundsNoPOE, intact: true},
		{name: "expired at validation", file: func(t *testing.T) []byte {
			return sealBytes(t, readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf")), sealCfg{cert: p.expired, key: p.expiredKey})
		}, verdict: Untrusted, sub: OutOfBoundsNoPOE, intact: true},
		{name: "unrelated anchor", file: func(*testing.T) []byte { return base }, opts: Options{Roots: other},
			verdict: Untrusted, sub: NoCertificateChainFound, intact: true},
		{name: "key usage forbids signing", file: func(t *testing.T) []byte {
			k := mustKey()
			c := leafOf(p, k.Public(), func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyAgreement })
			return sealBytes(t, base, sealCfg{cert: c, key: k})
		}, verdict: Untrusted, sub: ChainConstraintsFailure, intact: true},
		{name: "revoked, claimed time only", file: func(*testing.T) []byte { return base }, opts: Options{Custody: revoked},
			verdict: Invalid, sub: RevokedNoPOE, intact: true, reasonHas: "is only claimed"},
		{name: "revoked before the timestamp", file: func(*testing.T) []byte { return bt }, opts: Options{Roots: withTSA, Custody: revoked},
			verdict: Invalid, sub: RevokedNoPOE, intact: true, reasonHas: "proves only that the signature existed by"},
		{name: "signed over a timestamp made after the revocation", file: func(t *testing.T) []byte { return sealBytes(t, bt, sealCfg{}) },
			opts: Options{Roots: withTSA, Custody: revoked}, verdict: Invalid, sub: Revoked, intact: true, reasonHas: "so it was made after the revocation"},
		{name: "custody unreadable", file: func(*testing.T) []byte { return base }, opts: Options{Custody: &fakeCustody{err: errors.New("audit chain \"acme\": fold: entry 4: revoked -> superseded")}},
			verdict: Invalid, sub: TryLater, intact: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.file(t)
			rep := mustVerify(t, b, c.opts)
			s := rep.Signatures[len(rep.Signatures)-1]
			wantInd := TotalPassed
			if c.sub != "" {
				wantInd = indicationOf(c.sub)
			}
			if s.Verdict != c.verdict || s.Indication != wantInd || s.SubIndication != c.sub || s.Intact != c.intact {
				t.Fatalf("verdict %s %s/%s intact %v, want %s %s/%s intact %v; reasons %q", s.Verdict, s.Indication, s.SubIndication, s.Intact,
					c.verdict, wantInd, c.sub, c.intact, s.Reasons)
			}
			if !strings.Contains(strings.Join(s.Reasons, "\n"), c.reasonHas) {
				t.Fatalf("reasons %q lack %q", s.Reasons, c.reasonHas)
			}
			if c.sub == CryptoConstraintsFailure && strings.Contains(strings.Join(s.Reasons, "\n"), "changed") {
				t.Fatalf("a weak algorithm reported as a change: %q", s.Reasons)
			}
		})
	}
}

// TestRevocationProof: a timestamp is proof of existence up to genTime
// plus the TSA's accuracy, compared with the revocation time at full
// precision (no rounding to seconds), for its own signature and for every
// signature its signed bytes contain; the custody status is looked up at
// that proven time.
func TestRevocationProof(t *testing.T) {
	url, tsaRoot := tsatest.Start(t)
	roots := pki(t).roots()
	roots.AddCert(tsaRoot)
	b := sealBytes(t, sealedBase(t), sealCfg{tsa: func(ctx context.Context, sig []byte) ([]byte, error) {
		return cms.RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
	}})
	rep := mustVerify(t, b, Options{Roots: roots})
	s := rep.Signatures[len(rep.Signatures)-1]
	sd, err := cms.Parse(extractCMS(t, b, s.ByteRange))
	if err != nil {
		t.Fatal(err)
	}
	sum := func() []byte {
		h := sd.DigestAlgorithm().New()
		h.Write(b[:s.ByteRange[1]])
		h.Write(b[s.ByteRange[2] : s.ByteRange[2]+s.ByteRange[3]])
		return h.Sum(nil)
	}()
	res, err := sd.Verify(sum)
	if err != nil || res.Timestamp == nil || res.Timestamp.Accuracy < time.Second {
		t.Fatalf("timestamp: %v %+v", err, res)
	}
	poe := res.Timestamp.GenTime.Add(res.Timestamp.Accuracy)
	for _, c := range []struct {
		name      string
		revokedAt time.Time
		status    string
		sub       string
	}{
		{"revoked 1 ns after the proof", poe.Add(time.Nanosecond), "active", ""},
		{"revoked an hour after", poe.Add(time.Hour), "active", ""},
		{"revoked exactly at the proof", poe, "revoked", RevokedNoPOE},
		{"revoked 1 ns before the proof", poe.Add(-time.Nanosecond), "revoked", RevokedNoPOE},
		// Within the accuracy window after genTime: the token may have been
		// made after the revocation.
		{"revoked between genTime and the proof", res.Timestamp.GenTime.Add(time.Second), "revoked", RevokedNoPOE},
		// A lookup whose status contradicts its revocation time: no proof.
		{"revoked status, later time", poe.Add(time.Hour), "revoked", RevokedNoPOE},
	} {
		t.Run(c.name, func(t *testing.T) {
			ra := c.revokedAt
			fc := &fakeCustody{status: CustodyStatus{Identity: "jane", Version: 1, Status: c.status, RevokedAt: &ra}, found: true}
			// The first signature (B-B) is proven by the second's
			// timestamp, which covers it; the second by its own.
			for i, s := range mustVerify(t, b, Options{Roots: roots, Custody: fc}).Signatures {
				if s.SubIndication != c.sub || (c.sub == "") != (s.Verdict == Valid) {
					t.Fatalf("signature %d: %s %s/%s; reasons %q", i+1, s.Verdict, s.Indication, s.SubIndication, s.Reasons)
				}
				if i == 0 && !strings.Contains(strings.Join(append(s.Reasons, s.Notes...), "\n"), "the timestamp of signature 2") {
					t.Fatalf("signature 1 does not name its proof: %q %q", s.Reasons, s.Notes)
				}
			}
			if len(fc.gotAt) != 2 || !fc.gotAt[0].Equal(poe) || !fc.gotAt[1].Equal(poe) {
				t.Fatalf("looked up at %v, proof reaches %v", fc.gotAt, poe)
			}
		})
	}
}

// TestNegativeSerial: a signer certificate and its CA with negative
// serial numbers (made by openssl; crypto/x509 refuses to read them by
// default) verify, with a note, and chain to that CA as anchor.
func TestNegativeSerial(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
		"-subj", "/CN=Old CA", "-days", "10", "-set_serial", "-77", "-out", "ca.pem",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
	run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key",
		"-subj", "/CN=Self-made Adobe ID", "-out", "leaf.csr")
	writeFile(t, filepath.Join(dir, "ext.cnf"), []byte("keyUsage=critical,digitalSignature,nonRepudiation\n"))
	run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "-0x0badc0de",
		"-days", "5", "-extfile", "ext.cnf", "-out", "leaf.pem")
	b := bytes.Join([][]byte{readFile(t, filepath.Join(dir, "leaf.key")), readFile(t, filepath.Join(dir, "leaf.pem")),
		readFile(t, filepath.Join(dir, "ca.pem"))}, nil)
	writeFile(t, filepath.Join(dir, "bundle.pem"), b)
	out := filepath.Join(dir, "signed.pdf")
	ossltest.SignPDF(t, filepath.Join(corpusDir, "chromium-invoice.pdf"), out, filepath.Join(dir, "bundle.pem"), time.Now(), "-cades")

	blk, _ := pem.Decode(readFile(t, filepath.Join(dir, "ca.pem")))
	ca, warning, err := cms.ParseCertificate(blk.Bytes)
	if err != nil || warning == "" {
		t.Fatalf("CA: %v %q", err, warning)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	s := mustVerify(t, readFile(t, out), Options{Roots: roots}).Signatures[0]
	if s.Verdict != Valid || s.Indication != TotalPassed || !s.Trusted {
		t.Fatalf("%s %s/%s; reasons %q", s.Verdict, s.Indication, s.SubIndication, s.Reasons)
	}
	if notes := strings.Join(s.Notes, "\n"); !strings.Contains(notes, "negative serial number -195936478") || !strings.Contains(notes, "negative serial number -77") {
		t.Fatalf("notes %q", s.Notes)
	}
	// pdfsig (NSS) is the oracle that the signature itself is sound.
	if o, _ := exec.Command(testenv.Tool(t, "pdfsig"), out).CombinedOutput(); !strings.Contains(string(o), "Signature is Valid") {
		t.Fatalf("pdfsig:\n%s", o)
	}
}
