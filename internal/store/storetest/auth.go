package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/store"
)

// testAuth runs the contract of store.AuthReadTx and store.AuthTx.
func testAuth(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"TOTP", testTOTP},
		{"RecoveryCodes", testRecoveryCodes},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"Invitations", testInvitations},
		{"Limits", testLimits},
		{"LimitsTwoStores", testLimitsTwoStores},
		{"SystemDEK", testSystemDEK},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"IdempotencyKeysTwoStores", testIdempotencyKeysTwoStores},
		{"WebAuthnCredentials", testWebAuthnCredentials},
		{"WebAuthnCeremonies", testWebAuthnCeremonies},
		{"WebAuthnRace", testWebAuthnRace},
		{"WebAuthnMigrationReplay", testWebAuthnMigrationReplay},
		{"WebAuthnTrailIndex", testWebAuthnTrailIndex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, b)
		})
	}
}

func hash32(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func putUsers(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, id := range ids {
			if err := tx.PutUser(store.User{ID: id, Login: "login-" + id, PasswordHash: "$argon2id$x", CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
}

func testUsers(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	jane := store.User{ID: "u-jane", Login: "jane", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: t0}
	op := store.User{ID: "u-op", Login: "operator", PasswordHash: "$argon2id$op", Operator: true, CreatedAt: t1, DisabledAt: t0}
	update(t, s, func(tx store.Tx) error {
		for _, u := range []store.User{jane, op} {
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		wantErr(t, "duplicate user ID", tx.PutUser(store.User{ID: "u-jane", Login: "other"}), store.ErrConflict)
		wantErr(t, "duplicate login", tx.PutUser(store.User{ID: "u-other", Login: "jane"}), store.ErrConflict)
		wantErr(t, "update of a missing user", tx.UpdateUser(store.User{ID: "u-none", Login: "none"}), store.ErrNotFound)
		wantErr(t, "update to a taken login", tx.UpdateUser(store.User{ID: "u-op", Login: "jane"}), store.ErrConflict)
		for _, v := range bad {
			wantErr(t, "bad login", tx.PutUser(store.User{ID: "u-bad", Login: v}), store.ErrInvalid)
		}
		// The transaction stays usable after the conflicts.
		return tx.PutUser(store.User{ID: "u-after", Login: "after", CreatedAt: t0})
	})
	jane.PasswordHash = "$argon2id$rehashed"
	jane.DisabledAt = t1
	update(t, s, func(tx store.Tx) error { return tx.UpdateUser(jane) })
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.User("u-jane")
		want := jane
		want.CreatedAt, want.DisabledAt = norm(t0), norm(t1)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("User = %+v, %v; want %+v", got, err, want)
		}
		got, err = tx.UserByLogin("operator")
		want = op
		want.CreatedAt, want.DisabledAt = norm(t1), norm(t0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("UserByLogin = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.UserByLogin("JANE")
		wantErr(t, "login in another case", err, store.ErrNotFound)
		_, err = tx.User("u-none")
		wantErr(t, "missing user", err, store.ErrNotFound)
		all, err := tx.Users()
		if err != nil || len(all) != 3 || all[0].ID != "u-after" || !all[0].DisabledAt.IsZero() || all[2].ID != "u-op" {
			t.Errorf("Users = %+v, %v", all, err)
		}
		return nil
	})
}

func testMemberships(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	update(t, s, func(tx store.Tx) error {
		for _, o := range []string{"org-a", "org-b"} {
			if err := tx.PutOrg(store.Org{ID: o}); err != nil {
				return err
			}
		}
		wantErr(t, "member of a missing org", tx.PutMembership(store.Membership{OrgID: "org-none", UserID: "u-1", Role: "owner"}), store.ErrNotFound)
		wantErr(t, "missing user", tx.PutMembership(store.Membership{OrgID: "org-a", UserID: "u-none", Role: "owner"}), store.ErrNotFound)
		wantErr(t, "unknown role", tx.PutMembership(store.Membership{OrgID: "org-a", UserID: "u-1", Role: "admin"}), store.ErrInvalid)
		for _, m := range []store.Membership{
			{OrgID: "org-a", UserID: "u-2", Role: "sealer", CreatedAt: t0},
			{OrgID: "org-a", UserID: "u-1", Role: "preparer", CreatedAt: t0},
			{OrgID: "org-b", UserID: "u-1", Role: "auditor", CreatedAt: t1},
			{OrgID: "org-a", UserID: "u-1", Role: "owner", CreatedAt: t1}, // replaces
		} {
			if err := tx.PutMembership(m); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		m, err := tx.Membership("org-a", "u-1")
		if err != nil || m.Role != "owner" || !m.CreatedAt.Equal(norm(t1)) {
			t.Errorf("Membership = %+v, %v", m, err)
		}
		_, err = tx.Membership("org-b", "u-2")
		wantErr(t, "missing membership", err, store.ErrNotFound)
		ms, err := tx.Memberships("org-a")
		if err != nil || len(ms) != 2 || ms[0].UserID != "u-1" || ms[1].Role != "sealer" {
			t.Errorf("Memberships = %+v, %v", ms, err)
		}
		ms, err = tx.UserMemberships("u-1")
		if err != nil || len(ms) != 2 || ms[0].OrgID != "org-a" || ms[1].Role != "auditor" {
			t.Errorf("UserMemberships = %+v, %v", ms, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "delete missing", tx.DeleteMembership("org-b", "u-2"), store.ErrNotFound)
		return tx.DeleteMembership("org-a", "u-1")
	})
	view(t, s, func(tx store.ReadTx) error {
		ms, err := tx.UserMemberships("u-1")
		if err != nil || len(ms) != 1 || ms[0].OrgID != "org-b" {
			t.Errorf("after delete: %+v, %v", ms, err)
		}
		return nil
	})
}

func testTOTP(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1")
	sealed := []byte{1, 0, 0, 0, 1, 0xff, 0}
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "enrolment of a missing user", tx.PutTOTP(store.TOTPEnrolment{UserID: "u-none", Secret: sealed}), store.ErrNotFound)
		wantErr(t, "enrolment without a secret", tx.PutTOTP(store.TOTPEnrolment{UserID: "u-1"}), store.ErrInvalid)
		if err := tx.PutTOTP(store.TOTPEnrolment{UserID: "u-1", Secret: []byte("old"), CreatedAt: t1}); err != nil {
			return err
		}
		return tx.PutTOTP(store.TOTPEnrolment{UserID: "u-1", Secret: sealed, CreatedAt: t0, ConfirmedAt: t0})
	})
	view(t, s, func(tx store.ReadTx) error {
		e, err := tx.TOTP("u-1")
		if err != nil || !bytes.Equal(e.Secret, sealed) || !e.CreatedAt.Equal(norm(t0)) || !e.ConfirmedAt.Equal(norm(t0)) {
			t.Errorf("TOTP = %+v, %v", e, err)
		}
		_, err = tx.LastTOTPStep("u-1")
		wantErr(t, "no step used", err, store.ErrNotFound)
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, step := range []int64{100, 102, 101} {
			if err := tx.UseTOTPStep(store.TOTPUse{UserID: "u-1", Step: step, UsedAt: t0, Purpose: fmt.Sprint("p", step)}); err != nil {
				return err
			}
		}
		wantErr(t, "step used twice", tx.UseTOTPStep(store.TOTPUse{UserID: "u-1", Step: 102, UsedAt: t0, Purpose: "again"}), store.ErrConflict)
		wantErr(t, "step of a missing user", tx.UseTOTPStep(store.TOTPUse{UserID: "u-none", Step: 1, UsedAt: t0}), store.ErrNotFound)
		return nil
	})
	// A second transaction, as another instance would run it, is refused too.
	err := s.Update(context.Background(), func(tx store.Tx) error {
		return tx.UseTOTPStep(store.TOTPUse{UserID: "u-1", Step: 100, UsedAt: t1, Purpose: "replay"})
	})
	wantErr(t, "step used in an earlier transaction", err, store.ErrConflict)
	view(t, s, func(tx store.ReadTx) error {
		u, err := tx.LastTOTPStep("u-1")
		if err != nil || u.Step != 102 || u.Purpose != "p102" || !u.UsedAt.Equal(norm(t0)) {
			t.Errorf("LastTOTPStep = %+v, %v", u, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteTOTP("u-1"); err != nil {
			return err
		}
		wantErr(t, "delete twice", tx.DeleteTOTP("u-1"), store.ErrNotFound)
		return nil
	})
}

func testRecoveryCodes(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	codes := []store.RecoveryCode{{Hash: hash32("a"), CreatedAt: t0}, {Hash: hash32("b"), CreatedAt: t0}}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutRecoveryCodes("u-1", []store.RecoveryCode{{Hash: hash32("old"), CreatedAt: t1}}); err != nil {
			return err
		}
		wantErr(t, "short hash", tx.PutRecoveryCodes("u-2", []store.RecoveryCode{{Hash: []byte{1}}}), store.ErrInvalid)
		return tx.PutRecoveryCodes("u-1", codes) // replaces "old"
	})
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "replaced code", tx.UseRecoveryCode("u-1", hash32("old"), t1), store.ErrNotFound)
		wantErr(t, "another user's code", tx.UseRecoveryCode("u-2", hash32("a"), t1), store.ErrNotFound)
		if err := tx.UseRecoveryCode("u-1", hash32("a"), t1); err != nil {
			return err
		}
		wantErr(t, "code used twice", tx.UseRecoveryCode("u-1", hash32("a"), t1), store.ErrNotFound)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.RecoveryCodes("u-1")
		if err != nil || len(got) != 2 {
			t.Fatalf("RecoveryCodes = %+v, %v", got, err)
		}
		used := 0
		for _, c := range got {
			if !c.UsedAt.IsZero() {
				used++
				if !bytes.Equal(c.Hash, hash32("a")) || !c.UsedAt.Equal(norm(t1)) {
					t.Errorf("used code = %+v", c)
				}
			}
		}
		if used != 1 {
			t.Errorf("%d codes used, want 1", used)
		}
		return nil
	})
}

