package custody

import (
	"crypto/x509/pkix"
	"sync"
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
)

// TestConcurrentVersions generates keys for one identity from many
// goroutines at once: every call succeeds (a lost race re-encrypts for the
// next version number), the versions are 1..n, the DEK's encryption count
// is exactly n, and the chain verifies.
func TestConcurrentVersions(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, _, err := f.svc.GenerateKey(f.ctx, testActor, "alice", keypolicy.ECDSAP256, pkix.Name{CommonName: "race"})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		vs, err := f.svc.Versions(f.ctx, testActor, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vs {
			if v.Version != i+1 {
				t.Fatalf("versions %v", vs)
			}
		}
		if len(vs) != n {
			t.Fatalf("%d versions, want %d", len(vs), n)
		}
		var dek store.WrappedDEK
		f.st.View(f.ctx, func(tx store.ReadTx) error { dek, err = latestDEK(tx, "acme"); return err })
		if dek.Encryptions != n {
			t.Fatalf("DEK counted %d encryptions, want %d", dek.Encryptions, n)
		}
		f.checkConsistent(t)
	})
}
