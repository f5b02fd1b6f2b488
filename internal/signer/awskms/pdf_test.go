package awskms

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"sealkeep/internal/signer/internal/sealtest"
)

// TestSealPDF seals a PDF with keys held in local-kms and checks it with
// pdfsig and sealkeep's verifier.
func TestSealPDF(t *testing.T) {
	base := localKMS(t)
	for _, spec := range []types.KeySpec{types.KeySpecRsa2048, types.KeySpecEccNistP384} {
		t.Run(string(spec), func(t *testing.T) {
			s, err := Open(context.Background(), parse(t, withKey(base, createRaw(t, base, spec, types.KeyUsageTypeSignVerify))))
			if err != nil {
				t.Fatal(err)
			}
			sealtest.SealAndCheck(t, s, "Sealed with a key in AWS KMS")
		})
	}
}
