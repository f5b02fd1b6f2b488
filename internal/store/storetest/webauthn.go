package storetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// testWebAuthnCredentials runs the contract of the passkey rows: a
// credential ID held by one user, exact round trips, a counter that only
// moves forward (0 stays 0), deletion by its owner only.
func testWebAuthnCredentials(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	id := []byte{0, 1, 2, 0xff}
	c := store.WebAuthnCredential{ID: id, UserID: "u-1", Name: "YubiKey «5C»", PublicKey: []byte{0xa5, 1, 2},
		SignCount: 7, BackupEligible: true, AAGUID: make([]byte, 16), Attestation: "none",
		Transports: []string{"usb", "nfc"}, CreatedAt: t0}
	update(t, s, func(tx store.Tx) error {
		_, err := tx.WebAuthnCredential(id)
		wantErr(t, "missing credential", err, store.ErrNotFound)
		if err := tx.PutWebAuthnCredential(c); err != nil {
			return err
		}
		other := c
		other.UserID = "u-2"
		wantErr(t, "credential ID of another user", tx.PutWebAuthnCredential(other), store.ErrConflict)
		ghost := c
		ghost.ID, ghost.UserID = []byte("ghost"), "u-none"
		wantErr(t, "credential of a missing user", tx.PutWebAuthnCredential(ghost), store.ErrNotFound)
		empty := c
		empty.ID = nil
		wantErr(t, "empty credential ID", tx.PutWebAuthnCredential(empty), store.ErrInvalid)
		long := c
		long.ID = make([]byte, store.MaxCredentialIDLen+1)
		wantErr(t, "credential ID too long", tx.PutWebAuthnCredential(long), store.ErrInvalid)
		// The transaction is still usable: a second credential, no
		// transports, counter 0.
		return tx.PutWebAuthnCredential(store.WebAuthnCredential{ID: []byte("zero"), UserID: "u-1", Name: "phone",
			PublicKey: []byte{1}, AAGUID: []byte{}, Attestation: "packed", CreatedAt: t1})
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.WebAuthnCredential(id)
		want := c
		want.CreatedAt = norm(t0)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("WebAuthnCredential = %+v, %v; want %+v", got, err, want)
		}
		list, err := tx.WebAuthnCredentials("u-1")
		if err != nil || len(list) != 2 || !bytes.Equal(list[0].ID, id) || string(list[1].ID) != "zero" ||
			list[1].Transports == nil || len(list[1].Transports) != 0 || list[1].AAGUID == nil || !list[1].LastUsedAt.IsZero() {
			t.Errorf("WebAuthnCredentials(u-1) = %+v, %v", list, err)
		}
		if list, err := tx.WebAuthnCredentials("u-2"); err != nil || len(list) != 0 {
			t.Errorf("WebAuthnCredentials(u-2) = %+v, %v; want none", list, err)
		}
		return nil
	})
	used := t1.Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "counter equal", tx.UseWebAuthnCredential(id, 7, false, used), store.ErrConflict)
		wantErr(t, "counter back", tx.UseWebAuthnCredential(id, 6, false, used), store.ErrConflict)
		wantErr(t, "counter back to 0", tx.UseWebAuthnCredential(id, 0, false, used), store.ErrConflict)
		wantErr(t, "unknown credential", tx.UseWebAuthnCredential([]byte("none"), 9, false, used), store.ErrNotFound)
		if err := tx.UseWebAuthnCredential(id, 8, true, used); err != nil {
			return err
		}
		// Without a counter (0 and 0) every use is accepted.
		if err := tx.UseWebAuthnCredential([]byte("zero"), 0, false, used); err != nil {
			return err
		}
		return tx.UseWebAuthnCredential([]byte("zero"), 0, true, used)
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.WebAuthnCredential(id)
		if err != nil || got.SignCount != 8 || !got.BackupState || !got.LastUsedAt.Equal(norm(used)) {
			t.Errorf("after use: %+v, %v; want counter 8, backed up, used at %v", got, err, used)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		wantErr(t, "delete by another user", tx.DeleteWebAuthnCredential("u-2", id), store.ErrNotFound)
		if err := tx.DeleteWebAuthnCredential("u-1", id); err != nil {
			return err
		}
		wantErr(t, "deleted twice", tx.DeleteWebAuthnCredential("u-1", id), store.ErrNotFound)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.WebAuthnCredential(id)
		wantErr(t, "deleted credential", err, store.ErrNotFound)
		return nil
	})
}

