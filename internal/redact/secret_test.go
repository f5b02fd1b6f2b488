package redact_test

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"sealkeep/internal/redact"
)

// testSecret returns 32 fixed, binary-looking bytes.
func testSecret(label string) []byte {
	s := sha256.Sum256([]byte(label))
	return s[:]
}

// assertNoLeak fails if out contains secret in any form ScanForSecret knows.
func assertNoLeak(t *testing.T, what string, out []byte, secret []byte) {
	t.Helper()
	if form, found := redact.ScanForSecret(out, secret); found {
		t.Errorf("%s leaks the secret (%s): %q", what, form, out)
	}
}

func TestSecretAccess(t *testing.T) {
	b := testSecret("access")
	want := bytes.Clone(b)
	s := redact.NewSecret(b)
	if !bytes.Equal(s.Bytes(), want) || s.Len() != 32 {
		t.Fatalf("Bytes/Len do not return the secret")
	}
	if !s.Equal(redact.NewSecret(bytes.Clone(want))) {
		t.Errorf("Equal is false for equal secrets")
	}
	other := bytes.Clone(want)
	other[31] ^= 1
	if s.Equal(redact.NewSecret(other)) || s.Equal(redact.NewSecret(want[:31])) || s.Equal(nil) {
		t.Errorf("Equal is true for different secrets")
	}
	copied := *s
	s.Zero()
	if !bytes.Equal(b, make([]byte, 32)) {
		t.Errorf("Zero left bytes in the owned slice: %x", b)
	}
	if s.Len() != 0 || copied.Len() != 0 || copied.Bytes() != nil {
		t.Errorf("a zeroed Secret or its copy still has bytes")
	}
	var nilSecret *redact.Secret
	if nilSecret.Bytes() != nil || nilSecret.Len() != 0 || !nilSecret.Equal(&redact.Secret{}) {
		t.Errorf("nil and zero Secrets are not empty and equal")
	}
	nilSecret.Zero() // must not panic
}

type exported struct {
	Value   redact.Secret
	Pointer *redact.Secret
}

type unexported struct {
	value   redact.Secret
	pointer *redact.Secret
}

type nested struct {
	Inner exported
	inner unexported
	List  []*redact.Secret
}

func TestSecretFormatting(t *testing.T) {
	raw := testSecret("format")
	s := redact.NewSecret(bytes.Clone(raw))
	text := []byte("correct horse battery staple")
	ts := redact.NewSecret(bytes.Clone(text))

	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%o",
		"%b", "%c", "%U", "%e", "%g", "%t", "%08v", "%-20s", "%T", "%p", "%[1]v"}
	values := map[string]any{
		"*Secret":          s,
		"Secret":           *s,
		"text *Secret":     ts,
		"struct":           exported{Value: *s, Pointer: s},
		"*struct":          &exported{Value: *s, Pointer: s},
		"unexported":       unexported{value: *s, pointer: s},
		"*unexported":      &unexported{value: *s, pointer: s},
		"nested":           nested{Inner: exported{*s, s}, inner: unexported{*s, s}, List: []*redact.Secret{s, ts}},
		"[]*Secret":        []*redact.Secret{s, ts},
		"[]Secret":         []redact.Secret{*s, *ts},
		"map":              map[string]*redact.Secret{"k": s, "t": ts},
		"map of values":    map[string]redact.Secret{"k": *s},
		"map key":          map[redact.Secret]int{*s: 1},
		"[1]Secret":        [1]redact.Secret{*s},
		"any slice":        []any{s, *ts},
		"error %v":         fmt.Errorf("unlock: %v", s),
		"wrapped error":    fmt.Errorf("outer: %w", fmt.Errorf("inner %v %s %x", s, ts, s)),
		"errors.Join":      errors.Join(fmt.Errorf("%+v", ts), fmt.Errorf("%#v", s)),
		"pointer to value": &struct{ S redact.Secret }{*s},
	}
	for name, v := range values {
		for _, verb := range verbs {
			out := []byte(fmt.Sprintf(verb, v))
			assertNoLeak(t, name+" "+verb, out, raw)
			assertNoLeak(t, name+" "+verb, out, text)
		}
	}
	// Where fmt reaches the Secret's methods, it prints the redacted form.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{s, *s, exported{*s, s}, []*redact.Secret{s}, map[string]redact.Secret{"k": *s}} {
			if out := fmt.Sprintf(verb, v); !strings.Contains(out, redact.Redacted) {
				t.Errorf("%s of %T = %q, want %s in it", verb, v, out, redact.Redacted)
			}
		}
	}
	if got := s.String() + s.GoString(); got != redact.Redacted+redact.Redacted {
		t.Errorf("String+GoString = %q", got)
	}
}

func TestSecretMarshal(t *testing.T) {
	raw := testSecret("marshal")
	s := redact.NewSecret(bytes.Clone(raw))
	out, err := json.Marshal(struct {
		V redact.Secret
		P *redact.Secret
		M map[string]redact.Secret
		K map[redact.Secret]int
		L []*redact.Secret
	}{*s, s, map[string]redact.Secret{"a": *s}, map[redact.Secret]int{*s: 1}, []*redact.Secret{s}})
	if err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "JSON", out, raw)
	if c := strings.Count(string(out), `"`+redact.Redacted+`"`); c != 5 {
		t.Errorf("JSON %s has %d redacted values, want 5", out, c)
	}
	var tm encoding.TextMarshaler = s
	text, err := tm.MarshalText()
	if err != nil || string(text) != redact.Redacted {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
	if lv := s.LogValue(); lv.String() != redact.Redacted {
		t.Errorf("LogValue = %v", lv)
	}
}

func TestSecretSlog(t *testing.T) {
	raw := testSecret("slog")
	s := redact.NewSecret(bytes.Clone(raw))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("unwrap", "dek", s, "value", *s, slog.Group("g", "inner", s))
		l.With("w", s).Info("with", "list", []*redact.Secret{s})
		l.Info("config", "cfg", struct {
			User string
			PIN  redact.Secret
			Key  *redact.Secret
		}{"u", *s, s})
	}
	assertNoLeak(t, "slog output", buf.Bytes(), raw)
	if c := strings.Count(buf.String(), redact.Redacted); c < 12 {
		t.Errorf("slog output has %d redactions, want at least 12:\n%s", c, &buf)
	}
}

// TestSecretUnmarshalJSON: a request body's secret is read with and
// without escapes, and marshals back redacted.
func TestSecretUnmarshalJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"password":"hunter2"}`:       "hunter2",
		`{"password":"a\"b\\c\u00e9"}`: "a\"b\\cé",
		`{"password":null}`:            "",
		`{}`:                           "",
	} {
		var v struct{ Password redact.Secret }
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := string(v.Password.Bytes()); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
		if out, _ := json.Marshal(v); strings.Contains(string(out), "hunter2") {
			t.Errorf("%s marshals back as %s", in, out)
		}
	}
	var v struct{ Password redact.Secret }
	if err := json.Unmarshal([]byte(`{"password":12}`), &v); err == nil || strings.Contains(err.Error(), "12") {
		t.Errorf("a number as a secret: %v", err)
	}
}
