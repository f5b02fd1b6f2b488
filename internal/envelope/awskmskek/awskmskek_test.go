package awskmskek

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"sealkeep/internal/envelope"
	"sealkeep/internal/envelope/kektest"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/awskms"
	"sealkeep/internal/testenv"
)

// localKMS points the SDK at the local-kms emulator with static credentials
// and returns a raw client for set-up and the base URI.
func localKMS(t *testing.T) (*kms.Client, string) {
	t.Helper()
	ep := testenv.LocalKMS(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	base := "awskms:?region=eu-west-1&endpoint=" + ep
	u, err := signer.ParseURI(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := awskms.NewClient(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return c.KMS, base
}

func symmetricKey(t *testing.T, c *kms.Client, base string) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(base, "awskms:", "awskms:"+aws.ToString(out.KeyMetadata.Arn), 1)
}

// counter counts KMS calls by operation.
type counter struct {
	n     map[string]*atomic.Int64
	inner http.RoundTripper
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "TrentService.")
	if n, ok := c.n[op]; ok {
		n.Add(1)
	}
	return c.inner.RoundTrip(req)
}

func newCounter(t *testing.T) *counter {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &counter{inner: tr, n: map[string]*atomic.Int64{"Encrypt": {}, "Decrypt": {}}}
}

func TestWrapUnwrapBinding(t *testing.T) {
	c, base := localKMS(t)
	k, err := New(context.Background(), Config{Active: 1, Keys: map[uint32]string{1: symmetricKey(t, c, base)}})
	if err != nil {
		t.Fatal(err)
	}
	dek := bytes.Repeat([]byte{0x5a}, 32)
	b := envelope.DEKBinding{Org: "acme", DEKVersion: 3}
	wrapped, err := k.Wrap(context.Background(), 1, b, dek)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, dek[:8]) {
		t.Fatal("wrapped DEK contains the DEK")
	}
	got, err := k.Unwrap(context.Background(), 1, b, wrapped)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap: %v", err)
	}
	// Moved to another org, DEK version or KEK version: authentication fails.
	for name, tc := range map[string]struct {
		v uint32
		b envelope.DEKBinding
	}{
		"other org":         {1, envelope.DEKBinding{Org: "globex", DEKVersion: 3}},
		"other DEK version": {1, envelope.DEKBinding{Org: "acme", DEKVersion: 4}},
	} {
		if _, err := k.Unwrap(context.Background(), tc.v, tc.b, wrapped); !errors.Is(err, envelope.ErrAuthentication) {
			t.Errorf("%s: %v, want ErrAuthentication", name, err)
		}
	}
	// Every flipped byte of the encrypted part fails. (local-kms's blob
	// starts with the key's identifier, which it ignores when the request
	// names the key, as ours always does; AWS's blob format is opaque. The
	// last 60 bytes are the AES-GCM nonce, ciphertext and tag.)
	for i := len(wrapped) - 60; i < len(wrapped); i++ {
		bad := bytes.Clone(wrapped)
		bad[i] ^= 0x01
		if _, err := k.Unwrap(context.Background(), 1, b, bad); !errors.Is(err, envelope.ErrAuthentication) {
			t.Fatalf("byte %d flipped: %v, want ErrAuthentication", i, err)
		}
	}
	for name, bad := range map[string][]byte{
		"empty": nil, "format only": {formatV1}, "unknown format": append([]byte{2}, wrapped[1:]...),
		"oversized": append([]byte{formatV1}, make([]byte, maxBlob+1)...),
	} {
		if _, err := k.Unwrap(context.Background(), 1, b, bad); !errors.Is(err, envelope.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := k.Unwrap(context.Background(), 1, b, wrapped[:len(wrapped)-1]); !errors.Is(err, envelope.ErrAuthentication) {
		t.Errorf("truncated: %v, want ErrAuthentication", err)
	}
	if _, err := k.Wrap(context.Background(), 1, b, dek[:16]); !errors.Is(err, envelope.ErrInvalidInput) {
		t.Errorf("short DEK: %v", err)
	}
	if _, err := k.Wrap(context.Background(), 1, envelope.DEKBinding{Org: "acme"}, dek); !errors.Is(err, envelope.ErrInvalidInput) {
		t.Errorf("DEK version 0: %v", err)
	}
	if _, err := k.Unwrap(context.Background(), 9, b, wrapped); !errors.Is(err, envelope.ErrUnknownKEKVersion) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestKEKVersionIsBound(t *testing.T) {
	c, base := localKMS(t)
	// Two versions that are the same KMS key: only the encryption context
	// (sealkeep:kek-version) tells them apart, and it must.
	key := symmetricKey(t, c, base)
	k, err := New(context.Background(), Config{Active: 2, Keys: map[uint32]string{1: key, 2: key}})
	if err != nil {
		t.Fatal(err)
	}
	b := envelope.DEKBinding{Org: "acme", DEKVersion: 1}
	wrapped, err := k.Wrap(context.Background(), 2, b, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap(context.Background(), 1, b, wrapped); !errors.Is(err, envelope.ErrAuthentication) {
		t.Fatalf("unwrap under another KEK version: %v, want ErrAuthentication", err)
	}
	if _, err := k.Wrap(context.Background(), 1, b, make([]byte, 32)); !errors.Is(err, envelope.ErrNotActive) {
		t.Fatalf("wrap with a non-active version: %v, want ErrNotActive", err)
	}
}

func TestDEKCacheAvoidsKMS(t *testing.T) {
	c, base := localKMS(t)
	cnt := newCounter(t)
	k, err := New(context.Background(), Config{Active: 1, Keys: map[uint32]string{1: symmetricKey(t, c, base)}},
		WithClientOptions(awskms.WithHTTPClient(&http.Client{Transport: cnt})))
	if err != nil {
		t.Fatal(err)
	}
	dek, err := envelope.NewDEK("acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := dek.Seal(envelope.Binding{Org: "acme", Identity: "jane", Version: 1}, []byte("pkcs8"))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, kv, err := envelope.WrapDEK(context.Background(), k, dek)
	if err != nil {
		t.Fatal(err)
	}
	dek.Zero()
	cache := envelope.NewDEKCache(5 * 60e9)
	defer cache.Close()
	// What custody does on every seal: the cache first, KMS on a miss.
	get := func() *envelope.DEK {
		if d, ok := cache.Get("acme", 1); ok {
			return d
		}
		d, err := envelope.UnwrapDEK(context.Background(), k, "acme", 1, kv, wrapped)
		if err != nil {
			t.Fatal(err)
		}
		cache.Put(d)
		return d
	}
	for range 5 {
		d := get()
		pt, err := d.Open(envelope.Binding{Org: "acme", Identity: "jane", Version: 1}, blob)
		if err != nil || string(pt) != "pkcs8" {
			t.Fatalf("open through the unwrapped DEK: %v", err)
		}
		d.Zero()
	}
	if n := cnt.n["Decrypt"].Load(); n != 1 {
		t.Fatalf("%d KMS Decrypt calls for 5 seals, want 1 (the cache serves the rest)", n)
	}
}

func TestRotation(t *testing.T) {
	c, base := localKMS(t)
	var saved []Config
	save := func(_ context.Context, cfg Config) error { saved = append(saved, cfg); return nil }
	k, err := New(context.Background(), Config{Active: 1, Keys: map[uint32]string{1: symmetricKey(t, c, base)}}, WithSave(save), WithDeletionWindow(7))
	if err != nil {
		t.Fatal(err)
	}
	b := envelope.DEKBinding{Org: "acme", DEKVersion: 1}
	dek := bytes.Repeat([]byte{7}, 32)
	old, err := k.Wrap(context.Background(), 1, b, dek)
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.AddVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v != 2 || k.ActiveVersion() != 2 || len(saved) != 1 || saved[0].Active != 2 || len(k.Versions()) != 2 {
		t.Fatalf("after AddVersion: v=%d active=%d versions=%v saved=%+v", v, k.ActiveVersion(), k.Versions(), saved)
	}
	// Re-wrap under the new version, as a KEK rotation does.
	pt, err := k.Unwrap(context.Background(), 1, b, old)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := k.Wrap(context.Background(), 2, b, pt)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Retire(context.Background(), 2); !errors.Is(err, envelope.ErrRetireActive) {
		t.Fatalf("retire the active version: %v", err)
	}
	if err := k.Retire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Unwrap(context.Background(), 1, b, old); !errors.Is(err, envelope.ErrRetired) {
		t.Fatalf("unwrap under a retired version: %v, want ErrRetired", err)
	}
	if got, err := k.Unwrap(context.Background(), 2, b, rewrapped); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap under the new version: %v", err)
	}
	// The retired version's KMS key is pending deletion: even a KEK built
	// from the old configuration can no longer use it.
	u, _ := signer.ParseURI(saved[0].Keys[1])
	md, err := c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: &u.Opaque})
	if err != nil || md.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("retired key state: %v %v", md, err)
	}
	if _, err := New(context.Background(), saved[0]); !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("KEK from the pre-retirement configuration: %v, want ErrAccessDenied", err)
	}
	if last := saved[len(saved)-1]; last.Active != 2 || len(last.Retired) != 1 || last.Retired[0] != 1 {
		t.Fatalf("saved configuration after retirement: %+v", last)
	}
	// Read-only without a save hook.
	ro, err := New(context.Background(), k.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.AddVersion(context.Background()); !errors.Is(err, envelope.ErrReadOnly) {
		t.Fatalf("AddVersion without save hook: %v", err)
	}
}

