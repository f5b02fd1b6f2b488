package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/mldsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

type sigScheme int

const (
	schemePKCS1 sigScheme = iota + 1
	schemePSS
	schemeECDSA
	schemeMLDSA
)

// sigAlg is a parsed, allow-listed signature algorithm.
type sigAlg struct {
	scheme  sigScheme
	hash    crypto.Hash
	saltLen int              // PSS only
	mldsa   mldsa.Parameters // ML-DSA only
}

func (a sigAlg) String() string {
	name := map[crypto.Hash]string{crypto.SHA256: "SHA256", crypto.SHA384: "SHA384", crypto.SHA512: "SHA512",
		crypto.SHA1: "SHA1", crypto.MD5: "MD5"}[a.hash]
	switch a.scheme {
	case schemePKCS1:
		return "RSA-PKCS1v15-" + name
	case schemePSS:
		return "RSASSA-PSS-" + name
	case schemeMLDSA:
		return a.mldsa.String()
	}
	return "ECDSA-" + name
}

// parseSignatureAlgorithm reads a SignerInfo's signatureAlgorithm (the
// contents of its AlgorithmIdentifier SEQUENCE). The hash it implies must
// be the SignerInfo's digestAlgorithm.
func parseSignatureAlgorithm(s cryptobyte.String, digest crypto.Hash) (sigAlg, error) {
	var oid encasn1.ObjectIdentifier
	if !s.ReadASN1ObjectIdentifier(&oid) {
		return sigAlg{}, malformed("signatureAlgorithm: algorithm is not an OBJECT IDENTIFIER")
	}
	var params cryptobyte.String
	if !s.Empty() {
		var tag asn1.Tag
		if !s.ReadAnyASN1Element(&params, &tag) || !s.Empty() {
			return sigAlg{}, malformed("signatureAlgorithm: bad parameters")
		}
	}
	a := sigAlg{hash: digest}
	switch {
	case oid.Equal(oidRSAEncryption):
		a.scheme = schemePKCS1
	case oid.Equal(oidECPublicKey):
		// Not a signature algorithm, but written by some PDF signers with
		// the digest named by digestAlgorithm; accepted like rsaEncryption.
		a.scheme = schemeECDSA
	case oid.Equal(oidRSAPSS):
		return parsePSSParams(params, digest)
	default:
		for _, m := range mldsaAlgs {
			if oid.Equal(m.oid) {
				if params != nil {
					return sigAlg{}, malformed("signatureAlgorithm: ML-DSA parameters must be absent")
				}
				return sigAlg{scheme: schemeMLDSA, hash: digest, mldsa: m.params()}, nil
			}
		}
		for _, h := range append(hashAlgs[:len(hashAlgs):len(hashAlgs)], weakHashAlgs...) {
			if oid.Equal(h.rsaOID) {
				a.scheme = schemePKCS1
				a.hash = h.hash
			} else if oid.Equal(h.ecdsaID) {
				a.scheme = schemeECDSA
				a.hash = h.hash
			}
		}
		if a.scheme == 0 {
			return sigAlg{}, fmt.Errorf("%w: signature algorithm %v", ErrUnsupportedAlgorithm, oid)
		}
		if a.hash != digest {
			return sigAlg{}, malformed("signatureAlgorithm hash %v differs from digestAlgorithm %v", a.hash, digest)
		}
	}
	if a.scheme == schemeECDSA && params != nil {
		return sigAlg{}, malformed("signatureAlgorithm: ECDSA parameters must be absent")
	}
	if a.scheme == schemePKCS1 && !nullOrAbsent(params) {
		return sigAlg{}, malformed("signatureAlgorithm: RSA parameters must be NULL or absent")
	}
	return a, nil
}

