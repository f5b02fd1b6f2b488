package gcpkms

import (
	"strings"
	"testing"
)

// FuzzCheckName: no input panics, and an accepted name is exactly a key
// version resource name.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		"projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"projects/p/locations/l/keyRings/r/cryptoKeys/k", "projects//locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		p := strings.Split(name, "/")
		if len(p) != 10 || p[8] != "cryptoKeyVersions" || p[9] == "" || p[1] == "" {
			t.Fatalf("accepted %q", name)
		}
	})
}
