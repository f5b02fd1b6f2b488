package envelope_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sealkeep/internal/envelope"
)

// The life of a private key blob: a keyring file holds the KEK, the org's
// DEK is stored wrapped, and the key blob is bound to its identity.
func Example() {
	dir, _ := os.MkdirTemp("", "sealkeep-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	kek, err := envelope.CreateKeyringFile(filepath.Join(dir, "kek.keyring"))
	if err != nil {
		panic(err)
	}
	dek, _ := envelope.NewDEK("acme", 1)
	wrapped, kekVersion, _ := envelope.WrapDEK(ctx, kek, dek) // stored with the org
	b := envelope.Binding{Org: "acme", Identity: "jane-doe-pe", Version: 1}
	blob, _ := dek.Seal(b, []byte("PKCS#8 DER")) // stored with the certificate version
	dek.Zero()

	// Signing: unwrap, open, sign, zero.
	dek, _ = envelope.UnwrapDEK(ctx, kek, "acme", 1, kekVersion, wrapped)
	defer dek.Zero()
	key, _ := dek.Open(b, blob)
	fmt.Println(string(key), dek)

	// The blob copied to another identity does not open.
	_, err = dek.Open(envelope.Binding{Org: "acme", Identity: "john-roe-pe", Version: 1}, blob)
	fmt.Println(errors.Is(err, envelope.ErrAuthentication))
	// Output:
	// PKCS#8 DER envelope.DEK{org: "acme", version: 1, key: [REDACTED]}
	// true
}
