package envelope

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestConcurrentUse wraps and unwraps while the keyring rotates, and uses
// the cache from many goroutines while entries expire (run with -race).
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			d, _ := NewDEK("acme", uint32(g+1))
			for range 50 {
				w, v, err := WrapDEK(ctx, k, d)
				if err != nil {
					t.Error(err)
					return
				}
				u, err := UnwrapDEK(ctx, k, "acme", d.version, v, w)
				if err != nil || !u.key.Equal(d.key) {
					t.Errorf("unwrap during rotation: %v", err)
					return
				}
				u.Zero()
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := k.AddVersion(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()

	synctest.Test(t, func(t *testing.T) {
		c := NewDEKCache(time.Second)
		defer c.Close()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				d := fixedDEK("acme", uint32(g%2+1), "concurrent")
				for range 100 {
					c.Put(d)
					if got, ok := c.Get("acme", d.version); ok {
						got.Zero()
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
		wg.Wait()
	})
}
