package auth_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres/pgtest"
)

// login signs in with a password only (accounts without TOTP).
func (f *fixture) login(login string, pw *redact.Secret) error {
	_, tok, err := f.svc.LoginAPIToken(f.ctx, auth.LoginRequest{Login: login, Password: pw}, "test", time.Hour)
	if err == nil {
		f.seen(tok)
	}
	return f.err(err)
}

// TestInvitations: an account made by the operator or an owner has no
// password anyone knows until its invitation is redeemed, once, before
// it expires; the person then signs in with their own password.
func TestInvitations(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{InvitationTTL: time.Hour})
		w := f.world()
		opActor := audit.Actor{Kind: audit.ActorUser, ID: w.op.ID}
		_, err := f.custody.CreateOrg(f.ctx, opActor, "globex", "Globex")
		f.must(err)
		ginaM, inv, err := f.svc.AddMember(f.ctx, w.op.ID, "globex", "Gina", auth.RoleOwner, true)
		f.must(err)
		f.seen(inv.Token)
		gina := ginaM.User
		if gina.Login != "gina" || !ginaM.Pending || ginaM.Role != auth.RoleOwner || !inv.ExpiresAt.Equal(f.clk.now().Add(time.Hour)) {
			t.Fatalf("new owner %+v, invitation expires %v", gina, inv.ExpiresAt)
		}
		// The operator may make no second owner, even while the first is
		// not active.
		_, _, err = f.svc.AddMember(f.ctx, w.op.ID, "globex", "mallory", auth.RoleOwner, true)
		f.wantErr("operator making a second owner", err, auth.ErrForbidden)
		ms, err := f.svc.Members(f.ctx, "globex")
		f.must(err)
		if len(ms) != 1 || !ms[0].Pending || ms[0].Role != auth.RoleOwner || !ms[0].InvitationExpires.Equal(inv.ExpiresAt) {
			t.Fatalf("members before activation: %+v", ms)
		}
		// Nobody can sign in before activation.
		f.wantErr("sign-in before activation", f.login("gina", f.secret("any password at all")), auth.ErrUnauthenticated)
		pw := f.secret("gina's own password")
		_, err = f.svc.Activate(f.ctx, inv.Token, f.secret("short"))
		f.wantErr("short password", err, auth.ErrInvalidInput)
		_, err = f.svc.Activate(f.ctx, f.secret("ski_"+string(inv.Token.Bytes()[4:10])), pw)
		f.wantErr("wrong token", err, auth.ErrUnauthenticated)
		_, err = f.svc.Activate(f.ctx, f.secret("skt_"+string(inv.Token.Bytes()[4:])), pw)
		f.wantErr("token of another kind", err, auth.ErrUnauthenticated)
		u, err := f.svc.Activate(f.ctx, inv.Token, pw)
		f.must(err)
		if u.ID != gina.ID {
			t.Fatalf("activated %q, want %q", u.ID, gina.ID)
		}
		_, err = f.svc.Activate(f.ctx, inv.Token, f.secret("someone else's password"))
		f.wantErr("second redemption", err, auth.ErrUnauthenticated)
		f.must(f.login("gina", pw))
		if ms, _ := f.svc.Members(f.ctx, "globex"); ms[0].Pending {
			t.Error("still pending after activation")
		}

		// An owner's new member, with an invitation that expires.
		gusM, inv2, err := f.svc.AddMember(f.ctx, gina.ID, "globex", "gus", auth.RoleSealer, true)
		f.must(err)
		gus := gusM.User
		f.seen(inv2.Token)
		f.clk.add(time.Hour)
		_, err = f.svc.Activate(f.ctx, inv2.Token, f.secret("gus password 12345"))
		f.wantErr("expired invitation", err, auth.ErrUnauthenticated)
		inv3, err := f.svc.Reinvite(f.ctx, gina.ID, "globex", gus.ID)
		f.must(err)
		f.seen(inv3.Token)
		_, err = f.svc.Reinvite(f.ctx, w.owner.ID, "globex", gus.ID)
		f.wantErr("another org's owner reinviting", err, auth.ErrForbidden)
		_, err = f.svc.Reinvite(f.ctx, w.op.ID, "globex", gus.ID)
		f.wantErr("operator reinviting a sealer", err, auth.ErrForbidden)
		_, err = f.svc.Reinvite(f.ctx, w.op.ID, "globex", gina.ID)
		f.wantErr("operator reinviting an active owner", err, auth.ErrConflict)
		_, err = f.svc.Reinvite(f.ctx, gina.ID, "globex", gina.ID)
		f.wantErr("reinviting an active account", err, auth.ErrConflict)
		// A pending account stays in its org: another org's owner could
		// otherwise reinvite it and take it over.
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "gus", auth.RoleAuditor, false)
		f.wantErr("adding another org's pending account", err, auth.ErrConflict)
		_, err = f.svc.Activate(f.ctx, inv2.Token, f.secret("gus password 12345"))
		f.wantErr("the replaced invitation", err, auth.ErrUnauthenticated)
		_, err = f.svc.Activate(f.ctx, inv3.Token, f.secret("gus password 12345"))
		f.must(err)

		// Existing accounts: added once, never the operator, never an
		// unknown login.
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "gus", auth.RoleAuditor, false)
		f.must(err)
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "gus", auth.RoleSealer, false)
		f.wantErr("adding a member twice", err, auth.ErrConflict)
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "operator", auth.RoleAuditor, false)
		f.wantErr("the operator as a member", err, auth.ErrForbidden)
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "nobody", auth.RoleAuditor, false)
		f.wantErr("an unknown login", err, auth.ErrNotFound)
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "gus", auth.RoleAuditor, true)
		f.wantErr("a new account with a taken login", err, auth.ErrConflict)
		_, _, err = f.svc.AddMember(f.ctx, w.jane.ID, "acme", "pete", auth.RolePreparer, true)
		f.wantErr("a sealer adding a member", err, auth.ErrForbidden)
		_, _, err = f.svc.AddMember(f.ctx, gina.ID, "acme", "pete", auth.RoleOwner, true)
		f.wantErr("another org's owner adding an owner", err, auth.ErrForbidden)
		_, _, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "pete", "admin", true)
		f.wantErr("unknown role", err, auth.ErrInvalidInput)

		if n := f.count(audit.SystemChain, audit.ActionUserInvite); n != 3 {
			t.Errorf("%d user.invite entries, want 3", n)
		}
		want := []audit.Action{audit.ActionOrgCreate, audit.ActionDEKCreate, audit.ActionMemberAdd, audit.ActionMemberAdd}
		if got := f.actions("globex"); !slices.Equal(got, want) {
			t.Errorf("globex chain %v, want %v", got, want)
		}
		f.verifyChains()
	})
}

