package auth_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/envelope"
	"sealkeep/internal/intent"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
)

// TestAccountsAndMembers: setup once, the operator makes the first owner
// only, owners manage members, the last owner stays, every change is an
// entry in the right chain.
func TestAccountsAndMembers(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{})
		w := f.world()
		_, err := f.svc.Setup(f.ctx, "second", f.secret("another operator pw"))
		f.wantErr("second setup", err, auth.ErrConflict)
		if w.jane.Login != "jane" {
			t.Errorf("login stored as %q, want lower case", w.jane.Login)
		}
		_, err = f.svc.CreateUser(f.ctx, w.owner.ID, "JANE", f.secret("yet another password"))
		f.wantErr("login taken in another case", err, auth.ErrConflict)
		_, err = f.svc.CreateUser(f.ctx, w.jane.ID, "mallory", f.secret("mallory password"))
		f.wantErr("a sealer creating users", err, auth.ErrForbidden)
		_, err = f.svc.CreateUser(f.ctx, w.owner.ID, "bob", f.secret("short"))
		f.wantErr("short password", err, auth.ErrInvalidInput)
		_, err = f.svc.CreateUser(f.ctx, w.owner.ID, "bad login\n", f.secret("long enough password"))
		f.wantErr("bad login", err, auth.ErrInvalidInput)

		bob, err := f.svc.CreateUser(f.ctx, w.op.ID, "bob", f.secret("bob password 4444"))
		f.must(err)
		// The operator made the first owner; it may not add anyone else.
		f.wantErr("operator adding a second owner", f.svc.SetMember(f.ctx, w.op.ID, "acme", bob.ID, auth.RoleOwner), auth.ErrForbidden)
		f.wantErr("operator adding a sealer", f.svc.SetMember(f.ctx, w.op.ID, "acme", bob.ID, auth.RoleSealer), auth.ErrForbidden)
		f.wantErr("sealer adding a member", f.svc.SetMember(f.ctx, w.jane.ID, "acme", bob.ID, auth.RolePreparer), auth.ErrForbidden)
		f.wantErr("operator as a member", f.svc.SetMember(f.ctx, w.owner.ID, "acme", w.op.ID, auth.RoleAuditor), auth.ErrForbidden)
		f.wantErr("unknown role", f.svc.SetMember(f.ctx, w.owner.ID, "acme", bob.ID, "admin"), auth.ErrInvalidInput)
		f.wantErr("missing org", f.svc.SetMember(f.ctx, w.owner.ID, "nope", bob.ID, auth.RoleAuditor), auth.ErrNotFound)
		f.must(f.svc.SetMember(f.ctx, w.owner.ID, "acme", bob.ID, auth.RolePreparer))
		f.must(f.svc.SetMember(f.ctx, w.owner.ID, "acme", bob.ID, auth.RolePreparer)) // no change, no entry
		f.must(f.svc.SetMember(f.ctx, w.owner.ID, "acme", bob.ID, auth.RoleAuditor))
		f.wantErr("demoting the last owner", f.svc.SetMember(f.ctx, w.owner.ID, "acme", w.owner.ID, auth.RoleSealer), auth.ErrConflict)
		f.wantErr("removing the last owner", f.svc.RemoveMember(f.ctx, w.owner.ID, "acme", w.owner.ID), auth.ErrConflict)
		f.wantErr("auditor removing", f.svc.RemoveMember(f.ctx, bob.ID, "acme", w.jane.ID), auth.ErrForbidden)
		f.must(f.svc.RemoveMember(f.ctx, w.owner.ID, "acme", bob.ID))

		want := []audit.Action{audit.ActionOrgCreate, audit.ActionDEKCreate,
			audit.ActionMemberAdd, audit.ActionMemberAdd, audit.ActionIdentityCreate, audit.ActionKeyGenerate, audit.ActionCertUpload, audit.ActionVersionActivate,
			audit.ActionMemberAdd, audit.ActionMemberRole, audit.ActionMemberRemove}
		if got := f.actions("acme"); !slices.Equal(got, want) {
			t.Errorf("acme chain: %v, want %v", got, want)
		}
		if n := f.count(audit.SystemChain, audit.ActionUserCreate); n != 4 {
			t.Errorf("%d user.create entries, want 4", n)
		}
		f.verifyChains()
	})
}

// TestMemberChainDeleted: a membership entry never starts an org chain
// that was deleted outside sealkeep.
func TestMemberChainDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sk.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t, st, auth.Options{})
	w := f.world()
	bob, err := f.svc.CreateUser(f.ctx, w.owner.ID, "bob", f.secret("bob password 4444"))
	f.must(err)
	sqlExec(t, path, `DELETE FROM audit_entries WHERE chain = 'acme'; DELETE FROM audit_heads WHERE chain = 'acme'`)
	f.wantErr("member of an org whose chain is gone", f.svc.SetMember(f.ctx, w.owner.ID, "acme", bob.ID, auth.RoleAuditor), auth.ErrConflict)
}

