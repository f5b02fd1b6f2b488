package cms

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// SignedData is a parsed CMS SignedData with exactly one SignerInfo. Its
// fields are what the sender wrote, unverified; call [SignedData.Verify].
type SignedData struct {
	// ContentType is the encapsulated content type: id-data for a PDF
	// signature, id-ct-TSTInfo for a timestamp token.
	ContentType encasn1.ObjectIdentifier
	// Content is the encapsulated content; nil when detached, as in every
	// PDF signature.
	Content []byte
	// Certificates are the embedded certificates that could be read, in
	// the order sent.
	Certificates []*x509.Certificate
	// Warnings says what was tolerated while reading them: a negative
	// serial number (read leniently, see [Parse]), a certificate that
	// could not be read at all and was left out.
	Warnings []string

	unreadable [][]byte // embedded certificates left out (DER)

	digestAlgs []crypto.Hash
	si         signerInfo
}

// signerInfo is the one SignerInfo of a SignedData.
type signerInfo struct {
	version        int64
	issuer         []byte   // DER Name, for an issuerAndSerialNumber sid
	serial         *big.Int // with issuer
	ski            []byte   // for a subjectKeyIdentifier sid
	digest         crypto.Hash
	signedAttrsDER []byte // the SET OF (tag 0x31) the signature covers; nil when absent
	signed         []attribute
	algID          []byte // contents of the signatureAlgorithm AlgorithmIdentifier
	alg            sigAlg
	signature      []byte
	unsigned       []attribute
}

// attribute is one Attribute with its values as DER elements.
type attribute struct {
	oid    encasn1.ObjectIdentifier
	values []cryptobyte.String
}

var (
	tagExplicit0 = asn1.Tag(0).Constructed().ContextSpecific()
	tagExplicit1 = asn1.Tag(1).Constructed().ContextSpecific()
	tagPrim0     = asn1.Tag(0).ContextSpecific()
)

// Parse parses a CMS ContentInfo holding a SignedData. BER input
// (indefinite lengths, constructed strings, non-minimal lengths) is first
// normalised to DER; after that every field is read strictly. Parse refuses
// trailing data (use [TrimPadding] on a PDF's /Contents first), SignedData
// versions other than 1, 3, 4 and 5, any number of SignerInfos other than
// one (a PDF signature has exactly one signer), digests outside the
// allow-list, and certificate choices other than X.509 certificates.
//
// Embedded certificates are read like crypto/x509 does, with two
// exceptions for what real-world signers send: a certificate with a
// negative serial number (RFC 5280 forbids it, older CAs and self-signed
// Adobe IDs issued them, and crypto/x509 refuses them unless the process
// sets GODEBUG=x509negativeserial=1) is read leniently, with its exact
// bytes and serial, and a certificate that cannot be read at all is left
// out; both are reported in [SignedData.Warnings]. Only when the signer's
// own certificate is missing does verification fail.
func Parse(ber []byte) (*SignedData, error) {
	der, err := toDER(ber)
	if err != nil {
		return nil, err
	}
	s := cryptobyte.String(der)
	var ci, wrapped, body cryptobyte.String
	var ct encasn1.ObjectIdentifier
	if !s.ReadASN1(&ci, asn1.SEQUENCE) {
		return nil, malformed("ContentInfo: not a SEQUENCE")
	}
	if !ci.ReadASN1ObjectIdentifier(&ct) {
		return nil, malformed("ContentInfo: contentType is not an OBJECT IDENTIFIER")
	}
	if !ct.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: ContentInfo: content type %v is not SignedData", ErrUnsupported, ct)
	}
	if !ci.ReadASN1(&wrapped, tagExplicit0) || !ci.Empty() {
		return nil, malformed("ContentInfo: content is not a single [0] EXPLICIT element")
	}
	if !wrapped.ReadASN1(&body, asn1.SEQUENCE) || !wrapped.Empty() {
		return nil, malformed("SignedData: not a SEQUENCE")
	}
	return parseSignedData(body)
}