// parsePSSParams reads RSASSA-PSS-params (RFC 4055 section 3.1). The
// defaults (SHA-1, MGF1-SHA-1) are read like an explicit SHA-1, as a weak
// digest that [Result.WeakAlgorithm] reports; MGF1 must use the message
// hash and trailerField must be 1.
func parsePSSParams(params cryptobyte.String, digest crypto.Hash) (sigAlg, error) {
	var seq cryptobyte.String
	if !params.ReadASN1(&seq, asn1.SEQUENCE) || !params.Empty() {
		return sigAlg{}, malformed("RSASSA-PSS: parameters are not a SEQUENCE")
	}
	var hashField, mgfField cryptobyte.String
	var hasHash, hasMGF bool
	salt, trailer := int64(20), int64(1)
	if !seq.ReadOptionalASN1(&hashField, &hasHash, asn1.Tag(0).Constructed().ContextSpecific()) ||
		!seq.ReadOptionalASN1(&mgfField, &hasMGF, asn1.Tag(1).Constructed().ContextSpecific()) ||
		!seq.ReadOptionalASN1Integer(&salt, asn1.Tag(2).Constructed().ContextSpecific(), int64(20)) ||
		!seq.ReadOptionalASN1Integer(&trailer, asn1.Tag(3).Constructed().ContextSpecific(), int64(1)) ||
		!seq.Empty() {
		return sigAlg{}, malformed("RSASSA-PSS: bad parameters")
	}
	h, mh := crypto.SHA1, crypto.SHA1
	var mgfParams cryptobyte.String
	var err error
	if hasHash {
		if h, err = readSignerDigestAlg(&hashField, "RSASSA-PSS hashAlgorithm"); err != nil {
			return sigAlg{}, err
		}
	}
	if hasMGF {
		var mgfOID encasn1.ObjectIdentifier
		if mgfOID, mgfParams, err = readAlgID(&mgfField, "RSASSA-PSS maskGenAlgorithm"); err != nil {
			return sigAlg{}, err
		}
		if !mgfOID.Equal(oidMGF1) {
			return sigAlg{}, fmt.Errorf("%w: RSASSA-PSS mask generation function %v", ErrUnsupportedAlgorithm, mgfOID)
		}
		if mh, err = readSignerDigestAlg(&mgfParams, "RSASSA-PSS MGF1 hash"); err != nil {
			return sigAlg{}, err
		}
	}
	switch {
	case !hashField.Empty() || !mgfParams.Empty():
		return sigAlg{}, malformed("RSASSA-PSS: trailing data in parameters")
	case mh != h:
		return sigAlg{}, fmt.Errorf("%w: RSASSA-PSS MGF1 hash %v differs from the message hash %v", ErrUnsupportedAlgorithm, mh, h)
	case h != digest:
		return sigAlg{}, malformed("RSASSA-PSS hash %v differs from digestAlgorithm %v", h, digest)
	case trailer != 1:
		return sigAlg{}, malformed("RSASSA-PSS trailerField %d (want 1)", trailer)
	case salt < 0 || salt > 1024:
		return sigAlg{}, malformed("RSASSA-PSS saltLength %d", salt)
	}
	return sigAlg{scheme: schemePSS, hash: h, saltLen: int(salt)}, nil
}

// verify checks sig with pub: over msg for ML-DSA (which hashes the
// message itself), over its digest sum for RSA and ECDSA.
func (a sigAlg) verify(pub crypto.PublicKey, msg, sum, sig []byte) error {
	switch k := pub.(type) {
	case *mldsa.PublicKey:
		if a.scheme == schemeMLDSA && k.Parameters() == a.mldsa {
			if msg == nil {
				return fmt.Errorf("%w: ML-DSA without signed attributes", ErrUnsupported)
			}
			return mldsa.Verify(k, msg, sig, nil)
		}
	case *rsa.PublicKey:
		switch a.scheme {
		case schemePKCS1:
			return rsa.VerifyPKCS1v15(k, a.hash, sum, sig)
		case schemePSS:
			return rsa.VerifyPSS(k, a.hash, sum, sig, &rsa.PSSOptions{SaltLength: a.saltLen, Hash: a.hash})
		}
	case *ecdsa.PublicKey:
		if a.scheme == schemeECDSA {
			if !ecdsa.VerifyASN1(k, sum, sig) {
				return errors.New("ECDSA verification failed")
			}
			return nil
		}
	default:
		return fmt.Errorf("%w: signer key type %T", ErrUnsupportedAlgorithm, pub)
	}
	return fmt.Errorf("%w: %s signature with a %T key", ErrSignatureInvalid, a, pub)
}

