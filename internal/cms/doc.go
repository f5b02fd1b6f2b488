// Package cms builds and verifies the CMS SignedData (RFC 5652) inside a PDF
// signature: PAdES baseline B-B and B-T (ETSI EN 319 142-1, with the CAdES
// attributes of ETSI EN 319 122-1), the legacy adbe.pkcs7.detached form, ESS
// signing-certificate-v2 (RFC 5035) and RFC 3161 timestamp tokens.
//
// # Signing
//
// The caller hashes the PDF's byte ranges by streaming, then calls
// [SignDetached] with the digest and [SignOptions]: a [crypto.Signer] (this
// package never knows where a key lives), the certificate and its chain.
// [EstimateSize] gives an upper bound of the result's size, so the PDF's
// /Contents placeholder is never too small. The result is DER:
//
//	ContentInfo { signedData, SignedData {
//	  version 1, digestAlgorithms { sha256 }, encapContentInfo { id-data } (detached),
//	  certificates { leaf, chain... } (sorted, as DER SET OF requires),
//	  signerInfos { SignerInfo {
//	    version 1, sid issuerAndSerialNumber, digestAlgorithm,
//	    signedAttrs { contentType id-data, messageDigest, signing-certificate-v2 [, signingTime (Legacy)] },
//	    signatureAlgorithm (rsaEncryption | RSASSA-PSS | ecdsa-with-SHA* | id-ml-dsa-*), signature,
//	    unsignedAttrs { signatureTimeStampToken (B-T) } } } } }
//
// ML-DSA keys (FIPS 204) sign the DER signed attributes directly, as
// RFC 9882 specifies, with a SHA-512 messageDigest from [AutoDigest]; PDF
// readers do not verify them yet.
//
// B-T adds an RFC 3161 token over the signature value; [RequestTimestamp] is
// the client, and internal/cms/tsatest a real TSA (openssl ts) for tests.
//
// # Verifying
//
// [TrimPadding] cuts the zero padding off a /Contents string; [Parse]
// parses the SignedData; the caller hashes the byte ranges with
// [SignedData.DigestAlgorithm] and calls [SignedData.Verify], which checks
// the message digest, the content type, the signature over the signed
// attributes, the ESS signing-certificate attributes and the timestamp.
// Chain building and trust are the caller's, with [VerifyChain] and
// [VerifyTSAChain] as helpers; revocation is out of scope here.
//
// Real-world signatures are read as far as they can be judged: a SHA-1 or
// MD5 signature (old Adobe and Windows signers) is parsed, its digest
// compared and its signature checked, and [Result.WeakAlgorithm] says that
// it proves nothing, so that a caller can tell "this document changed"
// from "this signature uses a broken digest"; timestamp tokens and
// signing must use the allow-list. An embedded certificate with a negative
// serial number is read leniently and one that cannot be read is left
// out, both noted in [SignedData.Warnings] (see [Parse]).
//
// # Why we parse CMS ourselves
//
// A verifier's parser is its attack surface: universal signature forgery
// and signature wrapping live in the gap between what one parser accepts and
// what another signs. The Go CMS packages (go.mozilla.org/pkcs7 and its
// forks) decode through encoding/asn1 reflection after a BER pre-pass of
// their own and were built for S/MIME and SCEP; checking ESS
// signing-certificate-v2 against the signer, RSASSA-PSS parameters, the
// PAdES attribute rules and RFC 3161 tokens is outside what they do, and a
// verifier that bolts those on top inherits a parser it cannot make strict.
// So, like crypto/x509's parser, this package reads every field with
// golang.org/x/crypto/cryptobyte, one explicit check and one precise error
// per field, over an allow-list of algorithms, and refuses what PDF
// signatures never use (several signers, attribute certificates,
// encapsulated content, trailing data).
//
// # BER
//
// Some signers emit BER (indefinite lengths, constructed OCTET STRINGs).
// Input is first normalised to DER: definite minimal lengths and primitive
// strings; other non-DER values are refused by the strict parsers. SET OF is
// not re-sorted: signed attributes that a signer wrote out of DER order are
// verified in the order written, as every deployed verifier does. DER input
// passes through unchanged, so embedded
// certificates keep the exact bytes their signatures cover. Constructed
// strings under implicit context tags cannot be recognised without the
// schema and are refused by the strict parser.
//
// # Limits
//
// Every input is bounded: [MaxSize] bytes, [MaxDepth] levels of nesting,
// [MaxElements] ASN.1 elements, [MaxCertificates] certificates and
// [MaxAttributes] attributes per set. Exceeding one fails with [ErrLimit].
//
// # Errors
//
// Every error wraps a sentinel ([ErrMalformed], [ErrDigestMismatch],
// [ErrSignatureInvalid], [ErrSigningCertMismatch], ...) and names the field
// at fault. Errors never contain key material.
package cms
