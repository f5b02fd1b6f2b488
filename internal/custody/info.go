package custody

import (
	"context"
	"crypto/x509"
	"encoding/hex"
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

// Versions lists an identity's versions (without history), after checking
// every stored version of the identity against the fold of its org's audit
// trail as the lifecycle commands do: a mismatch is an [ErrStateMismatch],
// audited as security.state_mismatch in actor's name, and nothing is listed.
func (s *Service) Versions(ctx context.Context, actor audit.Actor, identity string) ([]VersionInfo, error) {
	info, err := s.Identity(ctx, actor, identity)
	if err != nil {
		return nil, err
	}
	return info.Versions, nil
}

// Version describes one version with its history from the audit trail
// (every entry whose subject is that version, including the rotation that
// superseded it), after checking the identity's stored versions against the
// fold of the trail (see [Service.Versions]).
func (s *Service) Version(ctx context.Context, actor audit.Actor, identity string, version int) (VersionInfo, error) {
	var out VersionInfo
	var ident store.Identity
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		v, _, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		out = describe(ident, v)
		vs := strconv.Itoa(version)
		return tx.AuditEntries(ident.OrgID, 1, func(e audit.Entry) error {
			if e.Subject.Identity != identity {
				return nil
			}
			if e.Subject.Version == version || (e.Action == audit.ActionVersionRotate && e.Details[audit.DetailOldVersion] == vs) {
				out.History = append(out.History, HistoryEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Details: e.Details})
			}
			return nil
		})
	})
	if err != nil {
		return VersionInfo{}, s.refused(ctx, actor, ident, version, err)
	}
	return out, nil
}
