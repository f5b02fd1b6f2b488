package sqlcore

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

var detailsSeeds = []string{
	`{}`, `{"a":"b"}`, `{"":""}`, `{"a":"1","b":"2","c":""}`,
	`{"i":"42","reason":"key compromise: ü \u2028"}`,
	`{"a":"x\"y"}`, `{"a":"x\\y"}`, `{"a":"\u00e9"}`, `{"b":"1","a":"2"}`,
	`{"a":"1","a":"2"}`, `{ "a":"b"}`, `{"a" :"b"}`, `{"a":"b",}`, `{,}`,
	`{"a":"b"`, `{"a":1}`, `{"a":null}`, `[]`, ``, `{`, `}`, `{"a"}`,
	`{"a":"b""c":"d"}`, "{\"a\":\"\xff\"}", "{\"a\":\"\t\"}", `null`,
	`{"a":"b"} `, `{"é":"ü","ü":"é"}`,
}

// TestDecodeDetails checks the canonical fast path against encoding/json,
// the oracle, on canonical, non-canonical and malformed inputs.
func TestDecodeDetails(t *testing.T) {
	for _, s := range detailsSeeds {
		checkDetails(t, s)
	}
	for _, m := range []map[string]string{
		{}, {"z": "1", "a": "2", "m": "<&>"}, {"q": "\"\\\n\x01\u2028"}, {"k": "ünïcödé", "": "empty"},
	} {
		s := encodeDetails(m)
		got, err := decodeDetails(s)
		if err != nil || !maps.Equal(got, m) || got == nil {
			t.Errorf("round trip of %q: %v, %v", s, got, err)
		}
	}
	if _, ok := decodeCanonicalDetails(encodeDetails(map[string]string{"b": "1", "a": "<&>"})); !ok {
		t.Error("canonical details missed the fast path")
	}
}

func checkDetails(t *testing.T, s string) {
	t.Helper()
	want := map[string]string{}
	wantErr := json.Unmarshal([]byte(s), &want)
	got, err := decodeDetails(s)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("decodeDetails(%q) error %v, encoding/json says %v", s, err, wantErr)
	case err == nil && (!maps.Equal(got, want) || (got == nil) != (want == nil)):
		t.Fatalf("decodeDetails(%q) = %q, encoding/json says %q", s, got, want)
	}
}

func FuzzDecodeDetails(f *testing.F) {
	for _, s := range detailsSeeds {
		f.Add(s)
	}
	f.Fuzz(checkDetails)
}

// FuzzDetailsEqual: detailsEqual says true only for JSON that decodes to
// the map (decodeDetails, which is encoding/json's reading, is the
// oracle), and says true for what encodeDetails writes of plain strings.
func FuzzDetailsEqual(f *testing.F) {
	f.Add(`{"a":"1","b":"2"}`, "a", "1")
	f.Add(`{"a":"1"}`, "a", "1")
	f.Add(`{"a":"1","a":"1"}`, "a", "1")
	f.Add(`{"a":"\u0031"}`, "a", "1")
	f.Add(`{ "a":"1"}`, "a", "1")
	f.Add(`{}`, "", "")
	f.Fuzz(func(t *testing.T, s, k, v string) {
		m := map[string]string{k: v}
		if detailsEqual(s, m) {
			got, err := decodeDetails(s)
			if err != nil || !maps.Equal(got, m) {
				t.Fatalf("detailsEqual(%q, %q) but the JSON decodes to %q, %v", s, m, got, err)
			}
		}
		if validText(k) && validText(v) && !strings.ContainsAny(k+v, "\"\\\u2028\u2029") && !hasControl(k+v) {
			if !detailsEqual(encodeDetails(m), m) {
				t.Fatalf("detailsEqual(encodeDetails(%q)) is false", m)
			}
		}
	})
}

// hasControl reports whether s holds a byte below 0x20.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}