// Result is what [SignedData.Verify] established.
type Result struct {
	// Signer is the embedded certificate whose key made the signature. It
	// is not yet trusted: see [VerifyChain].
	Signer *x509.Certificate
	// Certificates are all embedded certificates (untrusted), for chain
	// building.
	Certificates []*x509.Certificate
	// DigestAlgorithm is the SignerInfo's digest algorithm.
	DigestAlgorithm crypto.Hash
	// SignatureAlgorithm names the signature scheme, e.g.
	// "RSA-PKCS1v15-SHA256", "RSASSA-PSS-SHA384", "ECDSA-SHA256" or
	// "ML-DSA-65".
	SignatureAlgorithm string
	// SignedAttributes reports whether the signature covers signed
	// attributes (always, for PAdES); without them it covers the content
	// digest directly and the fields below are unset.
	SignedAttributes bool
	// SigningTime is the signingTime signed attribute, nil when absent (as
	// PAdES requires). It is the signer's claim, not a proof.
	SigningTime *time.Time
	// SigningCertV2OK is true when an ESS signing-certificate-v2 attribute
	// (RFC 5035) is present and matches Signer; SigningCertV1OK likewise
	// for the SHA-1 signing-certificate attribute (RFC 2634). Both false
	// means absent: a mismatch is an error (ErrSigningCertMismatch). PAdES
	// baseline requires SigningCertV2OK.
	SigningCertV2OK bool
	SigningCertV1OK bool
	// Timestamp is the verified signature timestamp (PAdES B-T), nil when
	// the signature has none or it did not verify.
	Timestamp *TimestampInfo
	// TimestampErr says why a timestamp token that is present did not
	// verify (it wraps ErrTimestampInvalid or ErrUnsupported). The
	// signature itself may still be sound, so Verify does not fail; a
	// caller requiring B-T must check it.
	TimestampErr error
	// WeakAlgorithm, when not nil, says that the signature uses a broken
	// digest (SHA-1, MD5; it wraps ErrWeakAlgorithm): the digest was
	// computed and compared and the signature verified, but it proves
	// nothing, since another document with the same digest can be made.
	// A caller must not accept the signature.
	WeakAlgorithm error
}

// DigestAlgorithm returns the digest algorithm under which the caller must
// hash the content before calling [SignedData.Verify].
func (sd *SignedData) DigestAlgorithm() crypto.Hash { return sd.si.digest }

// SignatureValue returns the SignerInfo's signature value, which a
// signature timestamp covers.
func (sd *SignedData) SignatureValue() []byte { return bytes.Clone(sd.si.signature) }

