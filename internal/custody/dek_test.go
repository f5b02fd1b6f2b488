package custody

import (
	"errors"
	"testing"

	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// TestCryptoErasure follows the README procedure: destroy a version, rotate
// the org's DEK, rotate the KEK, retire the old KEK. A copy of the
// destroyed blob and of the DEK rows from a backup taken before can no
// longer be decrypted with anything that remains, while every live key
// still signs.
func TestCryptoErasure(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		f.orgIdentity(t, "acme", "bob")
		gone := f.ready(t, "alice").Version
		keep := f.ready(t, "alice").Version
		bobV := f.ready(t, "bob").Version
		// The "backup": the blob and the org's DEK rows before erasure.
		backupBlob := storedVersion(f, t, "alice", gone).KeyBlob
		var backupDEKs []store.WrappedDEK
		f.st.View(f.ctx, func(tx store.ReadTx) error { backupDEKs, _ = tx.DEKs("acme"); return nil })

		if _, err := f.svc.Destroy(f.ctx, testActor, "alice", gone); err != nil {
			t.Fatal(err)
		}
		rot, err := f.svc.RotateDEK(f.ctx, testActor, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if rot.New != 2 || rot.Reencrypted != 2 || len(rot.Erased) != 1 || rot.Erased[0] != 1 {
			t.Fatalf("DEK rotation = %+v", rot)
		}
		if _, err := f.svc.RotateKEK(f.ctx, testActor, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RetireKEK(f.ctx, testActor, 1); err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			id string
			v  int
		}{{"alice", keep}, {"bob", bobV}} {
			if err := f.signs(t, x.id, x.v); err != nil {
				t.Fatalf("live key %s/%d: %v", x.id, x.v, err)
			}
		}
		// Nothing left decrypts the backup blob: not the backup's own DEK
		// rows (their KEK version is retired), not the live ones.
		var live []store.WrappedDEK
		f.st.View(f.ctx, func(tx store.ReadTx) error { live, _ = tx.DEKs("acme"); return nil })
		tried := 0
		for _, row := range append(backupDEKs, live...) {
			dek, err := envelope.UnwrapDEK(f.ctx, f.kek, row.OrgID, row.Version, row.KEKVersion, row.Wrapped)
			if err != nil {
				continue
			}
			tried++
			_, err = dek.Open(envelope.Binding{Org: "acme", Identity: "alice", Version: gone}, backupBlob)
			dek.Zero()
			if !errors.Is(err, envelope.ErrAuthentication) {
				t.Fatalf("DEK %d opened the destroyed blob from the backup: %v", row.Version, err)
			}
		}
		if tried == 0 {
			t.Fatal("no live DEK unwrapped at all")
		}
		// Erased DEKs are skipped by KEK status and later rotations.
		if _, err := f.svc.RotateKEK(f.ctx, testActor, nil); err != nil {
			t.Fatal(err)
		}
		f.checkConsistent(t)
	})
}
