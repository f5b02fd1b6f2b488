package envelope

import (
	"encoding/binary"
	"fmt"
)

// SecretBinding names a small secret that is not a private key, sealed
// under a DEK: what it is for (Purpose, such as "totp") and whose it is
// (Owner, such as a user ID). A sealed secret moved to another purpose,
// owner, DEK or org, or used as a key blob, fails to open.
type SecretBinding struct {
	Purpose, Owner string
}

// MaxSecretPlaintext caps the plaintext of a sealed secret.
const MaxSecretPlaintext = 1024

func (b SecretBinding) check() error {
	if err := checkName("secret purpose", b.Purpose); err != nil {
		return err
	}
	return checkName("secret owner", b.Owner)
}

// secretAD is the additional data of a sealed secret; its first field
// keeps it apart from key blobs and wrapped DEKs.
func secretAD(org string, b SecretBinding, dekVersion uint32) []byte {
	return additionalData([]byte("sealkeep/secret"), []byte{formatV1},
		[]byte(org), []byte(b.Purpose), []byte(b.Owner), be32(dekVersion))
}

// SealSecret encrypts plaintext (1 to MaxSecretPlaintext bytes) bound to
// b and to the DEK's org and version. The format is that of a key blob
// (format, DEK version, nonce, ciphertext, tag), so [BlobDEKVersion] reads
// which DEK opens it.
func (d *DEK) SealSecret(b SecretBinding, plaintext []byte) ([]byte, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || len(plaintext) > MaxSecretPlaintext {
		return nil, fmt.Errorf("%w: secret of %d bytes, want 1 to %d", ErrInvalidInput, len(plaintext), MaxSecretPlaintext)
	}
	header := binary.BigEndian.AppendUint32([]byte{formatV1}, d.version)
	return seal(d.key.Bytes(), header, plaintext, secretAD(d.org, b, d.version))
}

// OpenSecret decrypts a secret sealed by [DEK.SealSecret] with the same
// binding. Anything else fails with ErrAuthentication (or ErrMalformed when
// it does not parse).
func (d *DEK) OpenSecret(b SecretBinding, sealed []byte) ([]byte, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	v, err := BlobDEKVersion(sealed)
	if err != nil {
		return nil, err
	}
	if v != d.version {
		return nil, ErrAuthentication
	}
	body := sealed[blobHeaderSize:]
	return open(d.key.Bytes(), body[:nonceSize], body[nonceSize:], secretAD(d.org, b, d.version))
}