// Verify checks a detached SignedData against contentDigest, the caller's
// digest of the content under [SignedData.DigestAlgorithm]: the
// messageDigest attribute equals it, the content-type attribute is id-data,
// the signature over the DER signed attributes verifies with the signer
// certificate's key, ESS signing-certificate(-v2) attributes name that
// certificate, a CMSAlgorithmProtection attribute (RFC 6211), if any, names
// the SignerInfo's algorithms, and a signature timestamp, if any, covers the
// signature.
// Trust in the signer certificate is the caller's: see [VerifyChain].
func (sd *SignedData) Verify(contentDigest []byte) (*Result, error) {
	if sd.Content != nil {
		return nil, fmt.Errorf("%w: the SignedData encapsulates its content; a PDF signature must be detached", ErrUnsupported)
	}
	if !sd.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: eContentType %v (a PDF signature signs id-data)", ErrUnsupported, sd.ContentType)
	}
	res, err := sd.verify(contentDigest)
	if err != nil {
		return nil, err
	}
	if isWeak(sd.si.digest) || isWeak(sd.si.alg.hash) {
		res.WeakAlgorithm = fmt.Errorf("%w: %v is not accepted for signatures", ErrWeakAlgorithm, sd.si.digest)
	}
	var tokens []cryptobyte.String
	for _, a := range sd.si.unsigned {
		if a.oid.Equal(oidAttrTimeStampToken) {
			tokens = append(tokens, a.values...)
		}
	}
	switch len(tokens) {
	case 0:
	case 1:
		ts, err := ParseTimestamp(tokens[0])
		if err == nil {
			res.Timestamp, err = ts.VerifyData(sd.si.signature)
		}
		if err != nil {
			res.TimestampErr = fmt.Errorf("%w: %w", ErrTimestampInvalid, err)
		}
	default:
		res.TimestampErr = fmt.Errorf("%w: %d signature timestamp tokens (one is supported)", ErrUnsupported, len(tokens))
	}
	return res, nil
}

// verify is the part of Verify shared with timestamp tokens.
func (sd *SignedData) verify(contentDigest []byte) (*Result, error) {
	si := &sd.si
	if len(contentDigest) != si.digest.Size() {
		return nil, fmt.Errorf("%w: content digest is %d bytes, %v needs %d", ErrDigestMismatch, len(contentDigest), si.digest, si.digest.Size())
	}
	cert, err := sd.signerCert()
	if err != nil {
		return nil, err
	}
	res := &Result{
		Signer:             cert,
		Certificates:       sd.Certificates,
		DigestAlgorithm:    si.digest,
		SignatureAlgorithm: si.alg.String(),
	}
	sum := contentDigest
	if si.signedAttrsDER != nil {
		res.SignedAttributes = true
		if err := sd.checkSignedAttributes(contentDigest, cert, res); err != nil {
			return nil, err
		}
		h := si.digest.New()
		h.Write(si.signedAttrsDER)
		sum = h.Sum(nil)
	}
	if err := si.alg.verify(cert.PublicKey, si.signedAttrsDER, sum, si.signature); err != nil {
		if errors.Is(err, ErrUnsupportedAlgorithm) || errors.Is(err, ErrSignatureInvalid) || errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s by %q: %v", ErrSignatureInvalid, si.alg, cert.Subject.CommonName, err)
	}
	return res, nil
}

// signerCert finds the one embedded certificate the signer identifier names.
func (sd *SignedData) signerCert() (*x509.Certificate, error) {
	si := &sd.si
	var found *x509.Certificate
	for _, c := range sd.Certificates {
		var match bool
		if si.ski != nil {
			match = bytes.Equal(c.SubjectKeyId, si.ski)
		} else {
			match = bytes.Equal(c.RawIssuer, si.issuer) && c.SerialNumber.Cmp(si.serial) == 0
		}
		if !match {
			continue
		}
		if found != nil && !bytes.Equal(found.Raw, c.Raw) {
			return nil, malformed("two different embedded certificates match the signer identifier")
		}
		found = c
	}
	// A certificate left out as unreadable must not be the signer's: another
	// verifier that reads it could see a different signer than ours.
	for _, raw := range sd.unreadable {
		if issuer, serial, ok := issuerAndSerial(raw); ok && si.ski == nil && bytes.Equal(issuer, si.issuer) && serial.Cmp(si.serial) == 0 {
			return nil, malformed("an embedded certificate that cannot be read matches the signer identifier")
		}
	}
	if found == nil {
		unread := ""
		if len(sd.unreadable) > 0 {
			unread = fmt.Sprintf(" (%d embedded certificate(s) could not be read)", len(sd.unreadable))
		}
		if si.ski != nil {
			return nil, fmt.Errorf("%w: no embedded certificate has subject key identifier %x%s", ErrSignerNotFound, si.ski, unread)
		}
		return nil, fmt.Errorf("%w: no embedded certificate has serial %x from the named issuer%s", ErrSignerNotFound, si.serial, unread)
	}
	return found, nil
}

