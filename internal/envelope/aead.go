package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // 96-bit random nonce
	tagSize   = 16 // 128-bit tag

	// formatV1 is the first byte of every wrapped DEK and key blob.
	formatV1 = 0x01

	// maxNameLen caps org and identity names in additional data.
	maxNameLen = 1024
)

// newAEAD returns AES-256-GCM under key, with a 12-byte nonce and a
// 16-byte tag. It is the only AEAD this package uses.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: AES-256 key of %d bytes", ErrInvalidInput, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns header | nonce | ciphertext | tag, with a fresh random nonce.
func seal(key, header, plaintext, ad []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(header)+nonceSize, len(header)+nonceSize+len(plaintext)+tagSize)
	copy(out, header)
	nonce := out[len(header):]
	_, _ = rand.Read(nonce) // never fails (crypto/rand.Read crashes the program instead)
	return aead.Seal(out, nonce, plaintext, ad), nil
}

// open decrypts ciphertext | tag. Any failure is ErrAuthentication.
func open(key, nonce, ciphertext, ad []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, nonce, ciphertext, ad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return plaintext, nil
}

// additionalData encodes fields as 4-byte big-endian length | bytes each.
func additionalData(fields ...[]byte) []byte {
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// checkName validates an org or identity name.
func checkName(what, s string) error {
	if len(s) == 0 || len(s) > maxNameLen {
		return fmt.Errorf("%w: %s must be 1 to %d bytes, got %d", ErrInvalidInput, what, maxNameLen, len(s))
	}
	return nil
}

// randomKey returns 32 random bytes.
func randomKey() []byte {
	k := make([]byte, keySize)
	_, _ = rand.Read(k)
	return k
}
