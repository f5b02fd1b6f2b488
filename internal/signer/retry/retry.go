// Package retry runs a remote key operation again after a transient failure,
// with exponential backoff and full jitter, inside the caller's deadline.
//
// It is shared by the remote signer providers (awskms, azurekv, gcpkms) and
// the AWS KMS KEK. Each provider supplies a [Classifier] that says which of
// its SDK's errors are transient (throttling, 5xx, timeouts); everything else
// is returned at once, unchanged, so that a refusal by the customer's KMS is
// never retried.
//
// # Deadline
//
// The loop never sleeps past the caller's context deadline: when the next
// wait would end after it, Do gives up immediately instead of waiting for a
// failure it can predict. It adds no timeout of its own; a context without a
// deadline is bounded by [Policy.MaxAttempts].
//
// # Giving up
//
// When the transient failures outlast the deadline or the attempts, Do
// returns an [*UnavailableError]. It matches [signer.ErrUnavailable] with
// errors.Is and tells the HTTP layer how long the client should wait
// ([UnavailableError.RetryAfter]) so that it can answer 503 with a
// Retry-After header. Any error with a RetryAfter() time.Duration method can
// be handled the same way.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"sealkeep/internal/signer"
)

// Policy bounds the retries of one operation.
type Policy struct {
	// Initial is the cap of the first backoff; each retry doubles it.
	Initial time.Duration
	// Max caps a single backoff.
	Max time.Duration
	// MaxAttempts is the number of calls, the first included.
	MaxAttempts int
}

// Default is the policy of the remote providers: up to 8 calls, backoff caps
// of 100 ms, 200 ms, ... up to 5 s, full jitter.
var Default = Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, MaxAttempts: 8}

// Classifier reports whether err is transient, and the wait the server asked
// for (a Retry-After header), or zero.
type Classifier func(err error) (transient bool, hint time.Duration)

// UnavailableError reports transient failures that outlasted the caller's
// deadline or the retry budget.
type UnavailableError struct {
	// Attempts is the number of calls made.
	Attempts int
	// After is how long the caller should wait before trying again.
	After time.Duration
	// Err is the last failure.
	Err error
}

// Error describes the failure; it contains the provider's last error, which
// never carries a secret.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v after %d attempt(s), retry after %s: %v", signer.ErrUnavailable, e.Attempts, e.After.Round(time.Millisecond), e.Err)
}

// Unwrap lets errors.Is match [signer.ErrUnavailable] and the last failure.
func (e *UnavailableError) Unwrap() []error { return []error{signer.ErrUnavailable, e.Err} }

// RetryAfter is how long the client should wait before trying again; the
// HTTP layer sends it as Retry-After with a 503.
func (e *UnavailableError) RetryAfter() time.Duration { return e.After }

// RetryAfter returns the wait suggested by an error in err's chain that has a
// RetryAfter method, and whether there is one.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// Do calls op until it succeeds, fails with an error that classify does not
// call transient, or the transient failures outlast ctx or the policy. A
// non-transient error is returned unchanged.
func (p Policy) Do(ctx context.Context, classify Classifier, op func(context.Context) error) error {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		transient, hint := classify(err)
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The caller's deadline or cancellation ended the call: report it
			// as unavailable (the provider did not refuse) with the last error.
			if !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (last failure: %w)", ctxErr, err)
			}
			return &UnavailableError{Attempts: attempt, After: max(hint, p.backoffCap(attempt)), Err: err}
		}
		if !transient {
			return err
		}
		wait := max(hint, p.jitter(attempt))
		if attempt >= p.MaxAttempts || !fits(ctx, wait) {
			return &UnavailableError{Attempts: attempt, After: max(hint, p.backoffCap(attempt)), Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &UnavailableError{Attempts: attempt, After: max(hint, p.backoffCap(attempt)), Err: fmt.Errorf("%w (last failure: %w)", ctx.Err(), err)}
		}
	}
}

// backoffCap is the largest wait after the given attempt: Initial doubled per
// attempt, capped at Max.
func (p Policy) backoffCap(attempt int) time.Duration {
	d := p.Initial
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return min(max(d, time.Millisecond), max(p.Max, time.Millisecond))
}

// jitter draws a wait uniformly from [0, backoffCap] ("full jitter"), which
// spreads the retries of many clients throttled at the same moment.
func (p Policy) jitter(attempt int) time.Duration {
	return rand.N(p.backoffCap(attempt) + 1)
}

// fits reports whether a wait of d ends before ctx's deadline.
func fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}
