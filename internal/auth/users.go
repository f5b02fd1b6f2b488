package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// Setup creates the platform operator on first run: it succeeds only on a
// store that has no user yet (ErrConflict otherwise). Audited as
// user.create by the system.
func (s *Service) Setup(ctx context.Context, login string, password *redact.Secret) (store.User, error) {
	return s.createUser(ctx, audit.Actor{Kind: audit.ActorSystem}, "", login, password, true)
}

// CreateUser creates an account (never an operator). The actor must be
// the operator (who creates each org's first owner) or an owner of some
// org (who adds members). Audited as user.create in the system chain.
func (s *Service) CreateUser(ctx context.Context, actorID, login string, password *redact.Secret) (store.User, error) {
	return s.createUser(ctx, userActor(actorID), actorID, login, password, false)
}

func (s *Service) createUser(ctx context.Context, actor audit.Actor, actorID, login string, password *redact.Secret, operator bool) (store.User, error) {
	l, err := normLogin(login)
	if err != nil {
		return store.User{}, err
	}
	if err := checkPassword(password); err != nil {
		return store.User{}, err
	}
	var hash string
	if err := s.hashing(ctx, func() { hash, err = HashPassword(password, s.params) }); err != nil {
		return store.User{}, err
	}
	if err != nil {
		return store.User{}, err
	}
	u := store.User{ID: newID("u-"), Login: l, PasswordHash: hash, Operator: operator, CreatedAt: s.now()}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(audit.SystemChain); err != nil {
			return err
		}
		if operator {
			users, err := tx.Users()
			if err != nil {
				return err
			}
			if len(users) > 0 {
				return fmt.Errorf("setup has already run (the store has users): %w", ErrConflict)
			}
		} else if err := mayCreateUsers(tx, actorID); err != nil {
			return err
		}
		if _, err := tx.UserByLogin(l); err == nil {
			return fmt.Errorf("the login is taken: %w", ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.PutUser(u); err != nil {
			return err
		}
		_, err := tx.AppendAudit(s.entry(audit.SystemChain, actor, audit.ActionUserCreate, audit.Subject{}, map[string]string{
			audit.DetailUser: u.ID, audit.DetailLogin: l, "operator": strconv.FormatBool(operator),
		}))
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	s.log.InfoContext(ctx, "user created", "user", u.ID, "operator", operator)
	return u, nil
}

// mayCreateUsers allows the operator and the owners of any org.
func mayCreateUsers(tx store.ReadTx, actorID string) error {
	a, err := activeUser(tx, actorID)
	if err != nil {
		return err
	}
	if a.Operator {
		return nil
	}
	ms, err := tx.UserMemberships(actorID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if Role(m.Role) == RoleOwner {
			return nil
		}
	}
	return fmt.Errorf("%w: only the operator and org owners create accounts", ErrForbidden)
}

// activeUser reads an enabled user; anything else is ErrUnauthenticated.
func activeUser(tx store.ReadTx, id string) (store.User, error) {
	u, err := tx.User(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.DisabledAt.IsZero()) {
		return store.User{}, ErrUnauthenticated
	}
	return u, err
}

// SetMember gives user the role in org, adding the membership or changing
// its role. The actor must be an owner of the org, or the operator making
// the first owner of an org that has none. The operator is never a
// member; the last owner cannot be demoted. Audited in the org's chain as
// member.add or member.role, in the same transaction.
func (s *Service) SetMember(ctx context.Context, actorID, org, userID string, role Role) error {
	return s.setMember(ctx, actorID, org, userID, role, false)
}

// SetRole is [Service.SetMember] for a member only: a user who is not a
// member of org (any more) is ErrNotFound, so that a role change racing
// a removal never adds the user back.
func (s *Service) SetRole(ctx context.Context, actorID, org, userID string, role Role) error {
	return s.setMember(ctx, actorID, org, userID, role, true)
}

func (s *Service) setMember(ctx context.Context, actorID, org, userID string, role Role, mustExist bool) error {
	if !audit.ValidRole(string(role)) {
		return fmt.Errorf("%w: unknown role %q", ErrInvalidInput, role)
	}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := lockOrgChain(tx, org); err != nil {
			return err
		}
		owners, err := mayGrant(tx, actorID, org, role)
		if err != nil {
			return err
		}
		target, err := tx.User(userID)
		if err != nil {
			return err
		}
		if target.Operator {
			return fmt.Errorf("%w: the operator account cannot be a member of an org", ErrForbidden)
		}
		details := map[string]string{audit.DetailUser: userID, audit.DetailRole: string(role)}
		action := audit.ActionMemberAdd
		old, err := tx.Membership(org, userID)
		switch {
		case err == nil && Role(old.Role) == role:
			return nil
		case errors.Is(err, store.ErrNotFound) && mustExist:
			return fmt.Errorf("user %q is not a member of org %q: %w", userID, org, ErrNotFound)
		case err == nil:
			if Role(old.Role) == RoleOwner && owners == 1 {
				return fmt.Errorf("user %q is the last owner of org %q; make another owner first: %w", userID, org, ErrConflict)
			}
			action, details[audit.DetailOldRole] = audit.ActionMemberRole, old.Role
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := tx.PutMembership(store.Membership{OrgID: org, UserID: userID, Role: string(role), CreatedAt: s.now()}); err != nil {
			return err
		}
		_, err = tx.AppendAudit(s.entry(org, userActor(actorID), action, audit.Subject{Org: org}, details))
		return err
	})
	if err != nil {
		return fmt.Errorf("set member %q of org %q: %w", userID, org, err)
	}
	return nil
}

// RemoveMember removes user from org; the actor must be an owner, and the
// last owner stays. Audited in the org's chain as member.remove.
func (s *Service) RemoveMember(ctx context.Context, actorID, org, userID string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := lockOrgChain(tx, org); err != nil {
			return err
		}
		if err := authorize(tx, actorID, OpMembersManage, Resource{Org: org}); err != nil {
			return err
		}
		old, err := tx.Membership(org, userID)
		if err != nil {
			return err
		}
		if Role(old.Role) == RoleOwner {
			if n, err := countOwners(tx, org); err != nil {
				return err
			} else if n == 1 {
				return fmt.Errorf("user %q is the last owner of org %q: %w", userID, org, ErrConflict)
			}
		}
		if err := tx.DeleteMembership(org, userID); err != nil {
			return err
		}
		_, err = tx.AppendAudit(s.entry(org, userActor(actorID), audit.ActionMemberRemove, audit.Subject{Org: org},
			map[string]string{audit.DetailUser: userID, audit.DetailOldRole: old.Role}))
		return err
	})
	if err != nil {
		return fmt.Errorf("remove member %q of org %q: %w", userID, org, err)
	}
	return nil
}

