package auth

import (
	"context"
	"fmt"
	"maps"
	"sealkeep/internal/errs"
	"slices"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// ErrMismatch reports stored accounts or memberships that differ from the
// audit trail: a row written or edited outside sealkeep.
var ErrMismatch = errs.New(errs.Verification, "stored accounts differ from the audit trail")

// CheckAccounts proves that the stored accounts are the audit trail's:
// every user was created by a user.create entry with the same login and
// operator flag (and every such entry's user exists), and every org's
// memberships are the fold of member.add, member.role and member.remove
// over its chain. An insider who inserts an operator account or grants
// himself a role in the database is named here; run it with audit verify.
func (s *Service) CheckAccounts(ctx context.Context) error {
	return s.st.View(ctx, func(tx store.ReadTx) error {
		type created struct {
			login    string
			operator bool
		}
		want := map[string]created{}
		if err := tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == audit.ActionUserCreate {
				want[e.Details[audit.DetailUser]] = created{e.Details[audit.DetailLogin], e.Details["operator"] == "true"}
			}
			return nil
		}); err != nil {
			return err
		}
		users, err := tx.Users()
		if err != nil {
			return err
		}
		for _, u := range users {
			c, ok := want[u.ID]
			switch {
			case !ok:
				return fmt.Errorf("%w: user %q has no user.create entry", ErrMismatch, u.ID)
			case c.login != u.Login:
				return fmt.Errorf("%w: user %q has login %q, the trail says %q", ErrMismatch, u.ID, u.Login, c.login)
			case c.operator != u.Operator:
				return fmt.Errorf("%w: user %q has operator=%v, the trail says %v", ErrMismatch, u.ID, u.Operator, c.operator)
			}
			delete(want, u.ID)
		}
		if len(want) > 0 {
			return fmt.Errorf("%w: users %q were created but are not stored", ErrMismatch, slices.Sorted(maps.Keys(want)))
		}
		orgs, err := tx.Orgs()
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if err := checkMembers(tx, o.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkMembers compares an org's stored memberships with the fold of its
// chain.
func checkMembers(tx store.ReadTx, org string) error {
	fold := map[string]string{}
	if err := tx.AuditEntries(org, 1, func(e audit.Entry) error {
		switch u := e.Details[audit.DetailUser]; e.Action {
		case audit.ActionMemberAdd, audit.ActionMemberRole:
			fold[u] = e.Details[audit.DetailRole]
		case audit.ActionMemberRemove:
			delete(fold, u)
		}
		return nil
	}); err != nil {
		return err
	}
	ms, err := tx.Memberships(org)
	if err != nil {
		return err
	}
	for _, m := range ms {
		role, ok := fold[m.UserID]
		if !ok || role != m.Role {
			return fmt.Errorf("%w: user %q is stored as %s of org %q, the trail says %q", ErrMismatch, m.UserID, m.Role, org, role)
		}
		delete(fold, m.UserID)
	}
	if len(fold) > 0 {
		return fmt.Errorf("%w: members %q of org %q are in the trail but not stored", ErrMismatch, slices.Sorted(maps.Keys(fold)), org)
	}
	return nil
}
