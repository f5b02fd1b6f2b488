package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// Accounts made through the service have no password that anyone but
// their person knows: [Service.AddMember] creates the account with an
// unusable password and returns a one-time invitation token, which its
// creator (the operator for an org's first owner, an owner for a member)
// hands to the person; [Service.Activate] redeems it for the account's
// first password. The creator learns no password, the token works once,
// and a token used by someone else leaves the person unable to activate,
// which they notice and report (user.password with reason "activate" is
// in the trail).

// invitationPrefix marks an invitation token ("ski_" and 43 base64url
// characters, 256 random bits), as sessionPrefix and tokenPrefix do.
const invitationPrefix = "ski_"

// DefaultInvitationTTL is how long an invitation stays redeemable unless
// Options.InvitationTTL says otherwise.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Invitation is a new account's activation token, shown once to whoever
// made the account, and when it expires.
type Invitation struct {
	Token     *redact.Secret
	ExpiresAt time.Time
}

// Member is a membership with its user, for listings. Pending says the
// account was never activated; InvitationExpires is then when its
// invitation ends.
type Member struct {
	User              store.User
	Role              Role
	Since             time.Time
	Pending           bool
	InvitationExpires time.Time
}

// errInvitation is every refused invitation: unknown, used, replaced or
// expired, without saying which.
var errInvitation = fmt.Errorf("%w: the invitation is unknown, used or expired", ErrUnauthenticated)

// AddMember gives org a member with role: with newAccount, a new account
// with login and an invitation to activate it; otherwise the existing
// account with login (ErrNotFound if none; ErrConflict if it is a member
// already, whose role [Service.SetMember] changes, or was never
// activated). The actor must be an
// owner of the org, or the operator making the first owner of an org
// that has none; the operator account is never a member. One transaction:
// user.create and user.invite in the system chain, member.add in the
// org's.
func (s *Service) AddMember(ctx context.Context, actorID, org, login string, role Role, newAccount bool) (Member, *Invitation, error) {
	if !audit.ValidRole(string(role)) {
		return Member{}, nil, fmt.Errorf("%w: unknown role %q", ErrInvalidInput, role)
	}
	l, err := normLogin(login)
	if err != nil {
		return Member{}, nil, err
	}
	var u store.User
	var inv *Invitation
	var invRow store.Invitation
	m := Member{Role: role, Pending: newAccount}
	if newAccount {
		if u, err = s.unusableUser(ctx, l); err != nil {
			return Member{}, nil, err
		}
		inv, invRow = s.newInvitation(u.ID, actorID)
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if newAccount {
			// The system chain before the org's, as org creation does.
			if err := tx.LockChain(audit.SystemChain); err != nil {
				return err
			}
		}
		if err := lockOrgChain(tx, org); err != nil {
			return err
		}
		if _, err := mayGrant(tx, actorID, org, role); err != nil {
			return err
		}
		if newAccount {
			if err := s.putInvitedUser(tx, actorID, u, invRow); err != nil {
				return err
			}
		} else {
			var err error
			if u, err = tx.UserByLogin(l); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no account has login %q (add it as a new account): %w", l, ErrNotFound)
			} else if err != nil {
				return err
			}
			if u.Operator {
				return fmt.Errorf("%w: the operator account cannot be a member of an org", ErrForbidden)
			}
			if !u.DisabledAt.IsZero() {
				return fmt.Errorf("the account %q is disabled: %w", l, ErrConflict)
			}
			// A never-activated account stays in the one org that made
			// it: another org's owner could otherwise reinvite it and
			// take it over, with its first org's role.
			if _, err := tx.UserInvitation(u.ID); err == nil {
				return fmt.Errorf("the account %q has not been activated yet; add it once its person has: %w", l, ErrConflict)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if m, err := tx.Membership(org, u.ID); err == nil {
				return fmt.Errorf("%q is already a %s of org %q (change the role instead): %w", l, m.Role, org, ErrConflict)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		m.User, m.Since = u, s.now()
		if err := tx.PutMembership(store.Membership{OrgID: org, UserID: u.ID, Role: string(role), CreatedAt: m.Since}); err != nil {
			return err
		}
		_, err := tx.AppendAudit(s.entry(org, userActor(actorID), audit.ActionMemberAdd, audit.Subject{Org: org},
			map[string]string{audit.DetailUser: u.ID, audit.DetailRole: string(role)}))
		return err
	})
	if err != nil {
		if inv != nil {
			inv.Token.Zero()
		}
		return Member{}, nil, fmt.Errorf("add member %q to org %q: %w", l, org, err)
	}
	if inv != nil {
		m.InvitationExpires = inv.ExpiresAt
	}
	s.log.InfoContext(ctx, "member added", "org", org, "user", u.ID, "role", string(role), "new_account", newAccount)
	return m, inv, nil
}

// unusableUser returns a new account for login whose password hash is
// of 256 random bits that are dropped at once: nobody can sign in until
// the account is activated.
func (s *Service) unusableUser(ctx context.Context, login string) (store.User, error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	pw := redact.NewSecret([]byte(fmt.Sprintf("%x", raw)))
	clear(raw)
	defer pw.Zero()
	var hash string
	var herr error
	if err := s.hashing(ctx, func() { hash, herr = HashPassword(pw, s.params) }); err != nil {
		return store.User{}, err
	}
	if herr != nil {
		return store.User{}, herr
	}
	return store.User{ID: newID("u-"), Login: login, PasswordHash: hash, CreatedAt: s.now()}, nil
}

// newInvitation makes an invitation token for user and its row.
func (s *Service) newInvitation(userID, actorID string) (*Invitation, store.Invitation) {
	tok, hash := newToken(invitationPrefix)
	now := s.now()
	inv := &Invitation{Token: tok, ExpiresAt: now.Add(s.inviteTTL)}
	return inv, store.Invitation{UserID: userID, TokenHash: hash, CreatedBy: actorID, CreatedAt: now, ExpiresAt: inv.ExpiresAt}
}

// putInvitedUser stores a new account and its invitation, audited as
// user.create and user.invite; the system chain is locked.
func (s *Service) putInvitedUser(tx store.Tx, actorID string, u store.User, inv store.Invitation) error {
	if _, err := tx.UserByLogin(u.Login); err == nil {
		return fmt.Errorf("the login %q is taken (add the existing account instead): %w", u.Login, ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := tx.PutUser(u); err != nil {
		return err
	}
	if _, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(actorID), audit.ActionUserCreate, audit.Subject{}, map[string]string{
		audit.DetailUser: u.ID, audit.DetailLogin: u.Login, "operator": "false",
	})); err != nil {
		return err
	}
	return s.putInvitation(tx, actorID, inv)
}

// putInvitation stores an invitation, audited as user.invite.
func (s *Service) putInvitation(tx store.Tx, actorID string, inv store.Invitation) error {
	if err := tx.PutInvitation(inv); err != nil {
		return err
	}
	_, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(actorID), audit.ActionUserInvite, audit.Subject{}, map[string]string{
		audit.DetailUser: inv.UserID, "expires": inv.ExpiresAt.UTC().Format(time.RFC3339),
	}))
	return err
}

