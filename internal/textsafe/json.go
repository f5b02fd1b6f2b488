package textsafe

import (
	"unicode/utf16"
	"unicode/utf8"
)

// JSON returns the encoded JSON text js with every character that [Escape]
// would escape, other than the ASCII controls, written as a \u escape
// (a pair of them above U+FFFF). Such characters can only occur inside
// JSON strings, so the result decodes to the same value as js, while its
// raw text is safe on a terminal. The ASCII controls other than DEL are
// left alone: inside strings an encoder has already escaped them, and
// outside strings they are the text's own line breaks and indentation. A
// byte that is not valid UTF-8 becomes \ufffd, which is how encoding/json
// decodes it.
func JSON(js []byte) []byte {
	i := 0
	for i < len(js) {
		r, n := utf8.DecodeRune(js[i:])
		if jsonEscapes(r, n) {
			break
		}
		i += n
	}
	if i == len(js) {
		return js
	}
	out := make([]byte, 0, len(js)+32)
	out = append(out, js[:i]...)
	for i < len(js) {
		r, n := utf8.DecodeRune(js[i:])
		switch {
		case !jsonEscapes(r, n):
			out = append(out, js[i:i+n]...)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			out = appendU(appendU(out, hi), lo)
		default:
			out = appendU(out, r) // an invalid byte decodes as U+FFFD
		}
		i += n
	}
	return out
}

// jsonEscapes reports whether JSON rewrites the rune r, decoded from n
// bytes.
func jsonEscapes(r rune, n int) bool {
	return r == 0x7f || r >= utf8.RuneSelf && (n == 1 || hidden(r))
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
