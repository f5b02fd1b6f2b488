package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"sealkeep/internal/signer"
)

var (
	errThrottled = errors.New("throttled")
	errDenied    = errors.New("denied")
)

func classify(err error) (bool, time.Duration) { return errors.Is(err, errThrottled), 0 }

var fast = Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond, MaxAttempts: 8}

func TestTransientThenSuccess(t *testing.T) {
	calls := 0
	err := fast.Do(context.Background(), classify, func(context.Context) error {
		calls++
		if calls < 3 {
			return errThrottled
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err=%v calls=%d, want nil after 3 calls", err, calls)
	}
}

func TestPermanentIsNotRetried(t *testing.T) {
	calls := 0
	err := fast.Do(context.Background(), classify, func(context.Context) error {
		calls++
		return errDenied
	})
	if err != errDenied || calls != 1 {
		t.Fatalf("err=%v calls=%d, want the permanent error unchanged after 1 call", err, calls)
	}
}

func TestAttemptsExhausted(t *testing.T) {
	calls := 0
	err := fast.Do(context.Background(), classify, func(context.Context) error {
		calls++
		return errThrottled
	})
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, signer.ErrUnavailable) || !errors.Is(err, errThrottled) {
		t.Fatalf("err = %v, want an UnavailableError wrapping ErrUnavailable and the last failure", err)
	}
	if calls != fast.MaxAttempts || ue.Attempts != calls {
		t.Fatalf("calls=%d attempts=%d, want %d", calls, ue.Attempts, fast.MaxAttempts)
	}
	if d, ok := RetryAfter(err); !ok || d <= 0 {
		t.Fatalf("RetryAfter = %v, %v; want a positive wait", d, ok)
	}
}

func TestDeadlineBoundsRetries(t *testing.T) {
	p := Policy{Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond, MaxAttempts: 1 << 20}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	calls := 0
	err := p.Do(ctx, classify, func(context.Context) error {
		calls++
		return errThrottled
	})
	if !errors.Is(err, signer.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if calls < 2 || calls >= p.MaxAttempts {
		t.Fatalf("calls = %d: want several retries ended by the deadline, not by the attempt budget", calls)
	}
	if d, ok := RetryAfter(err); !ok || d <= 0 || d > p.Max {
		t.Fatalf("RetryAfter = %v, %v; want (0, %v]", d, ok, p.Max)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	p := Policy{Initial: time.Hour, Max: time.Hour, MaxAttempts: 3}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := p.Do(ctx, classify, func(context.Context) error {
		calls++
		if calls == 1 {
			// Cancel once the loop is (about to be) waiting; Do must not wait
			// out the hour-long backoff.
			time.AfterFunc(10*time.Millisecond, cancel)
		}
		return errThrottled
	})
	if !errors.Is(err, signer.ErrUnavailable) || !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want ErrUnavailable wrapping context.Canceled after 1 call", err, calls)
	}
}

func TestServerHintIsHonoured(t *testing.T) {
	hinted := func(err error) (bool, time.Duration) { return true, 3 * time.Second }
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	calls := 0
	err := fast.Do(ctx, hinted, func(context.Context) error { calls++; return errThrottled })
	// The server asks for 3 s, the deadline is 1 s away: give up at once and
	// pass the server's wait on.
	if d, _ := RetryAfter(err); calls != 1 || d != 3*time.Second {
		t.Fatalf("calls=%d RetryAfter=%v, want 1 call and 3s", calls, d)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.backoffCap(i + 1); got != w*time.Millisecond {
			t.Errorf("backoffCap(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
		for range 100 {
			if j := p.jitter(i + 1); j < 0 || j > w*time.Millisecond {
				t.Fatalf("jitter(%d) = %v outside [0, %v]", i+1, j, w*time.Millisecond)
			}
		}
	}
}
