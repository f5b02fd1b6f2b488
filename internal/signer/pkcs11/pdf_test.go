//go:build pkcs11

package pkcs11

import (
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer/internal/sealtest"
)

// TestSealPDF seals a PDF with keys held in SoftHSM2 and checks it with
// pdfsig and sealkeep's verifier.
func TestSealPDF(t *testing.T) {
	for _, alg := range []string{keypolicy.RSA3072, keypolicy.ECDSAP256} {
		t.Run(alg, func(t *testing.T) {
			sealtest.SealAndCheck(t, newKey(t, alg), "Sealed with a key in a PKCS#11 token")
		})
	}
}
