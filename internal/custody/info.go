package custody

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
)

// VersionInfo describes a certificate version for people and scripts. It
// holds no key material.
type VersionInfo struct {
	Org        string     `json:"org"`
	Identity   string     `json:"identity"`
	Version    int        `json:"version"`
	Status     string     `json:"status"`
	KeyRef     string     `json:"key_ref"`
	KeyPresent bool       `json:"key_present"` // false once destroyed
	Algorithm  string     `json:"algorithm,omitempty"`
	Thumbprint string     `json:"thumbprint,omitempty"` // SHA-256 of the certificate DER
	Subject    string     `json:"subject,omitempty"`
	Issuer     string     `json:"issuer,omitempty"`
	Serial     string     `json:"serial,omitempty"` // hex
	NotBefore  *time.Time `json:"not_before,omitempty"`
	NotAfter   *time.Time `json:"not_after,omitempty"`
	ChainLen   int        `json:"chain_length"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// History is the version's audit trail, oldest first (Version only).
	History []HistoryEntry `json:"history,omitempty"`
}

// HistoryEntry is one audit entry about a version.
type HistoryEntry struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   audit.Actor       `json:"actor"`
	Action  audit.Action      `json:"action"`
	Details map[string]string `json:"details,omitempty"`
}

// describe summarises a stored version; certificate fields stay empty when
// the version has none (pending) or it does not parse.
func describe(ident store.Identity, v store.Version) VersionInfo {
	out := VersionInfo{Org: ident.OrgID, Identity: v.IdentityID, Version: v.Version, Status: v.Status,
		KeyRef: v.KeyRef, KeyPresent: len(v.KeyBlob) > 0, ChainLen: len(v.ChainDER),
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
	if pub, err := x509.ParsePKIXPublicKey(v.PublicKey); err == nil {
		out.Algorithm, _ = keypolicy.CheckPublicKey(pub)
	}
	if v.CertDER == nil {
		return out
	}
	out.Thumbprint = thumbprint(v.CertDER)
	if c, err := x509.ParseCertificate(v.CertDER); err == nil {
		out.Subject = c.Subject.String()
		out.Issuer = c.Issuer.String()
		out.Serial = hex.EncodeToString(c.SerialNumber.Bytes())
		nb, na := c.NotBefore.UTC(), c.NotAfter.UTC()
		out.NotBefore, out.NotAfter = &nb, &na
	}
	return out
}

// Versions lists an identity's versions (without history), as
// [Service.CheckedIdentity] checks them against the audit trail first.
func (s *Service) Versions(ctx context.Context, actor audit.Actor, identity string) ([]VersionInfo, error) {
	info, err := s.CheckedIdentity(ctx, actor, identity)
	if err != nil {
		return nil, err
	}
	return info.Versions, nil
}

// withHistory describes v with its history.
func withHistory(tx store.ReadTx, ident store.Identity, v store.Version) (VersionInfo, error) {
	out := describe(ident, v)
	vs := strconv.Itoa(v.Version)
	err := tx.AuditEntries(ident.OrgID, 1, func(e audit.Entry) error {
		if e.Subject.Identity != ident.ID {
			return nil
		}
		if e.Subject.Version == v.Version || (e.Action == audit.ActionVersionRotate && e.Details[audit.DetailOldVersion] == vs) {
			out.History = append(out.History, HistoryEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Details: e.Details})
		}
		return nil
	})
	return out, err
}

// CheckedIdentity returns an identity and its versions (without history),
// with every version of the identity checked against the verified fold of
// its org's chain first, as a lifecycle change checks it: what it shows is what the audit trail
// records. A stored state that differs (or a chain that does not verify)
// is an [ErrStateMismatch], audited as security.state_mismatch by actor.
func (s *Service) CheckedIdentity(ctx context.Context, actor audit.Actor, identity string) (IdentityInfo, error) {
	var out IdentityInfo
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if out.Identity, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		state, err := s.foldOrg(tx, out.OrgID)
		if err != nil {
			return err
		}
		if err := checkIdentity(tx, state, identity); err != nil {
			return err
		}
		vs, err := tx.Versions(identity)
		if err != nil {
			return corrupt(err)
		}
		out.Versions = make([]VersionInfo, 0, len(vs))
		for _, v := range vs {
			out.Versions = append(out.Versions, describe(out.Identity, v))
		}
		return nil
	})
	if err != nil {
		return IdentityInfo{}, s.refused(ctx, actor, out.Identity, 0, err)
	}
	return out, nil
}

// CheckedVersion describes one version with its history from the audit
// trail (every entry whose subject is that version, including the rotation
// that superseded it), with the identity's versions checked against the
// verified fold of its org's chain first, as [Service.CheckedIdentity]
// checks them.
func (s *Service) CheckedVersion(ctx context.Context, actor audit.Actor, identity string, version int) (VersionInfo, error) {
	var ident store.Identity
	var out VersionInfo
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		v, _, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		out, err = withHistory(tx, ident, v)
		return err
	})
	if err != nil {
		return VersionInfo{}, s.refused(ctx, actor, ident, version, err)
	}
	return out, nil
}

// CSR returns the PKCS#10 request (DER) made when a version's key was
// generated in custody or referenced in a KMS or HSM; an imported version
// has none (ErrNotFound). The trail does not record the request itself,
// so it is checked against what it does record: the request must be
// self-signed by the version's public key, which [Service.CheckedIdentity]
// checks against the trail (a request for another key is an
// [ErrStateMismatch]). Call that first.
func (s *Service) CSR(ctx context.Context, identity string, version int) ([]byte, error) {
	var csr []byte
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		v, err := tx.Version(identity, version)
		if err != nil {
			return lookup(err, "identity %q version %d", identity, version)
		}
		if len(v.CSR) == 0 {
			return fmt.Errorf("identity %q version %d has no CSR (its key and certificate were imported): %w", identity, version, ErrNotFound)
		}
		req, err := x509.ParseCertificateRequest(v.CSR)
		if err == nil {
			err = req.CheckSignature()
		}
		pub, perr := x509.ParsePKIXPublicKey(v.PublicKey)
		if err != nil || perr != nil || !keypolicy.PublicKeysEqual(req.PublicKey, pub) {
			return mismatchf("identity %q version %d holds a CSR that is not signed by the version's key", identity, version)
		}
		csr = v.CSR
		return nil
	})
	return csr, err
}

// Certificate returns a version's certificate DER and its chain, as stored.
func (s *Service) Certificate(ctx context.Context, identity string, version int) (leaf []byte, chain [][]byte, err error) {
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		v, err := tx.Version(identity, version)
		if err != nil {
			return lookup(err, "identity %q version %d", identity, version)
		}
		if v.CertDER == nil {
			return fmt.Errorf("identity %q version %d has no certificate yet (%s): %w", identity, version, v.Status, ErrNotFound)
		}
		leaf, chain = v.CertDER, v.ChainDER
		return nil
	})
	return leaf, chain, err
}
