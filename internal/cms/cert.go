package cms

import (
	"bytes"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ParseCertificate parses a certificate as [Parse] reads embedded ones:
// with crypto/x509, except that a certificate x509 refuses only because
// its serial number is negative (older CAs and self-signed Adobe IDs
// issued them) is read from a copy whose serial is made positive in place
// (same length, so no other field moves); the result then gets back the
// exact original bytes (Raw, RawTBSCertificate: what thumbprints and
// signature checks use) and the real serial number. warning says so when
// that was done. The process-wide GODEBUG setting is left alone.
func ParseCertificate(der []byte) (c *x509.Certificate, warning string, err error) {
	c, err = x509.ParseCertificate(der)
	if err == nil {
		return c, "", nil
	}
	at, tbs, serial, ok := negativeSerial(der)
	if !ok {
		return nil, "", err
	}
	patched := bytes.Clone(der)
	patched[at] = 0x7f
	c, perr := x509.ParseCertificate(patched)
	if perr != nil {
		return nil, "", err
	}
	c.Raw = bytes.Clone(der)
	c.RawTBSCertificate = c.Raw[tbs[0]:tbs[1]]
	c.SerialNumber = serial
	return c, "negative serial number " + serial.String() + " (RFC 5280 requires a positive one); read leniently", nil
}

// negativeSerial finds a minimally encoded negative serialNumber in a DER
// certificate: the offset of its first content octet, the span of the
// TBSCertificate element and the serial's value.
func negativeSerial(der []byte) (at int, tbs [2]int, serial *big.Int, ok bool) {
	in := cryptobyte.String(der)
	var cert, tbsElem, tbsBody, ser cryptobyte.String
	if !in.ReadASN1(&cert, asn1.SEQUENCE) || !in.Empty() || !cert.ReadASN1Element(&tbsElem, asn1.SEQUENCE) {
		return 0, tbs, nil, false
	}
	// cert now holds what follows the TBSCertificate, up to the end of der.
	tbs[0] = len(der) - len(cert) - len(tbsElem)
	tbs[1] = tbs[0] + len(tbsElem)
	if !tbsElem.ReadASN1(&tbsBody, asn1.SEQUENCE) || !tbsBody.SkipOptionalASN1(tagExplicit0) {
		return 0, tbs, nil, false
	}
	raw := tbsBody
	if !tbsBody.ReadASN1(&ser, asn1.INTEGER) || len(ser) == 0 || ser[0]&0x80 == 0 ||
		len(ser) > 1 && ser[0] == 0xff && ser[1]&0x80 != 0 {
		return 0, tbs, nil, false
	}
	serial = new(big.Int)
	if !raw.ReadASN1Integer(serial) {
		return 0, tbs, nil, false
	}
	at = tbs[1] - len(tbsBody) - len(ser)
	return at, tbs, serial, true
}

// namesSigner reports whether der, an embedded certificate that
// crypto/x509 cannot parse, is the certificate the signer identifier names,
// as far as it can be read: by issuer and serial number, or by subject key
// identifier. It reads leniently, as another verifier might: a serial
// number written with superfluous leading octets (not DER) is the number
// it means.
func (si *signerInfo) namesSigner(der []byte) bool {
	in := cryptobyte.String(der)
	var cert, tbs, serial, issuer cryptobyte.String
	if !in.ReadASN1(&cert, asn1.SEQUENCE) || !cert.ReadASN1(&tbs, asn1.SEQUENCE) || !tbs.SkipOptionalASN1(tagExplicit0) ||
		!tbs.ReadASN1(&serial, asn1.INTEGER) || len(serial) == 0 || !tbs.SkipASN1(asn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&issuer, asn1.SEQUENCE) {
		return false
	}
	if si.ski == nil {
		n := new(big.Int).SetBytes(serial)
		if serial[0]&0x80 != 0 { // two's complement
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(serial))))
		}
		return bytes.Equal(issuer, si.issuer) && n.Cmp(si.serial) == 0
	}
	for range 3 { // validity, subject, subjectPublicKeyInfo
		if !tbs.SkipASN1(asn1.SEQUENCE) {
			return false
		}
	}
	var wrapped, exts cryptobyte.String
	var hasExts bool
	if !tbs.SkipOptionalASN1(asn1.Tag(1).ContextSpecific()) || !tbs.SkipOptionalASN1(asn1.Tag(2).ContextSpecific()) ||
		!tbs.ReadOptionalASN1(&wrapped, &hasExts, asn1.Tag(3).Constructed().ContextSpecific()) || !hasExts ||
		!wrapped.ReadASN1(&exts, asn1.SEQUENCE) {
		return false
	}
	for !exts.Empty() {
		var ext, value, keyID cryptobyte.String
		var id encasn1.ObjectIdentifier
		if !exts.ReadASN1(&ext, asn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&id) ||
			!ext.SkipOptionalASN1(asn1.BOOLEAN) || !ext.ReadASN1(&value, asn1.OCTET_STRING) {
			return false
		}
		if id.Equal(oidExtSubjectKeyID) && value.ReadASN1(&keyID, asn1.OCTET_STRING) && bytes.Equal(keyID, si.ski) {
			return true
		}
	}
	return false
}
