package local_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/local"
)

// Custody stores Marshal's output encrypted and gives New a function that
// decrypts it; every signature decrypts, signs and zeroes.
func ExampleNew() {
	key, err := keypolicy.Generate(keypolicy.ECDSAP256)
	if err != nil {
		fmt.Println(err)
		return
	}
	stored, err := local.Marshal(key) // custody encrypts this with the org DEK
	if err != nil {
		fmt.Println(err)
		return
	}
	open := func(context.Context) ([]byte, error) {
		// Custody: unwrap the DEK, decrypt the blob, return a fresh copy.
		return append([]byte(nil), stored...), nil
	}
	s, err := local.New(key.Public(), open)
	if err != nil {
		fmt.Println(err)
		return
	}
	digest := sha256.Sum256([]byte("drawing A-101, revision 3"))
	sig, err := s.SignContext(context.Background(), digest[:], crypto.SHA256)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(signer.VerifySignature(s.Public(), digest[:], sig, crypto.SHA256) == nil)
	// Output: true
}
