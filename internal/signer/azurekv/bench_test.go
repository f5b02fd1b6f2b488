package azurekv

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"

	"sealkeep/internal/signer/internal/sealtest"

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
		sealtest.LoopCPU(b, func() error {
			_, err := s.c.Sign(context.Background(), s.name, s.version, azkeys.SignParameters{Algorithm: &alg, Value: d[:]}, nil)
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
