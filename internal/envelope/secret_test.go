package envelope_test

import (
	"bytes"
	"errors"
	"testing"

	"sealkeep/internal/envelope"
)

// TestSealSecret round-trips a secret and refuses it under every other
// binding, DEK, org, as a key blob, and after any bit flip or truncation.
func TestSealSecret(t *testing.T) {
	dek, err := envelope.NewDEK("system", 1)
	if err != nil {
		t.Fatal(err)
	}
	b := envelope.SecretBinding{Purpose: "totp", Owner: "u-jane"}
	secret := []byte("12345678901234567890")
	sealed, err := dek.SealSecret(b, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed secret holds the plaintext")
	}
	got, err := dek.OpenSecret(b, sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	other, _ := envelope.NewDEK("system", 1)
	otherOrg, _ := envelope.NewDEK("acme", 1)
	v2, _ := envelope.NewDEK("system", 2)
	for name, open := range map[string]func() ([]byte, error){
		"other owner": func() ([]byte, error) {
			return dek.OpenSecret(envelope.SecretBinding{Purpose: "totp", Owner: "u-joe"}, sealed)
		},
		"other purpose": func() ([]byte, error) {
			return dek.OpenSecret(envelope.SecretBinding{Purpose: "x", Owner: "u-jane"}, sealed)
		},
		"other DEK":     func() ([]byte, error) { return other.OpenSecret(b, sealed) },
		"other org":     func() ([]byte, error) { return otherOrg.OpenSecret(b, sealed) },
		"other version": func() ([]byte, error) { return v2.OpenSecret(b, sealed) },
		"as a key blob": func() ([]byte, error) {
			return dek.Open(envelope.Binding{Org: "system", Identity: "u-jane", Version: 1}, sealed)
		},
	} {
		if _, err := open(); !errors.Is(err, envelope.ErrAuthentication) {
			t.Errorf("%s: %v, want ErrAuthentication", name, err)
		}
	}
	for i := range len(sealed) * 8 {
		c := bytes.Clone(sealed)
		c[i/8] ^= 1 << (i % 8)
		if _, err := dek.OpenSecret(b, c); err == nil {
			t.Fatalf("bit %d flipped: opened", i)
		}
	}
	for n := range len(sealed) {
		if _, err := dek.OpenSecret(b, sealed[:n]); err == nil {
			t.Fatalf("truncated to %d: opened", n)
		}
	}
	if _, err := dek.SealSecret(b, nil); !errors.Is(err, envelope.ErrInvalidInput) {
		t.Errorf("empty secret: %v", err)
	}
	dek.Zero()
	if _, err := dek.OpenSecret(b, sealed); err == nil {
		t.Error("zeroed DEK opened a secret")
	}
}
