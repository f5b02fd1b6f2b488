package gcpkms

import (
	"context"
	"crypto"
	"crypto/sha256"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"sealkeep/internal/keypolicy"
)

// BenchmarkSign compares, in the same run against the local fake service,
// the bare client AsymmetricSign call with the signer's SignContext (CRC32C
// checks, retry wrapper, verification).
func BenchmarkSign(b *testing.B) {
	f, addr := newFake(b)
	s, err := open(b, addr, f.add("bench", genKey(b, keypolicy.ECDSAP256), kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256))
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark"))
	req := &kmspb.AsymmetricSignRequest{Name: s.name, Digest: &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: d[:]}}, DigestCrc32C: wrapperspb.Int64(crc32c(d[:]))}
	b.Run("ECDSA-P256/bare-client", func(b *testing.B) {
		loop(b, func() error {
			_, err := s.c.AsymmetricSign(context.Background(), req)
			return err
		})
	})
	b.Run("ECDSA-P256/sealkeep", func(b *testing.B) {
		loop(b, func() error {
			_, err := s.SignContext(context.Background(), d[:], crypto.SHA256)
			return err
		})
	})
}

// cpuTime is the process's user+system CPU time so far. The fake server runs
// in this process, so both sides of each pair include its work; on a shared,
// noisy machine CPU per call is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times and reports the CPU time per call.
func loop(b *testing.B, f func() error) {
	c0 := cpuTime()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-us/op")
}
