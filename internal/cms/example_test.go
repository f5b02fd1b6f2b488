package cms_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"sealkeep/internal/cms"
)

// Sign the digest of a document's byte ranges (PAdES B-B), then parse and
// verify the result the way a PDF verifier does.
func ExampleSignDetached() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "Jane Doe, P.E."},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)

	opts := cms.SignOptions{Signer: key, Certificate: cert}
	reserve, _ := cms.EstimateSize(opts) // bytes; /Contents needs twice as many hex digits
	digest := sha256.Sum256([]byte("the PDF's byte ranges, streamed"))
	sig, err := cms.SignDetached(context.Background(), digest[:], opts)
	if err != nil {
		fmt.Println(err)
		return
	}

	sd, err := cms.Parse(sig)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := sd.DigestAlgorithm().New()
	h.Write([]byte("the PDF's byte ranges, streamed"))
	res, err := sd.Verify(h.Sum(nil))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("fits the reserve:", len(sig) <= reserve)
	fmt.Println("signer:", res.Signer.Subject.CommonName)
	fmt.Println("algorithm:", res.SignatureAlgorithm)
	fmt.Println("signing-certificate-v2 matches:", res.SigningCertV2OK)
	fmt.Println("signingTime attribute:", res.SigningTime != nil)
	// Output:
	// fits the reserve: true
	// signer: Jane Doe, P.E.
	// algorithm: ECDSA-SHA256
	// signing-certificate-v2 matches: true
	// signingTime attribute: false
}