// TestTOTPEnrolment: the URI and QR code carry the secret; confirmation
// needs a right code; a confirmed enrolment is not replaced; the secret is
// sealed in the store, not in the clear, and bound to its user.
func TestTOTPEnrolment(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{})
		w := f.world()
		e, err := f.svc.BeginTOTP(f.ctx, w.jane.ID)
		f.must(err)
		f.seen(e.URI)
		f.seen(e.QRPNG)
		u, err := url.Parse(string(e.URI.Bytes()))
		f.must(err)
		q := u.Query()
		secret := f.secret(q.Get("secret"))
		if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("issuer") != "sealkeep" || !strings.Contains(u.Path, "jane") ||
			q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" || len(secret.Bytes()) != 32 {
			t.Errorf("otpauth URI %s fields wrong", u.Redacted())
		}
		if _, err := png.Decode(bytes.NewReader(e.QRPNG.Bytes())); err != nil {
			t.Errorf("QR code is not a PNG: %v", err)
		}
		var sealed []byte
		f.must(st.View(f.ctx, func(tx store.ReadTx) error {
			en, err := tx.TOTP(w.jane.ID)
			sealed = en.Secret
			if !en.ConfirmedAt.IsZero() {
				t.Error("enrolment confirmed before a code")
			}
			return err
		}))
		if form, found := redact.ScanForSecret(sealed, secret.Bytes()); found {
			t.Errorf("stored TOTP secret holds the secret as %s", form)
		}
		_, err = f.svc.ConfirmTOTP(f.ctx, w.jane.ID, f.secret("719384"), "")
		f.wantErr("wrong first code", err, auth.ErrUnauthenticated)
		codes, err := f.svc.ConfirmTOTP(f.ctx, w.jane.ID, f.code(string(secret.Bytes())), "")
		f.must(err)
		if len(codes) != auth.RecoveryCodes {
			t.Errorf("%d recovery codes", len(codes))
		}
		for _, c := range codes {
			f.seen(c)
		}
		_, err = f.svc.BeginTOTP(f.ctx, w.jane.ID)
		f.wantErr("re-enrolment while confirmed", err, auth.ErrConflict)
		// The owner's sealed secret copied into jane's row does not open
		// for jane: a code from the owner's app does not approve for her.
		ownerSecret, _ := f.enrol(w.owner.ID)
		f.must(st.Update(f.ctx, func(tx store.Tx) error {
			own, err := tx.TOTP(w.owner.ID)
			if err != nil {
				return err
			}
			en, err := tx.TOTP(w.jane.ID)
			if err != nil {
				return err
			}
			en.Secret = own.Secret
			return tx.PutTOTP(en)
		}))
		f.nextStep()
		_, err = f.svc.ApproveIntent(f.ctx, w.jane.ID, f.code(ownerSecret), f.intentFor(w.jane.ID, "doc"), "")
		f.wantErr("another user's sealed secret", err, envelope.ErrAuthentication)
		for _, a := range []audit.Action{audit.ActionMFAConfirm, audit.ActionMFARecoveryNew} {
			if n := f.count(audit.SystemChain, a); n != 2 {
				t.Errorf("%d %s entries, want 2", n, a)
			}
		}
		f.verifyChains()
	})
}

// TestLogin: password and TOTP; a code is accepted once; a recovery code
// once; rehash on login.
func TestLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{})
		w := f.world()
		// Without TOTP a password alone signs in, without MFA.
		sess, tok, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "JANE", Password: f.secret(janePassword)})
		f.must(err)
		f.seen(tok)
		if sess.MFA {
			t.Error("session without TOTP has MFA")
		}
		secret, codes := f.enrol(w.jane.ID)
		f.nextStep()
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword)})
		f.wantErr("login without a code", err, auth.ErrMFARequired)
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret("wrong password!!"), Code: f.code(secret)})
		f.wantErr("wrong password", err, auth.ErrUnauthenticated)
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "nobody", Password: f.secret(janePassword), Code: f.code(secret)})
		f.wantErr("unknown login", err, auth.ErrUnauthenticated)
		code := f.code(secret)
		sess, tok, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: code, Client: "192.0.2.7"})
		f.must(err)
		f.seen(tok)
		if !sess.MFA || !sess.ExpiresAt.Equal(t0.Add(auth.TOTPPeriod*time.Second+12*time.Hour)) {
			t.Errorf("session = %+v", sess)
		}
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: code})
		f.wantErr("same code again", err, auth.ErrReplay)
		// A code of the previous step, after a later one was accepted, is a replay too.
		f.nextStep()
		old := f.code(secret)
		f.nextStep()
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: f.code(secret)})
		f.must(err)
		f.clk.add(-auth.TOTPPeriod * time.Second)
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: old})
		f.wantErr("older code after a newer one", err, auth.ErrReplay)
		f.nextStep()
		if n := f.count(audit.SystemChain, audit.ActionSecurityTOTPReplay); n != 2 {
			t.Errorf("%d replay entries, want 2", n)
		}
		// A recovery code, in any case and grouping, once.
		rc := strings.ToUpper(strings.ReplaceAll(string(codes[3].Bytes()), "-", " "))
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: f.secret(rc)})
		f.must(err)
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: codes[3]})
		f.wantErr("recovery code twice", err, auth.ErrUnauthenticated)
		if n := f.count(audit.SystemChain, audit.ActionMFARecoveryUsed); n != 1 {
			t.Errorf("%d recovery entries, want 1", n)
		}
		f.verifyChains()
	})
}