// mayGrant checks, in a transaction holding org's chain lock, that the
// actor may give role in org: an owner of the org may, and so may the
// operator making the first owner of an org that has no owner. It
// returns the number of owners.
func mayGrant(tx store.ReadTx, actorID, org string, role Role) (int, error) {
	actorRole, err := RoleIn(tx, actorID, org)
	if err != nil {
		return 0, err
	}
	owners, err := countOwners(tx, org)
	if err != nil {
		return 0, err
	}
	switch {
	case Allowed(actorRole, OpMembersManage, false):
	case Allowed(actorRole, OpOrgFirstOwner, false) && role == RoleOwner && owners == 0:
	default:
		return 0, fmt.Errorf("%w: only an owner of org %q manages its members", ErrForbidden, org)
	}
	return owners, nil
}

// Reinvite replaces the invitation of a member of org whose account was
// never activated (ErrConflict for an active account) and is a member of
// no other org, with a new one, for an invitation that expired or was
// lost. The actor must be an owner
// of the org, or the operator when the user is an owner and no owner of
// the org has activated their account (the operator made that owner and
// could not otherwise help). Audited as user.invite.
func (s *Service) Reinvite(ctx context.Context, actorID, org, userID string) (*Invitation, error) {
	inv, row := s.newInvitation(userID, actorID)
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(audit.SystemChain); err != nil {
			return err
		}
		if err := lockOrgChain(tx, org); err != nil {
			return err
		}
		m, err := tx.Membership(org, userID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user %q is not a member of org %q: %w", userID, org, ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := tx.UserInvitation(userID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("the account of user %q is already active: %w", userID, ErrConflict)
		} else if err != nil {
			return err
		}
		// Whoever gets the new token gets the account and every role it
		// has: only an account of this org alone is reinvited here.
		if ms, err := tx.UserMemberships(userID); err != nil {
			return err
		} else if len(ms) != 1 {
			return fmt.Errorf("%w: user %q is a member of other orgs too", ErrForbidden, userID)
		}
		actorRole, err := RoleIn(tx, actorID, org)
		if err != nil {
			return err
		}
		switch {
		case Allowed(actorRole, OpMembersManage, false):
		case Allowed(actorRole, OpOrgFirstOwner, false) && Role(m.Role) == RoleOwner:
			active, err := activeOwners(tx, org)
			if err != nil {
				return err
			}
			if active > 0 {
				return fmt.Errorf("%w: org %q has an active owner, who invites its members", ErrForbidden, org)
			}
		default:
			return fmt.Errorf("%w: only an owner of org %q invites its members", ErrForbidden, org)
		}
		return s.putInvitation(tx, actorID, row)
	})
	if err != nil {
		inv.Token.Zero()
		return nil, fmt.Errorf("reinvite user %q of org %q: %w", userID, org, err)
	}
	return inv, nil
}

