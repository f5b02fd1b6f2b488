// Package kektest is the contract every [envelope.KEK] implementation must
// pass: the file keyring in package envelope and remote KEKs (AWS KMS)
// alike. Custody relies on these behaviours, in particular on
// [envelope.ErrAuthentication] to record a moved or altered wrapped DEK as a
// security event.
//
// # Contract
//
//   - ActiveVersion is one of Versions, which are increasing.
//   - Wrap under the active version and Unwrap under the same version and
//     binding return the DEK; two wraps of one DEK differ (random nonces)
//     and neither contains the DEK in any encoding.
//   - Unwrap under another org or DEK version fails with ErrAuthentication.
//   - A wrapped DEK with any byte altered or cut short fails with
//     ErrAuthentication or ErrMalformed. It never yields another key; a
//     format with metadata the provider ignores (local-kms ignores the key
//     identifier at the start of its ciphertexts when the request names the
//     key) may yield the same DEK.
//   - A version the KEK does not have fails with ErrUnknownKEKVersion.
//   - A cancelled context fails the call.
//
// [RunRotation] adds, for a [envelope.KEKRotator]: a new version becomes
// active, earlier wraps still unwrap under their own version only, a wrap
// under an older version fails with ErrNotActive, and a retired version
// fails with ErrRetired while the active one cannot be retired.
package kektest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"

	"sealkeep/internal/envelope"
	"sealkeep/internal/redact"
)

// increasing reports whether vs is strictly increasing.
func increasing(vs []uint32) bool {
	for i := 1; i < len(vs); i++ {
		if vs[i] <= vs[i-1] {
			return false
		}
	}
	return true
}