// TestRehashOnLogin: a hash made with other parameters is replaced at the
// next login, and audited.
func TestRehashOnLogin(t *testing.T) {
	st := openSQLite(t)
	f := newFixture(t, st, auth.Options{})
	w := f.world()
	stronger := cheap
	stronger.Time = 2
	g := newFixtureKEK(t, st, f.kek, auth.Options{Password: stronger})
	_, tok, err := g.svc.Login(g.ctx, auth.LoginRequest{Login: "jane", Password: g.secret(janePassword)})
	g.must(err)
	g.seen(tok)
	var hash string
	g.must(st.View(g.ctx, func(tx store.ReadTx) error {
		u, err := tx.User(w.jane.ID)
		hash = u.PasswordHash
		return err
	}))
	if !strings.Contains(hash, ",t=2,") {
		t.Errorf("hash not replaced: %s", hash)
	}
	if n := g.count(audit.SystemChain, audit.ActionUserPassword); n != 1 {
		t.Errorf("%d user.password entries, want 1", n)
	}
	_, tok, err = g.svc.Login(g.ctx, auth.LoginRequest{Login: "jane", Password: g.secret(janePassword)})
	g.must(err)
	g.seen(tok)
	if n := g.count(audit.SystemChain, audit.ActionUserPassword); n != 1 {
		t.Errorf("rehashed again: %d user.password entries", n)
	}
}

// TestLockout: N failures lock the account, even for the right password;
// the lockout is audited once; it ends after the lockout time; the
// address counter is separate and not cleared by a success.
func TestLockout(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		lim := auth.Limits{AccountFailures: 3, AddrFailures: 5, Window: time.Hour, Lockout: 10 * time.Minute}
		f := newFixture(t, st, auth.Options{Limits: lim})
		f.world()
		bad := auth.LoginRequest{Login: "jane", Password: f.secret("not the password"), Client: "198.51.100.1"}
		for i := range 3 {
			_, _, err := f.svc.Login(f.ctx, bad)
			f.wantErr("failure "+string(rune('1'+i)), err, auth.ErrUnauthenticated)
		}
		_, _, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword)})
		var le *auth.LockedError
		if f.wantErr("right password while locked", err, auth.ErrLocked); !errors.As(err, &le) || !le.Until.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("lock until %v", le)
		}
		if n := f.count(audit.SystemChain, audit.ActionSecurityLockout); n != 1 {
			t.Errorf("%d lockout entries, want 1", n)
		}
		f.clk.add(10 * time.Minute)
		_, tok, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Client: "198.51.100.1"})
		f.must(err)
		f.seen(tok)
		// The address has 3 failures; 2 more (on another account, even an
		// unknown one) lock it.
		for _, l := range []string{"olive", "ghost"} {
			_, _, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: l, Password: f.secret("not the password"), Client: "198.51.100.1"})
			f.wantErr("address failure", err, auth.ErrUnauthenticated)
		}
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Client: "198.51.100.1"})
		f.wantErr("locked address", err, auth.ErrLocked)
		_, tok, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Client: "198.51.100.2"})
		f.must(err)
		f.seen(tok)
		if n := f.count(audit.SystemChain, audit.ActionSecurityLockout); n != 2 {
			t.Errorf("%d lockout entries, want 2", n)
		}
		// The audit entry names the account by user ID, never by login.
		f.must(st.View(f.ctx, func(tx store.ReadTx) error {
			return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
				if e.Action == audit.ActionSecurityLockout && strings.Contains(e.Details[audit.DetailLimit], "jane") {
					t.Errorf("lockout entry names the login: %v", e.Details)
				}
				return nil
			})
		}))
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Client: "not-an-ip"})
		f.wantErr("bad client address", err, auth.ErrInvalidInput)
		f.verifyChains()
	})
}

// TestLockoutSharedByInstances: failures counted by two instances on one
// PostgreSQL database add up to one lockout.
func TestLockoutSharedByInstances(t *testing.T) {
	dsn := pgtest.Fresh(t)
	lim := auth.Limits{AccountFailures: 4, AddrFailures: 100, Window: time.Minute, Lockout: time.Minute}
	a := newFixture(t, openPostgres(t, dsn), auth.Options{Limits: lim})
	a.world()
	b := a.sibling(openPostgres(t, dsn))
	b.svc = auth.New(b.st, a.kek, auth.Options{Clock: a.clk.now, Password: cheap, Limits: lim})
	for i, f := range []*fixture{a, b, a, b} {
		_, _, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret("not the password")})
		f.wantErr("failure", err, auth.ErrUnauthenticated)
		_ = i
	}
	_, _, err := b.svc.Login(b.ctx, auth.LoginRequest{Login: "jane", Password: b.secret(janePassword)})
	b.wantErr("locked on the other instance", err, auth.ErrLocked)
}

