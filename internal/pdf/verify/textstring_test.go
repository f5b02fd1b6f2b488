package verify

import (
	"testing"

	"sealkeep/internal/pdf"
)

// TestTextStrings: the report gives /Name, /Reason and /Location as the
// PDF holds them, characters outside the Basic Multilingual Plane (UTF-16
// surrogate pairs) included, decoded like the field names of the reader.
func TestTextStrings(t *testing.T) {
	const name, reason = "Jane \U00020B9F Doe, P.E. \U0001F3D7", "approved 𝐟𝐢𝐧𝐚𝐥"
	b := sealBytes(t, sealedBase(t), sealCfg{opts: pdf.SealOptions{Name: name, Reason: reason}})
	s := mustVerify(t, b, Options{}).Signatures[1]
	if s.Name != name || s.Reason != reason {
		t.Fatalf("name %q, reason %q; want %q, %q", s.Name, s.Reason, name, reason)
	}
}