// DigestMatches reports whether the messageDigest signed attribute equals
// contentDigest, whatever else is wrong with the signature: it tells
// whether the signed content is intact. It fails when the SignerInfo has
// no signed attributes (its signature then covers the content digest
// directly, and only [SignedData.Verify] can tell) or no single
// messageDigest.
func (sd *SignedData) DigestMatches(contentDigest []byte) (bool, error) {
	if sd.si.signedAttrsDER == nil {
		return false, fmt.Errorf("%w: no signed attributes", ErrUnsupported)
	}
	md := find(sd.si.signed, oidAttrMessageDigest)
	if md == nil {
		return false, malformed("signedAttrs: message-digest attribute missing")
	}
	v, err := md.single()
	if err != nil {
		return false, err
	}
	var digest cryptobyte.String
	if !v.ReadASN1(&digest, asn1.OCTET_STRING) || !v.Empty() {
		return false, malformed("signedAttrs: message-digest value is not an OCTET STRING")
	}
	return bytes.Equal(digest, contentDigest), nil
}

func (sd *SignedData) checkSignedAttributes(contentDigest []byte, cert *x509.Certificate, res *Result) error {
	attrs := sd.si.signed
	ct := find(attrs, oidAttrContentType)
	if ct == nil {
		return malformed("signedAttrs: content-type attribute missing")
	}
	v, err := ct.single()
	if err != nil {
		return err
	}
	var oid encasn1.ObjectIdentifier
	if !v.ReadASN1ObjectIdentifier(&oid) || !v.Empty() {
		return malformed("signedAttrs: content-type value is not an OBJECT IDENTIFIER")
	}
	if !oid.Equal(sd.ContentType) {
		return malformed("signedAttrs: content-type %v differs from eContentType %v", oid, sd.ContentType)
	}

	md := find(attrs, oidAttrMessageDigest)
	if md == nil {
		return malformed("signedAttrs: message-digest attribute missing")
	}
	if v, err = md.single(); err != nil {
		return err
	}
	var digest cryptobyte.String
	if !v.ReadASN1(&digest, asn1.OCTET_STRING) || !v.Empty() {
		return malformed("signedAttrs: message-digest value is not an OCTET STRING")
	}
	if !bytes.Equal(digest, contentDigest) {
		return fmt.Errorf("%w: the message-digest attribute does not match the content's %v digest", ErrDigestMismatch, sd.si.digest)
	}

	if st := find(attrs, oidAttrSigningTime); st != nil {
		if v, err = st.single(); err != nil {
			return err
		}
		var t time.Time
		switch {
		case v.PeekASN1Tag(asn1.UTCTime):
			if !v.ReadASN1UTCTime(&t) || !v.Empty() {
				return malformed("signedAttrs: bad signing-time UTCTime")
			}
		case v.PeekASN1Tag(asn1.GeneralizedTime):
			if !v.ReadASN1GeneralizedTime(&t) || !v.Empty() {
				return malformed("signedAttrs: bad signing-time GeneralizedTime")
			}
		default:
			return malformed("signedAttrs: signing-time is neither UTCTime nor GeneralizedTime")
		}
		res.SigningTime = &t
	}

	if a := find(attrs, oidAttrSigningCertV2); a != nil {
		if err := checkESS(a, cert, true); err != nil {
			return err
		}
		res.SigningCertV2OK = true
	}
	if a := find(attrs, oidAttrSigningCert); a != nil {
		if err := checkESS(a, cert, false); err != nil {
			return err
		}
		res.SigningCertV1OK = true
	}
	if a := find(attrs, oidAttrAlgProtection); a != nil {
		return sd.checkAlgorithmProtection(a)
	}
	return nil
}