func testSessions(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	one := store.Session{TokenHash: hash32("s1"), UserID: "u-1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), CSRF: []byte("csrf"), MFA: true}
	update(t, s, func(tx store.Tx) error {
		for _, ss := range []store.Session{one,
			{TokenHash: hash32("s2"), UserID: "u-1", CreatedAt: t0, ExpiresAt: t0, CSRF: []byte{}},
			{TokenHash: hash32("s3"), UserID: "u-2", CreatedAt: t0, ExpiresAt: t0, CSRF: []byte("x")}} {
			if err := tx.PutSession(ss); err != nil {
				return err
			}
		}
		wantErr(t, "duplicate hash", tx.PutSession(store.Session{TokenHash: hash32("s1"), UserID: "u-2", CSRF: []byte{}}), store.ErrConflict)
		wantErr(t, "short hash", tx.PutSession(store.Session{TokenHash: []byte("s"), UserID: "u-2", CSRF: []byte{}}), store.ErrInvalid)
		wantErr(t, "missing user", tx.PutSession(store.Session{TokenHash: hash32("s9"), UserID: "u-none", CSRF: []byte{}}), store.ErrNotFound)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Session(hash32("s1"))
		want := one
		want.CreatedAt, want.ExpiresAt = norm(one.CreatedAt), norm(one.ExpiresAt)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Session = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.Session(hash32("nope"))
		wantErr(t, "unknown session", err, store.ErrNotFound)
		list, err := tx.Sessions("u-1")
		if err != nil || len(list) != 2 {
			t.Errorf("Sessions = %+v, %v", list, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteSession(hash32("s3")); err != nil {
			return err
		}
		wantErr(t, "delete twice", tx.DeleteSession(hash32("s3")), store.ErrNotFound)
		return tx.DeleteSessions("u-1")
	})
	view(t, s, func(tx store.ReadTx) error {
		for _, u := range []string{"u-1", "u-2"} {
			if list, err := tx.Sessions(u); err != nil || len(list) != 0 {
				t.Errorf("Sessions(%s) after delete = %+v, %v", u, list, err)
			}
		}
		return nil
	})
}

func testAPITokens(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	tok := store.APIToken{ID: "tok-1", TokenHash: hash32("t1"), UserID: "u-1", Name: "laptop CLI", CreatedAt: t0}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutAPIToken(tok); err != nil {
			return err
		}
		if err := tx.PutAPIToken(store.APIToken{ID: "tok-0", TokenHash: hash32("t0"), UserID: "u-1", CreatedAt: t1, ExpiresAt: t0}); err != nil {
			return err
		}
		wantErr(t, "same hash, other ID", tx.PutAPIToken(store.APIToken{ID: "tok-2", TokenHash: hash32("t1"), UserID: "u-2"}), store.ErrConflict)
		wantErr(t, "missing user", tx.PutAPIToken(store.APIToken{ID: "tok-3", TokenHash: hash32("t3"), UserID: "u-none"}), store.ErrNotFound)
		return tx.PutAPIToken(store.APIToken{ID: "tok-4", TokenHash: hash32("t4"), UserID: "u-2", CreatedAt: t0})
	})
	tok.LastUsedAt, tok.RevokedAt = t1, t0
	update(t, s, func(tx store.Tx) error { return tx.PutAPIToken(tok) })
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.APIToken(hash32("t1"))
		want := tok
		want.CreatedAt, want.LastUsedAt, want.RevokedAt = norm(t0), norm(t1), norm(t0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("APIToken = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.APIToken(hash32("t2"))
		wantErr(t, "unknown token", err, store.ErrNotFound)
		list, err := tx.APITokens("u-1")
		if err != nil || len(list) != 2 || list[0].ID != "tok-0" || !list[0].ExpiresAt.Equal(norm(t0)) || !list[0].RevokedAt.IsZero() {
			t.Errorf("APITokens = %+v, %v", list, err)
		}
		return nil
	})
}

func testInvitations(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	inv := store.Invitation{UserID: "u-1", TokenHash: hash32("i1"), CreatedBy: "u-op", CreatedAt: t0, ExpiresAt: t1}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutInvitation(inv); err != nil {
			return err
		}
		wantErr(t, "same hash, other user", tx.PutInvitation(store.Invitation{UserID: "u-2", TokenHash: hash32("i1"), CreatedBy: "u-op", CreatedAt: t0, ExpiresAt: t1}), store.ErrConflict)
		wantErr(t, "missing user", tx.PutInvitation(store.Invitation{UserID: "u-none", TokenHash: hash32("i3"), CreatedBy: "u-op", CreatedAt: t0, ExpiresAt: t1}), store.ErrNotFound)
		wantErr(t, "short hash", tx.PutInvitation(store.Invitation{UserID: "u-2", TokenHash: []byte("x"), CreatedBy: "u-op"}), store.ErrInvalid)
		return tx.PutInvitation(store.Invitation{UserID: "u-2", TokenHash: hash32("i2"), CreatedBy: "u-op", CreatedAt: t0, ExpiresAt: t1})
	})
	// A new invitation replaces the user's old one: the old token is gone.
	inv.TokenHash, inv.CreatedAt = hash32("i1b"), t1
	update(t, s, func(tx store.Tx) error { return tx.PutInvitation(inv) })
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.Invitation(hash32("i1"))
		wantErr(t, "replaced invitation", err, store.ErrNotFound)
		got, err := tx.Invitation(hash32("i1b"))
		want := inv
		want.CreatedAt, want.ExpiresAt = norm(t1), norm(t1)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Invitation = %+v, %v; want %+v", got, err, want)
		}
		if got, err := tx.UserInvitation("u-1"); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("UserInvitation = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.UserInvitation("u-none")
		wantErr(t, "no invitation", err, store.ErrNotFound)
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteInvitation("u-1"); err != nil {
			return err
		}
		wantErr(t, "deleted twice", tx.DeleteInvitation("u-1"), store.ErrNotFound)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.Invitation(hash32("i1b"))
		wantErr(t, "deleted invitation", err, store.ErrNotFound)
		if _, err := tx.UserInvitation("u-2"); err != nil {
			t.Errorf("the other user's invitation: %v", err)
		}
		return nil
	})
}

