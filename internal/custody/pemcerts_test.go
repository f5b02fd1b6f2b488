package custody

import (
	"bytes"
	"encoding/pem"
	"errors"
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
)

func TestDecodeCertificates(t *testing.T) {
	c := pkitest.NewChain(t, keypolicy.ECDSAP256, "decode")
	leaf, inter := c.Leaf.Cert.Raw, c.Intermediate.Cert.Raw
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	got, err := DecodeCertificates(append(pemOf("CERTIFICATE", leaf), pemOf("CERTIFICATE", inter)...))
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], leaf) || !bytes.Equal(got[1], inter) {
		t.Fatalf("PEM bundle: %d certs, %v", len(got), err)
	}
	got, err = DecodeCertificates(leaf)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0], leaf) {
		t.Fatalf("DER: %v", err)
	}
	for name, in := range map[string][]byte{
		"empty":       nil,
		"key block":   append(pemOf("CERTIFICATE", leaf), pemOf("PRIVATE KEY", []byte{1, 2, 3})...),
		"trailing":    append(pemOf("CERTIFICATE", leaf), []byte("junk")...),
		"no PEM":      []byte("hello"),
		"too large":   make([]byte, maxCertFile+1),
		"CSR instead": pemOf("CERTIFICATE REQUEST", []byte{1}),
	} {
		if _, err := DecodeCertificates(in); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecodeCertificates: never panics; whatever it accepts is returned
// byte-for-byte (PEM re-encoding of the blocks decodes to the same bytes).
func FuzzDecodeCertificates(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := DecodeCertificates(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error without ErrInvalidInput: %v", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("accepted with no certificate")
		}
		var again []byte
		for _, c := range certs {
			again = append(again, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
		}
		back, err := DecodeCertificates(again)
		if err != nil || len(back) != len(certs) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range back {
			if !bytes.Equal(back[i], certs[i]) {
				t.Fatal("round trip changed bytes")
			}
		}
	})
}
