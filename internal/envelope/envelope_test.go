package envelope

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"sealkeep/internal/redact"
)

// fixedDEK returns a DEK with a key derived from label.
func fixedDEK(org string, version uint32, label string) *DEK {
	k := sha256.Sum256([]byte(label))
	return &DEK{org: org, version: version, key: redact.NewSecret(k[:])}
}

// withKey returns a DEK of org and version holding d's key bytes.
func withKey(d *DEK, org string, version uint32) *DEK {
	return &DEK{org: org, version: version, key: redact.NewSecret(bytes.Clone(d.key.Bytes()))}
}

func newKeyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := CreateKeyringFile(filepath.Join(t.TempDir(), "keyring"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func plaintext(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

// mustFail checks that a decryption of tampered input failed cleanly.
func mustFail(t *testing.T, what string, got []byte, err error) {
	t.Helper()
	if err == nil || got != nil {
		t.Fatalf("%s: decrypted (err %v)", what, err)
	}
	if !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s: error %v is neither ErrAuthentication nor ErrMalformed", what, err)
	}
}

func TestBlobRoundTrip(t *testing.T) {
	d, err := NewDEK("acme", 7)
	if err != nil {
		t.Fatal(err)
	}
	b := Binding{Org: "acme", Identity: "jane-doe-pe", Version: 3}
	for _, n := range []int{1, 16, 2400, MaxBlobPlaintext} {
		p := plaintext(n)
		blob, err := d.Seal(b, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(blob) != blobHeaderSize+nonceSize+n+tagSize {
			t.Errorf("blob of %d bytes for %d bytes of plaintext", len(blob), n)
		}
		if v, err := BlobDEKVersion(blob); v != 7 || err != nil {
			t.Errorf("BlobDEKVersion = %d, %v", v, err)
		}
		got, err := d.Open(b, blob)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Open of %d bytes: %v", n, err)
		}
	}
}

func TestSealRejectsBadInput(t *testing.T) {
	d := fixedDEK("acme", 1, "seal input")
	good := Binding{Org: "acme", Identity: "jane", Version: 1}
	long := string(make([]byte, maxNameLen+1))
	for name, c := range map[string]struct {
		b Binding
		p []byte
	}{
		"empty plaintext":  {good, nil},
		"too long":         {good, make([]byte, MaxBlobPlaintext+1)},
		"empty org":        {Binding{"", "jane", 1}, []byte("x")},
		"other org":        {Binding{"other", "jane", 1}, []byte("x")},
		"empty identity":   {Binding{"acme", "", 1}, []byte("x")},
		"long identity":    {Binding{"acme", long, 1}, []byte("x")},
		"version 0":        {Binding{"acme", "jane", 0}, []byte("x")},
		"negative version": {Binding{"acme", "jane", -1}, []byte("x")},
	} {
		if _, err := d.Seal(c.b, c.p); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: Seal error %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := NewDEK("", 1); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NewDEK with no org: %v", err)
	}
	if _, err := NewDEK("acme", 0); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NewDEK version 0: %v", err)
	}
}

func TestZeroedDEKRefuses(t *testing.T) {
	d := fixedDEK("acme", 1, "zeroed")
	b := Binding{Org: "acme", Identity: "jane", Version: 1}
	blob, err := d.Seal(b, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	d.Zero()
	if _, err := d.Seal(b, []byte("key")); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Seal with a zeroed DEK: %v", err)
	}
	if _, err := d.Open(b, blob); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Open with a zeroed DEK: %v", err)
	}
	if _, _, err := WrapDEK(context.Background(), newKeyring(t), d); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("WrapDEK of a zeroed DEK: %v", err)
	}
}

func TestNoncesAreFresh(t *testing.T) {
	d := fixedDEK("acme", 1, "nonces")
	b := Binding{Org: "acme", Identity: "jane", Version: 1}
	seen := map[string]bool{}
	for range 2000 {
		blob, err := d.Seal(b, []byte("same plaintext"))
		if err != nil {
			t.Fatal(err)
		}
		n := string(blob[blobHeaderSize : blobHeaderSize+nonceSize])
		if seen[n] {
			t.Fatal("a nonce repeated")
		}
		seen[n] = true
	}
}

// TestBlobTamper flips every bit, truncates at every length and extends a
// blob: each must fail, never yield plaintext.
func TestBlobTamper(t *testing.T) {
	d := fixedDEK("acme", 1, "tamper")
	b := Binding{Org: "acme", Identity: "jane", Version: 2}
	blob, err := d.Seal(b, plaintext(64))
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(blob) * 8 {
		m := bytes.Clone(blob)
		m[i/8] ^= 1 << (i % 8)
		got, err := d.Open(b, m)
		mustFail(t, "bit flip", got, err)
	}
	for n := range len(blob) {
		got, err := d.Open(b, blob[:n])
		mustFail(t, "truncation", got, err)
	}
	got, err := d.Open(b, append(bytes.Clone(blob), 0))
	mustFail(t, "extension", got, err)
	if _, err := d.Open(b, blob); err != nil {
		t.Fatalf("the untouched blob does not open: %v", err)
	}
}

