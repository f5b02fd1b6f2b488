package kektest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"sealkeep/internal/envelope"
	"sealkeep/internal/envelope/kektest"
)

func TestKeyring(t *testing.T) {
	k, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "keyring"))
	if err != nil {
		t.Fatal(err)
	}
	kektest.Run(t, k)
	kektest.RunRotation(t, k)
	kektest.Run(t, k) // after a rotation, with a retired version in the ring
}

// recorder is a testing.TB that notes failures instead of reporting them.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(f string, a ...any) {
	r.failures = append(r.failures, fmt.Sprintf(f, a...))
}
func (r *recorder) Fatalf(f string, a ...any) { r.Errorf(f, a...); runtime.Goexit() }
func (r *recorder) Fatal(a ...any)            { r.Errorf("%s", fmt.Sprint(a...)); runtime.Goexit() }

// failures runs check against kek and returns what it reported.
func failures(t *testing.T, check func(testing.TB, envelope.KEK), kek envelope.KEK) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r, kek)
	}()
	<-done
	return r.failures
}

// Broken KEKs, each violating one rule of the contract.
type (
	ignoresOrg     struct{ *envelope.Keyring }
	fallsBack      struct{ *envelope.Keyring }
	plainErrors    struct{ *envelope.Keyring }
	wrapsOldToo    struct{ *envelope.Keyring }
	ignoresContext struct{ *envelope.Keyring }
)

func (k ignoresOrg) Wrap(ctx context.Context, v uint32, b envelope.DEKBinding, dek []byte) ([]byte, error) {
	b.Org = "fixed"
	return k.Keyring.Wrap(ctx, v, b, dek)
}
func (k ignoresOrg) Unwrap(ctx context.Context, v uint32, b envelope.DEKBinding, w []byte) ([]byte, error) {
	b.Org = "fixed"
	return k.Keyring.Unwrap(ctx, v, b, w)
}
func (k fallsBack) Unwrap(ctx context.Context, v uint32, b envelope.DEKBinding, w []byte) ([]byte, error) {
	for _, other := range append([]uint32{v}, k.Versions()...) {
		if dek, err := k.Keyring.Unwrap(ctx, other, b, w); err == nil {
			return dek, nil
		}
	}
	return nil, envelope.ErrAuthentication
}
func (k plainErrors) Unwrap(ctx context.Context, v uint32, b envelope.DEKBinding, w []byte) ([]byte, error) {
	dek, err := k.Keyring.Unwrap(ctx, v, b, w)
	if err != nil {
		return nil, fmt.Errorf("unwrap failed: %v", err)
	}
	return dek, nil
}
func (k wrapsOldToo) Wrap(ctx context.Context, v uint32, b envelope.DEKBinding, dek []byte) ([]byte, error) {
	return k.Keyring.Wrap(ctx, k.ActiveVersion(), b, dek)
}
func (k ignoresContext) Wrap(_ context.Context, v uint32, b envelope.DEKBinding, dek []byte) ([]byte, error) {
	return k.Keyring.Wrap(context.Background(), v, b, dek)
}

// TestContractCatchesBrokenKEKs shows that the contract can fail: each
// broken KEK must be reported.
func TestContractCatchesBrokenKEKs(t *testing.T) {
	ring := func() *envelope.Keyring {
		k, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "keyring"))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rotated := func() *envelope.Keyring {
		k := ring()
		if _, err := k.AddVersion(context.Background()); err != nil {
			t.Fatal(err)
		}
		return k
	}
	for name, c := range map[string]struct {
		check func(testing.TB, envelope.KEK)
		kek   envelope.KEK
	}{
		"ignores the org":        {kektest.Run, ignoresOrg{ring()}},
		"plain errors":           {kektest.Run, plainErrors{ring()}},
		"ignores the context":    {kektest.Run, ignoresContext{ring()}},
		"falls back (rotation)":  {kektest.RunRotation, fallsBack{ring()}},
		"wraps under old (rot.)": {kektest.RunRotation, wrapsOldToo{ring()}},
		"not a rotator":          {kektest.RunRotation, struct{ envelope.KEK }{rotated()}},
	} {
		if f := failures(t, c.check, c.kek); len(f) == 0 {
			t.Errorf("%s: the contract passed a broken KEK", name)
		} else {
			t.Logf("%s: %s", name, f[0])
		}
	}
}
