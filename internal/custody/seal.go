package custody

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"maps"
	"strings"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// SealKey is an identity's active version opened for one seal: its signer
// and certificates, and who owns it. It is what the seal pipeline
// (internal/seal) signs with; the pipeline, not custody, checks the
// owner's approval.
type SealKey struct {
	Org, Identity string
	// Owner is the user ID of the sealer who owns the identity: the only
	// user whose approval can seal with it.
	Owner   string
	Version int
	// Signer signs through [Service.Signer]: a local key is decrypted,
	// used and zeroed inside each Sign call.
	Signer crypto.Signer
	Leaf   *x509.Certificate
	Chain  []*x509.Certificate
	// Thumbprint is the SHA-256 (hex) of Leaf's DER.
	Thumbprint string
	// Provider names where the key lives: "local" (in custody) or the
	// scheme of its key URI ("awskms", "pkcs11", ...).
	Provider string
}

// ActiveKey opens the active version of identity for sealing: the version
// the verified fold of the org's chain makes active, checked (with the
// identity's other versions) against the store as [Service.Signer] checks
// it. It refuses (wrapping [ErrForbidden]) an identity with no active
// version; a stored state that differs from the trail is an
// [ErrStateMismatch], audited.
func (s *Service) ActiveKey(ctx context.Context, actor audit.Actor, identity string) (SealKey, error) {
	var ident store.Identity
	var v store.Version
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		state, err := s.foldOrg(tx, ident.OrgID)
		if err != nil {
			return err
		}
		n, ok := state.Active(identity)
		if !ok {
			return fmt.Errorf("identity %q has no active version: %w", identity, ErrForbidden)
		}
		v, err = checkedVersionIn(tx, state, ident, n)
		return err
	})
	if err != nil {
		return SealKey{}, s.refused(ctx, actor, ident, v.Version, err)
	}
	certs, err := parseCerts(append([][]byte{v.CertDER}, v.ChainDER...))
	if err != nil {
		return SealKey{}, fmt.Errorf("stored certificate of identity %q version %d: %w", identity, v.Version, err)
	}
	// The version is active by the fold it was checked against, so
	// neither revoked nor destroyed: its signer is built from this read.
	sgn, err := s.signerFor(ctx, actor, ident, v)
	if err != nil {
		return SealKey{}, err
	}
	return SealKey{Org: ident.OrgID, Identity: ident.ID, Owner: ident.Owner, Version: v.Version,
		Signer: sgn, Leaf: certs[0], Chain: certs[1:], Thumbprint: thumbprint(v.CertDER), Provider: provider(v.KeyRef)}, nil
}

// provider is the provider name of a key reference: "local", or the
// scheme of an external key URI.
func provider(keyRef string) string {
	if keyRef == KeyRefLocal {
		return KeyRefLocal
	}
	scheme, _, _ := strings.Cut(keyRef, ":")
	return scheme
}

// RecordSeal writes the seal entry of a seal made with key, in one
// transaction that locks the org's chain: by the verified fold of the
// chain (checked against the store, [ErrStateMismatch] otherwise) the
// version must still be the identity's active one and hold the same
// certificate (a rotation, revoke
// or destroy since the key was opened refuses the record, wrapping
// [ErrTransition] or [ErrConflict]), no seal entry may have used the same
// approval (intent_sha256; [ErrConflict]: an approval seals once), and
// the entry must pass
// [audit.CheckSeal] ([ErrInvalidInput] otherwise). Once the entry is
// appended, commit (if not nil) runs in the same transaction with the
// entry: the seal pipeline records the approval there (the step-up's
// single-use record), and its caller what it keeps with the seal, so that
// all of it commits together or not at all. An error from commit rolls
// everything back and is returned wrapped. The seal pipeline releases the
// sealed file only once this returns without error.
func (s *Service) RecordSeal(ctx context.Context, actor audit.Actor, key SealKey, details map[string]string, commit func(store.Tx, audit.Entry) error) (audit.Entry, error) {
	d := maps.Clone(details)
	d[audit.DetailThumbprint] = key.Thumbprint
	e := s.entry(key.Org, actor, audit.ActionSeal, audit.Subject{Org: key.Org, Identity: key.Identity, Version: key.Version}, d)
	if err := audit.CheckSeal(e); err != nil {
		return audit.Entry{}, invalid(err)
	}
	var out audit.Entry
	ident := store.Identity{ID: key.Identity, OrgID: key.Org}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(key.Org); err != nil {
			return err
		}
		v, state, err := s.checkedVersion(tx, ident, key.Version)
		if err != nil {
			return err
		}
		if err := state.Check(e); err != nil {
			return fmt.Errorf("identity %q version %d: %w", key.Identity, key.Version, err)
		}
		if thumbprint(v.CertDER) != key.Thumbprint {
			return fmt.Errorf("identity %q version %d holds another certificate than the one that sealed: %w", key.Identity, key.Version, ErrConflict)
		}
		used, err := tx.AuditSeals(audit.DetailIntentSHA256, d[audit.DetailIntentSHA256])
		if err != nil {
			return err
		}
		if len(used) > 0 {
			return fmt.Errorf("this approval was used by seal entry %s #%d already; an approval seals once: %w", used[0].Chain, used[0].Seq, ErrConflict)
		}
		if out, err = tx.AppendAudit(e); err != nil || commit == nil {
			return err
		}
		return commit(tx, out)
	})
	if err != nil {
		return audit.Entry{}, fmt.Errorf("record seal: %w", s.refused(ctx, actor, ident, key.Version, err))
	}
	s.log.InfoContext(ctx, "sealed", "identity", key.Identity, "version", key.Version, "seq", out.Seq)
	return out, nil
}
