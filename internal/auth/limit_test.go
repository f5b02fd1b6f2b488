package auth

import "testing"

// TestClientKey: one counter per IPv4 address (mapped or not) and per
// IPv6 /64; nothing for a non-address.
func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "addr:192.0.2.1",
		"::ffff:192.0.2.1":     "addr:192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "addr:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "addr:2001:db8:1:2::/64",
		"fe80::1%eth0":         "addr:fe80::/64",
		"":                     "",
		"example.com":          "",
		"192.0.2.1:443":        "",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
	if accountKey("jane") == accountKey("jane2") || len(accountKey("jane")) != len("account:")+64 {
		t.Error("account keys")
	}
}
