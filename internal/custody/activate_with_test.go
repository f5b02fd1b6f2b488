package custody

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
)

// TestActivateWith: an activation bound to a thumbprint refuses another
// certificate; its details go into the entry (activation and rotation)
// but never replace custody's; its commit hook runs in the activation's
// transaction with the appended entry, and its error rolls the activation
// back.
func TestActivateWith(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "jane")
		v1 := f.ready(t, "jane")
		v2 := f.ready(t, "jane")
		mfa := map[string]string{audit.DetailMFAMethod: "totp", audit.DetailMFAEvidence: `{"step":"1"}`, audit.DetailRequestID: "r-1"}

		head := f.head(t, "acme")
		if _, err := f.svc.ActivateWith(f.ctx, testActor, "jane", 1, Activation{Thumbprint: v2.Thumbprint}); !errors.Is(err, ErrConflict) {
			t.Fatalf("another certificate's thumbprint: %v", err)
		}
		if _, err := f.svc.ActivateWith(f.ctx, testActor, "jane", 1, Activation{Details: map[string]string{audit.DetailThumbprint: v2.Thumbprint}}); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("a detail replacing the thumbprint: %v", err)
		}
		hookFailed := errors.New("the step-up was a replay")
		var seen audit.Entry
		_, err := f.svc.ActivateWith(f.ctx, testActor, "jane", 1, Activation{Thumbprint: v1.Thumbprint, Details: mfa,
			Commit: func(tx store.Tx, e audit.Entry) error {
				seen = e
				if h, err := tx.AuditHead("acme"); err != nil || h.Seq != e.Seq {
					t.Errorf("the hook runs before the entry is appended: %v %d", err, h.Seq)
				}
				return hookFailed
			}})
		if !errors.Is(err, hookFailed) || seen.Action != audit.ActionVersionActivate {
			t.Fatalf("failing hook: %v, saw %+v", err, seen)
		}
		if got := f.head(t, "acme"); got != head {
			t.Fatalf("refused activations wrote %d entries", got-head)
		}
		if s := storedVersion(f, t, "jane", 1).Status; s != "ready" {
			t.Fatalf("after a failing hook version 1 is %s", s)
		}

		var committed uint64
		out, err := f.svc.ActivateWith(f.ctx, testActor, "jane", 1, Activation{Thumbprint: v1.Thumbprint, Details: mfa,
			Commit: func(tx store.Tx, e audit.Entry) error { committed = e.Seq; return nil }})
		if err != nil || out.Status != "active" {
			t.Fatalf("activate: %v %+v", err, out)
		}
		rot, err := f.svc.ActivateWith(f.ctx, testActor, "jane", 2, Activation{Reason: "scheduled", Thumbprint: v2.Thumbprint, Details: mfa})
		if err != nil || rot.Status != "active" {
			t.Fatalf("rotate: %v %+v", err, rot)
		}
		es := f.entries(t, "acme")
		act, rotate := es[len(es)-2], es[len(es)-1]
		if act.Seq != committed || act.Action != audit.ActionVersionActivate || rotate.Action != audit.ActionVersionRotate {
			t.Fatalf("entries %s #%d, %s; hook saw #%d", act.Action, act.Seq, rotate.Action, committed)
		}
		for _, e := range []audit.Entry{act, rotate} {
			for k, v := range mfa {
				if e.Details[k] != v {
					t.Errorf("%s: detail %s = %q, want %q", e.Action, k, e.Details[k], v)
				}
			}
		}
		if act.Details[audit.DetailThumbprint] != v1.Thumbprint || rotate.Details[audit.DetailNewThumbprint] != v2.Thumbprint {
			t.Errorf("custody's details were replaced: %v %v", act.Details, rotate.Details)
		}
		f.checkConsistent(t)
		if err := f.svc.CheckState(f.ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckedReadsAndCSR: the checked reads show what the trail records,
// with history; the CSR of a generated version is the one GenerateKey
// returned, and an imported version has none.
func TestCheckedReadsAndCSR(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "jane")
	v, csr, err := f.svc.GenerateKey(f.ctx, testActor, "jane", "ECDSA-P256", pkix.Name{CommonName: "Jane"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.CSR(f.ctx, "jane", v.Version)
	if err != nil || !bytes.Equal(got, csr) {
		t.Fatalf("CSR: %v", err)
	}
	if _, err := x509.ParseCertificateRequest(got); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CSR(f.ctx, "jane", 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CSR of no version: %v", err)
	}
	info, err := f.svc.CheckedIdentity(f.ctx, testActor, "jane")
	if err != nil || len(info.Versions) != 1 || info.Versions[0].Status != "pending" || info.Owner != "jane" {
		t.Fatalf("checked identity: %v %+v", err, info)
	}
	vi, err := f.svc.CheckedVersion(f.ctx, testActor, "jane", 1)
	if err != nil || len(vi.History) != 1 || vi.History[0].Action != audit.ActionKeyGenerate {
		t.Fatalf("checked version: %v %+v", err, vi)
	}
	if _, err := f.svc.CheckedVersion(f.ctx, testActor, "jane", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("checked version 2: %v", err)
	}
	if _, err := f.svc.CheckedIdentity(f.ctx, testActor, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("checked unknown identity: %v", err)
	}
	c := pkitest.NewChain(t, keypolicy.ECDSAP256, "csr import")
	if _, err := f.svc.Import(f.ctx, testActor, "jane", bundle(t, c.Leaf.Key, c.Leaf.Cert.Raw, c.Intermediate.Cert.Raw), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CSR(f.ctx, "jane", 2); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "imported") {
		t.Fatalf("CSR of an imported version: %v", err)
	}
}