// checkAlgorithmProtection checks a CMSAlgorithmProtection attribute
// (RFC 6211), which some signers (BouncyCastle, hence iText) add: the
// algorithms it names under the signature must be the SignerInfo's, or
// someone substituted an algorithm.
//
//	CMSAlgorithmProtection ::= SEQUENCE { digestAlgorithm DigestAlgorithmIdentifier,
//	    signatureAlgorithm [1] IMPLICIT SignatureAlgorithmIdentifier OPTIONAL,
//	    macAlgorithm [2] IMPLICIT MessageAuthenticationCodeAlgorithm OPTIONAL }
func (sd *SignedData) checkAlgorithmProtection(a *attribute) error {
	v, err := a.single()
	if err != nil {
		return err
	}
	var seq, sigAlg cryptobyte.String
	if !v.ReadASN1(&seq, asn1.SEQUENCE) || !v.Empty() {
		return malformed("CMSAlgorithmProtection: not a SEQUENCE")
	}
	h, err := readSignerDigestAlg(&seq, "CMSAlgorithmProtection: digestAlgorithm")
	if err != nil {
		return err
	}
	if !seq.ReadASN1(&sigAlg, asn1.Tag(1).Constructed().ContextSpecific()) || !seq.Empty() {
		return malformed("CMSAlgorithmProtection: a signature needs signatureAlgorithm and no macAlgorithm")
	}
	if h != sd.si.digest || !bytes.Equal(sigAlg, sd.si.algID) {
		return fmt.Errorf("%w: CMSAlgorithmProtection names other algorithms than the SignerInfo (algorithm substitution)", ErrSignatureInvalid)
	}
	return nil
}

// checkESS checks that the first ESSCertID(v2) of a signing-certificate
// attribute names cert: its hash of the whole certificate and, when
// present, its issuerSerial. The remaining ESSCertIDs (for the chain, if
// any) and the policies are not used.
//
//	SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies ... OPTIONAL }
//	ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256,
//	                           certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }
//	ESSCertID   ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial IssuerSerial OPTIONAL }
func checkESS(a *attribute, cert *x509.Certificate, v2 bool) error {
	name := "signing-certificate"
	if v2 {
		name = "signing-certificate-v2"
	}
	v, err := a.single()
	if err != nil {
		return err
	}
	var sc, ids, id cryptobyte.String
	if !v.ReadASN1(&sc, asn1.SEQUENCE) || !v.Empty() || !sc.ReadASN1(&ids, asn1.SEQUENCE) ||
		!ids.ReadASN1(&id, asn1.SEQUENCE) {
		return malformed("%s: not a SEQUENCE holding a non-empty SEQUENCE OF certificate identifiers", name)
	}
	var want []byte
	if v2 {
		h := crypto.SHA256
		// DER omits the DEFAULT (SHA-256), but some signers write it; both
		// are accepted.
		if id.PeekASN1Tag(asn1.SEQUENCE) {
			if h, err = readDigestAlg(&id, name+": hashAlgorithm"); err != nil {
				return err
			}
		}
		hh := h.New()
		hh.Write(cert.Raw)
		want = hh.Sum(nil)
	} else {
		s := sha1.Sum(cert.Raw)
		want = s[:]
	}
	var certHash cryptobyte.String
	if !id.ReadASN1(&certHash, asn1.OCTET_STRING) {
		return malformed("%s: certHash is not an OCTET STRING", name)
	}
	if !bytes.Equal(certHash, want) {
		return fmt.Errorf("%w: %s: certificate hash differs from the signer certificate's", ErrSigningCertMismatch, name)
	}
	if id.Empty() {
		return nil
	}
	var is, names cryptobyte.String
	serial := new(big.Int)
	if !id.ReadASN1(&is, asn1.SEQUENCE) || !id.Empty() || !is.ReadASN1(&names, asn1.SEQUENCE) ||
		!is.ReadASN1Integer(serial) || !is.Empty() {
		return malformed("%s: bad issuerSerial", name)
	}
	if serial.Cmp(cert.SerialNumber) != 0 {
		return fmt.Errorf("%w: %s: issuerSerial serial %x, signer certificate serial %x", ErrSigningCertMismatch, name, serial, cert.SerialNumber)
	}
	matched := false
	for !names.Empty() {
		var gn cryptobyte.String
		var tag asn1.Tag
		if !names.ReadAnyASN1(&gn, &tag) {
			return malformed("%s: bad GeneralName in issuerSerial", name)
		}
		if tag == asn1.Tag(4).Constructed().ContextSpecific() { // directoryName [4] EXPLICIT Name
			if bytes.Equal(gn, cert.RawIssuer) {
				matched = true
			}
		}
	}
	if !matched {
		return fmt.Errorf("%w: %s: issuerSerial does not name the signer certificate's issuer", ErrSigningCertMismatch, name)
	}
	return nil
}