func parseSignedData(s cryptobyte.String) (*SignedData, error) {
	sd := &SignedData{}
	var version int64
	if !s.ReadASN1Integer(&version) {
		return nil, malformed("SignedData: version is not an INTEGER")
	}
	switch version {
	case 1, 3, 4, 5:
	default:
		return nil, fmt.Errorf("%w: SignedData version %d (want 1, 3, 4 or 5)", ErrUnsupported, version)
	}

	var algs cryptobyte.String
	if !s.ReadASN1(&algs, asn1.SET) {
		return nil, malformed("SignedData: digestAlgorithms is not a SET")
	}
	for !algs.Empty() {
		h, err := readSignerDigestAlg(&algs, "SignedData: digestAlgorithms")
		if err != nil {
			return nil, err
		}
		if len(sd.digestAlgs) == 8 {
			return nil, fmt.Errorf("%w: more than 8 digestAlgorithms", ErrLimit)
		}
		sd.digestAlgs = append(sd.digestAlgs, h)
	}

	var eci, eContent cryptobyte.String
	var hasContent bool
	if !s.ReadASN1(&eci, asn1.SEQUENCE) {
		return nil, malformed("SignedData: encapContentInfo is not a SEQUENCE")
	}
	if !eci.ReadASN1ObjectIdentifier(&sd.ContentType) {
		return nil, malformed("encapContentInfo: eContentType is not an OBJECT IDENTIFIER")
	}
	if !eci.ReadOptionalASN1(&eContent, &hasContent, tagExplicit0) || !eci.Empty() {
		return nil, malformed("encapContentInfo: eContent is not [0] EXPLICIT")
	}
	if hasContent {
		var octets cryptobyte.String
		if !eContent.ReadASN1(&octets, asn1.OCTET_STRING) || !eContent.Empty() {
			return nil, malformed("encapContentInfo: eContent is not an OCTET STRING")
		}
		sd.Content = []byte(octets)
	}

	var certs cryptobyte.String
	var hasCerts bool
	if !s.ReadOptionalASN1(&certs, &hasCerts, tagExplicit0) {
		return nil, malformed("SignedData: certificates is not [0] IMPLICIT SET OF")
	}
	for i := 0; !certs.Empty(); i++ {
		var raw cryptobyte.String
		if !certs.PeekASN1Tag(asn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: certificates[%d] is not an X.509 certificate (attribute and other certificate choices are refused)", ErrUnsupported, i)
		}
		if !certs.ReadASN1Element(&raw, asn1.SEQUENCE) {
			return nil, malformed("certificates[%d]: bad encoding", i)
		}
		if i == MaxCertificates {
			return nil, fmt.Errorf("%w: more than %d certificates", ErrLimit, MaxCertificates)
		}
		c, warning, err := ParseCertificate(raw)
		switch {
		case err != nil:
			// Not necessarily the signer's: a CMS carries whatever chain
			// its signer had. signerCert and chain building say so if it
			// was needed.
			sd.Warnings = append(sd.Warnings, fmt.Sprintf("embedded certificate %d could not be read and was left out: %v", i+1, err))
			sd.unreadable = append(sd.unreadable, raw)
			continue
		case warning != "":
			sd.Warnings = append(sd.Warnings, fmt.Sprintf("embedded certificate %d (%s): %s", i+1, c.Subject, warning))
		}
		sd.Certificates = append(sd.Certificates, c)
	}

	// crls [1] IMPLICIT RevocationInfoChoices: revocation data belongs in
	// the PDF's DSS; its shape was bounded by the normaliser and it is not
	// used.
	if !s.SkipOptionalASN1(tagExplicit1) {
		return nil, malformed("SignedData: crls is not [1] IMPLICIT SET OF")
	}

	var infos, info cryptobyte.String
	if !s.ReadASN1(&infos, asn1.SET) || !s.Empty() {
		return nil, malformed("SignedData: signerInfos is not the last field, a SET")
	}
	n := 0
	for rest := infos; !rest.Empty(); n++ {
		if !rest.SkipASN1(asn1.SEQUENCE) {
			return nil, malformed("signerInfos[%d]: not a SEQUENCE", n)
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: %d SignerInfos (a PDF signature or timestamp token has exactly one)", ErrUnsupported, n)
	}
	infos.ReadASN1(&info, asn1.SEQUENCE)
	si, err := parseSignerInfo(info)
	if err != nil {
		return nil, err
	}
	if !containsHash(sd.digestAlgs, si.digest) {
		return nil, malformed("SignedData: digestAlgorithms does not list the signer's digest %v", si.digest)
	}
	sd.si = *si
	return sd, nil
}

func containsHash(hs []crypto.Hash, h crypto.Hash) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

func parseSignerInfo(s cryptobyte.String) (*signerInfo, error) {
	si := &signerInfo{}
	if !s.ReadASN1Integer(&si.version) {
		return nil, malformed("SignerInfo: version is not an INTEGER")
	}
	switch {
	case s.PeekASN1Tag(asn1.SEQUENCE):
		var ias cryptobyte.String
		var issuer cryptobyte.String
		si.serial = new(big.Int)
		if !s.ReadASN1(&ias, asn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, asn1.SEQUENCE) ||
			!ias.ReadASN1Integer(si.serial) || !ias.Empty() {
			return nil, malformed("SignerInfo: bad issuerAndSerialNumber")
		}
		si.issuer = issuer
		if si.version != 1 {
			return nil, malformed("SignerInfo: version %d with issuerAndSerialNumber (want 1)", si.version)
		}
	case s.PeekASN1Tag(tagPrim0):
		var ski cryptobyte.String
		if !s.ReadASN1(&ski, tagPrim0) || len(ski) == 0 {
			return nil, malformed("SignerInfo: bad subjectKeyIdentifier")
		}
		si.ski = ski
		if si.version != 3 {
			return nil, malformed("SignerInfo: version %d with subjectKeyIdentifier (want 3)", si.version)
		}
	default:
		return nil, malformed("SignerInfo: sid is neither issuerAndSerialNumber nor subjectKeyIdentifier")
	}

	var err error
	if si.digest, err = readSignerDigestAlg(&s, "SignerInfo: digestAlgorithm"); err != nil {
		return nil, err
	}

	if s.PeekASN1Tag(tagExplicit0) {
		var elem cryptobyte.String
		s.ReadASN1Element(&elem, tagExplicit0)
		// The signature covers the DER encoding with the SET OF tag
		// (RFC 5652 section 5.4), not the [0] IMPLICIT tag.
		si.signedAttrsDER = append([]byte{0x31}, elem[1:]...)
		var body cryptobyte.String
		whole := cryptobyte.String(si.signedAttrsDER)
		whole.ReadASN1(&body, asn1.SET)
		if si.signed, err = parseAttributes(body, "signedAttrs", true); err != nil {
			return nil, err
		}
	}

	var algID cryptobyte.String
	if !s.ReadASN1(&algID, asn1.SEQUENCE) {
		return nil, malformed("SignerInfo: signatureAlgorithm is not a SEQUENCE")
	}
	si.algID = algID
	if si.alg, err = parseSignatureAlgorithm(algID, si.digest); err != nil {
		return nil, err
	}
	var sig cryptobyte.String
	if !s.ReadASN1(&sig, asn1.OCTET_STRING) || len(sig) == 0 {
		return nil, malformed("SignerInfo: signature is not a non-empty OCTET STRING")
	}
	si.signature = sig
	if s.PeekASN1Tag(tagExplicit1) {
		var body cryptobyte.String
		s.ReadASN1(&body, tagExplicit1)
		if si.unsigned, err = parseAttributes(body, "unsignedAttrs", false); err != nil {
			return nil, err
		}
	}
	if !s.Empty() {
		return nil, malformed("SignerInfo: unexpected data after the last field")
	}
	return si, nil
}

// parseAttributes reads the contents of a SET OF Attribute. Signed
// attributes must not repeat a type (RFC 5652 section 11 requires it of the
// ones we check; we require it of all, so no verifier can be shown a
// different value than ours).
func parseAttributes(s cryptobyte.String, where string, unique bool) ([]attribute, error) {
	var out []attribute
	if s.Empty() {
		return nil, malformed("%s: empty SET", where)
	}
	for !s.Empty() {
		if len(out) == MaxAttributes {
			return nil, fmt.Errorf("%w: %s: more than %d attributes", ErrLimit, where, MaxAttributes)
		}
		var attr, values cryptobyte.String
		var a attribute
		if !s.ReadASN1(&attr, asn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&a.oid) ||
			!attr.ReadASN1(&values, asn1.SET) || !attr.Empty() {
			return nil, malformed("%s[%d]: not an Attribute", where, len(out))
		}
		for !values.Empty() {
			var v cryptobyte.String
			var tag asn1.Tag
			if !values.ReadAnyASN1Element(&v, &tag) {
				return nil, malformed("%s: attribute %v: bad value encoding", where, a.oid)
			}
			a.values = append(a.values, v)
		}
		if len(a.values) == 0 {
			return nil, malformed("%s: attribute %v has no value", where, a.oid)
		}
		if unique {
			for _, o := range out {
				if o.oid.Equal(a.oid) {
					return nil, malformed("%s: attribute %v appears twice", where, a.oid)
				}
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// find returns the attribute of type oid, or nil.
func find(attrs []attribute, oid encasn1.ObjectIdentifier) *attribute {
	for i := range attrs {
		if attrs[i].oid.Equal(oid) {
			return &attrs[i]
		}
	}
	return nil
}

// single returns the one value of an attribute that must have exactly one.
func (a *attribute) single() (cryptobyte.String, error) {
	if len(a.values) != 1 {
		return nil, malformed("attribute %v has %d values (want 1)", a.oid, len(a.values))
	}
	return a.values[0], nil
}

// readDigestAlg reads a digest AlgorithmIdentifier of the allow-list whose
// parameters are absent or NULL (RFC 5754 section 2 requires accepting
// both).
func readDigestAlg(s *cryptobyte.String, where string) (crypto.Hash, error) {
	return readDigest(s, where, false)
}

// readSignerDigestAlg is readDigestAlg for the digest of a SignerInfo
// being verified, which may also be one of weakHashAlgs (reported by
// [Result.WeakAlgorithm]).
func readSignerDigestAlg(s *cryptobyte.String, where string) (crypto.Hash, error) {
	return readDigest(s, where, true)
}

func readDigest(s *cryptobyte.String, where string, weak bool) (crypto.Hash, error) {
	oid, params, err := readAlgID(s, where)
	if err != nil {
		return 0, err
	}
	if !nullOrAbsent(params) {
		return 0, malformed("%s: digest parameters must be absent or NULL", where)
	}
	h, ok := hashByOID(oid, weak)
	if !ok {
		name := oid.String()
		if oid.Equal(oidSHA1) {
			name = "SHA-1"
		}
		return 0, fmt.Errorf("%w: %s: digest %s (want SHA-256, SHA-384 or SHA-512)", ErrUnsupportedAlgorithm, where, name)
	}
	return h, nil
}

// readAlgID reads an AlgorithmIdentifier and returns its OID and the raw
// parameters (nil when absent).
func readAlgID(s *cryptobyte.String, where string) (encasn1.ObjectIdentifier, cryptobyte.String, error) {
	var seq cryptobyte.String
	var oid encasn1.ObjectIdentifier
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, malformed("%s: not an AlgorithmIdentifier", where)
	}
	if seq.Empty() {
		return oid, nil, nil
	}
	var params cryptobyte.String
	var tag asn1.Tag
	if !seq.ReadAnyASN1Element(&params, &tag) || !seq.Empty() {
		return nil, nil, malformed("%s: bad AlgorithmIdentifier parameters", where)
	}
	return oid, params, nil
}

func nullOrAbsent(params cryptobyte.String) bool {
	return params == nil || len(params) == 2 && params[0] == 0x05 && params[1] == 0
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