// lockOrgChain locks an org's chain after checking that the org exists
// and its chain was begun (by org.create): a membership entry never
// starts a chain that was deleted.
func lockOrgChain(tx store.Tx, org string) error {
	if _, err := tx.Org(org); err != nil {
		return err
	}
	if err := tx.LockChain(org); err != nil {
		return err
	}
	// LockChain made the head record if there was none; an org's chain
	// always has entries (org.create, dek.create).
	if h, err := tx.AuditHeadRecord(org); err != nil {
		return err
	} else if h.Seq == 0 {
		return fmt.Errorf("the audit chain of org %q is missing (deleted outside sealkeep?); run audit verify: %w", org, ErrConflict)
	}
	return nil
}

func countOwners(tx store.ReadTx, org string) (int, error) {
	ms, err := tx.Memberships(org)
	n := 0
	for _, m := range ms {
		if Role(m.Role) == RoleOwner {
			n++
		}
	}
	return n, err
}

// ChangePassword replaces a user's password after checking the old one
// (a failure counts towards the account's lockout) and ends every session
// of the user. Audited as user.password.
func (s *Service) ChangePassword(ctx context.Context, userID string, old, password *redact.Secret, client string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	u, err := s.checkOwnPassword(ctx, userID, old, client)
	if err != nil {
		return err
	}
	var hash string
	var herr error
	if err := s.hashing(ctx, func() { hash, herr = HashPassword(password, s.params) }); err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	return s.setPasswordHash(ctx, userID, u.PasswordHash, hash, "change", true)
}

// setPasswordHash replaces the hash if it is still from (a concurrent
// change wins otherwise), audits it and, for a change, ends the sessions.
func (s *Service) setPasswordHash(ctx context.Context, userID, from, hash, reason string, endSessions bool) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(audit.SystemChain); err != nil {
			return err
		}
		return s.setPasswordHashTx(tx, userID, from, hash, reason, endSessions)
	})
}

// setPasswordHashTx is setPasswordHash in tx, which holds the system
// chain's lock.
func (s *Service) setPasswordHashTx(tx store.Tx, userID, from, hash, reason string, endSessions bool) error {
	u, err := tx.User(userID)
	if err != nil {
		return err
	}
	if u.PasswordHash != from {
		return fmt.Errorf("the password changed meanwhile: %w", ErrConflict)
	}
	u.PasswordHash = hash
	if err := tx.UpdateUser(u); err != nil {
		return err
	}
	if endSessions {
		if err := tx.DeleteSessions(userID); err != nil {
			return err
		}
	}
	_, err = tx.AppendAudit(s.entry(audit.SystemChain, userActor(userID), audit.ActionUserPassword, audit.Subject{},
		map[string]string{audit.DetailUser: userID, audit.DetailReason: reason}))
	return err
}

// User returns an enabled account by ID (ErrNotFound otherwise).
func (s *Service) User(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		u, err = activeUser(tx, id)
		if errors.Is(err, ErrUnauthenticated) {
			return fmt.Errorf("user %q: %w", id, ErrNotFound)
		}
		return err
	})
	return u, err
}
