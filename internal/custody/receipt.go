package custody

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sealkeep/internal/errs"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Key origins: how a version's key came into custody, by the action that
// created the version in the trail.
const (
	// OriginGenerated: key.generate, the key was made inside custody and no
	// copy of it ever existed outside.
	OriginGenerated = "generated"
	// OriginImported: cert.import, the owner brought the key (and may
	// still hold a copy).
	OriginImported = "imported"
	// OriginExternal: key.external, the key lives in the customer's KMS or
	// HSM, which others may also use.
	OriginExternal = "external"
)

// ErrReceiptUnverified means custody cannot vouch for a seal receipt: the
// organization's chain does not verify or fold, or the entry the receipt
// index found is not the chain's entry at its place. A verifier treats it
// as "custody cannot say", never as a receipt.
var ErrReceiptUnverified = errs.New(errs.Unavailable, "the seal receipt cannot be verified")

// Receipt is what custody knows of one signature made by a version it
// holds: the version's key origin and the seal entry that records the
// signature, if there is one.
type Receipt struct {
	Org, Identity string
	Version       int
	// KeyOrigin is [OriginGenerated], [OriginImported] or [OriginExternal].
	KeyOrigin string
	// Entry is the seal entry whose signature_sha256 is the signature's
	// and whose thumbprint is the certificate's; nil when there is none.
	// It was read from a chain that verified (hashes, links, head record,
	// genesis) and folded.
	Entry *audit.Entry
	// ActorLogin is the login of the entry's actor, when the actor is a
	// user the store knows (a login never changes once created).
	ActorLogin string
	// Approval is what the entry's approval was found to be (its intent,
	// and for a passkey approval the credential the system chain
	// registered and its user's login), checked as audit verify checks
	// it; set with Entry.
	Approval *audit.SealApproval
}

// SealReceipt finds the seal entry of a signature: the one whose
// signature_sha256 detail is signatureSHA256 (the SHA-256, hex, of the CMS
// signature value) and whose thumbprint is certSHA256, made by the version
// holding that certificate. ok is false when no version holds the
// certificate. The org's chain is verified and folded first; a chain that
// does not, or an index entry that is not the chain's own, is an error
// wrapping [ErrReceiptUnverified], as is a seal entry whose approval does
// not verify ([audit.CheckSealApproval], against the system chain's
// passkeys), and stored versions of the identity that
// differ from the fold one wrapping [ErrStateMismatch] (not audited here:
// the custody status lookup that runs with it records it). It needs no
// KEK.
func (s *Service) SealReceipt(ctx context.Context, certSHA256, signatureSHA256 string) (Receipt, bool, error) {
	var out Receipt
	found := false
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		ident, v, ok, err := versionByThumbprint(tx, certSHA256)
		if err != nil || !ok {
			return err
		}
		found = true
		out = Receipt{Org: ident.OrgID, Identity: ident.ID, Version: v.Version}
		cands, err := tx.AuditSeals(audit.DetailSignatureSHA256, signatureSHA256)
		if err != nil {
			return err
		}
		want := map[uint64]audit.Entry{}
		for _, e := range cands {
			if e.Chain == ident.OrgID && e.Subject.Identity == ident.ID && e.Subject.Version == v.Version &&
				e.Details[audit.DetailThumbprint] == certSHA256 && e.Details[audit.DetailSignatureSHA256] == signatureSHA256 {
				want[e.Seq] = e
			}
		}
		if err := verifyReceipt(tx, ident.OrgID, v.Version, ident.ID, want, &out); err != nil || out.Entry == nil {
			return err
		}
		if e := out.Entry; e.Actor.Kind == audit.ActorUser {
			if u, err := tx.User(e.Actor.ID); err == nil {
				out.ActorLogin = u.Login
			}
		}
		var c approvalChecker
		if out.Entry.Details[audit.DetailMFAMethod] == audit.MethodWebAuthn {
			c.reg, c.regErr = loadPasskeys(tx)
		}
		ap, err := c.check(*out.Entry)
		if err != nil {
			return fmt.Errorf("%w: seal entry %d of org %q: %v", ErrReceiptUnverified, out.Entry.Seq, ident.OrgID, err)
		}
		out.Approval = &ap
		return nil
	})
	if err != nil {
		return Receipt{}, false, err
	}
	return out, found, nil
}