// TestInvitationOperatorReinvite: the operator may renew the invitation
// of the first owner it made while no owner of the org is active, and
// not once one is.
func TestInvitationOperatorReinvite(t *testing.T) {
	f := newFixture(t, openSQLite(t), auth.Options{})
	w := f.world()
	_, err := f.custody.CreateOrg(f.ctx, audit.Actor{Kind: audit.ActorUser, ID: w.op.ID}, "initech", "")
	f.must(err)
	billM, inv, err := f.svc.AddMember(f.ctx, w.op.ID, "initech", "bill", auth.RoleOwner, true)
	f.must(err)
	bill := billM.User
	f.seen(inv.Token)
	inv2, err := f.svc.Reinvite(f.ctx, w.op.ID, "initech", bill.ID)
	f.must(err)
	f.seen(inv2.Token)
	_, err = f.svc.Activate(f.ctx, inv.Token, f.secret("bill password 12345"))
	f.wantErr("the first invitation after a reinvite", err, auth.ErrUnauthenticated)
	_, err = f.svc.Activate(f.ctx, inv2.Token, f.secret("bill password 12345"))
	f.must(err)
	// Bill adds a second owner; the operator cannot renew that one's
	// invitation since an owner is active.
	bobM, inv3, err := f.svc.AddMember(f.ctx, bill.ID, "initech", "bob", auth.RoleOwner, true)
	f.must(err)
	bob := bobM.User
	f.seen(inv3.Token)
	_, err = f.svc.Reinvite(f.ctx, w.op.ID, "initech", bob.ID)
	f.wantErr("operator reinviting with an active owner", err, auth.ErrForbidden)
	f.verifyChains()
}

