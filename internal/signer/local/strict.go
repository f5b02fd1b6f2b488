package local

import (
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}

// strictPKCS8 reports whether b is exactly the PKCS #8 encoding Marshal
// writes, in the places crypto/x509 is lenient: nothing after the
// structure, version 0, no attributes, and for RSA a NULL parameter and a
// PKCS #1 key with all nine integers (version 0, n, e, d, p, q, dP, dQ,
// qInv) and nothing else. crypto/x509 accepts trailing data and keys
// without CRT values, and re-derives what is missing; a stored key that
// differs from what was stored is corrupt even if it still works.
func strictPKCS8(b []byte) bool {
	in := cryptobyte.String(b)
	var p8, alg, key cryptobyte.String
	var version int
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&p8, cbasn1.SEQUENCE) || !in.Empty() ||
		!p8.ReadASN1Integer(&version) || version != 0 ||
		!p8.ReadASN1(&alg, cbasn1.SEQUENCE) || !p8.ReadASN1(&key, cbasn1.OCTET_STRING) || !p8.Empty() ||
		!alg.ReadASN1ObjectIdentifier(&oid) {
		return false
	}
	if !oid.Equal(oidRSAEncryption) {
		return true // ECDSA and ML-DSA: crypto/x509 derives and checks the public key
	}
	var null, rsaKey cryptobyte.String
	if !alg.ReadASN1(&null, cbasn1.NULL) || len(null) != 0 || !alg.Empty() ||
		!key.ReadASN1(&rsaKey, cbasn1.SEQUENCE) || !key.Empty() {
		return false
	}
	var v int
	if !rsaKey.ReadASN1Integer(&v) || v != 0 {
		return false
	}
	for range 8 {
		if !rsaKey.SkipASN1(cbasn1.INTEGER) {
			return false
		}
	}
	return rsaKey.Empty()
}
