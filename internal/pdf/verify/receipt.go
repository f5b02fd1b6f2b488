package verify

import (
	"context"
	"fmt"
	"time"
)

// SealReceiptLookup is an optional interface of a [CustodyLookup], found
// by type assertion: custody's record of how a signature was made.
type SealReceiptLookup interface {
	// SealReceipt returns custody's receipt of the signature whose
	// signature value (the CMS SignerInfo's signature octets) has SHA-256
	// signatureSHA256, made with the certificate whose SHA-256 is
	// certSHA256 (both lower-case hex). ok is false when the certificate is
	// not in custody. An error means custody cannot vouch either way (its
	// trail does not verify): the signature is then not valid.
	SealReceipt(ctx context.Context, certSHA256, signatureSHA256 string) (receipt SealReceipt, ok bool, err error)
}

// Key origins of a [SealReceipt].
const (
	// KeyGenerated: the key was generated inside custody; no copy ever
	// existed outside it, so every signature it made should have a seal
	// entry.
	KeyGenerated = "generated"
	// KeyImported: the owner imported the key and may hold a copy.
	KeyImported = "imported"
	// KeyExternal: the key lives in the customer's KMS or HSM.
	KeyExternal = "external"
)

// SealReceipt is custody's seal entry for one signature, if it has one.
type SealReceipt struct {
	// Found says that a seal entry records this signature; the other
	// entry fields are set only then.
	Found bool `json:"found"`
	// KeyOrigin is how the version's key came into custody: KeyGenerated,
	// KeyImported or KeyExternal.
	KeyOrigin string `json:"key_origin"`
	Org       string `json:"org"`
	Identity  string `json:"identity"`
	Version   int    `json:"version"`
	// Chain and Seq place the entry in the audit trail; EntryHash is its
	// hash (hex); Time when it was committed, which proves the signature
	// existed by then.
	Chain     string     `json:"chain"`
	Seq       uint64     `json:"seq"`
	EntryHash string     `json:"entry_hash"`
	Time      *time.Time `json:"time"`
	// Actor is the user (ID) who approved the seal, ActorLogin their login
	// if custody knows it, MFAMethod the step-up, RequestID the request
	// that sealed.
	Actor      string `json:"actor"`
	ActorLogin string `json:"actor_login,omitempty"`
	MFAMethod  string `json:"mfa_method"`
	RequestID  string `json:"request_id"`
	// DocumentSHA256 is the SHA-256 of the document before it was sealed.
	DocumentSHA256 string `json:"document_sha256"`
	// Summary says it in words.
	Summary string `json:"summary"`
}

// checkReceipt looks up the signature's seal receipt when the custody
// lookup can, and returns the receipt's time (its proof of existence) and
// what proves it. A receipt is reported as a note; a signature by a key
// that was generated in custody with no receipt was made outside the
// approval path and fails (SigConstraintsFailure); for an imported or
// external key the missing receipt is a note. A lookup that fails makes
// the signature TryLater. Only the context's error is returned.
func (v *verifier) checkReceipt(s *Signature) (*time.Time, string, error) {
	rl, ok := v.opts.Custody.(SealReceiptLookup)
	if !ok || s.SignerSHA256 == "" || s.SignatureValueSHA256 == "" {
		return nil, "", nil
	}
	r, found, err := rl.SealReceipt(v.ctx, s.SignerSHA256, s.SignatureValueSHA256)
	switch {
	case err != nil:
		if ctxErr := v.ctx.Err(); ctxErr != nil {
			return nil, "", ctxErr
		}
		s.failWith(TryLater, "custody cannot say whether this signature was made through sealkeep: %v", err)
		return nil, "", nil
	case !found:
		return nil, "", nil
	}
	s.Receipt = &r
	switch {
	case r.Found:
		req := r.RequestID
		if req == "" {
			req = "-"
		}
		by := r.Actor
		if r.ActorLogin != "" {
			by = r.ActorLogin + " (" + r.Actor + ")"
		}
		r.Summary = fmt.Sprintf("sealed through sealkeep: %s %s v%d by %s, %s step-up, request %s (audit entry %s #%d)",
			r.Org, r.Identity, r.Version, by, r.MFAMethod, req, r.Chain, r.Seq)
		if r.Time != nil {
			return r.Time, fmt.Sprintf("its seal entry (%s #%d)", r.Chain, r.Seq), nil
		}
	case r.KeyOrigin == KeyGenerated:
		r.Summary = "no seal entry: made outside sealkeep's approval path with a key that never left custody"
		s.failWith(SigConstraintsFailure, "the key of %s v%d was generated inside custody, but no seal entry records this signature: it was made outside sealkeep's approval path (the key material was used directly, or the trail was cut)", r.Identity, r.Version)
	default:
		r.Summary = fmt.Sprintf("not made through sealkeep (the key is %s; its owner can sign outside custody)", r.KeyOrigin)
		s.note("this signature was not made through sealkeep: no seal entry records it (the key of %s v%d is %s)", r.Identity, r.Version, r.KeyOrigin)
	}
	return nil, "", nil
}
