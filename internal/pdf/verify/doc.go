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
//     FieldMDP reference) are enforced on those classes. The rules are in
//     the next section.
//
// # What an update may do
//
// As in pyHanko's difference analysis, a change is allowed only when a rule
// explains it, and new objects only through the allowed change that refers
// to them (for a form field: through /V, /AP, /MK, /Lock or /SV):
//
//   - Signature: only a signature dictionary created in the update whose
//     /ByteRange ends exactly at the update's end makes it a signature
//     update. Such an update may add that dictionary, its field and widget
//     (no actions), the new appearance streams the widget uses, and the
//     additions to the AcroForm /Fields, /SigFlags and /DR and to the
//     page's /Annots that reference them; nothing else. A field whose /V
//     names an older signature dictionary (reuse), another field's, or
//     anything that is not such a new signature dictionary is not a
//     signature: the update is other, and one signature dictionary is
//     reported once, by the field that named it first.
//   - Signed fields: after a signature, any change to a signed field or
//     its widgets (/AP, /F such as Hidden or NoView, /Rect, /MK, /Parent,
//     ...) is other; so is a rewrite of the appearance streams it uses.
//     A signature's appearance is part of what was signed.
//   - Actions: a signature field, signed or not, that gains /A or /AA is
//     other: actions run, and they are no part of a signature.
//   - Unsigned signature fields: a new or changed one is annotations when
//     it shows something (a visible appearance: the "sneaky signature"),
//     metadata otherwise (a field placed for the next signer shows and
//     signs nothing; pyHanko counts it with validation data).
//   - Form filling: a field's /V, /AS and /AP, and new appearance streams.
//   - Annotation order: a page's annotations are drawn in /Annots order,
//     the last on top, so reordering or repeating the ones that stay is an
//     annotations change, like adding one.
//   - Streams rewritten in place: an existing stream object redefined by
//     an update is allowed only as an appearance stream (/AP) of the
//     widgets that the same update fills or signs, or of the annotations
//     it changes. Used anywhere else too (page resources, another widget,
//     another XObject, the trailer), in the previous revision or in this
//     one, the rewrite changes what those show, and it is other. So is a
//     rewritten object stream: the objects older sections store in it
//     would change unseen.
//   - Dangling references: a new object whose number and generation the
//     previous revision already refers to is other, whatever change brings
//     it: the reference named nothing when the document was signed (it
//     read as null) and now resolves, in a page's content, say. In a
//     revision of more than 65536 objects, where references are not looked
//     up, every new object is other (a second signature included): the
//     check fails closed.
//   - Resources: /DR may gain entries; changing or removing one is other.
//     So is a change of the AcroForm /DA: the fields that have no /DA of
//     their own are drawn with it whenever a viewer generates their
//     appearance (they have none, or /NeedAppearances is true).
//   - Quiet roles: an existing object changed as document information,
//     XMP metadata, DSS data or /DR, or as an annotation, is other when the
//     document also uses it for something else it shows (a dictionary that
//     is both the document information, or an annotation, and a page's
//     resources; a page content stream listed as DSS data): uses are
//     looked up in every object of the previous
//     revision and in what the update changes (in at most 65536 objects:
//     in a larger revision such a change is other).
//   - Damage: when reading an update after a signature needed a repair
//     ([pdf.Revision.Repairs]: an xref offset that does not point at its
//     object, a /Prev that does not point at an xref section, object
//     bodies outside every xref section, a truncated xref stream, objects
//     listed beyond the trailer's /Size), the
//     update is other, with a change line naming the repair: viewers
//     repair differently, so what a reader sees is not knowable. The same
//     repairs before the first signature are tolerated and reported as
//     warnings.
//
// DocMDP P=2 allows signatures, DSS, metadata and form filling, so every
// rule above that makes an update other also breaks a P=2 certification.
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
// %%EOF); an evil annotation is an "annotations" change; a re-dressed seal
// (its widget hidden, moved or repainted, its signature dictionary reused
// by a new field, its appearance stream shared with the page) and a
// damaged update that viewers would read differently are "other".
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
//
// # Seal receipts
//
// When Options.Custody is also a [SealReceiptLookup], each signature's
// seal entry is looked up by the SHA-256 of its CMS signature value
// (Signature.SignatureValueSHA256) and reported as Signature.Receipt: a
// seal made through sealkeep's pipeline on its owner's approval. The
// entry's time is proof of existence for the revocation rule above. A
// signature by a key generated inside custody (no copy ever existed
// outside it) that no entry records was made outside the approval path:
// SigConstraintsFailure (invalid). For an imported or external key the
// missing receipt is a note. A receipt that cannot be verified (the
// organization's chain does not verify) is TryLater.
package verify
