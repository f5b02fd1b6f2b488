package sealtest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"syscall"
	"testing"
	"time"
)

// SelfSign makes crypto/x509 sign a self-signed certificate through s and
// check it: an independent verification of a provider's signature. alg may
// be 0 for crypto/x509's default for the key.
func SelfSign(t testing.TB, s crypto.Signer, alg x509.SignatureAlgorithm) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sealkeep provider test"}, SignatureAlgorithm: alg,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
	if err != nil {
		t.Fatalf("x509.CreateCertificate through the provider: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("crypto/x509 rejects the provider's signature: %v", err)
	}
}

// CPUTime is the process's user+system CPU time so far: on a shared, noisy
// machine the CPU spent per call is a steadier measure of overhead than wall
// time. (A fake server running in the test process adds its work to both
// sides of a comparison.)
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoopCPU runs f b.N times and reports the CPU time per call as cpu-us/op.
func LoopCPU(b *testing.B, f func() error) {
	c0 := CPUTime()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((CPUTime()-c0).Microseconds())/float64(b.N), "cpu-us/op")
}
