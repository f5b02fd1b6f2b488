package azurekv

import (
	"context"
	"crypto"
	"crypto/sha256"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"sealkeep/internal/keypolicy"
)

// BenchmarkSign compares, in the same run against the local fake vault, the
// bare azkeys Sign call with the signer's SignContext (algorithm mapping,
// retry wrapper, r||s conversion, verification).
func BenchmarkSign(b *testing.B) {
	v := newFakeVault(b)
	s, err := v.open(b, v.add("bench", "v1", &fakeKey{priv: genKey(b, keypolicy.ECDSAP256), enabled: true}))
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark"))
	alg := azkeys.SignatureAlgorithmES256
	b.Run("ECDSA-P256/bare-sdk", func(b *testing.B) {
		loop(b, func() error {
			_, err := s.c.Sign(context.Background(), s.name, s.version, azkeys.SignParameters{Algorithm: &alg, Value: d[:]}, nil)
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
