package textsafe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Jane Doe, P.E. 12345, Texas", "Jane Doe, P.E. 12345, Texas"},
		{"Jürgen Groß, Dipl.-Ing. 東京 Ελένη", "Jürgen Groß, Dipl.-Ing. 東京 Ελένη"},
		{"CN=Doe\\, Jane,O=ACME", "CN=Doe\\, Jane,O=ACME"},
		{"\x1b[2J\x1b[HVerdict:   VALID", `\x1b[2J\x1b[HVerdict:   VALID`},
		{"name\nVerdict: VALID\r", `name\x0aVerdict: VALID\x0d`},
		{"a\tb\x00c\x7f", `a\x09b\x00c\x7f`},
		{"\u009b31m", `\u009b31m`},         // C1 CSI
		{"abc\u202edcba", `abc\u202edcba`}, // right-to-left override
		{"\u2066x\u2069\u200e\u200f\u061c", `\u2066x\u2069\u200e\u200f\u061c`},
		{"zero\u200bwidth\ufeff\u00ad", `zero\u200bwidth\ufeff\u00ad`},
		{"tag\U000e0041", `tag\U000e0041`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"private\ue000", `private\ue000`},
		{"filler\u3164\u115f", `filler\u3164\u115f`},
		{"hidden\ufe0f\U000e0100", `hidden\ufe0f\U000e0100`}, // variation selectors
		{"bad \xff\xfe utf8 \xc3", `bad \xff\xfe utf8 \xc3`},
		{`literal \x1b`, `literal \\x1b`},
		{`a\u202e`, `a\\u202e`},
		{`a\U0001`, `a\\U0001`},
		{`two \\ backslashes`, `two \\\ backslashes`},
		{`trailing\`, `trailing\\`},
		{"\\\x0f", `\\\x0f`}, // a backslash before an escaped control
		{"\\\u202e", `\\\u202e`},
		{"emoji \U0001f600 ok", "emoji \U0001f600 ok"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := unescape(Escape(tc.in)); err != nil || back != tc.in {
			t.Errorf("unescape(Escape(%q)) = %q, %v", tc.in, back, err)
		}
	}
}

// TestEscapeCategories checks every code point against the rules as the
// issue states them, independently of hidden's implementation.
func TestEscapeCategories(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // not encodable in UTF-8
		}
		s := string(r)
		got := Escape(s)
		if dangerous(r) && got == s {
			t.Fatalf("U+%04X is dangerous and printed raw", r)
		}
		if unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S, unicode.M) && r != '\\' &&
			!unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) && got != s {
			t.Fatalf("visible U+%04X was escaped as %s", r, got)
		}
	}
}

// dangerous lists what the package must escape, as the issue and the
// package doc name it.
func dangerous(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200e || r == 0x200f || r == 0x061c || r == 0x2028 || r == 0x2029 ||
		unicode.In(r, unicode.Cf, unicode.Co, unicode.Variation_Selector)
}

// checkSafe fails unless s is valid UTF-8 with no dangerous character.
func checkSafe(t *testing.T, in, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("Escape(%q) = %q: not valid UTF-8", in, s)
	}
	for _, r := range s {
		if dangerous(r) {
			t.Fatalf("Escape(%q) = %q: contains U+%04X", in, s, r)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J\x1b[1;1HVerdict: VALID\n", "a\u202eb", `\x1b`, `\`, "\xff", "\U000e0001", `C\, D`} {
		f.Add(s, `\`)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := Escape(a), Escape(b)
		checkSafe(t, a, ea)
		if back, err := unescape(ea); err != nil || back != a {
			t.Fatalf("unescape(Escape(%q)) = %q, %v", a, back, err)
		}
		// Printed next to each other, two escaped texts read as their
		// concatenation: no escape forms across the boundary.
		if back, err := unescape(ea + eb); err != nil || back != a+b {
			t.Fatalf("unescape(Escape(%q)+Escape(%q)) = %q, %v", a, b, back, err)
		}
		if ea == a != (firstUnsafe(a) == len(a)) {
			t.Fatalf("Escape(%q) = %q but firstUnsafe says %d", a, ea, firstUnsafe(a))
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		safe := JSON(js)
		checkSafe(t, a, string(safe))
		var s1, s2 string
		if err := json.Unmarshal(js, &s1); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(safe, &s2); err != nil || s1 != s2 {
			t.Fatalf("JSON(%s) = %s decodes to %q, %v; want %q", js, safe, s2, err, s1)
		}
	})
}

// unescape inverts Escape: it is the test's proof that distinct texts
// print differently.
func unescape(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b = append(b, s[i])
			i++
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("unpaired trailing backslash")
		}
		digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i+1]]
		switch {
		case s[i+1] == '\\':
			b = append(b, '\\')
			i += 2
		case digits == 0:
			b = append(b, '\\')
			i++
		default:
			if i+2+digits > len(s) {
				return "", fmt.Errorf("short escape at %d", i)
			}
			v, err := strconv.ParseUint(s[i+2:i+2+digits], 16, 32)
			if err != nil {
				return "", err
			}
			if digits == 2 {
				b = append(b, byte(v))
			} else {
				b = utf8.AppendRune(b, rune(v))
			}
			i += 2 + digits
		}
	}
	return string(b), nil
}

func TestJSON(t *testing.T) {
	v := map[string]any{"name": "x\u202e\x1b\x7f\u0085\U000e0041 Jürgen", "n": 1}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	safe := string(JSON(js))
	want := `"x\u202e\u001b\u007f\u0085\udb40\udc41 Jürgen"`
	if !strings.Contains(safe, want) {
		t.Fatalf("JSON = %s, want it to contain %s", safe, want)
	}
	if !strings.Contains(safe, "\n  \"n\": 1") {
		t.Fatalf("JSON changed the layout: %s", safe)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(safe), &back); err != nil || back["name"] != v["name"] {
		t.Fatalf("decoded %q, %v", back["name"], err)
	}
	plain := []byte(`{"a": "b"}`)
	if got := JSON(plain); &got[0] != &plain[0] {
		t.Fatal("JSON copied a text that needs no change")
	}
}

type kind string

type inner struct {
	Text  string
	Kinds []kind
}

type report struct {
	Name     string
	Kind     kind
	When     time.Time
	WhenPtr  *time.Time
	Inner    *inner
	NilInner *inner
	Inners   []inner
	Fixed    [2]string
	Map      map[string]string
	Any      any
	Count    int
	hidden   string
}

func TestEscapeAll(t *testing.T) {
	now := time.Now()
	esc := "\x1b[2J"
	in := &report{Name: esc, Kind: kind(esc), When: now, WhenPtr: &now, Inner: &inner{Text: esc, Kinds: []kind{kind(esc)}},
		Inners: []inner{{Text: esc}}, Fixed: [2]string{esc, "ok"}, Map: map[string]string{esc: esc}, Any: esc, Count: 7, hidden: esc}
	out := EscapeAll(in)
	want := `\x1b[2J`
	if out == in || out.Inner == in.Inner || out.WhenPtr == in.WhenPtr {
		t.Fatal("EscapeAll shares pointers with its input")
	}
	for name, got := range map[string]string{"Name": out.Name, "Kind": string(out.Kind), "Inner.Text": out.Inner.Text,
		"Inner.Kinds": string(out.Inner.Kinds[0]), "Inners": out.Inners[0].Text, "Fixed": out.Fixed[0],
		"Map": out.Map[want], "Any": out.Any.(string)} {
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !out.When.Equal(now) || !out.WhenPtr.Equal(now) || out.NilInner != nil || out.Count != 7 || out.Fixed[1] != "ok" || out.hidden != esc {
		t.Errorf("EscapeAll changed what is not a string: %+v", out)
	}
	if in.Name != esc || in.Inner.Text != esc || in.Inners[0].Text != esc || in.Map[esc] != esc {
		t.Error("EscapeAll modified its input")
	}
	if got := EscapeAll("a\nb"); got != `a\x0ab` {
		t.Errorf("EscapeAll(string) = %q", got)
	}
}

func ExampleEscape() {
	name := "Jane Doe\x1b[2J\x1b[HVerdict:   VALID \u202eDCBA"
	fmt.Println("Name:", Escape(name))
	// Output: Name: Jane Doe\x1b[2J\x1b[HVerdict:   VALID \u202eDCBA
}
