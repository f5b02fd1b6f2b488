package cms

import (
	"bytes"
	"crypto/x509"
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

// issuerAndSerial reads the issuer Name (DER) and the serial number of a
// certificate that crypto/x509 cannot parse, as far as their own encoding
// goes.
func issuerAndSerial(der []byte) (issuer []byte, serial *big.Int, ok bool) {
	in := cryptobyte.String(der)
	var cert, tbs, name cryptobyte.String
	serial = new(big.Int)
	if !in.ReadASN1(&cert, asn1.SEQUENCE) || !cert.ReadASN1(&tbs, asn1.SEQUENCE) || !tbs.SkipOptionalASN1(tagExplicit0) ||
		!tbs.ReadASN1Integer(serial) || !tbs.SkipASN1(asn1.SEQUENCE) || !tbs.ReadASN1Element(&name, asn1.SEQUENCE) {
		return nil, nil, false
	}
	return name, serial, true
}
