package keypolicy

import (
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidDSA         = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidRSAPSS      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidEd448       = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidSM2         = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}

	curveNames = map[string]string{
		"1.2.840.10045.3.1.1":   "P-192",
		"1.3.132.0.33":          "P-224",
		"1.2.840.10045.3.1.7":   "P-256",
		"1.3.132.0.34":          "P-384",
		"1.3.132.0.35":          "P-521",
		"1.3.132.0.10":          "secp256k1",
		"1.3.36.3.3.2.8.1.1.7":  "brainpoolP256r1",
		"1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
		"1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
	}
)

// ExplainUnparsable looks inside der, a certificate, SubjectPublicKeyInfo,
// PKCS#8 or SEC1 key that crypto/x509 refused to parse, and returns a
// policy error when the reason is a key the policy refuses anyway: an EC key
// on a curve Go does not implement (secp256k1, brainpool), explicit curve
// parameters, DSA, Ed448, or RSASSA-PSS-only keys. It returns nil when it
// finds no such reason; the caller then reports its parse error.
func ExplainUnparsable(der []byte) error {
	for _, find := range []func([]byte) (cryptobyte.String, bool){algFromCertificate, algFromSPKI, algFromPKCS8} {
		if alg, ok := find(der); ok {
			return explainAlgorithm(alg)
		}
	}
	if params, ok := paramsFromSEC1(der); ok {
		return explainCurve(params)
	}
	return nil
}

// explainAlgorithm reads an AlgorithmIdentifier.
func explainAlgorithm(alg cryptobyte.String) error {
	var oid asn1.ObjectIdentifier
	if !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil
	}
	switch {
	case oid.Equal(oidECPublicKey):
		return explainCurve(alg)
	case oid.Equal(oidDSA):
		return fmt.Errorf("%w: DSA keys are not allowed; %s", ErrUnsupportedAlgorithm, allowed())
	case oid.Equal(oidEd448):
		return fmt.Errorf("%w: Ed448 keys cannot seal PDFs; %s", ErrUnsupportedAlgorithm, allowed())
	case oid.Equal(oidRSAPSS):
		return fmt.Errorf("%w: RSASSA-PSS-restricted keys (OID 1.2.840.113549.1.1.10) are not supported; use a plain rsaEncryption key; %s", ErrUnsupportedAlgorithm, allowed())
	case oid.Equal(oidSM2):
		return fmt.Errorf("%w: SM2 keys are not allowed; %s", ErrUnsupportedAlgorithm, allowed())
	}
	return nil
}

// explainCurve reads EC domain parameters: a named curve OID or explicit
// parameters.
func explainCurve(params cryptobyte.String) error {
	if params.PeekASN1Tag(cbasn1.SEQUENCE) {
		return fmt.Errorf("%w: the EC key uses explicit curve parameters instead of a named curve; re-encode it with a named curve (P-256 or P-384); %s", ErrWeakKey, allowed())
	}
	var curve asn1.ObjectIdentifier
	if !params.ReadASN1ObjectIdentifier(&curve) {
		return nil
	}
	name, ok := curveNames[curve.String()]
	if !ok {
		name = "with OID " + curve.String()
	}
	if name == "P-256" || name == "P-384" {
		return nil // allowed: the parse failed for another reason
	}
	return fmt.Errorf("%w: EC curve %s is not allowed; %s", ErrWeakKey, name, allowed())
}

func algFromSPKI(der []byte) (cryptobyte.String, bool) {
	in := cryptobyte.String(der)
	var spki, alg cryptobyte.String
	if !in.ReadASN1(&spki, cbasn1.SEQUENCE) || !spki.ReadASN1(&alg, cbasn1.SEQUENCE) || !spki.PeekASN1Tag(cbasn1.BIT_STRING) {
		return nil, false
	}
	return alg, true
}

func algFromCertificate(der []byte) (cryptobyte.String, bool) {
	in := cryptobyte.String(der)
	var cert, tbs, spki cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, false
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.INTEGER) || // serial
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // signature algorithm
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // issuer
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // validity
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // subject
		!tbs.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
		return nil, false
	}
	return algFromSPKI(spki)
}

func algFromPKCS8(der []byte) (cryptobyte.String, bool) {
	in := cryptobyte.String(der)
	var p8, alg cryptobyte.String
	if !in.ReadASN1(&p8, cbasn1.SEQUENCE) || !p8.SkipASN1(cbasn1.INTEGER) ||
		!p8.ReadASN1(&alg, cbasn1.SEQUENCE) || !p8.PeekASN1Tag(cbasn1.OCTET_STRING) {
		return nil, false
	}
	return alg, true
}

func paramsFromSEC1(der []byte) (cryptobyte.String, bool) {
	in := cryptobyte.String(der)
	var ec, params cryptobyte.String
	var present bool
	if !in.ReadASN1(&ec, cbasn1.SEQUENCE) || !ec.SkipASN1(cbasn1.INTEGER) || !ec.SkipASN1(cbasn1.OCTET_STRING) ||
		!ec.ReadOptionalASN1(&params, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) || !present {
		return nil, false
	}
	return params, true
}
