//go:build pkcs11

package pkcs11

import (
	"net/url"
	"strings"
	"testing"

	"sealkeep/internal/signer"
)

// splitRFC7512 reads the path attributes of a pkcs11 URI (RFC 7512 section
// 2.3) independently of the production parser.
func splitRFC7512(t *testing.T, ref string) (map[string]string, url.Values) {
	path, query, _ := strings.Cut(strings.TrimPrefix(ref, "pkcs11:"), "?")
	attrs := map[string]string{}
	for _, part := range strings.Split(path, ";") {
		k, v, _ := strings.Cut(part, "=")
		dv, err := url.PathUnescape(v)
		if err != nil {
			t.Fatalf("reference %q has a bad escape: %v", ref, err)
		}
		attrs[k] = dv
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return attrs, q
}

// FuzzLocation: no URI panics the parser, and the reference of an accepted
// URI names the same token, key and PIN source.
func FuzzLocation(f *testing.F) {
	f.Add("sealkeep", "jane-2026", "", "/usr/lib/softhsm/libsofthsm2.so", "file:/etc/pin")
	f.Add("tok;en", "a b/c", "\x01\x02", "/m.so", "env:PIN")
	f.Add("", "k", "", "rel.so", "pin")
	f.Fuzz(func(t *testing.T, token, object, id, module, pinSource string) {
		u := &signer.URI{Scheme: Scheme, Attrs: map[string]string{"token": token, "object": object, "id": id},
			Query: url.Values{"module-path": {module}, "pin-source": {pinSource}}}
		loc, err := parseLocation(u)
		if err != nil {
			return
		}
		attrs, q := splitRFC7512(t, loc.ref())
		if attrs["token"] != token || attrs["object"] != object || attrs["id"] != id || q.Get("module-path") != module || q.Get("pin-source") != pinSource {
			t.Fatalf("reference %q does not round-trip", loc.ref())
		}
	})
}
