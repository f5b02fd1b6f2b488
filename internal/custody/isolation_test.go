package custody

import (
	"bytes"
	"errors"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// countAction counts entries of action a in chain.
func countAction(f *fixture, t *testing.T, chain string, a audit.Action) int {
	n := 0
	for _, e := range f.entries(t, chain) {
		if e.Action == a {
			n++
		}
	}
	return n
}

// TestCopiedBlobFails copies a key blob to another version, another
// identity and another org (editing the stored rows): each copy fails to
// decrypt with envelope.ErrAuthentication, nothing is signed, and a
// security.decrypt_failed entry is written in the target's org chain.
// The original keeps signing.
func TestCopiedBlobFails(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		f.orgIdentity(t, "acme", "bob")
		f.orgIdentity(t, "globex", "carol")
		src := f.ready(t, "alice")
		targets := []struct {
			name, org, identity string
			version             int
		}{
			{"other version", "acme", "alice", f.ready(t, "alice").Version},
			{"other identity", "acme", "bob", f.ready(t, "bob").Version},
			{"other org", "globex", "carol", f.ready(t, "carol").Version},
		}
		blob := storedVersion(f, t, "alice", src.Version).KeyBlob
		for _, tc := range targets {
			t.Run(tc.name, func(t *testing.T) {
				if err := f.st.Update(f.ctx, func(tx store.Tx) error {
					v, err := tx.Version(tc.identity, tc.version)
					if err != nil {
						return err
					}
					v.KeyBlob = append([]byte(nil), blob...)
					return tx.PutVersion(v)
				}); err != nil {
					t.Fatal(err)
				}
				before := countAction(f, t, tc.org, audit.ActionSecurityDecryptFailed)
				err := f.signs(t, tc.identity, tc.version)
				if !errors.Is(err, envelope.ErrAuthentication) {
					t.Fatalf("signing with a copied blob: got %v, want ErrAuthentication", err)
				}
				if got := countAction(f, t, tc.org, audit.ActionSecurityDecryptFailed); got != before+1 {
					t.Fatalf("decrypt_failed entries: %d, want %d", got, before+1)
				}
				f.checkConsistent(t)
			})
		}
		if err := f.signs(t, "alice", src.Version); err != nil {
			t.Fatalf("original blob: %v", err)
		}
	})
}

// TestCopiedDEKFails copies org acme's wrapped DEK over globex's: unwrapping
// fails (the wrap is bound to org and DEK version), is audited, and nothing
// is signed. A bit flip in a blob fails the same way.
func TestCopiedDEKFails(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		f.orgIdentity(t, "globex", "carol")
		f.ready(t, "alice")
		v := f.ready(t, "carol")
		if err := f.st.Update(f.ctx, func(tx store.Tx) error {
			a, err := tx.DEK("acme", 1)
			if err != nil {
				return err
			}
			g, err := tx.DEK("globex", 1)
			if err != nil {
				return err
			}
			g.Wrapped = a.Wrapped
			return tx.PutDEK(g)
		}); err != nil {
			t.Fatal(err)
		}
		err := f.signs(t, "carol", v.Version)
		if !errors.Is(err, envelope.ErrAuthentication) {
			t.Fatalf("signing under a copied DEK: got %v", err)
		}
		if countAction(f, t, "globex", audit.ActionSecurityDecryptFailed) != 1 {
			t.Fatal("copied DEK not audited")
		}
		// Bit flips in acme's blob.
		blob := storedVersion(f, t, "alice", 1).KeyBlob
		for _, i := range []int{0, len(blob) / 2, len(blob) - 1} {
			bad := append([]byte(nil), blob...)
			bad[i] ^= 0x01
			putBlob(f, t, "alice", 1, bad)
			if err := f.signs(t, "alice", 1); err == nil {
				t.Fatalf("bit flip at %d signed", i)
			}
		}
		putBlob(f, t, "alice", 1, blob)
		if err := f.signs(t, "alice", 1); err != nil {
			t.Fatal(err)
		}
		f.checkConsistent(t)
	})
}

func putBlob(f *fixture, t *testing.T, id string, n int, blob []byte) {
	t.Helper()
	if err := f.st.Update(f.ctx, func(tx store.Tx) error {
		v, err := tx.Version(id, n)
		if err != nil {
			return err
		}
		v.KeyBlob = blob
		return tx.PutVersion(v)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDEKBudget lowers the per-DEK encryption budget: a new DEK version is
// made before the old one reaches it, audited as dek.create, and keys
// encrypted under every DEK version still sign.
func TestDEKBudget(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{MaxEncryptionsPerDEK: 3})
	f.orgIdentity(t, "acme", "alice")
	var vs []int
	for range 5 {
		vs = append(vs, f.ready(t, "alice").Version)
	}
	var deks []store.WrappedDEK
	f.st.View(f.ctx, func(tx store.ReadTx) error { deks, _ = tx.DEKs("acme"); return nil })
	if len(deks) != 3 {
		t.Fatalf("%d DEK versions after 5 encryptions with budget 3, want 3", len(deks))
	}
	for _, d := range deks {
		if d.Encryptions >= 3 {
			t.Fatalf("DEK %d used %d times (budget 3)", d.Version, d.Encryptions)
		}
	}
	if n := countAction(f, t, "acme", audit.ActionDEKCreate); n != 3 {
		t.Fatalf("%d dek.create entries, want 3", n)
	}
	for _, v := range vs {
		if err := f.signs(t, "alice", v); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
}

// TestSignerRefusals: revoked and destroyed versions do not sign; a destroy
// after a Signer was built takes effect on its next call (nothing cached).
func TestSignerRefusals(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "alice")
	v := f.ready(t, "alice").Version
	s, err := f.svc.Signer(f.ctx, testActor, "alice", v)
	if err != nil {
		t.Fatal(err)
	}
	if err := signWith(s); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Destroy(f.ctx, testActor, "alice", v); err != nil {
		t.Fatal(err)
	}
	if err := signWith(s); !errors.Is(err, ErrForbidden) {
		t.Fatalf("signer after destroy: %v", err)
	}
	if _, err := f.svc.Signer(f.ctx, testActor, "alice", v); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Signer on destroyed: %v", err)
	}
	w := f.ready(t, "alice").Version
	if _, err := f.svc.Revoke(f.ctx, testActor, "alice", w, "compromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Signer(f.ctx, testActor, "alice", w); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Signer on revoked: %v", err)
	}
}

// TestExportReadsBack exports a chain and reads it back with the strict
// decoder: same entries, and the export verifies on its own.
func TestExportReadsBack(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "alice")
	f.ready(t, "alice")
	var buf bytes.Buffer
	n, err := f.svc.ExportChain(f.ctx, "acme", &buf)
	if err != nil || n != uint64(len(f.entries(t, "acme"))) {
		t.Fatalf("export: %d %v", n, err)
	}
	if rep := audit.Verify(audit.DecodeJSONL(&buf)); !rep.OK() || rep.Read != n {
		t.Fatalf("exported chain: %+v", rep)
	}
}
