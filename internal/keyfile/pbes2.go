package keyfile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/asn1"
	"fmt"
	"hash"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}

	prfs = map[string]func() hash.Hash{
		"1.2.840.113549.2.7":  sha1.New, // hmacWithSHA1 (the default)
		"1.2.840.113549.2.8":  sha256.New224,
		"1.2.840.113549.2.9":  sha256.New,
		"1.2.840.113549.2.10": sha512.New384,
		"1.2.840.113549.2.11": sha512.New,
	}
	aesKeySizes = map[string]int{
		"2.16.840.1.101.3.4.1.2":  16, // aes128-CBC
		"2.16.840.1.101.3.4.1.22": 24, // aes192-CBC
		"2.16.840.1.101.3.4.1.42": 32, // aes256-CBC
	}
)

// pbes2Params is what an EncryptedPrivateKeyInfo tells us before any
// passphrase is needed.
type pbes2Params struct {
	salt       []byte
	iterations int
	prf        func() hash.Hash
	keyLen     int
	iv         []byte
	ciphertext []byte
}

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo (RFC 5958) protected
// with PBES2 (RFC 8018): PBKDF2 and AES-CBC. It parses everything before it
// asks for the passphrase.
func decryptPKCS8(der []byte, pp *onceSource) ([]byte, error) {
	p, err := parsePBES2(der)
	if err != nil {
		return nil, err
	}
	pass, err := pp.passphrase()
	if err != nil {
		return nil, err
	}
	key, err := pbkdf2.Key(p.prf, string(pass), p.salt, p.iterations, p.keyLen)
	if err != nil {
		return nil, fmt.Errorf("%w: key derivation: %v", ErrMalformed, err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	plain := make([]byte, len(p.ciphertext))
	cipher.NewCBCDecrypter(block, p.iv).CryptBlocks(plain, p.ciphertext)
	n, ok := unpad(plain)
	if !ok {
		clear(plain)
		return nil, fmt.Errorf("%w for the encrypted private key", ErrWrongPassphrase)
	}
	return plain[:n], nil
}

// unpad checks PKCS #7 padding and returns the unpadded length.
func unpad(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	pad := int(b[len(b)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(b) {
		return 0, false
	}
	want := make([]byte, pad)
	for i := range want {
		want[i] = byte(pad)
	}
	if subtle.ConstantTimeCompare(b[len(b)-pad:], want) != 1 {
		return 0, false
	}
	return len(b) - pad, true
}

func parsePBES2(der []byte) (*pbes2Params, error) {
	malformed := fmt.Errorf("%w: the encrypted private key is not a well-formed PKCS #8 EncryptedPrivateKeyInfo", ErrMalformed)
	in := cryptobyte.String(der)
	var epki, alg, params, ct cryptobyte.String
	var algOID asn1.ObjectIdentifier
	if !in.ReadASN1(&epki, cbasn1.SEQUENCE) || !in.Empty() ||
		!epki.ReadASN1(&alg, cbasn1.SEQUENCE) || !epki.ReadASN1(&ct, cbasn1.OCTET_STRING) || !epki.Empty() ||
		!alg.ReadASN1ObjectIdentifier(&algOID) {
		return nil, malformed
	}
	if !algOID.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: the private key is encrypted with %s (PBES1 or another pre-PBES2 scheme); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`", ErrLegacyEncryption, algOID)
	}
	var kdf, enc, kdfParams cryptobyte.String
	var kdfOID, encOID asn1.ObjectIdentifier
	if !alg.ReadASN1(&params, cbasn1.SEQUENCE) || !alg.Empty() ||
		!params.ReadASN1(&kdf, cbasn1.SEQUENCE) || !params.ReadASN1(&enc, cbasn1.SEQUENCE) || !params.Empty() ||
		!kdf.ReadASN1ObjectIdentifier(&kdfOID) || !enc.ReadASN1ObjectIdentifier(&encOID) {
		return nil, malformed
	}
	if kdfOID.Equal(oidScrypt) {
		return nil, fmt.Errorf("%w: scrypt-protected keys are not supported; re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`", ErrMalformed)
	}
	if !kdfOID.Equal(oidPBKDF2) || !kdf.ReadASN1(&kdfParams, cbasn1.SEQUENCE) || !kdf.Empty() {
		return nil, fmt.Errorf("%w: unsupported key derivation %s (want PBKDF2)", ErrMalformed, kdfOID)
	}
	p := &pbes2Params{prf: sha1.New, ciphertext: ct}
	var salt cryptobyte.String
	var iter int64
	if !kdfParams.ReadASN1(&salt, cbasn1.OCTET_STRING) || !kdfParams.ReadASN1Int64WithTag(&iter, cbasn1.INTEGER) {
		return nil, malformed
	}
	p.salt = salt
	if iter < 1 || iter > MaxIterations {
		return nil, fmt.Errorf("%w: PBKDF2 iteration count %d is outside 1..%d", ErrMalformed, iter, MaxIterations)
	}
	p.iterations = int(iter)
	var keyLen int64
	var hasKeyLen bool
	if kdfParams.PeekASN1Tag(cbasn1.INTEGER) {
		if !kdfParams.ReadASN1Int64WithTag(&keyLen, cbasn1.INTEGER) {
			return nil, malformed
		}
		hasKeyLen = true
	}
	if !kdfParams.Empty() {
		var prf cryptobyte.String
		var prfOID asn1.ObjectIdentifier
		if !kdfParams.ReadASN1(&prf, cbasn1.SEQUENCE) || !kdfParams.Empty() || !prf.ReadASN1ObjectIdentifier(&prfOID) {
			return nil, malformed
		}
		h, ok := prfs[prfOID.String()]
		if !ok {
			return nil, fmt.Errorf("%w: unsupported PBKDF2 PRF %s", ErrMalformed, prfOID)
		}
		p.prf = h
	}
	size, ok := aesKeySizes[encOID.String()]
	if !ok {
		return nil, fmt.Errorf("%w: the private key is encrypted with %s, not AES-CBC (DES and 3DES are refused); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`", ErrLegacyEncryption, encOID)
	}
	if hasKeyLen && keyLen != int64(size) {
		return nil, malformed
	}
	p.keyLen = size
	var iv cryptobyte.String
	if !enc.ReadASN1(&iv, cbasn1.OCTET_STRING) || !enc.Empty() || len(iv) != aes.BlockSize {
		return nil, malformed
	}
	p.iv = iv
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, malformed
	}
	return p, nil
}

// checkPKCS12Iterations walks the unencrypted DER structure of a PKCS #12
// file and refuses it if any iteration count (in the MAC data or in
// password-based encryption parameters: an OCTET STRING salt followed by an
// INTEGER) exceeds MaxIterations, so that a hostile file cannot make the
// key derivation run for minutes. Parts that are themselves encrypted are
// reached only after the MAC, or their own bounded decryption, succeeds.
func checkPKCS12Iterations(der []byte, limit uint64) error {
	var walk func(s cryptobyte.String, depth int) error
	walk = func(s cryptobyte.String, depth int) error {
		if depth > 32 {
			return fmt.Errorf("%w: the PKCS #12 file nests too deeply", ErrMalformed)
		}
		afterSalt := false
		for !s.Empty() {
			var elem cryptobyte.String
			var tag cbasn1.Tag
			if !s.ReadAnyASN1(&elem, &tag) {
				return nil // not DER: leave the verdict to the decoder
			}
			switch {
			case tag == cbasn1.INTEGER && afterSalt:
				if tooManyIterations(elem, limit) {
					return fmt.Errorf("%w: the PKCS #12 file asks for more than %d key-derivation iterations", ErrMalformed, limit)
				}
			case tag&0x20 != 0: // constructed
				if err := walk(elem, depth+1); err != nil {
					return err
				}
			case tag == cbasn1.OCTET_STRING:
				if err := walk(elem, depth+1); err != nil {
					return err
				}
			}
			afterSalt = tag == cbasn1.OCTET_STRING
		}
		return nil
	}
	return walk(cryptobyte.String(der), 0)
}

// tooManyIterations reports whether the INTEGER content bytes b encode a
// count above limit. Negative numbers are left to the decoder.
func tooManyIterations(b []byte, limit uint64) bool {
	if len(b) == 0 || b[0]&0x80 != 0 {
		return false
	}
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 8 {
		return true
	}
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n > limit
}
