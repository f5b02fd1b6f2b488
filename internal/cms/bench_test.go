package cms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
)

// BenchmarkParseVerify parses and verifies a P-256 B-B signature with a
// two-certificate chain. Compare with BenchmarkBaseline, the unavoidable
// work (parsing the two certificates and one ECDSA verification): the
// difference is this package's own cost.
func BenchmarkParseVerify(b *testing.B) {
	der, digest := benchSignature(b)
	for b.Loop() {
		sd, err := Parse(der)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sd.Verify(digest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaseline(b *testing.B) {
	der, _ := benchSignature(b)
	sd := mustParse(b, der)
	raws := [][]byte{sd.Certificates[0].Raw, sd.Certificates[1].Raw}
	h := crypto.SHA256.New()
	h.Write(sd.si.signedAttrsDER)
	sum := h.Sum(nil)
	for b.Loop() {
		var leaf *x509.Certificate
		for _, r := range raws {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := c.PublicKey.(*ecdsa.PublicKey); ok && !c.IsCA {
				leaf = c
			}
		}
		if !ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), sum, sd.si.signature) {
			b.Fatal("baseline verification failed")
		}
	}
}

func benchSignature(b *testing.B) (der, digest []byte) {
	pk := getPKI(b)
	digest = digestOf(crypto.SHA256, []byte("benchmark"))
	der, err := SignDetached(context.Background(), digest, pk.opts("P-256"))
	if err != nil {
		b.Fatal(err)
	}
	return der, digest
}