func newDEK() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// Run checks the contract without changing kek's versions.
func Run(t testing.TB, kek envelope.KEK) {
	t.Helper()
	ctx := context.Background()
	active, versions := kek.ActiveVersion(), kek.Versions()
	if !slices.Contains(versions, active) || !increasing(versions) {
		t.Fatalf("ActiveVersion %d, Versions %v: want the active version among increasing versions", active, versions)
	}
	b := envelope.DEKBinding{Org: "kektest-org", DEKVersion: 3}
	dek := newDEK()
	w, err := kek.Wrap(ctx, active, b, dek)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	got, err := kek.Unwrap(ctx, active, b, w)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap of a fresh wrap: %v", err)
	}
	w2, err := kek.Wrap(ctx, active, b, dek)
	if err != nil || bytes.Equal(w, w2) {
		t.Errorf("two wraps of one DEK are identical (or failed: %v)", err)
	}
	for _, out := range [][]byte{w, w2} {
		if form, found := redact.ScanForSecret(out, dek); found {
			t.Errorf("a wrapped DEK contains the DEK (%s)", form)
		}
	}

	for name, wrong := range map[string]envelope.DEKBinding{
		"org":         {Org: "kektest-other", DEKVersion: 3},
		"org prefix":  {Org: "kektest-or", DEKVersion: 3},
		"DEK version": {Org: "kektest-org", DEKVersion: 4},
	} {
		if k, err := kek.Unwrap(ctx, active, wrong, w); !errors.Is(err, envelope.ErrAuthentication) || k != nil {
			t.Errorf("Unwrap with another %s: %v, want ErrAuthentication", name, err)
		}
	}
	for i := range w {
		m := bytes.Clone(w)
		m[i] ^= 1 << (i % 8)
		k, err := kek.Unwrap(ctx, active, b, m)
		if err == nil && bytes.Equal(k, dek) {
			continue // ignored metadata, see the package doc
		}
		if k != nil || !(errors.Is(err, envelope.ErrAuthentication) || errors.Is(err, envelope.ErrMalformed)) {
			t.Fatalf("Unwrap with byte %d altered: %v, want ErrAuthentication or ErrMalformed", i, err)
		}
	}
	for _, n := range []int{0, 1, len(w) / 2, len(w) - 1} {
		k, err := kek.Unwrap(ctx, active, b, w[:n])
		if k != nil || !(errors.Is(err, envelope.ErrAuthentication) || errors.Is(err, envelope.ErrMalformed)) {
			t.Errorf("Unwrap of %d of %d bytes: %v, want ErrAuthentication or ErrMalformed", n, len(w), err)
		}
	}

	unknown := slices.Max(versions) + 1000
	if _, err := kek.Unwrap(ctx, unknown, b, w); !errors.Is(err, envelope.ErrUnknownKEKVersion) {
		t.Errorf("Unwrap under unknown version %d: %v, want ErrUnknownKEKVersion", unknown, err)
	}
	if _, err := kek.Wrap(ctx, unknown, b, dek); !errors.Is(err, envelope.ErrUnknownKEKVersion) {
		t.Errorf("Wrap under unknown version %d: %v, want ErrUnknownKEKVersion", unknown, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := kek.Wrap(cctx, active, b, dek); err == nil {
		t.Errorf("Wrap with a cancelled context succeeded")
	}
	if _, err := kek.Unwrap(cctx, active, b, w); err == nil {
		t.Errorf("Unwrap with a cancelled context succeeded")
	}
}

// RunRotation checks the contract of a rotating KEK. It adds a version to
// kek and retires the version that was active before.
func RunRotation(t testing.TB, kek envelope.KEK) {
	t.Helper()
	ctx := context.Background()
	rot, ok := kek.(envelope.KEKRotator)
	if !ok {
		t.Fatalf("%T is not a KEKRotator", kek)
	}
	old := kek.ActiveVersion()
	b := envelope.DEKBinding{Org: "kektest-org", DEKVersion: 1}
	dek := newDEK()
	wOld, err := kek.Wrap(ctx, old, b, dek)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rot.AddVersion(ctx)
	if err != nil {
		t.Fatalf("AddVersion: %v", err)
	}
	if v <= old || kek.ActiveVersion() != v || !slices.Contains(kek.Versions(), old) {
		t.Fatalf("AddVersion = %d after %d: active %d, versions %v", v, old, kek.ActiveVersion(), kek.Versions())
	}
	if _, err := kek.Wrap(ctx, old, b, dek); !errors.Is(err, envelope.ErrNotActive) {
		t.Errorf("Wrap under the old version: %v, want ErrNotActive", err)
	}
	wNew, err := kek.Wrap(ctx, v, b, dek)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kek.Unwrap(ctx, old, b, wOld); err != nil || !bytes.Equal(got, dek) {
		t.Errorf("the old version no longer unwraps: %v", err)
	}
	if _, err := kek.Unwrap(ctx, old, b, wNew); !errors.Is(err, envelope.ErrAuthentication) {
		t.Errorf("a new wrap unwrapped under the old version (fallback?): %v", err)
	}
	if _, err := kek.Unwrap(ctx, v, b, wOld); !errors.Is(err, envelope.ErrAuthentication) {
		t.Errorf("an old wrap unwrapped under the new version (fallback?): %v", err)
	}
	if err := rot.Retire(ctx, v); !errors.Is(err, envelope.ErrRetireActive) {
		t.Errorf("Retire of the active version: %v, want ErrRetireActive", err)
	}
	if err := rot.Retire(ctx, old); err != nil {
		t.Fatalf("Retire(%d): %v", old, err)
	}
	if slices.Contains(kek.Versions(), old) {
		t.Errorf("retired version %d still listed in %v", old, kek.Versions())
	}
	if _, err := kek.Unwrap(ctx, old, b, wOld); !errors.Is(err, envelope.ErrRetired) {
		t.Errorf("Unwrap under a retired version: %v, want ErrRetired", err)
	}
	if got, err := kek.Unwrap(ctx, v, b, wNew); err != nil || !bytes.Equal(got, dek) {
		t.Errorf("the active version stopped unwrapping after a retire: %v", err)
	}
}
