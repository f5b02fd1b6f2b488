package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// CertStatus is what custody knows of a certificate version, for a
// verifier: which version holds the certificate, its status at a given
// time and now, and its revocation.
type CertStatus struct {
	Org      string `json:"org"`
	Identity string `json:"identity"`
	Version  int    `json:"version"`
	// At is the version's status at the time asked about ([audit.StatusAt]:
	// a revocation whose revoked_at is at or before that time counts);
	// Current is its status now.
	At      audit.Status `json:"status"`
	Current audit.Status `json:"current_status"`
	// RevokedAt is when the version was revoked, at the trail's full
	// (microsecond) precision; zero if it never was.
	RevokedAt    time.Time `json:"revoked_at"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// CertificateStatus finds the version that holds the certificate whose
// SHA-256 is certSHA256 (hex) by the store's thumbprint index, and returns
// its status at time at and now. ok is false when custody holds no such
// certificate. It needs no KEK.
//
// The lookup fails closed: the org's chain is verified and folded, the
// version found (and every other version of its identity) must agree with
// the fold, certificate hash included; a chain that does not verify or
// fold, or any difference, is an error wrapping [ErrStateMismatch], audited
// as security.state_mismatch (by actor) where it can be written. A verifier
// must treat an error as "custody status unknown", never as valid.
func (s *Service) CertificateStatus(ctx context.Context, actor audit.Actor, certSHA256 string, at time.Time) (CertStatus, bool, error) {
	sum, err := hex.DecodeString(certSHA256)
	if err != nil || len(sum) != sha256.Size {
		return CertStatus{}, false, invalidf("certificate SHA-256 %.80q is not 64 hex digits", certSHA256)
	}
	var (
		ident store.Identity
		v     store.Version
		out   CertStatus
		found bool
	)
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		v, err = tx.VersionByCertSHA256([32]byte(sum))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return corrupt(err)
		}
		if got := sha256.Sum256(v.CertDER); !bytes.Equal(got[:], sum) {
			return mismatchf("identity %q version %d is indexed under certificate %s but holds %x", v.IdentityID, v.Version, certSHA256, got)
		}
		if ident, err = tx.Identity(v.IdentityID); err != nil {
			return corrupt(err)
		}
		state, err := s.foldOrg(tx, ident.OrgID)
		if err != nil {
			return err
		}
		if err := checkIdentity(tx, state, ident.ID); err != nil {
			return err
		}
		then, err := audit.StatusAt(audit.Walk(func(fn func(audit.Entry) error) error {
			return tx.AuditEntries(ident.OrgID, 1, fn)
		}), ident.ID, v.Version, at)
		if err != nil {
			return fmt.Errorf("%w: the audit trail of org %q: %w", ErrStateMismatch, ident.OrgID, err)
		}
		cur := state.Version(ident.ID, v.Version)
		out = CertStatus{Org: ident.OrgID, Identity: ident.ID, Version: v.Version, At: then.Status, Current: cur.Status,
			RevokedAt: cur.RevokedAt, RevokeReason: cur.RevokeReason}
		found = true
		return nil
	})
	if err != nil {
		return CertStatus{}, false, s.refused(ctx, actor, ident, v.Version, err)
	}
	return out, found, nil
}