// TestStepUp: a fresh code approves exactly one intent of its user; the
// same code is refused for any other intent, on this or another
// instance; expired, over-long and other users' intents are refused.
func TestStepUp(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := newFixture(t, openPostgres(t, dsn), auth.Options{})
	w := a.world()
	secret, codes := a.enrol(w.jane.ID)
	b := a.sibling(openPostgres(t, dsn))
	a.nextStep()

	code := a.code(secret)
	in := a.intentFor(w.jane.ID, "drawing-101.pdf")
	ap, err := a.svc.ApproveIntent(a.ctx, w.jane.ID, code, in, "203.0.113.9")
	a.must(err)
	if ap.IntentSHA256 != in.Digest() || ap.User != w.jane.ID || ap.Method != "totp" || ap.Step != a.clk.now().Unix()/auth.TOTPPeriod {
		t.Errorf("approval = %+v", ap)
	}
	if d := ap.Details(); d[audit.DetailMFAMethod] != "totp" || len(d["intent_sha256"]) != 64 {
		t.Errorf("approval details = %v", d)
	}
	// The same code on the other instance, for another intent or the same.
	other := b.intentFor(w.jane.ID, "drawing-102.pdf")
	_, err = b.svc.ApproveIntent(b.ctx, w.jane.ID, code, other, "203.0.113.9")
	b.wantErr("replay on another instance", err, auth.ErrReplay)
	_, err = b.svc.ApproveIntent(b.ctx, w.jane.ID, code, in, "203.0.113.9")
	b.wantErr("replay of the same intent", err, auth.ErrReplay)
	_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, codes[0], other, "")
	a.wantErr("recovery code as step-up", err, auth.ErrUnauthenticated)

	a.nextStep()
	_, err = a.svc.ApproveIntent(a.ctx, w.owner.ID, a.code(secret), other, "")
	a.wantErr("another user's intent", err, auth.ErrForbidden)
	expired := a.intentFor(w.jane.ID, "late.pdf")
	a.clk.add(3 * time.Minute)
	_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, a.code(secret), expired, "")
	a.wantErr("expired intent", err, auth.ErrInvalidInput)
	long := a.intentFor(w.jane.ID, "long.pdf")
	long.Expires = a.clk.now().Add(6 * time.Minute)
	_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, a.code(secret), long, "")
	a.wantErr("intent valid for over 5 minutes", err, auth.ErrInvalidInput)
	_, err = a.svc.ApproveIntent(a.ctx, w.owner.ID, a.code(secret), a.intentFor(w.owner.ID, "x"), "")
	a.wantErr("the owner approving a seal with jane's identity", err, auth.ErrForbidden)
	for what, change := range map[string]func(*intent.Intent){
		"unknown identity":   func(i *intent.Intent) { i.Identity = "id-ghost" },
		"unknown version":    func(i *intent.Intent) { i.Version = 2 },
		"another thumbprint": func(i *intent.Intent) { i.Thumbprint[0] ^= 1 },
	} {
		in := a.intentFor(w.jane.ID, "x")
		change(&in)
		_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, a.code(secret), in, "")
		a.wantErr(what, err, auth.ErrInvalidInput)
	}
	inBeta := a.intentFor(w.jane.ID, "x")
	inBeta.Org = "beta"
	_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, a.code(secret), inBeta, "")
	a.wantErr("identity of another org", err, auth.ErrForbidden)
	other = b.intentFor(w.jane.ID, "drawing-102.pdf")
	ap2, err := b.svc.ApproveIntent(b.ctx, w.jane.ID, b.code(secret), other, "")
	b.must(err)
	if ap2.Step <= ap.Step {
		t.Errorf("second approval step %d after %d", ap2.Step, ap.Step)
	}
	var purposes []string
	a.must(a.st.View(a.ctx, func(tx store.ReadTx) error {
		u, err := tx.LastTOTPStep(w.jane.ID)
		purposes = append(purposes, u.Purpose)
		return err
	}))
	if d := other.Digest(); !strings.HasSuffix(purposes[0], strings.ToLower(hexString(d[:]))) {
		t.Errorf("recorded step purpose %q does not name the intent", purposes[0])
	}
	if n := a.count(audit.SystemChain, audit.ActionSecurityTOTPReplay); n != 2 {
		t.Errorf("%d replay entries, want 2", n)
	}
	a.verifyChains()
}

