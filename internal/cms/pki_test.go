package cms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is root CA -> intermediate CA -> leaves, built once per test
// binary: keys are slow to generate.
type testPKI struct {
	root, inter *x509.Certificate
	interKey    crypto.Signer
	leaves      map[string]*leaf
}

type leaf struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var keyTypes = []string{"RSA-2048", "RSA-3072", "P-256", "P-384"}

var (
	pkiOnce sync.Once
	pki     *testPKI
	serial  atomic.Int64
)

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		p := &testPKI{leaves: map[string]*leaf{}}
		rootKey := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
		p.root = issue(t, &x509.Certificate{
			Subject:               pkix.Name{CommonName: "sealkeep test root"},
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true, IsCA: true,
		}, nil, rootKey.Public(), rootKey)
		interKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		p.inter = issue(t, &x509.Certificate{
			Subject:               pkix.Name{CommonName: "sealkeep test intermediate"},
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		}, p.root, interKey.Public(), rootKey)
		p.interKey = interKey
		for _, kt := range keyTypes {
			key := newKey(kt)
			p.leaves[kt] = &leaf{key: key, cert: p.newLeaf(t, "Jane Doe, P.E. "+kt, key.Public(), nil)}
		}
		pki = p
	})
	if pki == nil {
		t.Fatal("test PKI could not be built")
	}
	return pki
}

func newKey(kt string) crypto.Signer {
	switch kt {
	case "RSA-2048":
		return must(rsa.GenerateKey(rand.Reader, 2048))
	case "RSA-3072":
		return must(rsa.GenerateKey(rand.Reader, 3072))
	case "P-256":
		return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	case "P-384":
		return must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	}
	panic(kt)
}

// newLeaf issues a document-signing leaf: KU digitalSignature +
// nonRepudiation, EKU emailProtection. serialNumber nil means a fresh one.
func (p *testPKI) newLeaf(t testing.TB, cn string, pub crypto.PublicKey, serialNumber *big.Int) *x509.Certificate {
	return issueSerial(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"Doe Engineering"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}, p.inter, pub, p.interKey, serialNumber)
}

func issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	return issueSerial(t, tmpl, parent, pub, key, nil)
}

func issueSerial(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer, sn *big.Int) *x509.Certificate {
	t.Helper()
	if sn == nil {
		sn = big.NewInt(1000 + serial.Add(1))
	}
	tmpl.SerialNumber = sn
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(48 * time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// opaqueSigner hides the concrete key type, as a KMS or HSM signer does,
// and counts SignContext calls.
type opaqueSigner struct {
	s     crypto.Signer
	calls atomic.Int32
	// corrupt flips a bit of every signature, like a faulty provider.
	corrupt bool
}

func (o *opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }

func (o *opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.SignContext(context.Background(), d, opts)
}

func (o *opaqueSigner) SignContext(ctx context.Context, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	o.calls.Add(1)
	sig, err := o.s.Sign(rand.Reader, d, opts)
	if err == nil && o.corrupt {
		sig[len(sig)/2] ^= 0x10
	}
	return sig, err
}

func (p *testPKI) opts(kt string) SignOptions {
	l := p.leaves[kt]
	return SignOptions{Signer: &opaqueSigner{s: l.key}, Certificate: l.cert, Chain: []*x509.Certificate{p.inter}}
}

func (p *testPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