// Extended key usages accepted for a document-signing leaf by VerifyChain.
var docSigningEKUs = []encasn1.ObjectIdentifier{oidEKUDocumentSigning, oidEKUAdobeAuthentic, oidEKUMSDocumentSigning}

// VerifyChain checks that leaf chains to one of roots through
// intermediates at time at (the signing time proven by a timestamp, or the
// claimed one), and that the leaf may sign documents: if it has a key usage
// extension, digitalSignature or nonRepudiation; if it has an extended key
// usage extension, one of anyExtendedKeyUsage, emailProtection,
// documentSigning (RFC 9336), Adobe Authentic Documents or Microsoft
// document signing. roots must not be nil: a seal is trusted through
// configured anchors, never the system's web PKI roots. Revocation is not
// checked here. The error wraps ErrUntrusted and crypto/x509's error
// (x509.UnknownAuthorityError, x509.CertificateInvalidError, ...).
func VerifyChain(leaf *x509.Certificate, intermediates, roots *x509.CertPool, at time.Time) error {
	if roots == nil {
		return fmt.Errorf("%w: no trust anchors configured", ErrUntrusted)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Intermediates: intermediates,
		Roots:         roots,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return fmt.Errorf("%w: %q at %s: %w", ErrUntrusted, leaf.Subject.CommonName, at.UTC().Format(time.RFC3339), err)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("%w: %q: key usage allows neither digitalSignature nor nonRepudiation", ErrUntrusted, leaf.Subject.CommonName)
	}
	if len(leaf.ExtKeyUsage)+len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageAny || u == x509.ExtKeyUsageEmailProtection {
			return nil
		}
	}
	for _, u := range leaf.UnknownExtKeyUsage {
		for _, ok := range docSigningEKUs {
			if u.Equal(ok) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %q: extended key usage does not allow document signing", ErrUntrusted, leaf.Subject.CommonName)
}

// VerifyTSAChain checks that a timestamp authority's certificate chains to
// one of roots at time at, for the timeStamping extended key usage.
func VerifyTSAChain(tsa *x509.Certificate, intermediates, roots *x509.CertPool, at time.Time) error {
	if roots == nil {
		return fmt.Errorf("%w: no trust anchors configured", ErrUntrusted)
	}
	if _, err := tsa.Verify(x509.VerifyOptions{
		Intermediates: intermediates,
		Roots:         roots,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}); err != nil {
		return fmt.Errorf("%w: TSA %q at %s: %w", ErrUntrusted, tsa.Subject.CommonName, at.UTC().Format(time.RFC3339), err)
	}
	return nil
}