// TestConcurrentApprovals: the same code sent to two instances at once is
// accepted by exactly one.
func TestConcurrentApprovals(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := newFixture(t, openPostgres(t, dsn), auth.Options{})
	w := a.world()
	secret, _ := a.enrol(w.jane.ID)
	b := a.sibling(openPostgres(t, dsn))
	for range 5 {
		a.nextStep()
		code := a.code(secret)
		errs := make(chan error, 2)
		for _, f := range []*fixture{a, b} {
			in := f.intentFor(w.jane.ID, "sheet")
			go func() {
				_, err := f.svc.ApproveIntent(f.ctx, w.jane.ID, redact.NewSecret(bytes.Clone(code.Bytes())), in, "")
				errs <- f.err(err)
			}()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("two instances at once: %v and %v; want exactly one accepted", e1, e2)
		}
		if e := errors.Join(e1, e2); !errors.Is(e, auth.ErrReplay) {
			t.Errorf("refusal is %v, want ErrReplay", e)
		}
	}
	a.verifyChains()
}

// TestSessionsAndTokens: authentication by session and API token, expiry,
// logout, revocation, listing, CSRF, password change ending sessions.
func TestSessionsAndTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{SessionTTL: time.Hour})
		w := f.world()
		secret, _ := f.enrol(w.jane.ID)
		f.nextStep()
		sess, stok, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: f.code(secret)})
		f.must(err)
		f.seen(stok)
		f.nextStep()
		tk, ttok, err := f.svc.LoginAPIToken(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: f.code(secret)}, "laptop", 24*time.Hour)
		f.must(err)
		f.seen(ttok)
		if !strings.HasPrefix(string(stok.Bytes()), "sks_") || !strings.HasPrefix(string(ttok.Bytes()), "skt_") || stok.Len() != 47 {
			t.Errorf("token forms: %d and %d bytes", stok.Len(), ttok.Len())
		}
		// Only hashes are stored.
		f.must(st.View(f.ctx, func(tx store.ReadTx) error {
			s2, err := tx.Session(sess.TokenHash)
			if err != nil || bytes.Contains(s2.TokenHash, stok.Bytes()) {
				t.Errorf("stored session %v", err)
			}
			return nil
		}))
		for _, tok := range []*redact.Secret{stok, ttok} {
			p, err := f.svc.Authenticate(f.ctx, tok)
			f.must(err)
			if p.User.ID != w.jane.ID || !p.MFA {
				t.Errorf("principal = %+v", p)
			}
		}
		p, _ := f.svc.Authenticate(f.ctx, stok)
		csrf := auth.CSRFToken(*p.Session)
		f.secret(csrf)
		if !auth.CheckCSRF(*p.Session, csrf) || auth.CheckCSRF(*p.Session, csrf[1:]) || auth.CheckCSRF(*p.Session, "") {
			t.Error("CSRF check")
		}
		forged := redact.NewSecret(append([]byte("sks_"), bytes.Repeat([]byte("A"), 43)...))
		_, err = f.svc.Authenticate(f.ctx, forged)
		f.wantErr("unknown token", err, auth.ErrUnauthenticated)
		_, err = f.svc.Authenticate(f.ctx, redact.NewSecret([]byte("garbage")))
		f.wantErr("no prefix", err, auth.ErrUnauthenticated)

		list, err := f.svc.APITokens(f.ctx, w.jane.ID)
		f.must(err)
		if len(list) != 1 || list[0].Name != "laptop" || list[0].ID != tk.ID {
			t.Errorf("APITokens = %+v", list)
		}
		f.clk.add(2 * time.Hour) // the session (1 h) expired, the token (24 h) not
		_, err = f.svc.Authenticate(f.ctx, stok)
		f.wantErr("expired session", err, auth.ErrUnauthenticated)
		_, err = f.svc.Authenticate(f.ctx, ttok)
		f.must(err)
		list, _ = f.svc.APITokens(f.ctx, w.jane.ID)
		if !list[0].LastUsedAt.Equal(f.clk.now()) {
			t.Errorf("last used %v, want %v", list[0].LastUsedAt, f.clk.now())
		}
		f.wantErr("revoking another user's token", f.svc.RevokeAPIToken(f.ctx, w.owner.ID, tk.ID), auth.ErrNotFound)
		f.must(f.svc.RevokeAPIToken(f.ctx, w.jane.ID, tk.ID))
		_, err = f.svc.Authenticate(f.ctx, ttok)
		f.wantErr("revoked token", err, auth.ErrUnauthenticated)

		// Password change ends every session.
		_, s2, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "olive", Password: f.secret(ownerPassword)})
		f.must(err)
		f.seen(s2)
		f.wantErr("change with a wrong password", f.svc.ChangePassword(f.ctx, w.owner.ID, f.secret("not my password"), f.secret("new owner password"), ""), auth.ErrUnauthenticated)
		f.must(f.svc.ChangePassword(f.ctx, w.owner.ID, f.secret(ownerPassword), f.secret("new owner password"), ""))
		_, err = f.svc.Authenticate(f.ctx, s2)
		f.wantErr("session after password change", err, auth.ErrUnauthenticated)
		_, s3, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "olive", Password: f.secret("new owner password")})
		f.must(err)
		f.seen(s3)
		f.must(f.svc.Logout(f.ctx, s3))
		f.wantErr("logout twice", f.svc.Logout(f.ctx, s3), auth.ErrUnauthenticated)
		f.verifyChains()
	})
}