// activeOwners counts the owners of org whose accounts were activated.
func activeOwners(tx store.ReadTx, org string) (int, error) {
	ms, err := tx.Memberships(org)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if Role(m.Role) != RoleOwner {
			continue
		}
		if _, err := tx.UserInvitation(m.UserID); errors.Is(err, store.ErrNotFound) {
			n++
		} else if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Activate redeems an invitation token for the account's first password
// and returns the account. The token must be unexpired and the account's
// current one; it works once (two redemptions at once: one wins). Any
// refusal is ErrUnauthenticated without saying why. Audited as
// user.password with reason "activate".
func (s *Service) Activate(ctx context.Context, token, password *redact.Secret) (store.User, error) {
	if !bytes.HasPrefix(token.Bytes(), []byte(invitationPrefix)) {
		return store.User{}, errInvitation
	}
	if err := checkPassword(password); err != nil {
		return store.User{}, err
	}
	h := digest(token.Bytes())
	var u store.User
	var inv store.Invitation
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if inv, err = tx.Invitation(h); errors.Is(err, store.ErrNotFound) {
			return errInvitation
		} else if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(inv.TokenHash, h) != 1 || !s.now().Before(inv.ExpiresAt) {
			return errInvitation
		}
		if u, err = activeUser(tx, inv.UserID); errors.Is(err, ErrUnauthenticated) {
			return errInvitation
		}
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	var hash string
	var herr error
	if err := s.hashing(ctx, func() { hash, herr = HashPassword(password, s.params) }); err != nil {
		return store.User{}, err
	}
	if herr != nil {
		return store.User{}, herr
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(audit.SystemChain); err != nil {
			return err
		}
		// The invitation must still be there and the same: a concurrent
		// redemption deleted it, a reissue replaced it.
		cur, err := tx.Invitation(h)
		if errors.Is(err, store.ErrNotFound) || (err == nil && cur.UserID != u.ID) {
			return errInvitation
		} else if err != nil {
			return err
		}
		if err := tx.DeleteInvitation(u.ID); err != nil {
			return err
		}
		return s.setPasswordHashTx(tx, u.ID, u.PasswordHash, hash, "activate", true)
	})
	if err != nil {
		return store.User{}, fmt.Errorf("activate an account: %w", err)
	}
	s.log.InfoContext(ctx, "account activated", "user", u.ID)
	return u, nil
}

// Members lists the members of org with their accounts, by user ID. The
// caller checks that the actor may read them ([OpMembersRead]).
func (s *Service) Members(ctx context.Context, org string) ([]Member, error) {
	var out []Member
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		if _, err := tx.Org(org); err != nil {
			return err
		}
		ms, err := tx.Memberships(org)
		if err != nil {
			return err
		}
		for _, m := range ms {
			u, err := tx.User(m.UserID)
			if err != nil {
				return err
			}
			mem := Member{User: u, Role: Role(m.Role), Since: m.CreatedAt}
			if inv, err := tx.UserInvitation(u.ID); err == nil {
				mem.Pending, mem.InvitationExpires = true, inv.ExpiresAt
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			out = append(out, mem)
		}
		return nil
	})
	return out, err
}

// Memberships lists the orgs a user is a member of, with the roles, by
// org ID (none for the operator).
func (s *Service) Memberships(ctx context.Context, userID string) ([]store.Membership, error) {
	var out []store.Membership
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = tx.UserMemberships(userID)
		return err
	})
	return out, err
}

// UserByLogin returns the account with login (ErrNotFound if none).
func (s *Service) UserByLogin(ctx context.Context, login string) (store.User, error) {
	l, err := normLogin(login)
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		u, err = tx.UserByLogin(l)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account has login %q: %w", l, ErrNotFound)
		}
		return err
	})
	return u, err
}

// Reauthenticate checks the password of a signed-in user before a change
// that needs more than a session or token (enrolling TOTP): a wrong
// password counts towards the account's lockout and is
// ErrUnauthenticated; a locked account is a [*LockedError].
func (s *Service) Reauthenticate(ctx context.Context, userID string, password *redact.Secret, client string) error {
	_, err := s.checkOwnPassword(ctx, userID, password, client)
	return err
}

// checkOwnPassword verifies the password of an enabled user, with the
// lockout rules, and returns the user.
func (s *Service) checkOwnPassword(ctx context.Context, userID string, password *redact.Secret, client string) (store.User, error) {
	if err := checkClient(client); err != nil {
		return store.User{}, err
	}
	var u store.User
	if err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		u, err = activeUser(tx, userID)
		return err
	}); err != nil {
		return store.User{}, err
	}
	keys := s.limitKeys(u.Login, client)
	if err := s.checkLocked(ctx, keys); err != nil {
		return store.User{}, err
	}
	var ok bool
	var verr error
	if err := s.hashing(ctx, func() { ok, _, verr = VerifyPassword(password, u.PasswordHash, s.params) }); err != nil {
		return store.User{}, err
	}
	if verr != nil || !ok {
		return store.User{}, errors.Join(ErrUnauthenticated, s.countFailure(ctx, keys, userID))
	}
	return u, nil
}
