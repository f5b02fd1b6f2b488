package envelope

import (
	"context"
	"fmt"
)

// KEK wraps and unwraps org data keys. Versions: one active version wraps;
// older ones only unwrap until retired.
type KEK interface {
	// ActiveVersion returns the version that wraps.
	ActiveVersion() uint32
	// Versions returns, in increasing order, the versions that can unwrap:
	// the active version and older versions not yet retired.
	Versions() []uint32
	// Wrap encrypts dek under KEK version v, bound to org (and v, and the
	// DEK version) so that a wrapped DEK moved to another org or version
	// fails to unwrap.
	Wrap(ctx context.Context, v uint32, b DEKBinding, dek []byte) ([]byte, error)
	// Unwrap decrypts a wrapped DEK under KEK version v only; it never
	// tries another version.
	Unwrap(ctx context.Context, v uint32, b DEKBinding, wrapped []byte) ([]byte, error)
}

// DEKBinding names the DEK that a wrap protects.
type DEKBinding struct {
	Org        string
	DEKVersion uint32
}

// KEKRotator is implemented by keyrings that can add and retire versions.
type KEKRotator interface {
	// AddVersion adds a new random version and makes it active.
	AddVersion(ctx context.Context) (uint32, error)
	// Retire erases version v; it must not be the active version.
	Retire(ctx context.Context, v uint32) error
}

// wrappedDEKSize is the size of a wrapped DEK: format | nonce | DEK | tag.
const wrappedDEKSize = 1 + nonceSize + keySize + tagSize

func (b DEKBinding) check() error {
	if err := checkName("org", b.Org); err != nil {
		return err
	}
	if b.DEKVersion == 0 {
		return fmt.Errorf("%w: DEK version 0", ErrInvalidInput)
	}
	return nil
}

// dekAD is the additional data of a wrapped DEK.
func dekAD(b DEKBinding, kekVersion uint32) []byte {
	return additionalData([]byte("sealkeep/dek"), []byte{formatV1}, []byte(b.Org), be32(b.DEKVersion), be32(kekVersion))
}

// wrapDEK wraps dek under kekKey, the key of KEK version kekVersion.
func wrapDEK(kekKey []byte, kekVersion uint32, b DEKBinding, dek []byte) ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if len(dek) != keySize {
		return nil, fmt.Errorf("%w: DEK of %d bytes, want %d", ErrInvalidInput, len(dek), keySize)
	}
	return seal(kekKey, []byte{formatV1}, dek, dekAD(b, kekVersion))
}

// unwrapDEK reverses wrapDEK.
func unwrapDEK(kekKey []byte, kekVersion uint32, b DEKBinding, wrapped []byte) ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if len(wrapped) != wrappedDEKSize {
		return nil, fmt.Errorf("%w: wrapped DEK of %d bytes, want %d", ErrMalformed, len(wrapped), wrappedDEKSize)
	}
	if wrapped[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown wrapped DEK format %d", ErrMalformed, wrapped[0])
	}
	return open(kekKey, wrapped[1:1+nonceSize], wrapped[1+nonceSize:], dekAD(b, kekVersion))
}