// TestInvitationRace: two redemptions of one invitation at once, on two
// instances sharing one PostgreSQL database: exactly one sets the
// password.
func TestInvitationRace(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := newFixture(t, openPostgres(t, dsn), auth.Options{})
	w := a.world()
	b := a.sibling(openPostgres(t, dsn))
	_, inv, err := a.svc.AddMember(a.ctx, w.owner.ID, "acme", "pete", auth.RolePreparer, true)
	a.must(err)
	a.seen(inv.Token)
	pws := []*redact.Secret{a.secret("first password 12345"), a.secret("second password 12345")}
	out := make([]error, 2)
	var wg sync.WaitGroup
	for i, f := range []*fixture{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := redact.NewSecret(append([]byte(nil), inv.Token.Bytes()...))
			_, out[i] = f.svc.Activate(f.ctx, tok, pws[i])
			a.err(out[i])
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range out {
		switch {
		case err == nil && won >= 0:
			t.Fatal("both redemptions succeeded")
		case err == nil:
			won = i
		case !errors.Is(err, auth.ErrUnauthenticated) && !errors.Is(err, store.ErrConflict):
			t.Errorf("the losing redemption: %v", err)
		}
	}
	if won < 0 {
		t.Fatalf("no redemption succeeded: %v", out)
	}
	a.must(a.login("pete", pws[won]))
	a.wantErr("the loser's password", a.login("pete", pws[1-won]), auth.ErrUnauthenticated)
	if n := a.count(audit.SystemChain, audit.ActionUserPassword); n != 1 {
		t.Errorf("%d user.password entries, want 1", n)
	}
	a.verifyChains()
}

// TestReauthenticate: a wrong password counts towards the lockout.
func TestReauthenticate(t *testing.T) {
	f := newFixture(t, openSQLite(t), auth.Options{Limits: auth.Limits{AccountFailures: 2, AddrFailures: 100, Window: time.Hour, Lockout: time.Hour}})
	w := f.world()
	f.must(f.svc.Reauthenticate(f.ctx, w.jane.ID, f.secret(janePassword), "192.0.2.1"))
	f.wantErr("wrong password", f.svc.Reauthenticate(f.ctx, w.jane.ID, f.secret("not her password"), "192.0.2.1"), auth.ErrUnauthenticated)
	f.wantErr("wrong password", f.svc.Reauthenticate(f.ctx, w.jane.ID, f.secret("not her password"), "192.0.2.1"), auth.ErrUnauthenticated)
	f.wantErr("locked", f.svc.Reauthenticate(f.ctx, w.jane.ID, f.secret(janePassword), "192.0.2.1"), auth.ErrLocked)
}

// failMemberAdd fails the member.add append, the last write of
// AddMember, as a database failing at that moment would.
type failMemberAdd struct{ store.Store }

var errInjected = errors.New("injected failure")

func (s failMemberAdd) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(failMemberAddTx{tx}) })
}

type failMemberAddTx struct{ store.Tx }

func (tx failMemberAddTx) AppendAudit(e audit.Entry) (audit.Entry, error) {
	if e.Action == audit.ActionMemberAdd {
		return audit.Entry{}, errInjected
	}
	return tx.Tx.AppendAudit(e)
}

// TestAddMemberFailsWhole: a failure at the last write of AddMember
// leaves no account, invitation or entry behind: the login is free and
// the trail is the stored state.
func TestAddMemberFailsWhole(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{})
		w := f.world()
		broken := auth.New(failMemberAdd{st}, f.kek, auth.Options{Clock: f.clk.now, Password: cheap})
		users := f.count(audit.SystemChain, audit.ActionUserCreate)
		_, inv, err := broken.AddMember(f.ctx, w.owner.ID, "acme", "pete", auth.RolePreparer, true)
		if !errors.Is(err, errInjected) || inv != nil {
			t.Fatalf("AddMember = %v, %v; want the injected failure and no invitation", inv, f.err(err))
		}
		_, err = f.svc.UserByLogin(f.ctx, "pete")
		f.wantErr("the account after the failure", err, auth.ErrNotFound)
		if n := f.count(audit.SystemChain, audit.ActionUserCreate); n != users || f.count(audit.SystemChain, audit.ActionUserInvite) != 0 {
			t.Errorf("entries written by the failed AddMember: %d user.create (was %d)", n, users)
		}
		_, inv, err = f.svc.AddMember(f.ctx, w.owner.ID, "acme", "pete", auth.RolePreparer, true)
		f.must(err)
		f.seen(inv.Token)
		f.verifyChains()
	})
}
