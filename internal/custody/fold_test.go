package custody

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"sealkeep/internal/store"
)

// TestStatusEqualsFoldRandom runs random operation sequences (allowed and
// refused alike) on both backends and checks after every step that each
// stored status equals audit.Fold over the org's chain, and at the end that
// every chain verifies.
func TestStatusEqualsFoldRandom(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{MaxEncryptionsPerDEK: 4})
		ids := []string{"alice", "bob", "carol"}
		for _, id := range ids {
			f.orgIdentity(t, "acme", id)
		}
		r := rand.New(rand.NewPCG(7, 11))
		counts := map[string]int{}
		for step := range 120 {
			id := ids[r.IntN(len(ids))]
			vs, err := f.svc.Versions(f.ctx, testActor, id)
			if err != nil {
				t.Fatal(err)
			}
			v := 1
			if len(vs) > 0 {
				v = vs[r.IntN(len(vs))].Version
			}
			var name string
			switch k := r.IntN(8); {
			case k == 0 || len(vs) == 0:
				name = "generate"
				f.pending(t, id)
			case k == 1:
				name = "ready"
				f.ready(t, id)
			case k == 2:
				name = "upload"
				_, err = f.svc.UploadCertificate(f.ctx, testActor, id, v, f.issueFor(t, id, v), nil)
			case k == 3:
				name = "activate"
				_, err = f.svc.Activate(f.ctx, testActor, id, v, "")
			case k == 4:
				name = "rotate"
				_, err = f.svc.Activate(f.ctx, testActor, id, v, "random rotation")
			case k == 5:
				name = "revoke"
				_, err = f.svc.Revoke(f.ctx, testActor, id, v, "random")
			case k == 6:
				name = "destroy"
				_, err = f.svc.Destroy(f.ctx, testActor, id, v)
			default:
				name = "check"
				err = f.svc.CheckKey(f.ctx, testActor, id, v)
			}
			outcome := "ok"
			if err != nil {
				outcome = "refused"
				if !errors.Is(err, ErrTransition) && !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrForbidden) {
					t.Fatalf("step %d %s %s v%d: unexpected error %v", step, name, id, v, err)
				}
			}
			counts[name+" "+outcome]++
			if err := f.svc.CheckState(f.ctx, "acme"); err != nil {
				t.Fatalf("step %d (%s %s v%d): %v", step, name, id, v, err)
			}
		}
		f.checkConsistent(t)
		for _, want := range []string{"activate ok", "rotate ok", "revoke ok", "destroy ok", "activate refused", "destroy refused"} {
			if counts[want] == 0 {
				t.Errorf("random run never hit %q: %v", want, fmt.Sprint(counts))
			}
		}
	})
}
