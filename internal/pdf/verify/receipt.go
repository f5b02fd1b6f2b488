package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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
	// DocumentSHA256 is the SHA-256 of the document before it was sealed;
	// SealedSHA256 the sealed file's, which the verifier compares with the
	// revision this signature signed.
	DocumentSHA256 string `json:"document_sha256"`
	SealedSHA256   string `json:"sealed_sha256"`
	// Approval is how custody found the seal approved (its audit entry's
	// approval, checked as audit verify checks it); nil when it cannot
	// say.
	Approval *SealApproval `json:"approval"`
	// ThisDocument says that the revision this signature signed is the
	// sealed file the entry records (SealedSHA256), so that the approval
	// covers this document's SHA-256 before sealing.
	ThisDocument bool `json:"this_document"`
	// Summary says it in words.
	Summary string `json:"summary"`
}

// SealApproval is the approval of a seal as its audit entry records it.
type SealApproval struct {
	// Method is the step-up: "totp" or "webauthn" (a passkey).
	Method string `json:"method"`
	// Approver is the login of the user who approved it ("" if the trail
	// does not say).
	Approver string `json:"approver"`
	// Passkey and CredentialID (base64url) name the passkey that signed
	// the seal's intent, for a passkey approval.
	Passkey      string `json:"passkey,omitempty"`
	CredentialID string `json:"credential_id,omitempty"`
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
		r.ThisDocument = r.SealedSHA256 != "" && v.revisionSHA256(s) == r.SealedSHA256
		r.Summary = fmt.Sprintf("sealed through sealkeep: %s %s v%d by %s, %s step-up, request %s (audit entry %s #%d)",
			r.Org, r.Identity, r.Version, by, r.MFAMethod, req, r.Chain, r.Seq)
		if a := r.Approval; a != nil && a.Method == "webauthn" {
			over := "over this document's SHA-256"
			if !r.ThisDocument {
				over = fmt.Sprintf("over the document with SHA-256 %s, which this revision is not the seal of", r.DocumentSHA256)
			}
			who := a.Approver
			if who == "" {
				who = r.Actor
			}
			r.Summary = fmt.Sprintf("sealed through sealkeep: %s %s v%d, approved by %s's passkey %q %s, request %s (audit entry %s #%d)",
				r.Org, r.Identity, r.Version, who, a.Passkey, over, req, r.Chain, r.Seq)
		}
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

// revisionSHA256 is the SHA-256 (hex) of the file up to the end of the
// signature's byte range: the revision it signed ("" if it cannot be
// read).
func (v *verifier) revisionSHA256(s *Signature) string {
	br := s.ByteRange
	if len(br) != 4 || br[2] < 0 || br[3] < 0 || br[2]+br[3] > v.size {
		return ""
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(v.ra, 0, br[2]+br[3])); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
