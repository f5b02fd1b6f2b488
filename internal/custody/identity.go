package custody

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// IdentitySpec describes a new signing identity.
type IdentitySpec struct {
	// ID is optional; a random "idt-" ID is chosen when empty.
	ID    string
	Org   string
	Owner string // the user (sealer) who owns it
	Name  string // e.g. "Jane Doe, P.E. 12345, Texas"
}

// CreateIdentity creates a signing identity in an org and audits
// identity.create in the org's chain.
func (s *Service) CreateIdentity(ctx context.Context, actor audit.Actor, spec IdentitySpec) (store.Identity, error) {
	if spec.ID == "" {
		var b [5]byte
		if _, err := rand.Read(b[:]); err != nil {
			return store.Identity{}, err
		}
		spec.ID = "idt-" + hex.EncodeToString(b[:])
	}
	if err := checkID("identity", spec.ID); err != nil {
		return store.Identity{}, err
	}
	if strings.TrimSpace(spec.Owner) == "" || strings.TrimSpace(spec.Name) == "" {
		return store.Identity{}, invalidf("an identity needs an owner and a name")
	}
	if len(spec.Owner) > 200 || len(spec.Name) > 500 {
		return store.Identity{}, invalidf("owner or name too long (owner at most 200 bytes, name 500)")
	}
	id := store.Identity{ID: spec.ID, OrgID: spec.Org, Owner: spec.Owner, Name: spec.Name, CreatedAt: s.now()}
	if !utf8.ValidString(spec.Owner) || !utf8.ValidString(spec.Name) || strings.ContainsRune(spec.Owner+spec.Name, 0) {
		return store.Identity{}, invalidf("owner and name must be UTF-8 text")
	}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(spec.Org); err != nil {
			return err
		}
		if _, err := tx.Org(spec.Org); err != nil {
			return lookup(err, "org %q", spec.Org)
		}
		if _, err := tx.Identity(spec.ID); err == nil {
			return fmt.Errorf("identity %q: %w", spec.ID, ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.PutIdentity(id); err != nil {
			return err
		}
		_, err := tx.AppendAudit(s.entry(spec.Org, actor, audit.ActionIdentityCreate,
			audit.Subject{Org: spec.Org, Identity: spec.ID}, map[string]string{audit.DetailOwner: spec.Owner, "name": spec.Name}))
		return err
	})
	if err != nil {
		return store.Identity{}, fmt.Errorf("create identity: %w", err)
	}
	return id, nil
}

// Identities lists the identities of an org.
func (s *Service) Identities(ctx context.Context, org string) ([]store.Identity, error) {
	var out []store.Identity
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		if _, err := tx.Org(org); err != nil {
			return lookup(err, "org %q", org)
		}
		var err error
		out, err = tx.Identities(org)
		return err
	})
	return out, err
}

// IdentityInfo is an identity with a summary of its versions.
type IdentityInfo struct {
	store.Identity
	Versions []VersionInfo `json:"versions"`
}
