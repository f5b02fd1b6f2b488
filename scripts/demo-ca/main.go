// Command demo-ca stands in for a customer's certificate authority in
// scripts/demo: it signs a PKCS#10 CSR with a throwaway CA that it creates
// in a directory on first use. sealkeep itself never issues certificates;
// this exists only so that the demo can show the upload step without
// needing a real CA.
//
// Usage:
//
//	go run ./scripts/demo-ca DIR CSR.pem CERT.pem
//
// It writes the leaf to CERT.pem and the CA certificate to DIR/ca.pem.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: demo-ca DIR CSR.pem CERT.pem")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "demo-ca:", err)
		os.Exit(1)
	}
}

func run(dir, csrPath, certPath string) error {
	b, err := os.ReadFile(csrPath)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return errors.New("no PEM CERTIFICATE REQUEST in " + csrPath)
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return err
	}
	if err := req.CheckSignature(); err != nil {
		return fmt.Errorf("CSR signature: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Demo Customer CA", Organization: []string{"sealkeep demo"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(), Subject: req.Subject,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, req.PublicKey, crypto.Signer(caKey))
	if err != nil {
		return err
	}
	if err := writePEM(certPath, der); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "ca.pem"), caDER)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func writePEM(path string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
