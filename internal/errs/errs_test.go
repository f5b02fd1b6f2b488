package errs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"sealkeep/internal/errs"
)

func TestKindOf(t *testing.T) {
	invalid := errs.New(errs.Invalid, "bad")
	verify := errs.New(errs.Verification, "does not verify")
	for _, tc := range []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"plain", errors.New("disk full"), errs.Internal},
		{"sentinel", invalid, errs.Invalid},
		{"wrapped", fmt.Errorf("x: %w", invalid), errs.Invalid},
		{"wrapped twice", fmt.Errorf("y: %w", fmt.Errorf("x: %w", verify)), errs.Verification},
		{"first named wins", fmt.Errorf("%w: %w", invalid, verify), errs.Invalid},
		{"first named wins, reversed", fmt.Errorf("%w: %w", verify, invalid), errs.Verification},
		{"unkinded first", fmt.Errorf("%w: %w", errors.New("io"), verify), errs.Verification},
		{"joined", errors.Join(errors.New("io"), invalid), errs.Invalid},
		{"with overrides", errs.With(errs.Unavailable, fmt.Errorf("x: %w", invalid)), errs.Unavailable},
		{"with, wrapped", fmt.Errorf("z: %w", errs.With(errs.NotFound, errors.New("gone"))), errs.NotFound},
		{"deadline", fmt.Errorf("kms: %w", context.DeadlineExceeded), errs.Unavailable},
		{"kind before deadline", fmt.Errorf("%w: %w", invalid, context.DeadlineExceeded), errs.Invalid},
		{"canceled", context.Canceled, errs.Internal},
	} {
		if got := errs.KindOf(tc.err); got != tc.want {
			t.Errorf("%s: KindOf(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestSentinelIdentity(t *testing.T) {
	a, b := errs.New(errs.NotFound, "not found"), errs.New(errs.NotFound, "not found")
	if errors.Is(a, b) || errors.Is(fmt.Errorf("x: %w", a), b) {
		t.Fatal("two sentinels with the same message match each other")
	}
	if !errors.Is(fmt.Errorf("x: %w", a), a) {
		t.Fatal("a wrapped sentinel does not match itself")
	}
	w := errs.With(errs.Invalid, fmt.Errorf("x: %w", a))
	if !errors.Is(w, a) || w.Error() != "x: not found" {
		t.Fatalf("With changed the chain or the message: %v", w)
	}
	if errs.With(errs.Invalid, nil) != nil {
		t.Fatal("With(k, nil) is not nil")
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range errs.Kinds {
		s := k.String()
		if s == "" || seen[s] {
			t.Errorf("kind %d: name %q empty or repeated", k, s)
		}
		seen[s] = true
	}
	if got := errs.Kind(200).String(); got != "internal" {
		t.Errorf("unknown kind is %q, want internal", got)
	}
}
