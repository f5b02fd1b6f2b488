//go:build !pkcs11

package pkcs11

import (
	"context"
	"crypto"
	"fmt"

	"sealkeep/internal/errs"
	"sealkeep/internal/signer"
)

// ErrNotBuilt is returned by every use of the provider in a build without the
// pkcs11 tag.
var ErrNotBuilt = errs.New(errs.Invalid, "sealkeep was built without PKCS#11 support (build with -tags pkcs11)")

func init() {
	signer.Register(Scheme, func(context.Context, *signer.URI) (crypto.Signer, error) {
		return nil, fmt.Errorf("%w: %w", signer.ErrUnsupported, ErrNotBuilt)
	})
	signer.RegisterCreator(Scheme, stubCreator{})
}

type stubCreator struct{}

// CreateKey always fails: this build has no PKCS#11 support.
func (stubCreator) CreateKey(context.Context, *signer.URI, string) (crypto.Signer, error) {
	return nil, fmt.Errorf("%w: %w", signer.ErrUnsupported, ErrNotBuilt)
}
