package custody

import (
	"context"
	"errors"
	"os"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// TestKEKRotateRetire rotates the KEK: every DEK is re-wrapped, key blobs
// are byte-for-byte unchanged, keys still sign; retire refuses the active
// version and any version still wrapping a DEK, then retires the old one.
func TestKEKRotateRetire(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		f.orgIdentity(t, "globex", "carol")
		a := f.ready(t, "alice").Version
		c := f.ready(t, "carol").Version
		blobA := storedVersion(f, t, "alice", a).KeyBlob

		if err := f.svc.RetireKEK(f.ctx, testActor, 1); !errors.Is(err, ErrConflict) {
			t.Fatalf("retire active: %v", err)
		}
		var calls int
		rot, err := f.svc.RotateKEK(f.ctx, testActor, func(int, int) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if rot.Added != 2 || rot.Active != 2 || rot.Rewrapped != 2 || calls == 0 {
			t.Fatalf("rotation = %+v (progress calls %d)", rot, calls)
		}
		ks, err := f.svc.KEKStatus(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ks.DEKs {
			if d.KEKVersion != 2 {
				t.Fatalf("DEK %s/%d still under KEK %d", d.Org, d.DEKVersion, d.KEKVersion)
			}
		}
		if string(storedVersion(f, t, "alice", a).KeyBlob) != string(blobA) {
			t.Fatal("KEK rotation changed a key blob")
		}
		if err := f.svc.RetireKEK(f.ctx, testActor, 1); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RetireKEK(f.ctx, testActor, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retire twice: %v", err)
		}
		if err := f.svc.RetireKEK(f.ctx, testActor, 9); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retire unknown: %v", err)
		}
		for _, x := range []struct {
			id string
			v  int
		}{{"alice", a}, {"carol", c}} {
			if err := f.signs(t, x.id, x.v); err != nil {
				t.Fatalf("%s after rotation: %v", x.id, err)
			}
		}
		if n := countAction(f, t, audit.SystemChain, audit.ActionKEKRotate); n != 1 {
			t.Fatalf("%d kek.rotate entries", n)
		}
		if n := countAction(f, t, audit.SystemChain, audit.ActionKEKRetire); n != 1 {
			t.Fatalf("%d kek.retire entries", n)
		}
		// Retiring a version while a DEK is wrapped under it is refused.
		if _, err := f.kek.AddVersion(f.ctx); err != nil { // KEK 3 active, DEKs under 2
			t.Fatal(err)
		}
		if err := f.svc.RetireKEK(f.ctx, testActor, 2); !errors.Is(err, ErrConflict) {
			t.Fatalf("retire while wrapping: %v", err)
		}
		// The next rotate completes the interrupted one without adding.
		rot, err = f.svc.RotateKEK(f.ctx, testActor, nil)
		if err != nil || rot.Added != 0 || rot.Active != 3 || rot.Rewrapped != 2 {
			t.Fatalf("completing rotation: %+v %v", rot, err)
		}
		f.checkConsistent(t)
	})
}

// TestKEKFromEnvironment: a keyring from the environment wraps and unwraps
// but cannot be rotated or retired by sealkeep (ErrForbidden, nothing
// written).
func TestKEKFromEnvironment(t *testing.T) {
	st := openSQLite(t)
	file := t.TempDir() + "/ring"
	if _, err := envelope.CreateKeyringFile(file); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := envelope.KeyringFromEnv(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: New(st, kek, Options{}), st: st, ctx: context.Background()}
	f.orgIdentity(t, "acme", "alice")
	v := f.ready(t, "alice").Version
	head := f.head(t, audit.SystemChain)
	if _, err := f.svc.RotateKEK(f.ctx, testActor, nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("rotate: %v", err)
	}
	if err := f.svc.RetireKEK(f.ctx, testActor, 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("retire the active version: %v", err)
	}
	// Wrapped as config.Open wraps it, the keyring is not a rotator.
	g := New(st, struct{ envelope.KEK }{kek}, Options{})
	if err := g.RetireKEK(f.ctx, testActor, 1); !errors.Is(err, ErrForbidden) {
		t.Fatalf("retire: %v", err)
	}
	if _, err := g.RotateKEK(f.ctx, testActor, nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("rotate: %v", err)
	}
	if ks, err := g.KEKStatus(f.ctx); err != nil || ks.Rotatable {
		t.Fatalf("status %+v %v", ks, err)
	}
	if f.head(t, audit.SystemChain) != head {
		t.Fatal("a refused rotation wrote an audit entry")
	}
	if err := f.signs(t, "alice", v); err != nil {
		t.Fatal(err)
	}
}
