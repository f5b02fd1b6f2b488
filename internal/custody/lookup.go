package custody

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
	// At is the version's status at the time asked about
	// ([audit.VersionState.StatusAt]: a revocation whose revoked_at is at
	// or before that time counts); Current is its status now.
	At      audit.Status `json:"status"`
	Current audit.Status `json:"current_status"`
	// RevokedAt is when the version was revoked, at the trail's full
	// (microsecond) precision; zero if it never was.
	RevokedAt    time.Time `json:"revoked_at"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// CertificateStatus finds the version that holds the certificate whose
// SHA-256 is certSHA256 (hex), and returns its status at time at and now,
// from one fold of its org's chain. ok is false when custody holds no such
// certificate. It needs no KEK.
//
// The certificate is looked up in the trail (the cert.import or
// cert.upload entry that recorded it, through the store's index on the
// entries themselves) and in the version rows. The lookup fails closed: the
// org's chain is verified and folded, and the version the trail records
// (with every other version of its identity) must be stored and agree with
// the fold, certificate hash included; a version row deleted, or its
// thumbprint cleared, while the trail records the certificate is a
// difference, and so is a row holding a certificate the trail never
// recorded. Any difference, or a chain that does not verify or fold, is an
// error wrapping [ErrStateMismatch], audited as security.state_mismatch
// (by actor) where it can be written. A verifier must treat an error as
// "custody status unknown", never as valid.
func (s *Service) CertificateStatus(ctx context.Context, actor audit.Actor, certSHA256 string, at time.Time) (CertStatus, bool, error) {
	b, err := hex.DecodeString(certSHA256)
	if err != nil || len(b) != sha256.Size {
		return CertStatus{}, false, invalidf("certificate SHA-256 %.80q is not 64 hex digits", certSHA256)
	}
	sum := [32]byte(b)
	var (
		ident store.Identity
		n     int
		out   CertStatus
		found bool
	)
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		rec, inTrail, err := trailRecord(tx.AuditByCertSHA256, sum, "certificate")
		if err != nil {
			return err
		}
		v, err := tx.VersionByCertSHA256(sum)
		stored := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return corrupt(err)
		}
		switch {
		case !inTrail && !stored:
			return nil
		case !inTrail:
			// The trail never recorded the certificate: the fold of the
			// row's org names the difference.
			ident.ID, n = v.IdentityID, v.Version
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
			return mismatchf("identity %q version %d holds certificate %x, which the audit trail never recorded", v.IdentityID, v.Version, sum)
		}
		ident, n = store.Identity{ID: rec.Subject.Identity, OrgID: rec.Chain}, rec.Subject.Version
		switch got, err := tx.Identity(ident.ID); {
		case errors.Is(err, store.ErrNotFound):
			return mismatchf("the audit trail of org %q records certificate %x in identity %q version %d, but the identity is not stored",
				ident.OrgID, sum, ident.ID, n)
		case err != nil:
			return corrupt(err)
		case got.OrgID != ident.OrgID:
			return mismatchf("the audit trail of org %q records certificate %x in identity %q version %d, but the identity is stored in org %q",
				ident.OrgID, sum, ident.ID, n, got.OrgID)
		}
		state, err := s.foldOrg(tx, ident.OrgID)
		if err != nil {
			return err
		}
		if err := checkIdentity(tx, state, ident.ID); err != nil {
			return err
		}
		cur := state.Version(ident.ID, n)
		if cur.CertSHA256 != hex.EncodeToString(sum[:]) {
			return mismatchf("entry %d of the audit trail of org %q records certificate %x in identity %q version %d, which the fold gives certificate %s",
				rec.Seq, ident.OrgID, sum, ident.ID, n, orNone(cur.CertSHA256))
		}
		if !stored || v.IdentityID != ident.ID || v.Version != n {
			return mismatchf("the audit trail records certificate %x in identity %q version %d, but no version row holds it there", sum, ident.ID, n)
		}
		out = CertStatus{Org: ident.OrgID, Identity: ident.ID, Version: n, At: cur.StatusAt(at), Current: cur.Status,
			RevokedAt: cur.RevokedAt, RevokeReason: cur.RevokeReason}
		found = true
		return nil
	})
	if err != nil {
		return CertStatus{}, false, s.refused(ctx, actor, ident, n, err)
	}
	return out, found, nil
}

// trailRecord returns the entry that recorded a certificate or key (what)
// whose SHA-256 is sum, as find (a store's AuditByCertSHA256 or
// AuditBySPKISHA256) finds it: the first of them, after checking that they
// all name one version of one org (a key generated in a version and its
// certificate uploaded to it are two entries). ok is false when the trail
// records it nowhere. Entries that name two versions are an
// [ErrStateMismatch]: the trail breaks "one key, one place".
func trailRecord(find func([32]byte) ([]audit.Entry, error), sum [32]byte, what string) (e audit.Entry, ok bool, err error) {
	es, err := find(sum)
	if err != nil {
		return audit.Entry{}, false, corrupt(err)
	}
	for _, x := range es[min(1, len(es)):] {
		if x.Chain != es[0].Chain || x.Subject.Identity != es[0].Subject.Identity || x.Subject.Version != es[0].Subject.Version {
			return audit.Entry{}, false, mismatchf("the audit trail records %s %x twice: in org %q identity %q version %d (entry %d) and in org %q identity %q version %d (entry %d)",
				what, sum, es[0].Chain, es[0].Subject.Identity, es[0].Subject.Version, es[0].Seq, x.Chain, x.Subject.Identity, x.Subject.Version, x.Seq)
		}
	}
	if len(es) == 0 {
		return audit.Entry{}, false, nil
	}
	return es[0], true, nil
}
