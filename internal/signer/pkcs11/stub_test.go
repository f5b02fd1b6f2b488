//go:build !pkcs11

package pkcs11

import (
	"context"
	"errors"
	"testing"

	"sealkeep/internal/signer"
)

func TestStubSaysHowToBuild(t *testing.T) {
	if _, err := signer.Open(context.Background(), "pkcs11:object=k?module-path=/x"); !errors.Is(err, ErrNotBuilt) || !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("Open: %v, want ErrNotBuilt", err)
	}
	if _, err := signer.Create(context.Background(), "pkcs11:object=k?module-path=/x", "RSA-2048"); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Create: %v, want ErrNotBuilt", err)
	}
}
