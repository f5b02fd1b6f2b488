package keypolicy_test

import (
	"crypto"
	"crypto/dsa" //lint:ignore SA1019 DSA keys must be refused, so the test needs one
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
)

func TestGenerateEveryAlgorithm(t *testing.T) {
	for _, alg := range keypolicy.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k := pkitest.Key(t, alg, "generate")
			got, err := keypolicy.CheckPublicKey(k.Public())
			if err != nil || got != alg {
				t.Fatalf("CheckPublicKey(Generate(%s)) = %q, %v", alg, got, err)
			}
		})
	}
	if _, err := keypolicy.Generate("RSA-1024"); !errors.Is(err, keypolicy.ErrUnsupportedAlgorithm) {
		t.Errorf("Generate(RSA-1024) error = %v, want ErrUnsupportedAlgorithm", err)
	}
}

func TestGenerateDefaultIsRSA4096(t *testing.T) {
	if keypolicy.Default != keypolicy.RSA4096 {
		t.Fatalf("Default = %s", keypolicy.Default)
	}
}

// oddModulus returns an odd number of exactly bits bits; CheckPublicKey only
// looks at the size and the exponent.
func oddModulus(bits int) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return n.SetBit(n, 0, 1)
}

func TestCheckPublicKeyRefusals(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	var dsaKey dsa.PublicKey
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want error
		text string
	}{
		{"RSA-1024", &rsa1024.PublicKey, keypolicy.ErrWeakKey, "below the 2048-bit minimum"},
		{"RSA-2056", &rsa.PublicKey{N: oddModulus(2056), E: 65537}, keypolicy.ErrWeakKey, "RSA-2056 is not an allowed size"},
		{"RSA-8192", &rsa.PublicKey{N: oddModulus(8192), E: 65537}, keypolicy.ErrWeakKey, "not an allowed size"},
		{"RSA e=3", &rsa.PublicKey{N: oddModulus(2048), E: 3}, keypolicy.ErrWeakKey, "exponent 3"},
		{"RSA e=2^32+1", &rsa.PublicKey{N: oddModulus(3072), E: 1<<32 + 1}, keypolicy.ErrWeakKey, "exponent"},
		{"P-224", &p224.PublicKey, keypolicy.ErrWeakKey, "P-224"},
		{"P-521", &p521.PublicKey, keypolicy.ErrWeakKey, "P-521"},
		{"Ed25519", edPub, keypolicy.ErrUnsupportedAlgorithm, "Ed25519 keys cannot seal PDFs"},
		{"DSA", &dsaKey, keypolicy.ErrUnsupportedAlgorithm, "DSA"},
		{"nil", nil, keypolicy.ErrUnsupportedAlgorithm, "no public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alg, err := keypolicy.CheckPublicKey(tc.pub)
			if !errors.Is(err, tc.want) || alg != "" {
				t.Fatalf("CheckPublicKey = %q, %v; want %v", alg, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "allowed") {
				t.Errorf("error %q does not explain the policy (want %q)", err, tc.text)
			}
		})
	}
}

