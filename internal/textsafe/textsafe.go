// Package textsafe makes text from untrusted sources (a PDF's /Name or
// /Reason, a certificate's subject, a name in the database) safe to print
// on a terminal.
//
// A terminal interprets some characters instead of showing them: an ESC
// starts a sequence that can move the cursor, erase the screen or retitle
// the window, so a signer name can erase a verification report and print a
// fake "Verdict: VALID" in its place; a newline starts a fake report line;
// a bidi override (U+202E) shows text backwards; zero-width and other
// format characters hide text. [Escape] shows every such character
// visibly, as an escape sequence, and leaves the rest of the text as it
// is.
//
// # What is escaped
//
//   - C0 controls (U+0000..U+001F, tab and newline included) and DEL as
//     \xNN: "\x1b[2J" is shown as the eight characters `\x1b[2J`;
//   - bytes that are not valid UTF-8 as \xNN;
//   - C1 controls (U+0080..U+009F), bidi embeddings, overrides, isolates
//     and marks (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C),
//     every other format character (Unicode category Cf: zero-width space
//     and joiners, the byte order mark, tag characters, ...), the line and
//     paragraph separators, private-use, surrogate and unassigned code
//     points, and the other default-ignorable code points (the Hangul
//     fillers, the variation selectors, which can carry hidden text) as
//     \uXXXX, or \UXXXXXXXX above U+FFFF;
//   - a backslash as \\ where it would otherwise read as the start of one
//     of these escapes: before x, u, U, another backslash or an escaped
//     character, or at the end of the text. Any other backslash is kept, so that a distinguished
//     name such as `CN=Doe\, Jane` reads as usual.
//
// Letters, digits, punctuation, symbols, combining marks and spaces of
// every script are kept, so "Jürgen Groß, Dipl.-Ing." prints unchanged.
// Look-alike letters from other scripts (homoglyphs) are visible text and
// are not changed.
//
// The escaping is injective: distinct texts always print differently, and
// the escaped forms of two texts printed one after the other cannot merge
// into a third escape.
//
// # JSON
//
// JSON output keeps the exact data: a consumer decoding it gets the string
// from the PDF, character for character. [JSON] rewrites the characters
// above inside an encoded JSON text as \u escapes (the decoded value is
// unchanged), so that JSON shown raw on a terminal is just as safe.
package textsafe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Escape returns s with every character a terminal could interpret or
// hide written as a visible escape (see the package documentation).
// Text that needs no escape is returned as is.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			case c == '\\' && backslashNeedsEscape(s, i):
				b.WriteString(`\\`)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		case hidden(r):
			writeRuneEscape(&b, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// firstUnsafe returns the index of the first byte of s that Escape
// changes, or len(s).
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f || (c == '\\' && backslashNeedsEscape(s, i)) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || hidden(r) {
			return i
		}
		i += n
	}
	return len(s)
}

// backslashNeedsEscape reports whether the backslash at s[i] would read as
// the start of an escape: it is last, or followed by x, u, U, a backslash
// or a character that is escaped (whose escape starts with a backslash).
func backslashNeedsEscape(s string, i int) bool {
	if i+1 == len(s) {
		return true
	}
	switch c := s[i+1]; {
	case c == 'x', c == 'u', c == 'U', c == '\\', c < 0x20, c == 0x7f:
		return true
	case c < utf8.RuneSelf:
		return false
	}
	r, n := utf8.DecodeRuneInString(s[i+1:])
	return (r == utf8.RuneError && n == 1) || hidden(r)
}

func writeRuneEscape(b *strings.Builder, r rune) {
	digits := 4
	if r > 0xffff {
		b.WriteString(`\U`)
		digits = 8
	} else {
		b.WriteString(`\u`)
	}
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xf])
	}
}

// hidden reports whether a terminal could interpret r instead of showing
// it, or show nothing for it: a control character, a format character
// (bidi controls included), a line or paragraph separator, a private-use,
// surrogate or unassigned code point, or another default-ignorable code
// point (variation selectors included). ASCII letters, digits, punctuation and the space are never hidden;
// the ASCII controls are.
func hidden(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return false
	}
	return !unicode.IsGraphic(r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r)
}
