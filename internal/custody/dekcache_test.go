package custody

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/envelope"
)

// countingKEK counts unwrap calls, standing in for a KMS-held KEK whose
// every Decrypt is a remote call.
type countingKEK struct {
	envelope.KEK
	unwraps atomic.Int64
}

func (k *countingKEK) Unwrap(ctx context.Context, v uint32, b envelope.DEKBinding, wrapped []byte) ([]byte, error) {
	k.unwraps.Add(1)
	return k.KEK.Unwrap(ctx, v, b, wrapped)
}

// With a DEK cache, repeated signatures unwrap the org DEK once; a DEK
// erased by RotateDEK leaves the cache at once, and signing after the
// rotation unwraps the new DEK.
func TestDEKCacheUnwrapsOncePerDEK(t *testing.T) {
	ring, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "kek.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	kek := &countingKEK{KEK: ring}
	cache := envelope.NewDEKCache(time.Hour)
	defer cache.Close()
	st := openSQLite(t)
	f := &fixture{svc: New(st, kek, Options{DEKCache: cache}), st: st, ctx: context.Background()}
	f.orgIdentity(t, "acme", "jane")
	v := f.ready(t, "jane")

	kek.unwraps.Store(0)
	for i := 0; i < 5; i++ {
		if err := f.signs(t, "jane", v.Version); err != nil {
			t.Fatal(err)
		}
	}
	if n := kek.unwraps.Load(); n > 1 {
		t.Fatalf("5 signatures unwrapped the DEK %d times through the KEK, want at most 1", n)
	}
	rot, err := f.svc.RotateDEK(f.ctx, testActor, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range rot.Erased {
		if _, ok := cache.Get("acme", old); ok {
			t.Fatalf("erased DEK version %d is still cached", old)
		}
	}
	kek.unwraps.Store(0)
	if err := f.signs(t, "jane", v.Version); err != nil {
		t.Fatal(err)
	}
	if err := f.signs(t, "jane", v.Version); err != nil {
		t.Fatal(err)
	}
	if n := kek.unwraps.Load(); n != 1 {
		t.Fatalf("after the DEK rotation two signatures unwrapped %d times, want 1 (the new DEK, then cached)", n)
	}
}
