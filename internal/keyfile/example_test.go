package keyfile_test

import (
	"fmt"
	"os"
	"time"

	"sealkeep/internal/keyfile"
)

// Import the demo identity: read the PKCS #12 file, get the passphrase from
// its file (never a flag), then apply the key policy.
func ExampleParse() {
	data, err := os.ReadFile("../../testdata/demo/demo-signer.p12")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := keyfile.Parse(data, func() ([]byte, error) {
		return keyfile.ReadPassphrase("../../testdata/demo/demo-passphrase.txt", "SEALKEEP_PASSPHRASE", "Passphrase: ", os.Stdin, os.Stderr)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Validate(time.Now()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Leaf.Subject.CommonName)
	fmt.Println(b.Chain[0].Subject.CommonName)
	// Output:
	// Jane Doe, P.E. 12345, Texas
	// sealkeep Demo Root CA
}
