package pdf

import "testing"

// TestStringText: PDF text strings decode as other readers decode them.
// An unpaired UTF-16 surrogate is U+FFFD: combining it with whatever
// follows would make "\ud800\u442e" read as U+202E (a bidi override), so
// that two different names decode alike.
func TestStringText(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"PDFDocEncoding", []byte("Jane Doe"), "Jane Doe"},
		{"Latin-1 range", []byte{'G', 'r', 0xfc, 0xdf}, "Grüß"},
		{"UTF-16BE", []byte{0xfe, 0xff, 0, 'J', 0, 0xfc}, "Jü"},
		{"UTF-16BE surrogate pair", []byte{0xfe, 0xff, 0xd8, 0x3d, 0xde, 0x00}, "\U0001f600"},
		{"unpaired high surrogate", []byte{0xfe, 0xff, 0xd8, 0x00, 0x44, 0x2e}, "\ufffd\u442e"},
		{"high surrogate at the end", []byte{0xfe, 0xff, 0, 'a', 0xd8, 0x00}, "a\ufffd"},
		{"unpaired low surrogate", []byte{0xfe, 0xff, 0xdc, 0x00, 0, 'a'}, "\ufffda"},
		{"UTF-8", []byte("\xef\xbb\xbfGrüß"), "Grüß"},
	} {
		if got := (String{Value: c.in}).Text(); got != c.want {
			t.Errorf("%s: %q decodes to %q, want %q", c.name, c.in, got, c.want)
		}
	}
	// What the writer encodes, the reader decodes.
	for _, s := range []string{"plain", "Jürgen Groß", "\U0001f600 \u202e"} {
		if got := Text(s).Text(); got != s {
			t.Errorf("Text(%q).Text() = %q", s, got)
		}
	}
}