// TestBlobWrongAAD opens a blob under every other binding, with the same
// key bytes where the DEK's own checks would otherwise stop it, so that the
// additional data itself is what fails.
func TestBlobWrongAAD(t *testing.T) {
	d := fixedDEK("acme", 1, "aad")
	b := Binding{Org: "acme", Identity: "jane", Version: 2}
	blob, err := d.Seal(b, plaintext(32))
	if err != nil {
		t.Fatal(err)
	}
	relabel := func(v uint32) []byte { // the same blob, header naming DEK version v
		m := bytes.Clone(blob)
		binary.BigEndian.PutUint32(m[1:5], v)
		return m
	}
	for name, c := range map[string]struct {
		d    *DEK
		b    Binding
		blob []byte
	}{
		"org (DEK check)":    {d, Binding{"other", "jane", 2}, blob},
		"org (AAD)":          {withKey(d, "other", 1), Binding{"other", "jane", 2}, blob},
		"identity":           {d, Binding{"acme", "john", 2}, blob},
		"version":            {d, Binding{"acme", "jane", 1}, blob},
		"DEK version (DEK)":  {withKey(d, "acme", 2), b, blob},
		"DEK version (AAD)":  {withKey(d, "acme", 2), b, relabel(2)},
		"key":                {fixedDEK("acme", 1, "another key"), b, blob},
		"identity prefix":    {d, Binding{"acme", "jan", 2}, blob},
		"org/identity split": {withKey(d, "acmej", 1), Binding{"acmej", "ane", 2}, blob},
	} {
		got, err := c.d.Open(c.b, c.blob)
		if !errors.Is(err, ErrAuthentication) || got != nil {
			t.Errorf("%s: Open = %v, want ErrAuthentication", name, err)
		}
	}
}

func TestBlobDEKVersionErrors(t *testing.T) {
	d := fixedDEK("acme", 1, "header")
	blob, _ := d.Seal(Binding{"acme", "jane", 1}, []byte("k"))
	zero := bytes.Clone(blob)
	binary.BigEndian.PutUint32(zero[1:5], 0)
	format := bytes.Clone(blob)
	format[0] = 2
	for name, b := range map[string][]byte{
		"empty": nil, "short": blob[:minBlobSize-1], "format": format, "DEK version 0": zero,
		"long": make([]byte, maxBlobSize+1),
	} {
		if _, err := BlobDEKVersion(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestDEKWrapRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	d, _ := NewDEK("acme", 4)
	w, kv, err := WrapDEK(ctx, k, d)
	if err != nil || kv != 1 || len(w) != wrappedDEKSize {
		t.Fatalf("WrapDEK = %d bytes, version %d, %v", len(w), kv, err)
	}
	u, err := UnwrapDEK(ctx, k, "acme", 4, 1, w)
	if err != nil {
		t.Fatal(err)
	}
	if u.Org() != "acme" || u.Version() != 4 || !u.key.Equal(d.key) {
		t.Errorf("unwrapped DEK differs")
	}
	b := Binding{"acme", "jane", 1}
	blob, _ := d.Seal(b, []byte("pkcs8"))
	if p, err := u.Open(b, blob); err != nil || string(p) != "pkcs8" {
		t.Errorf("unwrapped DEK does not open the original's blob: %v", err)
	}
}

// TestWrappedDEKTamper flips every bit and truncates a wrapped DEK at every
// length, then unwraps it under every wrong binding field.
func TestWrappedDEKTamper(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	d, _ := NewDEK("acme", 4)
	w, _, err := WrapDEK(ctx, k, d)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(w) * 8 {
		m := bytes.Clone(w)
		m[i/8] ^= 1 << (i % 8)
		u, err := UnwrapDEK(ctx, k, "acme", 4, 1, m)
		if u != nil {
			t.Fatalf("bit %d: unwrapped", i)
		}
		mustFail(t, "bit flip", nil, err)
	}
	for n := range len(w) {
		u, err := UnwrapDEK(ctx, k, "acme", 4, 1, w[:n])
		if u != nil {
			t.Fatalf("truncation to %d: unwrapped", n)
		}
		mustFail(t, "truncation", nil, err)
	}
	for name, c := range map[string]struct {
		org  string
		dekV uint32
	}{"org": {"other", 4}, "DEK version": {"acme", 5}, "org prefix": {"acm", 4}} {
		if u, err := UnwrapDEK(ctx, k, c.org, c.dekV, 1, w); !errors.Is(err, ErrAuthentication) || u != nil {
			t.Errorf("%s: UnwrapDEK = %v, want ErrAuthentication", name, err)
		}
	}

	// KEK version: another version's key must not be tried as a fallback,
	// and the version is bound even under the same key bytes.
	v2, err := k.AddVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w2, kv, _ := WrapDEK(ctx, k, d)
	if kv != v2 {
		t.Fatalf("WrapDEK used version %d, want %d", kv, v2)
	}
	if u, err := UnwrapDEK(ctx, k, "acme", 4, 1, w2); !errors.Is(err, ErrAuthentication) || u != nil {
		t.Errorf("wrapped under v2, unwrapped as v1: %v", err)
	}
	key := k.kr.versions[1].key.Bytes()
	if p, err := unwrapDEK(key, 3, DEKBinding{"acme", 4}, w2); !errors.Is(err, ErrAuthentication) || p != nil {
		t.Errorf("same key, KEK version 3 in the AAD: %v", err)
	}
	if _, err := UnwrapDEK(ctx, k, "acme", 4, 9, w2); !errors.Is(err, ErrUnknownKEKVersion) {
		t.Errorf("unknown KEK version: %v", err)
	}
}