func testLimits(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	count := func(at time.Time, window time.Duration) store.Limit {
		t.Helper()
		var l store.Limit
		update(t, s, func(tx store.Tx) error {
			var err error
			l, err = tx.CountFailure("account:u-1", at, at.Add(-window))
			return err
		})
		return l
	}
	for i := 1; i <= 3; i++ {
		if l := count(now.Add(time.Duration(i)*time.Second), time.Minute); l.Failures != int64(i) || !l.Since.Equal(now.Add(time.Second)) {
			t.Fatalf("failure %d: %+v", i, l)
		}
	}
	// After the window the counter restarts.
	if l := count(now.Add(2*time.Minute), time.Minute); l.Failures != 1 || !l.Since.Equal(now.Add(2*time.Minute)) {
		t.Errorf("after the window: %+v", l)
	}
	update(t, s, func(tx store.Tx) error {
		ok, err := tx.LockLimit("account:u-1", now.Add(time.Hour), now)
		if err != nil || !ok {
			t.Errorf("first lock = %v, %v", ok, err)
		}
		ok, err = tx.LockLimit("account:u-1", now.Add(2*time.Hour), now.Add(time.Minute))
		if err != nil || ok {
			t.Errorf("lock while locked = %v, %v; want false", ok, err)
		}
		_, err = tx.LockLimit("account:none", now, now)
		wantErr(t, "lock of a missing counter", err, store.ErrNotFound)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		l, err := tx.Limit("account:u-1")
		if err != nil || !l.LockedUntil.Equal(now.Add(time.Hour)) || l.Key != "account:u-1" {
			t.Errorf("Limit = %+v, %v", l, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		ok, err := tx.LockLimit("account:u-1", now.Add(3*time.Hour), now.Add(time.Hour))
		if err != nil || !ok {
			t.Errorf("lock after expiry = %v, %v", ok, err)
		}
		if err := tx.DeleteLimit("account:u-1"); err != nil {
			return err
		}
		return tx.DeleteLimit("account:u-1")
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.Limit("account:u-1")
		wantErr(t, "deleted counter", err, store.ErrNotFound)
		return nil
	})
}

// testLimitsTwoStores counts failures from two stores on one database (two
// instances) and several goroutines each: no failure may be lost.
func testLimitsTwoStores(t *testing.T, b Backend) {
	_, dsn := fresh(t, b)
	stores := []store.Store{openStore(t, b, dsn), openStore(t, b, dsn)}
	const each = 10
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 4*each)
	for i := range 4 {
		s := stores[i%2]
		wg.Go(func() {
			for range each {
				errs <- s.Update(context.Background(), func(tx store.Tx) error {
					_, err := tx.CountFailure("addr:192.0.2.1", now, now.Add(-time.Hour))
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	view(t, stores[0], func(tx store.ReadTx) error {
		l, err := tx.Limit("addr:192.0.2.1")
		if err != nil || l.Failures != 4*each {
			t.Errorf("Limit = %+v, %v; want %d failures", l, err, 4*each)
		}
		return nil
	})
}

// testSystemDEK stores data keys of store.SystemDEKOrg, which has no org
// row, and lists them with the org DEKs (so KEK rotation sees them) but
// creates no org and no chain.
func testSystemDEK(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	sys := store.WrappedDEK{OrgID: store.SystemDEKOrg, Version: 1, KEKVersion: 3, Wrapped: []byte("wrapped"), Encryptions: 7, CreatedAt: t0}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutOrg(store.Org{ID: "org-a"}); err != nil {
			return err
		}
		for _, k := range []store.WrappedDEK{sys, {OrgID: "org-a", Version: 1, Wrapped: []byte{}}, {OrgID: store.SystemDEKOrg, Version: 2}} {
			if err := tx.PutDEK(k); err != nil {
				return err
			}
		}
		sys.Encryptions = 8
		return tx.PutDEK(sys)
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.DEK(store.SystemDEKOrg, 1)
		want := sys
		want.CreatedAt = norm(t0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("DEK(system, 1) = %+v, %v; want %+v", got, err, want)
		}
		if list, err := tx.DEKs(store.SystemDEKOrg); err != nil || len(list) != 2 || list[1].Wrapped != nil {
			t.Errorf("DEKs(system) = %+v, %v", list, err)
		}
		if list, err := tx.DEKs("org-a"); err != nil || len(list) != 1 {
			t.Errorf("DEKs(org-a) = %+v, %v", list, err)
		}
		all, err := tx.AllDEKs()
		var names []string
		for _, k := range all {
			names = append(names, fmt.Sprint(k.OrgID, "/", k.Version))
		}
		if want := []string{"org-a/1", "system/1", "system/2"}; err != nil || !slices.Equal(names, want) {
			t.Errorf("AllDEKs = %q, %v; want %q", names, err, want)
		}
		orgs, err := tx.Orgs()
		if err != nil || len(orgs) != 1 {
			t.Errorf("Orgs = %+v, %v", orgs, err)
		}
		chains, err := tx.AuditChains()
		if err != nil || !slices.Equal(chains, []string{"org-a"}) {
			t.Errorf("AuditChains = %q, %v", chains, err)
		}
		_, err = tx.DEK(store.SystemDEKOrg, 9)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing system DEK: %v", err)
		}
		return nil
	})
}
