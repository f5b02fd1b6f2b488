package custody

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// idPattern is the form of org and identity IDs: they name audit chains and
// appear in key-blob additional data, so they are short and plain.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// checkID validates an org or identity ID.
func checkID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return invalidf("%s ID %q: use 1-63 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", kind, id)
	}
	return nil
}

// CreateOrg creates organization id (display name name) with its first
// DEK, wrapped under the active KEK version. It writes org.create in the
// system chain and org.create then dek.create in the org's chain, all in one
// transaction.
func (s *Service) CreateOrg(ctx context.Context, actor audit.Actor, id, name string) (store.Org, error) {
	if err := checkID("org", id); err != nil {
		return store.Org{}, err
	}
	if id == audit.SystemChain {
		return store.Org{}, invalidf("org ID %q is reserved for the system audit chain", id)
	}
	if name == "" {
		name = id
	}
	org := store.Org{ID: id, Name: name, CreatedAt: s.now()}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(audit.SystemChain); err != nil {
			return err
		}
		if err := tx.LockChain(id); err != nil {
			return err
		}
		if _, err := tx.Org(id); err == nil {
			return fmt.Errorf("org %q: %w", id, ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.PutOrg(org); err != nil {
			return err
		}
		subj := audit.Subject{Org: id}
		if _, err := tx.AppendAudit(s.entry(audit.SystemChain, actor, audit.ActionOrgCreate, subj, map[string]string{"name": name})); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(s.entry(id, actor, audit.ActionOrgCreate, subj, map[string]string{"name": name})); err != nil {
			return err
		}
		return s.putNewDEK(ctx, tx, actor, id, 1)
	})
	if err != nil {
		return store.Org{}, fmt.Errorf("create org %q: %w", id, err)
	}
	s.log.InfoContext(ctx, "org created", "org", id)
	return org, nil
}

// putNewDEK makes DEK version v of org, wraps it under the active KEK,
// stores it and audits dek.create in the org chain.
func (s *Service) putNewDEK(ctx context.Context, tx store.Tx, actor audit.Actor, org string, v uint32) error {
	dek, err := envelope.NewDEK(org, v)
	if err != nil {
		return err
	}
	defer dek.Zero()
	wrapped, kekV, err := envelope.WrapDEK(ctx, s.kek, dek)
	if err != nil {
		return fmt.Errorf("wrap DEK: %w", err)
	}
	if err := tx.PutDEK(store.WrappedDEK{OrgID: org, Version: v, KEKVersion: kekV, Wrapped: wrapped, CreatedAt: s.now()}); err != nil {
		return err
	}
	_, err = tx.AppendAudit(s.entry(org, actor, audit.ActionDEKCreate, audit.Subject{Org: org}, map[string]string{
		audit.DetailDEKVersion: strconv.FormatUint(uint64(v), 10),
		audit.DetailKEKVersion: strconv.FormatUint(uint64(kekV), 10),
	}))
	return err
}

// Orgs lists every organization.
func (s *Service) Orgs(ctx context.Context) ([]store.Org, error) {
	var out []store.Org
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = tx.Orgs()
		return err
	})
	return out, err
}

// latestDEK returns the newest DEK row of org.
func latestDEK(tx store.ReadTx, org string) (store.WrappedDEK, error) {
	deks, err := tx.DEKs(org)
	if err != nil {
		return store.WrappedDEK{}, err
	}
	if len(deks) == 0 {
		return store.WrappedDEK{}, mismatchf("org %q has no data key row", org)
	}
	return deks[len(deks)-1], nil
}

// encryptionDEK returns org's DEK for one more encryption, unwrapped: the
// newest version, or a new version when the newest has used its nonce
// budget (the new version is stored and audited in its own transaction).
// The caller zeroes it and counts the encryption with [countEncryption] in
// the transaction that stores the ciphertext.
func (s *Service) encryptionDEK(ctx context.Context, actor audit.Actor, org string) (*envelope.DEK, error) {
	for range 3 {
		var row store.WrappedDEK
		err := s.st.View(ctx, func(tx store.ReadTx) error {
			var err error
			row, err = latestDEK(tx, org)
			return err
		})
		if err != nil {
			return nil, err
		}
		if row.Encryptions+1 < s.maxEnc {
			return s.unwrapDEK(ctx, actor, row)
		}
		err = s.st.Update(ctx, func(tx store.Tx) error {
			if err := tx.LockChain(org); err != nil {
				return err
			}
			cur, err := latestDEK(tx, org)
			if err != nil {
				return err
			}
			if cur.Version != row.Version {
				return nil // another process rotated it first
			}
			return s.putNewDEK(ctx, tx, actor, org, cur.Version+1)
		})
		if err != nil {
			return nil, fmt.Errorf("new data key for org %q: %w", org, err)
		}
		s.log.InfoContext(ctx, "data key replaced before its nonce budget", "org", org, "old_dek_version", row.Version)
	}
	return nil, fmt.Errorf("data key of org %q changed concurrently: %w", org, ErrConflict)
}

// countEncryption records one encryption under DEK version v of org inside
// tx. It fails with ErrConflict if v is no longer the newest version or has
// reached its budget meanwhile (the caller's ciphertext is then discarded).
func (s *Service) countEncryption(tx store.Tx, org string, v uint32) error {
	row, err := latestDEK(tx, org)
	if err != nil {
		return err
	}
	if row.Version != v || row.Encryptions+1 >= s.maxEnc {
		return fmt.Errorf("data key of org %q: %w", org, errRace)
	}
	row.Encryptions++
	return tx.PutDEK(row)
}

// unwrapDEK unwraps a stored DEK, or takes it from the DEK cache when one
// is configured. An authentication failure (the row was copied from another
// org or version, or tampered with) is audited. The caller zeroes the DEK.
func (s *Service) unwrapDEK(ctx context.Context, actor audit.Actor, row store.WrappedDEK) (*envelope.DEK, error) {
	if s.dekCache != nil && !erased(row) {
		if dek, ok := s.dekCache.Get(row.OrgID, row.Version); ok {
			return dek, nil
		}
	}
	dek, err := envelope.UnwrapDEK(ctx, s.kek, row.OrgID, row.Version, row.KEKVersion, row.Wrapped)
	if err == nil {
		if s.dekCache != nil {
			s.dekCache.Put(dek)
		}
		return dek, nil
	}
	if errors.Is(err, envelope.ErrAuthentication) {
		e := s.entry(row.OrgID, actor, audit.ActionSecurityDecryptFailed, audit.Subject{Org: row.OrgID}, map[string]string{
			audit.DetailDEKVersion: strconv.FormatUint(uint64(row.Version), 10),
			audit.DetailKEKVersion: strconv.FormatUint(uint64(row.KEKVersion), 10),
			audit.DetailError:      "wrapped data key failed authentication",
		})
		return nil, errors.Join(fmt.Errorf("org %q data key %d: %w", row.OrgID, row.Version, err), s.recordSecurityEvent(ctx, e))
	}
	return nil, fmt.Errorf("org %q data key %d: %w", row.OrgID, row.Version, err)
}
