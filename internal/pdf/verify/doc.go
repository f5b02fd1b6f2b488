// Package verify checks the signatures of a PDF file: what each signature
// covers, whether its CMS verifies, whether its certificate chains to the
// configured trust anchors, and what changed in the document after it was
// made.
//
// # Checks, per signature
//
// For every signature field of the latest revision that holds a signature
// dictionary, in order:
//
//  1. The /ByteRange has two ranges, starts at 0 and ends at the %%EOF of
//     a revision (the signed revision); the gap between the ranges is
//     exactly the /Contents hex string of this signature dictionary, angle
//     brackets included, and the dictionary itself lies inside the signed
//     bytes and is not redefined by a later revision.
//  2. The digest of the byte ranges, streamed from the file in constant
//     memory, equals the CMS messageDigest ("intact"), and the CMS signature
//     verifies with the embedded signer certificate ("valid"), with ESS
//     signing-certificate-v2 (required for ETSI.CAdES.detached). A document
//     timestamp (ETSI.RFC3161) is an RFC 3161 token whose imprint must be
//     that digest; its TSA is reported as the signer.
//  3. The signer certificate chains to Options.Roots at the validation time
//     (Options.At, default now), with the intermediates embedded in the CMS.
//     Validating as of a past time is how a seal made while a certificate
//     was valid is checked after the certificate expired; the report always
//     says when the certificate expired.
//  4. A signature timestamp (PAdES B-T), if present, covers the signature
//     value and its TSA certificate chains to the same anchors; its genTime
//     is the signing time. Otherwise the signingTime attribute or the
//     dictionary's /M is reported as the (claimed) signing time.
//  5. Every later incremental update is compared object by object with the
//     revision before it and classified: another signature, DSS (validation
//     data), metadata, form filling, annotations, or other (anything that can
//     change what the signed document shows: page content, resources, fonts,
//     deleted or re-pointed objects, new objects that nothing allowed refers
//     to). DocMDP (the certification signature's P) and FieldMDP (/Lock or a
//     FieldMDP reference) are enforced on those classes.
//
// # Verdicts
//
// A signature is invalid when its structure, digest, CMS signature or
// timestamp is wrong, when its digest (SHA-1, MD5) or the signer's or
// TSA's key fails the algorithm policy of sealing (internal/keypolicy),
// or when its custody version was revoked without proof that it was made
// before (see Custody); modified when the document changed after it in a
// way other than later signatures, DSS or metadata, or when
// DocMDP/FieldMDP forbid a change that was made; untrusted when it is
// otherwise sound but its certificate does not chain to an anchor at the
// validation time; valid otherwise. The file's verdict is the worst of its
// signatures' (invalid, modified, untrusted, valid); a file without
// signatures is invalid.
//
// Intact always tells the truth about the bytes: the digest of the byte
// ranges is compared with the signed messageDigest even when the
// signature is refused for another reason, a SHA-1 one included.
//
// # Indications
//
// Each signature also carries the ETSI EN 319 102-1 indication
// ([TotalPassed], [TotalFailed], [Indeterminate]) and sub-indication, named
// as the EU DSS and pyHanko report them: TotalPassed exactly when the
// verdict is valid; otherwise the sub-indication of the first failed
// check, a failure ([HashFailure], [SigCryptoFailure], [Revoked],
// [NotYetValid], [FormatFailure]) before an indeterminate result
// ([SignedDataNotFound], [NoSigningCertificateFound], [TryLater],
// [RevokedNoPOE], [CryptoConstraintsFailure], [SigConstraintsFailure],
// [OutOfBoundsNoPOE], [NoCertificateChainFound],
// [ChainConstraintsFailure]). docs/verify-json.md maps each to the
// verdict.
//
// # Attacks
//
// The checks above are what defeat the published PDF signature attacks:
// universal signature forgery (missing, empty or null /Contents, malformed
// /ByteRange) fails step 1 or 2; incremental saving attacks and shadow
// attacks (hide, replace, hide-and-replace) show up as "other" changes in
// step 5; signature wrapping fails step 1 (the gap is not this
// dictionary's /Contents, or the range does not end at a revision's
// %%EOF); an evil annotation is an "annotations" change.
//
// # Custody
//
// When Options.Custody is set, the custody status of the signer
// certificate's version is added to each signature, looked up at the time
// a trusted timestamp proves (its genTime plus the TSA's accuracy: the
// signature's own, or that of a later signature or document timestamp
// whose signed bytes contain it), else at the claimed signing time, else
// now. A version that
// was revoked needs proof of existence before the revocation, compared at
// full precision: a verified timestamp whose TSA is trusted and passes
// the key policy, with genTime plus accuracy before the revocation time.
// A claimed /M or signingTime is never proof: without the timestamp the
// signature is RevokedNoPOE (invalid), whatever it claims; and when the
// signed revision contains a trusted timestamp made (genTime minus
// accuracy) at or after the revocation, the signature provably came later
// and is Revoked. A lookup that fails (the trail cannot be read or folded,
// or stored state differs from it) makes the signature TryLater
// (invalid): the check fails closed.
package verify
