package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

var errThrottled = errors.New("ThrottlingException")

// A provider retries throttling within the caller's deadline; the HTTP layer
// turns the final error into 503 with Retry-After.
func ExamplePolicy_Do() {
	classify := func(err error) (bool, time.Duration) { return errors.Is(err, errThrottled), 0 }
	p := retry.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, MaxAttempts: 3}

	err := p.Do(context.Background(), classify, func(context.Context) error { return errThrottled })

	if after, ok := retry.RetryAfter(err); ok && errors.Is(err, signer.ErrUnavailable) {
		fmt.Printf("503, Retry-After: %d s\n", int((after+time.Second-1)/time.Second))
	}
	// Output: 503, Retry-After: 1 s
}
