package awskms

import (
	"context"
	"crypto"
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/signer/internal/sealtest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"sealkeep/internal/signer"
)

// Run with: go test -run '^$' -bench . ./internal/signer/awskms (local-kms
// must be running; see testenv.LocalKMS).
//
// BenchmarkSign compares, in the same run, the bare SDK Sign call with the
// signer's SignContext (algorithm mapping, retry wrapper, error mapping and
// the mandatory verification of the signature) and with the verification
// alone, so that the overhead can be read as a ratio and split.

func benchSigner(b *testing.B, spec types.KeySpec) (*Signer, []byte) {
	base := localKMS(b)
	arn := createRaw(b, base, spec, types.KeyUsageTypeSignVerify)
	s, err := Open(context.Background(), parse(b, withKey(base, arn)))
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark"))
	return s, d[:]
}

func BenchmarkSign(b *testing.B) {
	for _, tc := range []struct {
		name string
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{"RSA-2048-PKCS1", types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
		{"ECDSA-P256", types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
	} {
		s, digest := benchSigner(b, tc.spec)
		ctx := context.Background()
		in := &kms.SignInput{KeyId: aws.String(s.keyID), Message: digest, MessageType: types.MessageTypeDigest, SigningAlgorithm: tc.alg}
		sig, err := s.SignContext(ctx, digest, crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/bare-sdk", func(b *testing.B) {
			sealtest.LoopCPU(b, func() error {
				_, err := s.c.KMS.Sign(ctx, in)
				return err
			})
		})
		b.Run(tc.name+"/sealkeep", func(b *testing.B) {
			sealtest.LoopCPU(b, func() error {
				_, err := s.SignContext(ctx, digest, crypto.SHA256)
				return err
			})
		})
		b.Run(tc.name+"/verify-only", func(b *testing.B) {
			sealtest.LoopCPU(b, func() error {
				return signer.VerifySignature(s.pub, digest, sig, crypto.SHA256)
			})
		})
	}
}

// concurrent runs b.N signatures over workers goroutines and reports the
// p50 and p99 latency and the throughput.
func concurrent(b *testing.B, workers int, sign func() error) {
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := sign(); err != nil {
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
}

func BenchmarkConcurrent8(b *testing.B) {
	s, digest := benchSigner(b, types.KeySpecEccNistP256)
	ctx := context.Background()
	b.Run("ECDSA-P256", func(b *testing.B) {
		concurrent(b, 8, func() error {
			_, err := s.SignContext(ctx, digest, crypto.SHA256)
			return err
		})
	})
}