// TestResetTOTP: a reset needs a current or a recovery code; afterwards
// the user enrols again.
func TestResetTOTP(t *testing.T) {
	f := newFixture(t, openSQLite(t), auth.Options{})
	w := f.world()
	secret, codes := f.enrol(w.jane.ID)
	f.nextStep()
	f.wantErr("reset with a wrong code", f.svc.ResetTOTP(f.ctx, w.jane.ID, f.secret("830417"), ""), auth.ErrUnauthenticated)
	f.must(f.svc.ResetTOTP(f.ctx, w.jane.ID, codes[0], ""))
	_, tok, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword)})
	f.must(err)
	f.seen(tok)
	secret2, _ := f.enrol(w.jane.ID)
	if secret2 == secret {
		t.Error("re-enrolment reused the secret")
	}
	f.nextStep()
	fresh, err := f.svc.NewRecoveryCodes(f.ctx, w.jane.ID, f.code(secret2), "")
	f.must(err)
	for _, c := range fresh {
		f.seen(c)
	}
	_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: codes[1]})
	f.wantErr("recovery code of the old set", err, auth.ErrUnauthenticated)
	f.verifyChains()
}

// TestTOTPSurvivesKEKRotation: the system data key is re-wrapped by KEK
// rotation, so TOTP works after the old KEK version is retired.
func TestTOTPSurvivesKEKRotation(t *testing.T) {
	st := openSQLite(t)
	f := newFixture(t, st, auth.Options{})
	w := f.world()
	secret, _ := f.enrol(w.jane.ID)
	actor := audit.Actor{Kind: audit.ActorCLI, ID: "admin"}
	rot, err := f.custody.RotateKEK(f.ctx, actor, nil)
	f.must(err)
	if rot.Rewrapped != 2 { // acme's DEK and the system DEK
		t.Errorf("re-wrapped %d DEKs, want 2", rot.Rewrapped)
	}
	f.must(f.custody.RetireKEK(f.ctx, actor, 1))
	f.nextStep()
	_, err = f.svc.ApproveIntent(f.ctx, w.jane.ID, f.code(secret), f.intentFor(w.jane.ID, "after rotation"), "")
	f.must(err)
	f.verifyChains()
}

// TestAuthorize reads roles from the store: own org, other org, the
// operator, a disabled and an unknown user.
func TestAuthorize(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, auth.Options{})
		w := f.world()
		_, err := f.custody.CreateOrg(f.ctx, audit.Actor{Kind: audit.ActorUser, ID: w.op.ID}, "beta", "Beta")
		f.must(err)
		bea, err := f.svc.CreateUser(f.ctx, w.op.ID, "bea", f.secret("bea password 55555"))
		f.must(err)
		f.must(f.svc.SetMember(f.ctx, w.op.ID, "beta", bea.ID, auth.RoleOwner))
		f.must(f.svc.SetMember(f.ctx, bea.ID, "beta", w.jane.ID, auth.RolePreparer))
		janeID := auth.Resource{Org: "acme", Owner: w.jane.ID}
		for _, c := range []struct {
			what string
			user string
			op   auth.Op
			r    auth.Resource
			want error
		}{
			{"jane seals with her identity", w.jane.ID, auth.OpSeal, janeID, nil},
			{"jane seals with the owner's", w.jane.ID, auth.OpSeal, auth.Resource{Org: "acme", Owner: w.owner.ID}, auth.ErrForbidden},
			{"the owner seals with jane's", w.owner.ID, auth.OpSeal, janeID, auth.ErrForbidden},
			{"the operator seals with jane's", w.op.ID, auth.OpSeal, janeID, auth.ErrForbidden},
			{"the operator reads identities", w.op.ID, auth.OpIdentityRead, janeID, auth.ErrForbidden},
			{"the operator creates an org", w.op.ID, auth.OpOrgCreate, auth.Resource{Org: "new"}, nil},
			{"jane, preparer in beta, seals there with her own", w.jane.ID, auth.OpSeal, auth.Resource{Org: "beta", Owner: w.jane.ID}, auth.ErrForbidden},
			{"jane stages in beta", w.jane.ID, auth.OpDocumentStage, auth.Resource{Org: "beta"}, nil},
			{"bea reads acme's audit", bea.ID, auth.OpAuditRead, auth.Resource{Org: "acme"}, auth.ErrForbidden},
			{"the owner approves rotation", w.owner.ID, auth.OpRotationApprove, janeID, nil},
			{"an unknown user", "u-nobody", auth.OpIdentityRead, janeID, auth.ErrUnauthenticated},
		} {
			err := f.svc.Authorize(f.ctx, c.user, c.op, c.r)
			f.err(err)
			if (c.want == nil && err != nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("%s: %v, want %v", c.what, err, c.want)
			}
		}
		// A disabled account may do nothing, whatever its role.
		f.must(st.Update(f.ctx, func(tx store.Tx) error {
			u, err := tx.User(w.jane.ID)
			if err != nil {
				return err
			}
			u.DisabledAt = f.clk.now()
			return tx.UpdateUser(u)
		}))
		f.wantErr("disabled jane seals", f.svc.Authorize(f.ctx, w.jane.ID, auth.OpSeal, janeID), auth.ErrUnauthenticated)
		_, _, err = f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword)})
		f.wantErr("disabled jane logs in", err, auth.ErrUnauthenticated)
	})
}

