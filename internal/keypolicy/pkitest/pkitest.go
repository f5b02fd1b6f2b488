// Package pkitest builds throwaway keys and certificates for tests: a root
// CA, intermediates and leaves with whatever template a test needs.
//
// # Keys
//
// [Key] returns one key per name and algorithm for the whole test binary,
// because RSA-4096 generation takes seconds.
package pkitest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/keypolicy"
)

var (
	mu   sync.Mutex
	keys = map[string]crypto.Signer{}
)

// Key returns the key called name of algorithm alg (a keypolicy name),
// generating it on first use and reusing it for the rest of the binary.
func Key(t testing.TB, alg, name string) crypto.Signer {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	id := alg + "/" + name
	if k, ok := keys[id]; ok {
		return k
	}
	k, err := keypolicy.Generate(alg)
	if err != nil {
		t.Fatalf("pkitest: generate %s: %v", alg, err)
	}
	keys[id] = k
	return k
}

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serial int64

func nextSerial() *big.Int {
	mu.Lock()
	defer mu.Unlock()
	serial++
	return big.NewInt(serial)
}

// CATemplate is a CA certificate template valid from an hour ago for ten
// years.
func CATemplate(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"sealkeep tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// LeafTemplate is a document-signing leaf template: valid from an hour ago
// for a year, digitalSignature and nonRepudiation, emailProtection.
func LeafTemplate(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"sealkeep tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
}

// Root returns a self-signed CA certificate with a P-256 key named cn.
func Root(t testing.TB, cn string) *Cert {
	t.Helper()
	k := Key(t, keypolicy.ECDSAP256, "root "+cn)
	return &Cert{Cert: Issue(t, nil, CATemplate(cn), k), Key: k}
}

// Issue signs tmpl for pub with parent (nil: self-signed with key, which
// must then be a crypto.Signer) and returns the parsed certificate. A zero
// serial number is replaced by a fresh one.
func Issue(t testing.TB, parent *Cert, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = nextSerial()
	}
	issuer, signer := tmpl, crypto.Signer(nil)
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	} else {
		s, ok := pub.(crypto.Signer)
		if !ok {
			t.Fatalf("pkitest: a self-signed certificate needs a private key")
		}
		signer, pub = s, s.Public()
	}
	if s, ok := pub.(crypto.Signer); ok {
		pub = s.Public()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, signer)
	if err != nil {
		t.Fatalf("pkitest: create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("pkitest: parse certificate: %v", err)
	}
	return c
}

// Chain is a root CA, one intermediate CA and a document-signing leaf with
// key alg.
type Chain struct {
	Root, Intermediate, Leaf *Cert
}

// NewChain builds root → intermediate → leaf, the leaf from LeafTemplate
// with a key of algorithm alg.
func NewChain(t testing.TB, alg, cn string) *Chain {
	t.Helper()
	root := Root(t, cn+" root")
	ik := Key(t, keypolicy.ECDSAP256, "intermediate "+cn)
	inter := &Cert{Cert: Issue(t, root, CATemplate(cn+" intermediate"), ik.Public()), Key: ik}
	lk := Key(t, alg, "leaf "+cn)
	leaf := &Cert{Cert: Issue(t, inter, LeafTemplate(cn), lk.Public()), Key: lk}
	return &Chain{Root: root, Intermediate: inter, Leaf: leaf}
}