// testWebAuthnCeremonies runs the contract of ceremony state: exact round
// trips (a registration has no intent, which is not an empty one), taken
// once, expired ones deleted.
func testWebAuthnCeremonies(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1")
	reg := store.WebAuthnCeremony{ID: "c-reg", UserID: "u-1", Kind: "register", Session: []byte(`{"challenge":"x"}`),
		CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	sl := store.WebAuthnCeremony{ID: "c-seal", UserID: "u-1", Kind: "seal", Session: []byte(`{}`), Intent: []byte{0, 0, 0, 1, 's'},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	empty := store.WebAuthnCeremony{ID: "c-empty", UserID: "u-1", Kind: "seal", Session: []byte{}, Intent: []byte{},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	update(t, s, func(tx store.Tx) error {
		for _, c := range []store.WebAuthnCeremony{reg, sl, empty} {
			if err := tx.PutWebAuthnCeremony(c); err != nil {
				return err
			}
		}
		wantErr(t, "ceremony ID taken", tx.PutWebAuthnCeremony(reg), store.ErrConflict)
		ghost := reg
		ghost.ID, ghost.UserID = "c-ghost", "u-none"
		wantErr(t, "ceremony of a missing user", tx.PutWebAuthnCeremony(ghost), store.ErrNotFound)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		for _, want := range []store.WebAuthnCeremony{reg, sl, empty} {
			want.CreatedAt, want.ExpiresAt = norm(want.CreatedAt), norm(want.ExpiresAt)
			if got, err := tx.WebAuthnCeremony(want.ID); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("WebAuthnCeremony(%s) = %+v, %v; want %+v", want.ID, got, err, want)
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		got, err := tx.TakeWebAuthnCeremony("c-seal")
		if err != nil || !bytes.Equal(got.Intent, sl.Intent) || got.UserID != "u-1" {
			t.Errorf("TakeWebAuthnCeremony = %+v, %v", got, err)
		}
		_, err = tx.TakeWebAuthnCeremony("c-seal")
		wantErr(t, "taken twice", err, store.ErrNotFound)
		return nil
	})
	// Another transaction, as another instance would run it, finds it gone.
	err := s.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.TakeWebAuthnCeremony("c-seal")
		return err
	})
	wantErr(t, "taken in another transaction", err, store.ErrNotFound)
	update(t, s, func(tx store.Tx) error {
		n, err := tx.DeleteExpiredWebAuthnCeremonies(t0.Add(time.Minute - time.Microsecond))
		if err != nil || n != 0 {
			t.Errorf("expired before a minute: %d, %v", n, err)
		}
		n, err = tx.DeleteExpiredWebAuthnCeremonies(t0.Add(time.Minute))
		if err != nil || n != 1 {
			t.Errorf("expired at a minute: %d, %v; want 1", n, err)
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.WebAuthnCeremony("c-reg")
		wantErr(t, "expired ceremony", err, store.ErrNotFound)
		if _, err := tx.WebAuthnCeremony("c-empty"); err != nil {
			t.Errorf("unexpired ceremony: %v", err)
		}
		return nil
	})
}

// testWebAuthnRace: of requests finishing one ceremony through two store
// handles at once, exactly one takes it; of assertions racing with one
// counter value, exactly one advances the counter.
func testWebAuthnRace(t *testing.T, b Backend) {
	_, dsn := fresh(t, b)
	stores := []store.Store{openStore(t, b, dsn), openStore(t, b, dsn)}
	putUsers(t, stores[0], "u-1")
	update(t, stores[0], func(tx store.Tx) error {
		if err := tx.PutWebAuthnCeremony(store.WebAuthnCeremony{ID: "c-1", UserID: "u-1", Kind: "seal", Session: []byte("{}"),
			CreatedAt: t0, ExpiresAt: t1}); err != nil {
			return err
		}
		return tx.PutWebAuthnCredential(store.WebAuthnCredential{ID: []byte("cred"), UserID: "u-1", Name: "key",
			PublicKey: []byte{1}, SignCount: 1, AAGUID: []byte{}, Attestation: "none", CreatedAt: t0})
	})
	const racers = 6
	var wg sync.WaitGroup
	takes, uses := make(chan error, racers), make(chan error, racers)
	for i := range racers {
		s := stores[i%2]
		wg.Go(func() {
			takes <- s.Update(context.Background(), func(tx store.Tx) error {
				_, err := tx.TakeWebAuthnCeremony("c-1")
				return err
			})
			uses <- s.Update(context.Background(), func(tx store.Tx) error {
				return tx.UseWebAuthnCredential([]byte("cred"), 5, false, t1)
			})
		})
	}
	wg.Wait()
	close(takes)
	close(uses)
	for _, c := range []struct {
		what string
		errs chan error
		lose error
	}{{"take", takes, store.ErrNotFound}, {"use", uses, store.ErrConflict}} {
		won := 0
		for err := range c.errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, c.lose):
				t.Errorf("%s: %v, want nil or %v", c.what, err, c.lose)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d of %d racers won, want 1", c.what, won, racers)
		}
	}
}

// testWebAuthnMigrationReplay runs migration 10 again on a database that
// has its objects (as a half-applied upgrade would): it must succeed and
// keep the rows.
func testWebAuthnMigrationReplay(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	putUsers(t, s, "u-1")
	update(t, s, func(tx store.Tx) error {
		return tx.PutWebAuthnCredential(store.WebAuthnCredential{ID: []byte("kept"), UserID: "u-1", Name: "key",
			PublicKey: []byte{1}, AAGUID: []byte{}, Attestation: "none", CreatedAt: t0})
	})
	s.Close()
	b.Exec(t, dsn, `DELETE FROM schema_migrations WHERE version = 10`)
	s = openStore(t, b, dsn)
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.WebAuthnCredential([]byte("kept")); err != nil {
			t.Errorf("after replaying migration 10: %v", err)
		}
		return nil
	})
}