func TestPublicKeysEqualAndThumbprint(t *testing.T) {
	a := pkitest.Key(t, keypolicy.ECDSAP256, "a")
	b := pkitest.Key(t, keypolicy.ECDSAP256, "b")
	if !keypolicy.PublicKeysEqual(a.Public(), a.Public()) || keypolicy.PublicKeysEqual(a.Public(), b.Public()) ||
		keypolicy.PublicKeysEqual(nil, a.Public()) || keypolicy.PublicKeysEqual(a.Public(), nil) {
		t.Error("PublicKeysEqual is wrong")
	}
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got := keypolicy.Thumbprint([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Thumbprint = %s", got)
	}
}

func TestExplainUnparsable(t *testing.T) {
	ecOID := asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	spki := func(alg pkix.AlgorithmIdentifier) []byte {
		der, err := asn1.Marshal(struct {
			Alg pkix.AlgorithmIdentifier
			Key asn1.BitString
		}{alg, asn1.BitString{Bytes: []byte{4, 1, 2}, BitLength: 24}})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	oidParam := func(o asn1.ObjectIdentifier) asn1.RawValue {
		der, _ := asn1.Marshal(o)
		return asn1.RawValue{FullBytes: der}
	}
	explicit, _ := asn1.Marshal(struct{ Version int }{1})
	k1 := spki(pkix.AlgorithmIdentifier{Algorithm: ecOID, Parameters: oidParam(asn1.ObjectIdentifier{1, 3, 132, 0, 10})})
	tests := []struct {
		name string
		der  []byte
		want error
		text string
	}{
		{"secp256k1 SPKI", k1, keypolicy.ErrWeakKey, "secp256k1"},
		{"P-192 SPKI", spki(pkix.AlgorithmIdentifier{Algorithm: ecOID, Parameters: oidParam(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1})}), keypolicy.ErrWeakKey, "P-192"},
		{"explicit parameters", spki(pkix.AlgorithmIdentifier{Algorithm: ecOID, Parameters: asn1.RawValue{FullBytes: explicit}}), keypolicy.ErrWeakKey, "explicit curve parameters"},
		{"DSA", spki(pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}}), keypolicy.ErrUnsupportedAlgorithm, "DSA"},
		{"P-256 is not a policy reason", spki(pkix.AlgorithmIdentifier{Algorithm: ecOID, Parameters: oidParam(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})}), nil, ""},
		{"garbage", []byte("not DER"), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := x509.ParsePKIXPublicKey(tc.der); err == nil && tc.want != nil {
				t.Fatal("crypto/x509 parsed the key; the case tests nothing")
			}
			err := keypolicy.ExplainUnparsable(tc.der)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ExplainUnparsable = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("ExplainUnparsable = %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestCheckLeaf(t *testing.T) {
	ch := pkitest.NewChain(t, keypolicy.ECDSAP256, "leaf checks")
	now := time.Now()
	key := pkitest.Key(t, keypolicy.ECDSAP256, "leaf variants")
	weak, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	variant := func(edit func(*x509.Certificate), pub crypto.PublicKey) *x509.Certificate {
		tmpl := pkitest.LeafTemplate("variant")
		edit(tmpl)
		return pkitest.Issue(t, ch.Intermediate, tmpl, pub)
	}
	keep := func(*x509.Certificate) {}
	tests := []struct {
		name string
		cert *x509.Certificate
		want error
		text string
	}{
		{"good", ch.Leaf.Cert, nil, ""},
		{"no EKU", variant(func(c *x509.Certificate) { c.ExtKeyUsage = nil }, key.Public()), nil, ""},
		{"any EKU", variant(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }, key.Public()), nil, ""},
		{"documentSigning EKU", variant(func(c *x509.Certificate) {
			c.ExtKeyUsage = nil
			c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 36}}
		}, key.Public()), nil, ""},
		{"Adobe EKU", variant(func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 2, 840, 113583, 1, 1, 5}}
		}, key.Public()), nil, ""},
		{"MS document signing EKU", variant(func(c *x509.Certificate) {
			c.ExtKeyUsage = nil
			c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 311, 10, 3, 12}}
		}, key.Public()), nil, ""},
		{"nonRepudiation only", variant(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageContentCommitment }, key.Public()), nil, ""},
		{"expired", variant(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0)
		}, key.Public()), keypolicy.ErrExpired, "expired on " + now.AddDate(-1, 0, 0).UTC().Format("2006-01-02")},
		{"not yet valid", variant(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.AddDate(0, 1, 0), now.AddDate(1, 0, 0)
		}, key.Public()), keypolicy.ErrNotYetValid, "valid from " + now.AddDate(0, 1, 0).UTC().Format("2006-01-02")},
		{"CA:TRUE", variant(func(c *x509.Certificate) { c.IsCA = true }, key.Public()), keypolicy.ErrLeafIsCA, "CA:TRUE"},
		{"keyCertSign", variant(func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCertSign }, key.Public()), keypolicy.ErrLeafIsCA, "keyCertSign"},
		{"keyEncipherment only", variant(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }, key.Public()), keypolicy.ErrKeyUsage, "neither digitalSignature nor nonRepudiation"},
		{"no key usage", variant(func(c *x509.Certificate) { c.KeyUsage = 0 }, key.Public()), keypolicy.ErrKeyUsage, "no key usage extension"},
		{"serverAuth only", variant(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, key.Public()), keypolicy.ErrExtKeyUsage, "documentSigning"},
		{"P-224 key", variant(keep, &weak.PublicKey), keypolicy.ErrWeakKey, "P-224"},
		{"unknown critical extension", variant(func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Critical: true, Value: []byte{0x05, 0x00}}}
		}, key.Public()), keypolicy.ErrCriticalExtension, "1.3.6.1.4.1.55555.1"},
		{"unknown non-critical extension", variant(func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Value: []byte{0x05, 0x00}}}
		}, key.Public()), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := keypolicy.CheckLeaf(tc.cert, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckLeaf = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("CheckLeaf = %v; want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestCheckChain(t *testing.T) {
	ch := pkitest.NewChain(t, keypolicy.ECDSAP256, "chain checks")
	other := pkitest.NewChain(t, keypolicy.ECDSAP256, "other")
	root, inter, leaf := ch.Root.Cert, ch.Intermediate.Cert, ch.Leaf.Cert

	// An impostor intermediate: same subject as the real one, different key.
	impostorKey := pkitest.Key(t, keypolicy.ECDSAP256, "impostor")
	impostor := pkitest.Issue(t, ch.Root, pkitest.CATemplate("chain checks intermediate"), impostorKey.Public())

	// A non-CA "intermediate" that signs a leaf.
	notCAKey := pkitest.Key(t, keypolicy.ECDSAP256, "not a CA")
	notCATmpl := pkitest.CATemplate("not a CA")
	notCATmpl.IsCA = false
	notCA := &pkitest.Cert{Cert: pkitest.Issue(t, ch.Root, notCATmpl, notCAKey.Public()), Key: notCAKey}
	underNotCA := pkitest.Issue(t, notCA, pkitest.LeafTemplate("under a non-CA"), ch.Leaf.Key.Public())

	// A CA certificate whose key usage leaves out keyCertSign (RFC 5280
	// 4.2.1.3: its key must not verify certificate signatures).
	noSignKey := pkitest.Key(t, keypolicy.ECDSAP256, "no cert sign")
	noSignTmpl := pkitest.CATemplate("no cert sign")
	noSignTmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
	noSign := &pkitest.Cert{Cert: pkitest.Issue(t, ch.Root, noSignTmpl, noSignKey.Public()), Key: noSignKey}
	underNoSign := pkitest.Issue(t, noSign, pkitest.LeafTemplate("under no cert sign"), ch.Leaf.Key.Public())

	// A CA certificate with a critical extension nothing here understands.
	critKey := pkitest.Key(t, keypolicy.ECDSAP256, "critical ext")
	critTmpl := pkitest.CATemplate("critical ext")
	critTmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 2}, Critical: true, Value: []byte{0x05, 0x00}}}
	crit := &pkitest.Cert{Cert: pkitest.Issue(t, ch.Root, critTmpl, critKey.Public()), Key: critKey}
	underCrit := pkitest.Issue(t, crit, pkitest.LeafTemplate("under critical ext"), ch.Leaf.Key.Public())

	// Path length: root(pathlen 0) → inter → leaf has one CA below the root.
	plRootKey := pkitest.Key(t, keypolicy.ECDSAP256, "pathlen root")
	plRootTmpl := pkitest.CATemplate("pathlen root")
	plRootTmpl.MaxPathLen, plRootTmpl.MaxPathLenZero = 0, true
	plRoot := &pkitest.Cert{Cert: pkitest.Issue(t, nil, plRootTmpl, plRootKey), Key: plRootKey}
	plInterKey := pkitest.Key(t, keypolicy.ECDSAP256, "pathlen inter")
	plInter := &pkitest.Cert{Cert: pkitest.Issue(t, plRoot, pkitest.CATemplate("pathlen inter"), plInterKey.Public()), Key: plInterKey}
	plLeaf := pkitest.Issue(t, plInter, pkitest.LeafTemplate("pathlen leaf"), ch.Leaf.Key.Public())
	plDirect := pkitest.Issue(t, plRoot, pkitest.LeafTemplate("pathlen direct"), ch.Leaf.Key.Public())

	selfKey := pkitest.Key(t, keypolicy.ECDSAP256, "self-signed leaf")
	self := pkitest.Issue(t, nil, pkitest.LeafTemplate("self-signed"), selfKey)

	tests := []struct {
		name  string
		leaf  *x509.Certificate
		chain []*x509.Certificate
		text  string // "" means valid
	}{
		{"full chain", leaf, []*x509.Certificate{inter, root}, ""},
		{"root omitted", leaf, []*x509.Certificate{inter}, ""},
		{"empty chain", leaf, nil, ""},
		{"self-signed leaf", self, nil, ""},
		{"pathlen 0 with a direct leaf", plDirect, []*x509.Certificate{plRoot.Cert}, ""},
		{"wrong order", leaf, []*x509.Certificate{root, inter}, "was issued by"},
		{"missing intermediate", leaf, []*x509.Certificate{root}, "was issued by"},
		{"other chain", leaf, []*x509.Certificate{other.Intermediate.Cert}, "was issued by"},
		{"impostor intermediate", leaf, []*x509.Certificate{impostor, root}, "does not verify"},
		{"intermediate not a CA", underNotCA, []*x509.Certificate{notCA.Cert, root}, "not a CA certificate"},
		{"intermediate without keyCertSign", underNoSign, []*x509.Certificate{noSign.Cert, root}, "keyCertSign"},
		{"intermediate with an unknown critical extension", underCrit, []*x509.Certificate{crit.Cert, root}, "1.3.6.1.4.1.55555.2"},
		{"path length violated", plLeaf, []*x509.Certificate{plInter.Cert, plRoot.Cert}, "pathLenConstraint"},
		{"certificates after the root", leaf, []*x509.Certificate{inter, root, other.Root.Cert}, "self-signed, yet the chain continues"},
		{"self-signed leaf with a chain", self, []*x509.Certificate{root}, "self-signed, yet the chain continues"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := keypolicy.CheckChain(tc.leaf, tc.chain)
			if tc.text == "" {
				if err != nil {
					t.Fatalf("CheckChain = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, keypolicy.ErrChain) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("CheckChain = %v; want ErrChain mentioning %q", err, tc.text)
			}
		})
	}

	// Cross-check the valid case with crypto/x509's own path builder.
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("crypto/x509 rejects the chain CheckChain accepts: %v", err)
	}
}

func TestSelfSignedLeafWithBadSignature(t *testing.T) {
	k := pkitest.Key(t, keypolicy.ECDSAP256, "tampered self-signed")
	c := pkitest.Issue(t, nil, pkitest.LeafTemplate("tampered"), k)
	der := append([]byte(nil), c.Raw...)
	der[len(der)-3] ^= 0xff // inside the signature
	bad, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tampered certificate no longer parses: %v", err)
	}
	if err := keypolicy.CheckChain(bad, nil); !errors.Is(err, keypolicy.ErrChain) {
		t.Fatalf("CheckChain(tampered self-signed) = %v, want ErrChain", err)
	}
}
