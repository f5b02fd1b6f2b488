package cms

import (
	"crypto"
	_ "crypto/md5" // MD5 digests of weak signatures are computed to report them
	"crypto/mldsa"
	"encoding/asn1"
)

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

	oidAttrContentType      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCert      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCertV2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidAttrTimeStampToken   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	oidAttrAlgProtection    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 52} // RFC 6211
	oidRSAEncryption        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECPublicKey          = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidEKUDocumentSigning   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}       // RFC 9336
	oidEKUAdobeAuthentic    = asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 5}       // Adobe Authentic Documents Trust
	oidEKUMSDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 10, 3, 12} // Microsoft document signing
	oidExtKeyUsage          = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// mldsaAlgs maps the ML-DSA parameter sets to their OIDs (RFC 9881, used
// in CMS by RFC 9882 with absent parameters).
var mldsaAlgs = []struct {
	params func() mldsa.Parameters
	oid    asn1.ObjectIdentifier
}{
	{mldsa.MLDSA44, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}},
	{mldsa.MLDSA65, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}},
	{mldsa.MLDSA87, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}},
}

// hashAlg is one entry of the digest allow-list.
type hashAlg struct {
	hash    crypto.Hash
	oid     asn1.ObjectIdentifier
	rsaOID  asn1.ObjectIdentifier // shaNNNWithRSAEncryption
	ecdsaID asn1.ObjectIdentifier // ecdsa-with-SHANNN
}

// hashAlgs is the digest allow-list. SHA-1 is otherwise only recognised
// for the ESS signing-certificate (v1) certificate hash and, as one of
// weakHashAlgs, to report a signature that uses it.
var hashAlgs = []hashAlg{
	{crypto.SHA256, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
	{crypto.SHA384, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}},
	{crypto.SHA512, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}},
}

var oidSHA1 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}

// weakHashAlgs are the broken digests that a signature being verified may
// still name (old Adobe and Windows signers wrote SHA-1, a few MD5): they
// are parsed so that the digest of the content can be computed and
// compared, and the signature is then reported through
// [Result.WeakAlgorithm], never accepted. Nothing is signed with them, and
// timestamp tokens must not use them.
var weakHashAlgs = []hashAlg{
	{crypto.SHA1, oidSHA1, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}},
	{crypto.MD5, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}, nil},
}

// hashByOID finds a digest of the allow-list; with weak, also of
// weakHashAlgs.
func hashByOID(oid asn1.ObjectIdentifier, weak bool) (crypto.Hash, bool) {
	for _, a := range hashAlgs {
		if a.oid.Equal(oid) {
			return a.hash, true
		}
	}
	if weak {
		for _, a := range weakHashAlgs {
			if a.oid.Equal(oid) {
				return a.hash, true
			}
		}
	}
	return 0, false
}

// isWeak reports whether h is one of weakHashAlgs.
func isWeak(h crypto.Hash) bool {
	for _, a := range weakHashAlgs {
		if a.hash == h {
			return true
		}
	}
	return false
}

func algFor(h crypto.Hash) (hashAlg, bool) {
	for _, a := range hashAlgs {
		if a.hash == h {
			return a, true
		}
	}
	return hashAlg{}, false
}