// verifyReceipt reads org's chain once: it verifies it (as
// [Service.VerifyChain] does: links, hashes, head record, org.create
// first), folds it, records the version's key origin and takes the first
// of the candidate seal entries, each of which must be the chain's entry
// at its seq. The identity's stored versions are checked against the fold
// ([ErrStateMismatch] otherwise).
func verifyReceipt(tx store.ReadTx, org string, version int, identity string, cands map[uint64]audit.Entry, out *Receipt) error {
	v := audit.NewVerifier(org)
	v.ExpectFirst(audit.ActionOrgCreate)
	switch rec, err := tx.AuditHeadRecord(org); {
	case err == nil:
		v.ExpectHead(&rec)
	case errors.Is(err, store.ErrNotFound):
		v.ExpectHead(nil)
	default:
		return err
	}
	state := new(audit.State)
	var foldErr error
	err := tx.AuditEntries(org, 1, func(e audit.Entry) error {
		if err := v.Add(e); err != nil {
			return err
		}
		if foldErr == nil {
			if err := state.Apply(e); err != nil {
				foldErr = fmt.Errorf("entry %d: %w", e.Seq, err)
			}
		}
		if e.Subject.Identity == identity && e.Subject.Version == version {
			switch e.Action {
			case audit.ActionKeyGenerate:
				out.KeyOrigin = OriginGenerated
			case audit.ActionCertImport:
				out.KeyOrigin = OriginImported
			case audit.ActionKeyExternal:
				out.KeyOrigin = OriginExternal
			}
		}
		if c, ok := cands[e.Seq]; ok {
			if c.Hash != e.Hash {
				return fmt.Errorf("%w: the receipt index found entry %d of chain %q with another hash than the chain's", ErrReceiptUnverified, e.Seq, org)
			}
			if out.Entry == nil {
				entry := e
				out.Entry = &entry
			}
			delete(cands, e.Seq)
		}
		return nil
	})
	if err != nil && !errors.Is(err, audit.ErrBroken) {
		return err
	}
	if rep := v.Report(); !rep.OK() {
		problem := rep.Err
		if rep.Break != nil {
			problem = rep.Break
		}
		return fmt.Errorf("%w: the audit chain of org %q does not verify: %v", ErrReceiptUnverified, org, problem)
	}
	if foldErr != nil {
		return fmt.Errorf("%w: the audit chain of org %q does not fold: %v", ErrReceiptUnverified, org, foldErr)
	}
	// The stored version (found by its certificate) and its identity's
	// others must be what the trail records: a certificate moved to
	// another version is not attributed to either.
	if err := checkIdentity(tx, state, identity); err != nil {
		return err
	}
	if len(cands) > 0 {
		return fmt.Errorf("%w: the receipt index names seal entries that chain %q does not hold", ErrReceiptUnverified, org)
	}
	if out.KeyOrigin == "" {
		return fmt.Errorf("%w: the audit chain of org %q does not record how identity %q version %d was created", ErrReceiptUnverified, org, identity, version)
	}
	return nil
}

// versionByThumbprint finds the version whose certificate has SHA-256
// certSHA256 (hex) by the store's thumbprint index, and its identity.
func versionByThumbprint(tx store.ReadTx, certSHA256 string) (store.Identity, store.Version, bool, error) {
	sum, err := hex.DecodeString(certSHA256)
	if err != nil || len(sum) != sha256.Size {
		return store.Identity{}, store.Version{}, false, invalidf("certificate SHA-256 %.80q is not 64 hex digits", certSHA256)
	}
	v, err := tx.VersionByCertSHA256([32]byte(sum))
	if errors.Is(err, store.ErrNotFound) {
		return store.Identity{}, store.Version{}, false, nil
	}
	if err != nil {
		return store.Identity{}, store.Version{}, false, corrupt(err)
	}
	if thumbprint(v.CertDER) != certSHA256 {
		return store.Identity{}, store.Version{}, false, fmt.Errorf("%w: identity %q version %d is indexed under certificate %s but holds another", ErrReceiptUnverified, v.IdentityID, v.Version, certSHA256)
	}
	ident, err := tx.Identity(v.IdentityID)
	if err != nil {
		return store.Identity{}, store.Version{}, false, corrupt(err)
	}
	return ident, v, true, nil
}
