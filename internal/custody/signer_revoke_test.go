package custody

import (
	"errors"
	"testing"

	"sealkeep/internal/store"
)

// A signer obtained before a revoke must not keep signing after it: the
// status is checked on every signature, not only when the signer is built.
func TestSignerHeldAcrossRevokeStopsSigning(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "jane")
		v := f.ready(t, "jane")
		if _, err := f.svc.Activate(f.ctx, testActor, "jane", v.Version, ""); err != nil {
			t.Fatal(err)
		}
		s, err := f.svc.Signer(f.ctx, testActor, "jane", v.Version)
		if err != nil {
			t.Fatal(err)
		}
		if err := signWith(s); err != nil {
			t.Fatalf("sign before revoke: %v", err)
		}
		if _, err := f.svc.Revoke(f.ctx, testActor, "jane", v.Version, "key compromise"); err != nil {
			t.Fatal(err)
		}
		if err := signWith(s); !errors.Is(err, ErrForbidden) {
			t.Fatalf("sign after revoke with a signer built before it = %v, want ErrForbidden", err)
		}
	})
}
