// Package idempotency keeps the server's Idempotency-Key records
// (draft-ietf-httpapi-idempotency-key-header) in the store, so that every
// server instance sees them: a request that names a key holds it while it
// runs ([Service.Begin]); its result is kept with the key in the
// transaction that records what the request did ([Claim.Complete]: the
// seal entry's), so that a retry with the same key and the same request
// gets the same result back and never runs again, and a crash leaves
// either no result or the whole one. The same key with another request is
// refused ([ErrMismatch]); a retry while the first attempt still runs is
// refused for now ([ErrInProgress]). A failed attempt releases its key
// ([Claim.Release]), so the request may be sent again.
//
// A pending key is held for [Options.Lease] (longer than a request may
// run); a result is kept for [Options.TTL]. Expired keys are deleted when
// the next key is claimed, after which the key names nothing.
package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sealkeep/internal/errs"
	"sealkeep/internal/store"
)

// Errors.
var (
	// ErrMismatch reports a key that was used for another request.
	ErrMismatch = errs.New(errs.Invalid, "the Idempotency-Key was used for another request")
	// ErrInProgress reports a key whose first request has not finished;
	// it is an [*InProgressError].
	ErrInProgress = errs.New(errs.Conflict, "a request with this Idempotency-Key is in progress")
	// ErrLost reports a claim whose key expired, and was deleted or taken
	// over, before its request completed: the request's result is not
	// kept, so the request must fail.
	ErrLost = errs.New(errs.Conflict, "the request's Idempotency-Key expired before it finished")
	// ErrInvalidKey reports a key that is empty, too long or not printable
	// ASCII.
	ErrInvalidKey = errs.New(errs.Invalid, "invalid Idempotency-Key")
)

// MaxKeyLen bounds a key.
const MaxKeyLen = 255

// Defaults of Options.
const (
	DefaultTTL   = 24 * time.Hour
	DefaultLease = 10 * time.Minute
)

// InProgressError refuses a retry while the first attempt runs.
type InProgressError struct{ Lease time.Duration }

func (e *InProgressError) Error() string {
	return ErrInProgress.Error() + "; try again when it has finished"
}

// Unwrap returns [ErrInProgress].
func (e *InProgressError) Unwrap() error { return ErrInProgress }

// RetryAfter suggests when to try again.
func (e *InProgressError) RetryAfter() time.Duration { return 2 * time.Second }

// Options tune a [Service]; the zero value is valid.
type Options struct {
	// TTL is how long a result is kept for retries (default DefaultTTL).
	TTL time.Duration
	// Lease is how long a pending key is held (default DefaultLease); it
	// must be longer than a request may run.
	Lease time.Duration
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
}

// Service keeps idempotency keys in a store.
type Service struct {
	st   store.Store
	opts Options
}

// New returns the service on st.
func New(st store.Store, opts Options) *Service {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Service{st: st, opts: opts}
}

// CheckKey refuses a key that is empty, longer than [MaxKeyLen] or holds
// anything but printable ASCII. A key sent as a structured-field string
// ("...", RFC 8941) is unquoted first; the key returned is the one to use.
func CheckKey(k string) (string, error) {
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > MaxKeyLen {
		return "", fmt.Errorf("%w: it must have 1 to %d characters", ErrInvalidKey, MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e || k[i] == '"' || k[i] == '\\' {
			return "", fmt.Errorf("%w: it must be printable ASCII without quotes or backslashes", ErrInvalidKey)
		}
	}
	return k, nil
}

// Done is the kept result of a completed request.
type Done struct {
	// Attempt is the request ID of the request that completed.
	Attempt string
	// Ref is what it did, as [Claim.Complete] recorded it.
	Ref string
	// Result is the response body it answered.
	Result []byte
}

// Claim is a key held by one request.
type Claim struct {
	s   *Service
	key store.IdempotencyKey
}

// Begin claims user's key for the request whose fingerprint is fp, made
// by attempt (the request ID). It returns the claim, or the kept result of
// the request that completed with this key and fingerprint, or
// [ErrMismatch] for a key used with another fingerprint, or an
// [*InProgressError] while another attempt holds it.
func (s *Service) Begin(ctx context.Context, user, key string, fp [32]byte, attempt string) (*Claim, *Done, error) {
	now := s.opts.Clock()
	k := store.IdempotencyKey{UserID: user, Key: key, Fingerprint: fp[:], Attempt: attempt, CreatedAt: now, ExpiresAt: now.Add(s.opts.Lease)}
	var done *Done
	err := s.st.Update(ctx, func(tx store.Tx) error {
		done = nil
		if _, err := tx.DeleteExpiredIdempotencyKeys(now); err != nil {
			return err
		}
		cur, err := tx.IdempotencyKey(user, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return tx.PutIdempotencyKey(k)
		case err != nil:
			return err
		case string(cur.Fingerprint) != string(fp[:]):
			return ErrMismatch
		case !cur.Done:
			return &InProgressError{Lease: s.opts.Lease}
		}
		done = &Done{Attempt: cur.Attempt, Ref: cur.Ref, Result: cur.Result}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		// Another instance's request claimed it first.
		return nil, nil, &InProgressError{Lease: s.opts.Lease}
	case err != nil:
		return nil, nil, err
	case done != nil:
		return nil, done, nil
	}
	return &Claim{s: s, key: k}, nil, nil
}

// Complete records, in tx (the transaction that records what the request
// did), the request's result: ref and the response body. [ErrLost] if the
// claim expired meanwhile.
func (c *Claim) Complete(tx store.Tx, ref string, result []byte) error {
	k := c.key
	k.Done, k.Ref, k.Result, k.ExpiresAt = true, ref, result, c.s.opts.Clock().Add(c.s.opts.TTL)
	err := tx.UpdateIdempotencyKey(k)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w (held for %v)", ErrLost, c.s.opts.Lease)
	}
	return err
}

// Release gives the key up after the request failed without a result, so
// that it may be sent again. A claim that expired meanwhile is gone
// already.
func (c *Claim) Release(ctx context.Context) error {
	err := c.s.st.Update(ctx, func(tx store.Tx) error {
		return tx.DeleteIdempotencyKey(c.key.UserID, c.key.Key, c.key.Attempt)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
