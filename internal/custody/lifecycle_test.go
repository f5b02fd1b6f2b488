package custody

import (
	"errors"
	"fmt"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// op is one lifecycle operation through the custody API.
type op struct {
	name string
	// action is what audit.Next is asked; otherActive says whether the op
	// runs while another version of the identity is active (a rotation).
	action      audit.Action
	otherActive bool
	run         func(f *fixture, t *testing.T, identity string, version int) error
}

var lifecycleOps = []op{
	{"upload", audit.ActionCertUpload, false, func(f *fixture, t *testing.T, id string, v int) error {
		_, err := f.svc.UploadCertificate(f.ctx, testActor, id, v, f.issueFor(t, id, v), nil)
		return err
	}},
	{"activate", audit.ActionVersionActivate, false, func(f *fixture, t *testing.T, id string, v int) error {
		_, err := f.svc.Activate(f.ctx, testActor, id, v, "")
		return err
	}},
	{"rotate", audit.ActionVersionRotate, true, func(f *fixture, t *testing.T, id string, v int) error {
		_, err := f.svc.Activate(f.ctx, testActor, id, v, "scheduled rotation")
		return err
	}},
	{"revoke", audit.ActionVersionRevoke, false, func(f *fixture, t *testing.T, id string, v int) error {
		_, err := f.svc.Revoke(f.ctx, testActor, id, v, "key compromise")
		return err
	}},
	{"destroy", audit.ActionVersionDestroy, false, func(f *fixture, t *testing.T, id string, v int) error {
		_, err := f.svc.Destroy(f.ctx, testActor, id, v)
		return err
	}},
}

// toStatus brings a new version of identity to status st through the API
// and returns its number. "superseded" leaves another version active.
func toStatus(f *fixture, t *testing.T, id string, st audit.Status) int {
	t.Helper()
	must := func(_ VersionInfo, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	switch st {
	case audit.StatusPending:
		return f.pending(t, id).Version
	}
	v := f.ready(t, id).Version
	switch st {
	case audit.StatusActive:
		must(f.svc.Activate(f.ctx, testActor, id, v, ""))
	case audit.StatusSuperseded:
		must(f.svc.Activate(f.ctx, testActor, id, v, ""))
		w := f.ready(t, id).Version
		must(f.svc.Activate(f.ctx, testActor, id, w, "rotate away"))
	case audit.StatusRevoked:
		must(f.svc.Revoke(f.ctx, testActor, id, v, "superseded by policy"))
	case audit.StatusDestroyed:
		must(f.svc.Destroy(f.ctx, testActor, id, v))
	}
	return v
}

// TestLifecycleTable runs every operation from every status through the
// custody API and checks it against audit.Next (the rule): allowed
// operations reach Next's status; refused ones fail with ErrTransition and
// write nothing (stored version and chain head unchanged).
func TestLifecycleTable(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "seed")
		n := 0
		for _, from := range audit.Statuses[1:] {
			for _, o := range lifecycleOps {
				t.Run(fmt.Sprintf("%s/%s", from, o.name), func(t *testing.T) {
					n++
					id := fmt.Sprintf("idt-%d", n)
					f.orgIdentity(t, "acme", id)
					v := toStatus(f, t, id, from)
					active, hasActive := activeVersion(f, t, id)
					if hasActive && active == v {
						hasActive = false // the version itself is the active one
					}
					if o.otherActive && !hasActive && from != audit.StatusActive {
						// a rotation needs another active version: make one
						w := f.ready(t, id).Version
						if _, err := f.svc.Activate(f.ctx, testActor, id, w, ""); err != nil {
							t.Fatal(err)
						}
					}
					action := o.action
					if o.name == "activate" && hasActive {
						action = audit.ActionVersionRotate // activation with another active one is a rotation
					}
					if o.name == "rotate" && from == audit.StatusActive {
						action = audit.ActionVersionActivate // re-activating the active version itself
					}
					want, wantErr := audit.Next(from, action)
					before := storedVersion(f, t, id, v)
					head := f.head(t, "acme")
					err := o.run(f, t, id, v)
					after := storedVersion(f, t, id, v)
					switch {
					case wantErr != nil:
						if !errors.Is(err, ErrTransition) {
							t.Fatalf("%s from %s: got %v, want ErrTransition", o.name, from, err)
						}
						if f.head(t, "acme") != head {
							t.Fatalf("refused %s wrote an audit entry", o.name)
						}
						if after.Status != before.Status || after.UpdatedAt != before.UpdatedAt || len(after.KeyBlob) != len(before.KeyBlob) {
							t.Fatalf("refused %s changed the version", o.name)
						}
					case o.name == "activate" && hasActive:
						// rotation without a reason: refused as invalid input
						if !errors.Is(err, ErrInvalidInput) {
							t.Fatalf("rotation without reason: got %v", err)
						}
						if f.head(t, "acme") != head {
							t.Fatal("refused rotation wrote an audit entry")
						}
					default:
						if err != nil {
							t.Fatalf("%s from %s: %v (audit.Next allows it -> %s)", o.name, from, err, want)
						}
						if after.Status != string(want) {
							t.Fatalf("%s from %s: status %s, want %s", o.name, from, after.Status, want)
						}
						if f.head(t, "acme") != head+1 {
							t.Fatalf("%s wrote %d entries, want 1", o.name, f.head(t, "acme")-head)
						}
						if want == audit.StatusDestroyed && after.KeyBlob != nil {
							t.Fatal("destroy kept the key blob")
						}
						if want == audit.StatusDestroyed && from != audit.StatusPending && after.CertDER == nil {
							t.Fatal("destroy dropped the certificate")
						}
					}
					if err := f.svc.CheckState(f.ctx, "acme"); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
		f.checkConsistent(t)
	})
}

func activeVersion(f *fixture, t *testing.T, id string) (int, bool) {
	vs, err := f.svc.Versions(f.ctx, testActor, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Status == string(audit.StatusActive) {
			return v.Version, true
		}
	}
	return 0, false
}

func storedVersion(f *fixture, t *testing.T, id string, n int) store.Version {
	var v store.Version
	if err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		var err error
		v, err = tx.Version(id, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}