// TestLeakScanFindsLeaks: the scan every test runs at cleanup finds a
// code in an error and a token in a log line.
func TestLeakScanFindsLeaks(t *testing.T) {
	f := newFixture(t, openSQLite(t), auth.Options{})
	f.err(errors.New("bad code " + string(f.secret("493027").Bytes())))
	if n := len(f.leaks()); n != 1 {
		t.Fatalf("%d leaks found, want 1 (the code in an error)", n)
	}
	tok := f.secret("sks_bGVha2VkIHRva2VuIGxlYWtlZCB0b2tlbiBsZWFrZWQ")
	f.logs.Write([]byte(`{"msg":"oops","token":"` + base64.StdEncoding.EncodeToString(tok.Bytes()) + `"}` + "\n"))
	if n := len(f.leaks()); n != 2 {
		t.Fatalf("%d leaks found, want 2 (and the token in a log line)", n)
	}
	f.errs, f.secrets = nil, nil // let the cleanup scan pass
}

// TestCheckAccounts: an insider who inserts an operator, flips the flag,
// renames a login, grants a role or deletes a membership in the database
// is named by CheckAccounts.
func TestCheckAccounts(t *testing.T) {
	for name, edit := range map[string]string{
		"inserted operator":   `INSERT INTO users VALUES ('u-evil', 'evil', '$argon2id$x', 1, 0, 0)`,
		"operator flag":       `UPDATE users SET operator = 1 WHERE login = 'jane'`,
		"renamed login":       `UPDATE users SET login = 'janet' WHERE login = 'jane'`,
		"granted role":        `UPDATE memberships SET role = 'owner' WHERE role = 'sealer'`,
		"inserted membership": `INSERT INTO memberships SELECT 'acme', id, 'sealer', 0 FROM users WHERE login = 'bob'`,
		"deleted membership":  `DELETE FROM memberships WHERE role = 'sealer'`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sk.db")
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			f := newFixture(t, st, auth.Options{})
			w := f.world()
			_, err = f.svc.CreateUser(f.ctx, w.owner.ID, "bob", f.secret("bob password 4444"))
			f.must(err)
			f.must(f.svc.CheckAccounts(f.ctx))
			sqlExec(t, path, edit)
			f.wantErr(name, f.svc.CheckAccounts(f.ctx), auth.ErrMismatch)
		})
	}
}

