//go:build pkcs11

package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/signer/internal/sealtest"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
)

// Run with: go test -tags pkcs11 -run '^$' -bench . ./internal/signer/pkcs11
//
// BenchmarkSign compares, in the same run, crypto11's bare Sign on the token
// with the signer's SignContext (digest check, connection lookup, error
// mapping and the mandatory verification) and with the verification alone.

func benchKey(b *testing.B, alg string) *Signer {
	softhsm(b)
	s, err := Create(context.Background(), keyURI(label, "bench-"+alg+"-"+time.Now().Format("150405.000000"), "file:"+pinFile), alg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkSign(b *testing.B) {
	d := sha256.Sum256([]byte("benchmark"))
	digest := d[:]
	for _, alg := range []string{keypolicy.RSA2048, keypolicy.ECDSAP256} {
		s := benchKey(b, alg)
		key, _, err := s.find()
		if err != nil {
			b.Fatal(err)
		}
		sig, err := s.Sign(nil, digest, crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/bare-crypto11", func(b *testing.B) {
			sealtest.LoopCPU(b, func() error {
				_, err := key.Sign(rand.Reader, digest, crypto.SHA256)
				return err
			})
		})
		b.Run(alg+"/sealkeep", func(b *testing.B) {
			sealtest.LoopCPU(b, func() error {
				_, err := s.SignContext(context.Background(), digest, crypto.SHA256)
				return err
			})
		})
		b.Run(alg+"/verify-only", func(b *testing.B) {
			sealtest.LoopCPU(b, func() error {
				return signer.VerifySignature(s.pub, digest, sig, crypto.SHA256)
			})
		})
	}
}

func BenchmarkConcurrent8(b *testing.B) {
	d := sha256.Sum256([]byte("benchmark"))
	for _, alg := range []string{keypolicy.RSA2048, keypolicy.ECDSAP256} {
		s := benchKey(b, alg)
		b.Run(alg, func(b *testing.B) {
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for range 8 {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := s.SignContext(context.Background(), d[:], crypto.SHA256); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "signs/s")
		})
	}
}
