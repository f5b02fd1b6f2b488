package idempotency_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/errs"
	"sealkeep/internal/idempotency"
	"sealkeep/internal/signer/retry"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
)

// backends open a fresh store with user u-1, and a second handle on the
// same database.
func backends(t *testing.T) map[string]func(t *testing.T) (store.Store, store.Store) {
	withUser := func(t *testing.T, st store.Store) {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			return tx.PutUser(store.User{ID: "u-1", Login: "jane", PasswordHash: "$argon2id$x", CreatedAt: time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return map[string]func(t *testing.T) (store.Store, store.Store){
		"sqlite": func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "sk.db")
			open := func() store.Store {
				st, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			a := open()
			withUser(t, a)
			return a, open()
		},
		"postgres": func(t *testing.T) (store.Store, store.Store) {
			dsn := pgtest.Fresh(t)
			open := func() store.Store {
				st, err := postgres.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			a := open()
			withUser(t, a)
			return a, open()
		},
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// complete completes a claim in a transaction of its own.
func complete(t *testing.T, st store.Store, c *idempotency.Claim, ref string, result []byte) error {
	t.Helper()
	return st.Update(context.Background(), func(tx store.Tx) error { return c.Complete(tx, ref, result) })
}

// TestLifecycle: a claimed key refuses a retry while it runs (409 with
// Retry-After), refuses another request (422), gives the kept result back
// once completed, is reusable once released, and expires.
func TestLifecycle(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st, _ := open(t)
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			s := idempotency.New(st, idempotency.Options{TTL: time.Hour, Lease: time.Minute, Clock: clk.now})
			fp, other := sha256.Sum256([]byte("request")), sha256.Sum256([]byte("another request"))
			c, done, err := s.Begin(ctx, "u-1", "k", fp, "r-1")
			if err != nil || c == nil || done != nil {
				t.Fatalf("Begin = %v, %v, %v", c, done, err)
			}
			_, _, err = s.Begin(ctx, "u-1", "k", fp, "r-2")
			if d, ok := retry.RetryAfter(err); !errors.Is(err, idempotency.ErrInProgress) || errs.KindOf(err) != errs.Conflict || !ok || d <= 0 {
				t.Fatalf("retry while running: %v", err)
			}
			_, _, err = s.Begin(ctx, "u-1", "k", other, "r-3")
			if !errors.Is(err, idempotency.ErrMismatch) || errs.KindOf(err) != errs.Invalid {
				t.Fatalf("another request: %v", err)
			}
			// Released after a failure: the same key runs again.
			if err := c.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if c, _, err = s.Begin(ctx, "u-1", "k", fp, "r-4"); err != nil || c == nil {
				t.Fatalf("after release: %v", err)
			}
			pdf := []byte("%PDF-1.7 sealed\x00\xff")
			if err := complete(t, st, c, "ref-1", pdf); err != nil {
				t.Fatal(err)
			}
			c2, done, err := s.Begin(ctx, "u-1", "k", fp, "r-5")
			if err != nil || c2 != nil || done == nil || string(done.Result) != string(pdf) || done.Ref != "ref-1" || done.Attempt != "r-4" {
				t.Fatalf("retry after completion: %v, %+v, %v", c2, done, err)
			}
			if _, _, err := s.Begin(ctx, "u-1", "k", other, "r-6"); !errors.Is(err, idempotency.ErrMismatch) {
				t.Fatalf("another request after completion: %v", err)
			}
			// The result is kept for the TTL, then the key is new.
			clk.add(time.Hour)
			c, done, err = s.Begin(ctx, "u-1", "k", other, "r-7")
			if err != nil || c == nil || done != nil {
				t.Fatalf("after the TTL: %v, %+v, %v", c, done, err)
			}
		})
	}
}

// TestLostClaim: a claim whose lease ran out and whose key another
// request took over cannot complete, so its request keeps no result and
// must fail; the new holder completes.
func TestLostClaim(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st, _ := open(t)
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			s := idempotency.New(st, idempotency.Options{Lease: time.Minute, Clock: clk.now})
			fp := sha256.Sum256([]byte("request"))
			old, _, err := s.Begin(ctx, "u-1", "k", fp, "r-1")
			if err != nil {
				t.Fatal(err)
			}
			clk.add(time.Minute)
			cur, _, err := s.Begin(ctx, "u-1", "k", fp, "r-2")
			if err != nil || cur == nil {
				t.Fatalf("take-over: %v", err)
			}
			if err := complete(t, st, old, "old", nil); !errors.Is(err, idempotency.ErrLost) {
				t.Fatalf("completing the lost claim: %v", err)
			}
			if err := old.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := complete(t, st, cur, "new", []byte("x")); err != nil {
				t.Fatalf("the new holder: %v", err)
			}
		})
	}
}

// TestRace: of requests racing for one key through two instances, one
// holds it and the others are told it is in progress.
func TestRace(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			svcs := []*idempotency.Service{idempotency.New(a, idempotency.Options{}), idempotency.New(b, idempotency.Options{})}
			fp := sha256.Sum256([]byte("request"))
			const n = 8
			claims := make([]*idempotency.Claim, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					claims[i], _, errs[i] = svcs[i%2].Begin(context.Background(), "u-1", "k", fp, string(rune('a'+i)))
				})
			}
			close(start)
			wg.Wait()
			held := 0
			for i := range n {
				switch {
				case errs[i] == nil && claims[i] != nil:
					held++
				case !errors.Is(errs[i], idempotency.ErrInProgress):
					t.Errorf("request %d: %v", i, errs[i])
				}
			}
			if held != 1 {
				t.Fatalf("%d requests hold the key", held)
			}
		})
	}
}

// TestCheckKey: keys are 1 to 255 printable ASCII characters; a
// structured-field string is unquoted.
func TestCheckKey(t *testing.T) {
	for in, want := range map[string]string{"abc-123": "abc-123", `"8e03978e-40d5"`: "8e03978e-40d5", "a b": "a b"} {
		if got, err := idempotency.CheckKey(in); err != nil || got != want {
			t.Errorf("CheckKey(%q) = %q, %v", in, got, err)
		}
	}
	long := make([]byte, idempotency.MaxKeyLen+1)
	for i := range long {
		long[i] = 'k'
	}
	for _, in := range []string{"", `""`, string(long), "tab\there", "é", "quo\"te", "back\\slash", "nul\x00"} {
		if _, err := idempotency.CheckKey(in); !errors.Is(err, idempotency.ErrInvalidKey) {
			t.Errorf("CheckKey(%q): %v", in, err)
		}
	}
}