// BenchmarkApproveIntent is the step-up cost each seal adds, on SQLite:
// read the enrolment, unwrap the system data key, check the code, commit
// the used step; beside it, the baseline of one committed empty-ish store
// transaction (a TOTP step row), so the ratio shows what the step-up adds
// over the one write it cannot avoid.
func BenchmarkApproveIntent(b *testing.B) {
	f := newFixture(b, openSQLite(b), auth.Options{})
	w := f.world()
	secret, _ := f.enrol(w.jane.ID)
	b.Run("approve", func(b *testing.B) {
		for b.Loop() {
			f.nextStep()
			if _, err := f.svc.ApproveIntent(f.ctx, w.jane.ID, f.code(secret), f.intentFor(w.jane.ID, "sheet"), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("x-one-write", func(b *testing.B) {
		step := int64(1 << 40)
		for b.Loop() {
			step++
			f.must(f.st.Update(f.ctx, func(tx store.Tx) error {
				return tx.UseTOTPStep(store.TOTPUse{UserID: w.owner.ID, Step: step, UsedAt: f.clk.now(), Purpose: "bench"})
			}))
		}
	})
	f.secrets = nil // codes are not logged, and thousands of them would slow the scan
}

// TestCommitApprovalWithSeal: a seal pipeline checks the code, signs, then
// records the step and its seal entry in one transaction. Two instances
// checking the same code both pass the check; exactly one commit wins,
// and the loser's seal entry is rolled back with its step and audited as a
// replay.
func TestCommitApprovalWithSeal(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := newFixture(t, openPostgres(t, dsn), auth.Options{})
	w := a.world()
	secret, _ := a.enrol(w.jane.ID)
	b := a.sibling(openPostgres(t, dsn))
	a.nextStep()
	code := a.code(secret)
	apA, err := a.svc.CheckIntentCode(a.ctx, w.jane.ID, code, a.intentFor(w.jane.ID, "sheet-1"), "")
	a.must(err)
	apB, err := b.svc.CheckIntentCode(b.ctx, w.jane.ID, code, b.intentFor(w.jane.ID, "sheet-2"), "")
	b.must(err)
	seal := func(f *fixture, ap auth.Approval) error {
		return f.st.Update(f.ctx, func(tx store.Tx) error {
			if err := f.svc.CommitApproval(tx, ap); err != nil {
				return err
			}
			_, err := tx.AppendAudit(audit.Entry{Chain: "acme", Time: f.clk.now(), Actor: audit.Actor{Kind: audit.ActorUser, ID: w.jane.ID},
				Action: audit.ActionSeal, Subject: audit.Subject{Org: "acme", Identity: "id-jane", Version: 1}, Details: ap.Details()})
			return err
		})
	}
	a.must(seal(a, apA))
	err = seal(b, apB)
	b.wantErr("second commit of the same step", b.svc.ApprovalFailed(b.ctx, apB, err), auth.ErrReplay)
	if n := a.count("acme", audit.ActionSeal); n != 1 {
		t.Errorf("%d seal entries, want 1", n)
	}
	if n := a.count(audit.SystemChain, audit.ActionSecurityTOTPReplay); n != 1 {
		t.Errorf("%d replay entries, want 1", n)
	}
	b.wantErr("an unchecked approval", b.st.Update(b.ctx, func(tx store.Tx) error { return b.svc.CommitApproval(tx, auth.Approval{}) }), auth.ErrInvalidInput)
	// The seal entry above is a stand-in that carries only the approval's
	// details, so the org chain does not fold (a real seal entry carries
	// the document and signature digests; internal/seal tests those); the
	// system chain, where the replay is recorded, must still verify.
	rep, err := a.custody.VerifyChain(a.ctx, audit.SystemChain, nil, nil, nil)
	a.must(err)
	if !rep.OK() {
		t.Errorf("system chain: %v", rep.Error())
	}
}

// countingKEK counts unwraps.
type countingKEK struct {
	envelope.KEK
	unwraps atomic.Int32
}

func (k *countingKEK) Unwrap(ctx context.Context, v uint32, b envelope.DEKBinding, w []byte) ([]byte, error) {
	k.unwraps.Add(1)
	return k.KEK.Unwrap(ctx, v, b, w)
}

// TestDEKCache: with a cache, step-ups unwrap the system data key once.
func TestDEKCache(t *testing.T) {
	st := openSQLite(t)
	f := newFixture(t, st, auth.Options{})
	w := f.world()
	secret, _ := f.enrol(w.jane.ID)
	kek := &countingKEK{KEK: f.kek}
	cache := envelope.NewDEKCache(time.Hour)
	defer cache.Close()
	svc := auth.New(st, kek, auth.Options{Clock: f.clk.now, Password: cheap, DEKCache: cache})
	for range 3 {
		f.nextStep()
		_, err := svc.ApproveIntent(f.ctx, w.jane.ID, f.code(secret), f.intentFor(w.jane.ID, "sheet"), "")
		f.must(err)
	}
	if n := kek.unwraps.Load(); n != 1 {
		t.Errorf("%d KEK unwraps for 3 step-ups, want 1", n)
	}
}

// TestNoSecretsAtRest: after enrolment, logins, a token, recovery codes
// and a step-up, the SQLite database file and its WAL hold none of the
// passwords, codes, TOTP secrets, URIs or tokens, in any encoding.
func TestNoSecretsAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sk.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t, st, auth.Options{})
	w := f.world()
	secret, codes := f.enrol(w.jane.ID)
	f.nextStep()
	_, tok, err := f.svc.Login(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: f.code(secret)})
	f.must(err)
	f.seen(tok)
	_, tok, err = f.svc.LoginAPIToken(f.ctx, auth.LoginRequest{Login: "jane", Password: f.secret(janePassword), Code: codes[0]}, "cli", 0)
	f.must(err)
	f.seen(tok)
	f.nextStep()
	_, err = f.svc.ApproveIntent(f.ctx, w.jane.ID, f.code(secret), f.intentFor(w.jane.ID, "doc"), "")
	f.must(err)
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	f.mu.Lock()
	secrets := append([][]byte{raw}, f.secrets...)
	f.mu.Unlock()
	var disk []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	if len(disk) < 4096 {
		t.Fatalf("read %d bytes of database", len(disk))
	}
	for _, s := range secrets {
		if form, found := redact.ScanForSecret(disk, s); found {
			t.Errorf("a secret (%d bytes) is in the database as %s", len(s), form)
		}
	}
	// The login name, which is not secret, is: the scan can see text.
	if _, found := redact.ScanForSecret(disk, []byte("olive")); !found {
		t.Error("the scan does not find a login in the database")
	}
}
