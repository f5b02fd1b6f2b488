package azurekv

import (
	"testing"
)

// FuzzParseKeyURL: no input panics, and an accepted key URL names a vault,
// a key and a version that the signer's reference reproduces exactly.
func FuzzParseKeyURL(f *testing.F) {
	for _, s := range []string{
		"https://vault.vault.azure.net/keys/jane/0123456789abcdef",
		"https://hsm.managedhsm.azure.net/keys/k/v", "https://v/keys/a%2Fb/c", "http://v/keys/a/b",
		"https://v/keys/a/b?x=1", "https://user@v/keys/a/b", "https://v/keys//b", "https://v:8443/keys/a/b/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		vault, name, version, err := parseKeyURL(raw)
		if err != nil {
			return
		}
		if name == "" || version == "" || vault == "" {
			t.Fatalf("accepted %q with an empty part", raw)
		}
		v2, n2, ver2, err := parseKeyURL(vault + "/keys/" + name + "/" + version)
		if err != nil || v2 != vault || n2 != name || ver2 != version {
			t.Fatalf("%q: reference does not round-trip: %v", raw, err)
		}
	})
}