func TestRefusedKey(t *testing.T) {
	c, base := localKMS(t)
	ref := symmetricKey(t, c, base)
	k, err := New(context.Background(), Config{Active: 1, Keys: map[uint32]string{1: ref}})
	if err != nil {
		t.Fatal(err)
	}
	b := envelope.DEKBinding{Org: "acme", DEKVersion: 1}
	wrapped, err := k.Wrap(context.Background(), 1, b, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := signer.ParseURI(ref)
	if _, err := c.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: &u.Opaque}); err != nil {
		t.Fatal(err)
	}
	_, err = k.Unwrap(context.Background(), 1, b, wrapped)
	if !errors.Is(err, signer.ErrAccessDenied) || !strings.Contains(err.Error(), "customer's AWS KMS refused") {
		t.Fatalf("unwrap with the key disabled: %v, want ErrAccessDenied", err)
	}
	if _, err := New(context.Background(), Config{Active: 1, Keys: map[uint32]string{1: ref}}); !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("New with the key disabled: %v", err)
	}
	// A signing key is not a KEK.
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	sign := strings.Replace(base, "awskms:", "awskms:"+aws.ToString(out.KeyMetadata.Arn), 1)
	if _, err := New(context.Background(), Config{Active: 1, Keys: map[uint32]string{1: sign}}); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("New with a signing key: %v", err)
	}
	for name, cfg := range map[string]Config{
		"no active key":  {Active: 2, Keys: map[uint32]string{1: ref}},
		"not awskms":     {Active: 1, Keys: map[uint32]string{1: "gcpkms:projects/p"}},
		"usable retired": {Active: 1, Keys: map[uint32]string{1: ref}, Retired: []uint32{1}},
		"version zero":   {Active: 0, Keys: map[uint32]string{0: ref}},
	} {
		if _, err := New(context.Background(), cfg); !errors.Is(err, envelope.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
}

// TestContract runs the contract every envelope.KEK must pass, against
// local-kms.
func TestContract(t *testing.T) {
	c, base := localKMS(t)
	cfg := Config{Active: 1, Keys: map[uint32]string{1: symmetricKey(t, c, base)}}
	k, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	kektest.Run(t, k)
	rot, err := New(context.Background(), cfg, WithSave(func(context.Context, Config) error { return nil }), WithDeletionWindow(7))
	if err != nil {
		t.Fatal(err)
	}
	kektest.RunRotation(t, rot)
}
