package signer

import (
	"errors"
	"strings"
	"testing"
)

// secretValue stands for a PIN or password someone put into a URI; no error
// may echo it.
const secretValue = "S3cr3tPIN4711"

func TestParseURIRefusesSecrets(t *testing.T) {
	for _, raw := range []string{
		"pkcs11:object=k;pin-value=" + secretValue,
		"pkcs11:object=k;PIN-VALUE=" + secretValue,
		"pkcs11:object=k;pin%2Dvalue=" + secretValue,
		"pkcs11:object=k;pin%2dVALUE=" + secretValue,
		"pkcs11:object=k?pin-value=" + secretValue,
		"pkcs11:object=k?PIN-VALUE=" + secretValue,
		"pkcs11:object=k?Pin-Value=" + secretValue,
		"pkcs11:object=k?pin%2Dvalue=" + secretValue,
		"pkcs11:object=k?pin_value=" + secretValue,
		"pkcs11:object=k?module-path=/m&pin=" + secretValue,
		"pkcs11:object=k?so-pin=" + secretValue,
		"pkcs11:object=k?user_pin=" + secretValue,
		"pkcs11:object=k?module-path=/m#pin-value=" + secretValue,
		"awskms:alias/k?Password=" + secretValue,
		"awskms:alias/k?passphrase=" + secretValue,
		"awskms:alias/k?secret-access-key=" + secretValue,
		"awskms:alias/k?AWS_SECRET_ACCESS_KEY=" + secretValue,
		"awskms:alias/k?session-token=" + secretValue,
		"awskms:alias/k?token=" + secretValue,
		"awskms:alias/k?endpoint=https://user:" + secretValue + "@kms.example",
		"awskms:alias/k?endpoint=https%3A%2F%2Fuser%3A" + secretValue + "%40kms.example",
		"azurekv:https://user:" + secretValue + "@v.vault.azure.net/keys/k/1",
		"azurekv:https://v.vault.azure.net/keys/k/1?client_secret=" + secretValue,
		"azurekv:https://v.vault.azure.net/keys/k/1?clientSecret=" + secretValue,
		"gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1?credentials=" + secretValue,
		"gcpkms:projects/p?api-key=" + secretValue,
		"pkcs11:object=k;pin-value=" + secretValue + "%zz",
		"pkcs11:object=k;" + secretValue + "%zz=1",
	} {
		u, err := ParseURI(raw)
		if !errors.Is(err, ErrInvalidURI) {
			t.Errorf("%s: accepted (%v), want ErrInvalidURI", raw, u)
			continue
		}
		if strings.Contains(err.Error(), secretValue) {
			t.Errorf("%s: error echoes the secret: %v", raw, err)
		}
	}
}

func TestParseURIAccepts(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		attr map[string]string
		q    map[string]string
	}{
		{"pkcs11:token=sealkeep;object=jane-2026?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsm.pin",
			map[string]string{"token": "sealkeep", "object": "jane-2026"},
			map[string]string{"module-path": "/usr/lib/softhsm/libsofthsm2.so", "pin-source": "file:/etc/hsm.pin"}},
		{"pkcs11:Token=My%20Token;object=a%3Bb?pin-source=env:HSM_PIN",
			map[string]string{"token": "My Token", "object": "a;b"},
			map[string]string{"pin-source": "env:HSM_PIN"}},
		{"awskms:arn:aws:kms:eu-west-1:111122223333:key/abcd?region=eu-west-1&external-id=x&endpoint=http://localhost:8080",
			map[string]string{}, map[string]string{"region": "eu-west-1", "external-id": "x", "endpoint": "http://localhost:8080"}},
		{"azurekv:https://v.vault.azure.net/keys/k/1", map[string]string{}, map[string]string{}},
		{"gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", map[string]string{}, map[string]string{}},
		{"fake:k?alg=RSA-2048&fail=badsig", map[string]string{}, map[string]string{"alg": "RSA-2048", "fail": "badsig"}},
	} {
		u, err := ParseURI(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		for k, v := range tc.attr {
			if got := u.Attrs[k]; got != v {
				t.Errorf("%s: attribute %s = %q, want %q", tc.raw, k, got, v)
			}
		}
		if len(u.Attrs) != len(tc.attr) {
			t.Errorf("%s: attributes %v, want %v", tc.raw, u.Attrs, tc.attr)
		}
		for k, v := range tc.q {
			if got := u.Value(k); got != v {
				t.Errorf("%s: query %s = %q, want %q", tc.raw, k, got, v)
			}
		}
	}
}

func TestParseURIMalformed(t *testing.T) {
	for _, raw := range []string{
		"", "noscheme", ":x", "bad scheme:x", "pkcs11:object=a;object=b",
		"pkcs11:object=a%zz", "pkcs11:object=a?x=%zz", "pkcs11:object=a?x=1;y=2",
	} {
		if _, err := ParseURI(raw); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("%q: %v, want ErrInvalidURI", raw, err)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=t;object=o?module-path=/m&pin-source=file:/p",
		"pkcs11:object=k;pin%2Dvalue=1", "awskms:alias/k?region=r",
		"azurekv:https://v.vault.azure.net/keys/k/1", "fake:k?alg=RSA-2048",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURI(raw)
		if err != nil {
			return
		}
		// Whatever is accepted carries no secret-named attribute in any
		// spelling, and its stored form parses back to the same attributes.
		for k := range u.Attrs {
			if secretName(k, u.Scheme, true) != "" {
				t.Fatalf("%q: accepted secret attribute %q", raw, k)
			}
		}
		for k := range u.Query {
			if secretName(k, u.Scheme, false) != "" {
				t.Fatalf("%q: accepted secret query attribute %q", raw, k)
			}
		}
		again, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("%q: String() = %q does not parse: %v", raw, u.String(), err)
		}
		if len(again.Attrs) != len(u.Attrs) {
			t.Fatalf("%q: attributes %v, after String() %v", raw, u.Attrs, again.Attrs)
		}
		for k, v := range u.Attrs {
			if again.Attrs[k] != v {
				t.Fatalf("%q: attributes %v, after String() %v", raw, u.Attrs, again.Attrs)
			}
		}
	})
}
