package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/store"
)

// testIdempotencyKeys runs the contract of store.IdempotencyReadTx and
// store.IdempotencyTx: one row per (user, key), held by one attempt;
// replaced and deleted only by the attempt that holds it; expired keys
// deleted.
func testIdempotencyKeys(t *testing.T, b Backend) {
	s, _ := fresh(t, b)
	putUsers(t, s, "u-1", "u-2")
	pending := store.IdempotencyKey{UserID: "u-1", Key: "k 1", Fingerprint: hash32("request"), Attempt: "r-a",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	update(t, s, func(tx store.Tx) error {
		_, err := tx.IdempotencyKey("u-1", "k 1")
		wantErr(t, "missing key", err, store.ErrNotFound)
		if err := tx.PutIdempotencyKey(pending); err != nil {
			return err
		}
		again := pending
		again.Attempt = "r-b"
		wantErr(t, "key held", tx.PutIdempotencyKey(again), store.ErrConflict)
		other := pending
		other.UserID = "u-none"
		wantErr(t, "key of a missing user", tx.PutIdempotencyKey(other), store.ErrNotFound)
		short := pending
		short.Key, short.Fingerprint = "k 2", hash32("x")[:31]
		wantErr(t, "short fingerprint", tx.PutIdempotencyKey(short), store.ErrInvalid)
		// Keys are per user.
		mine := pending
		mine.UserID = "u-2"
		return tx.PutIdempotencyKey(mine)
	})
	// Another transaction, as another instance would run it, is refused too.
	err := s.Update(context.Background(), func(tx store.Tx) error {
		k := pending
		k.Attempt = "r-c"
		return tx.PutIdempotencyKey(k)
	})
	wantErr(t, "key held, another transaction", err, store.ErrConflict)
	result := []byte{'%', 'P', 'D', 'F', 0, 0xff, '\n'}
	done := pending
	done.Done, done.Ref, done.Result, done.ExpiresAt = true, `{"chain":"acme","seq":7}`, result, t0.Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		k, err := tx.IdempotencyKey("u-1", "k 1")
		if err != nil || k.Done || k.Result == nil || len(k.Result) != 0 || k.Attempt != "r-a" ||
			!bytes.Equal(k.Fingerprint, pending.Fingerprint) || !k.CreatedAt.Equal(norm(t0)) || !k.ExpiresAt.Equal(norm(pending.ExpiresAt)) {
			t.Errorf("pending key = %+v, %v", k, err)
		}
		stolen := done
		stolen.Attempt = "r-b"
		wantErr(t, "update by another attempt", tx.UpdateIdempotencyKey(stolen), store.ErrNotFound)
		wantErr(t, "delete by another attempt", tx.DeleteIdempotencyKey("u-1", "k 1", "r-b"), store.ErrNotFound)
		return tx.UpdateIdempotencyKey(done)
	})
	view(t, s, func(tx store.ReadTx) error {
		k, err := tx.IdempotencyKey("u-1", "k 1")
		if err != nil || !k.Done || !bytes.Equal(k.Result, result) || k.Ref != done.Ref || !k.ExpiresAt.Equal(norm(done.ExpiresAt)) {
			t.Errorf("done key = %+v, %v", k, err)
		}
		return nil
	})
	// u-2's key expires after one minute, u-1's after an hour.
	update(t, s, func(tx store.Tx) error {
		n, err := tx.DeleteExpiredIdempotencyKeys(t0.Add(time.Minute - time.Microsecond))
		if err != nil || n != 0 {
			t.Errorf("expired before a minute: %d, %v", n, err)
		}
		n, err = tx.DeleteExpiredIdempotencyKeys(t0.Add(time.Minute))
		if err != nil || n != 1 {
			t.Errorf("expired at a minute: %d, %v", n, err)
		}
		_, err = tx.IdempotencyKey("u-2", "k 1")
		wantErr(t, "expired key", err, store.ErrNotFound)
		if err := tx.DeleteIdempotencyKey("u-1", "k 1", "r-a"); err != nil {
			return err
		}
		wantErr(t, "deleted twice", tx.DeleteIdempotencyKey("u-1", "k 1", "r-a"), store.ErrNotFound)
		return nil
	})
}

// testIdempotencyKeysTwoStores: of requests racing for one key through
// two store handles on one database, exactly one holds it.
func testIdempotencyKeysTwoStores(t *testing.T, b Backend) {
	_, dsn := fresh(t, b)
	stores := []store.Store{openStore(t, b, dsn), openStore(t, b, dsn)}
	putUsers(t, stores[0], "u-1")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = stores[i%2].Update(context.Background(), func(tx store.Tx) error {
				if _, err := tx.IdempotencyKey("u-1", "k"); !errors.Is(err, store.ErrNotFound) {
					if err == nil {
						return store.ErrConflict
					}
					return err
				}
				return tx.PutIdempotencyKey(store.IdempotencyKey{UserID: "u-1", Key: "k", Fingerprint: hash32("r"),
					Attempt: string(rune('a' + i)), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
			})
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("request %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d requests hold the key", won)
	}
}