// testWebAuthnTrailIndex finds a credential's passkey.register and
// passkey.remove entries, and no other entry that names it, by chain and
// seq; a credential row deleted leaves them as they were.
func testWebAuthnTrailIndex(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1")
	pk := func(a audit.Action, id string) audit.Entry {
		return audit.Entry{Chain: audit.SystemChain, Time: t0, Actor: audit.Actor{Kind: audit.ActorUser, ID: "u-1"}, Action: a,
			Details: map[string]string{audit.DetailUser: "u-1", audit.DetailCredentialID: id, audit.DetailPublicKey: "pQ"}}
	}
	update(t, s, func(tx store.Tx) error {
		for _, e := range []audit.Entry{pk(audit.ActionPasskeyRegister, "AAE"), pk(audit.ActionPasskeyRegister, "other"),
			pk(audit.ActionSecurityPasskeyCounter, "AAE"), pk(audit.ActionPasskeyRemove, "AAE")} {
			if _, err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.AuditByCredentialID("AAE")
		if err != nil || len(got) != 2 || got[0].Seq != 1 || got[0].Action != audit.ActionPasskeyRegister ||
			got[1].Seq != 4 || got[1].Action != audit.ActionPasskeyRemove {
			t.Errorf("AuditByCredentialID(AAE) = %+v, %v; want the register (1) and remove (4) entries", got, err)
		}
		if got, err := tx.AuditByCredentialID("none"); err != nil || len(got) != 0 {
			t.Errorf("AuditByCredentialID(none) = %+v, %v; want none", got, err)
		}
		return nil
	})
}
