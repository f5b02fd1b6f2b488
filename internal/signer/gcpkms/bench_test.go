package gcpkms

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"

	"sealkeep/internal/signer/internal/sealtest"

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
		sealtest.LoopCPU(b, func() error {
			_, err := s.c.AsymmetricSign(context.Background(), req)
			return err
		})
	})
	b.Run("ECDSA-P256/sealkeep", func(b *testing.B) {
		sealtest.LoopCPU(b, func() error {
			_, err := s.SignContext(context.Background(), d[:], crypto.SHA256)
			return err
		})
	})
}
