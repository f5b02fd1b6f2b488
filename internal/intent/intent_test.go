package intent_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/intent"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func sample(t testing.TB) intent.Intent {
	in, err := intent.New("acme", "u-jane", "id-jane", 2, sha256.Sum256([]byte("cert")), sha256.Sum256([]byte("doc")),
		map[string]string{"pades": "B-T", "field": "Seal 1", "reason": ""}, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestCanonical builds the encoding byte by byte from the package doc and
// compares; the digest is its SHA-256.
func TestCanonical(t *testing.T) {
	in := sample(t)
	var want []byte
	f := func(b []byte) {
		want = binary.BigEndian.AppendUint32(want, uint32(len(b)))
		want = append(want, b...)
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	f([]byte("sealkeep/seal-intent/v1"))
	f([]byte("acme"))
	f([]byte("u-jane"))
	f([]byte("id-jane"))
	f(u64(2))
	f(in.Thumbprint[:])
	f(in.DocumentSHA256[:])
	f([]byte{0, 0, 0, 3})
	for _, kv := range [][2]string{{"field", "Seal 1"}, {"pades", "B-T"}, {"reason", ""}} {
		f([]byte(kv[0]))
		f([]byte(kv[1]))
	}
	f(in.Nonce[:])
	f(u64(uint64(now.Add(5 * time.Minute).UnixMicro())))
	if got := in.Canonical(); !bytes.Equal(got, want) {
		t.Fatalf("Canonical =\n%x\nwant\n%x", got, want)
	}
	if in.Digest() != sha256.Sum256(want) {
		t.Error("Digest is not SHA-256 of the encoding")
	}
	back, err := intent.Parse(want)
	if err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("Parse = %+v, %v; want %+v", back, err, in)
	}
}

// TestDigestBindsEveryField: changing any field changes the digest.
func TestDigestBindsEveryField(t *testing.T) {
	base := sample(t)
	for name, change := range map[string]func(*intent.Intent){
		"org":        func(i *intent.Intent) { i.Org = "acme2" },
		"user":       func(i *intent.Intent) { i.User = "u-joe" },
		"identity":   func(i *intent.Intent) { i.Identity = "id-joe" },
		"version":    func(i *intent.Intent) { i.Version = 3 },
		"thumbprint": func(i *intent.Intent) { i.Thumbprint[0] ^= 1 },
		"document":   func(i *intent.Intent) { i.DocumentSHA256[31] ^= 1 },
		"option":     func(i *intent.Intent) { i.Options = map[string]string{"pades": "B-B", "field": "Seal 1", "reason": ""} },
		"option key": func(i *intent.Intent) {
			i.Options = map[string]string{"pades": "B-T", "field": "Seal 1", "reasons": ""}
		},
		"split":    func(i *intent.Intent) { i.Options = map[string]string{"pades": "B-T", "field": "Seal", "reason": " 1"} },
		"nonce":    func(i *intent.Intent) { i.Nonce[5] ^= 1 },
		"expiry":   func(i *intent.Intent) { i.Expires = i.Expires.Add(-time.Microsecond) },
		"org/user": func(i *intent.Intent) { i.Org, i.User = "acmeu-jane", "" },
	} {
		in := sample(t)
		in.Nonce = base.Nonce
		change(&in)
		if in.Digest() == base.Digest() {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	if a, b := sample(t), sample(t); a.Nonce == b.Nonce {
		t.Error("two intents share a nonce")
	}
}

func TestCheck(t *testing.T) {
	in := sample(t)
	if err := in.Check(now); err != nil {
		t.Errorf("fresh intent: %v", err)
	}
	for name, c := range map[string]struct {
		in  func() intent.Intent
		now time.Time
	}{
		"expired":         {func() intent.Intent { return in }, now.Add(5 * time.Minute)},
		"too long":        {func() intent.Intent { return in }, now.Add(-time.Second)},
		"no document":     {func() intent.Intent { x := in; x.DocumentSHA256 = [32]byte{}; return x }, now},
		"no nonce":        {func() intent.Intent { x := in; x.Nonce = [16]byte{}; return x }, now},
		"version 0":       {func() intent.Intent { x := in; x.Version = 0; return x }, now},
		"empty user":      {func() intent.Intent { x := in; x.User = ""; return x }, now},
		"bad UTF-8":       {func() intent.Intent { x := in; x.Identity = "\xff"; return x }, now},
		"NUL in option":   {func() intent.Intent { x := in; x.Options = map[string]string{"a": "b\x00"}; return x }, now},
		"long option":     {func() intent.Intent { x := in; x.Options = map[string]string{"a": strings.Repeat("x", 1025)}; return x }, now},
		"nanosecond time": {func() intent.Intent { x := in; x.Expires = x.Expires.Add(1); return x }, now},
		"not UTC":         {func() intent.Intent { x := in; x.Expires = x.Expires.In(time.FixedZone("X", 3600)); return x }, now},
	} {
		if err := c.in().Check(c.now); !errors.Is(err, intent.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	for _, life := range []time.Duration{0, -time.Second, 5*time.Minute + time.Microsecond} {
		if _, err := intent.New("a", "u", "i", 1, [32]byte{1}, [32]byte{1}, nil, now, life); !errors.Is(err, intent.ErrInvalid) {
			t.Errorf("lifetime %v: %v", life, err)
		}
	}
}

// TestParseStrict: every truncation, a trailing byte, unsorted options and
// another tag are refused.
func TestParseStrict(t *testing.T) {
	enc := sample(t).Canonical()
	for n := range len(enc) {
		if _, err := intent.Parse(enc[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: parsed", n)
		}
	}
	if _, err := intent.Parse(append(bytes.Clone(enc), 0)); err == nil {
		t.Error("trailing byte parsed")
	}
	other := bytes.Replace(enc, []byte("seal-intent/v1"), []byte("seal-intent/v2"), 1)
	if _, err := intent.Parse(other); err == nil {
		t.Error("another tag parsed")
	}
	swapped := bytes.Replace(enc, []byte("field"), []byte("zield"), 1) // keys now out of order
	if _, err := intent.Parse(swapped); err == nil {
		t.Error("unsorted options parsed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f).Canonical())
	in := sample(f)
	in.Options = nil
	f.Add(in.Canonical())
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := intent.Parse(b)
		if err != nil {
			return
		}
		if got := in.Canonical(); !bytes.Equal(got, b) {
			t.Fatalf("Parse then Canonical changed the bytes:\n%x\n%x", b, got)
		}
	})
}
