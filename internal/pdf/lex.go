package pdf

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The lexer splits PDF syntax (ISO 32000-2 §7.2) into tokens. It reads
// through an io.ReaderAt in small chunks, so a token stream can start
// anywhere in a file of any size without loading the file. Every token
// carries its absolute byte offsets, which is what lets callers find the
// exact place of a signature's /Contents string.

type tokKind uint8

const (
	tEOF        tokKind = iota
	tInt                // 123, -4, +5
	tReal               // 1.5, -.25
	tString             // (literal) or <hex>
	tName               // /Name
	tKeyword            // obj, R, true, xref, ...
	tArrayOpen          // [
	tArrayClose         // ]
	tDictOpen           // <<
	tDictClose          // >>
)

var tokNames = [...]string{"end of file", "integer", "real", "string", "name", "keyword", "[", "]", "<<", ">>"}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind       tokKind
	start, end int64 // absolute offsets: [start, end)
	i          int64
	f          float64
	b          []byte // string value, name, or keyword
	hex        bool
}

func (t token) is(kw string) bool { return t.kind == tKeyword && string(t.b) == kw }

func (t token) describe() string {
	switch t.kind {
	case tKeyword:
		return fmt.Sprintf("keyword %q", t.b)
	case tInt:
		return fmt.Sprintf("integer %d", t.i)
	case tName:
		return fmt.Sprintf("name /%s", t.b)
	}
	return t.kind.String()
}

// maxToken bounds names, keywords and numbers; strings have their own limit.
const maxToken = 4096

const chunk = 4096

type lexer struct {
	ra     io.ReaderAt
	end    int64 // absolute end of readable data
	buf    []byte
	bufOff int64 // absolute offset of buf[0]
	i      int   // next byte is buf[i]
	maxStr int
	back   []token // pushed-back tokens, last is next
}

func newLexer(ra io.ReaderAt, off, end int64, maxStr int) *lexer {
	return &lexer{ra: ra, end: end, bufOff: off, maxStr: maxStr}
}

func (l *lexer) pos() int64 {
	if len(l.back) > 0 {
		return l.back[len(l.back)-1].start
	}
	return l.bufOff + int64(l.i)
}

// seek moves to an absolute offset and drops pushed-back tokens.
func (l *lexer) seek(off int64) {
	l.back = l.back[:0]
	if off >= l.bufOff && off <= l.bufOff+int64(len(l.buf)) {
		l.i = int(off - l.bufOff)
		return
	}
	l.bufOff, l.buf, l.i = off, l.buf[:0], 0
}

// fill makes buf[i] available; false at end of data.
func (l *lexer) fill() (bool, error) {
	if l.i < len(l.buf) {
		return true, nil
	}
	off := l.bufOff + int64(l.i)
	if off >= l.end {
		return false, nil
	}
	n := int64(chunk)
	if l.end-off < n {
		n = l.end - off
	}
	if cap(l.buf) < chunk {
		l.buf = make([]byte, chunk)
	}
	l.buf = l.buf[:n]
	m, err := l.ra.ReadAt(l.buf, off)
	if int64(m) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return false, fmt.Errorf("%w: reading at byte %d: %v", ErrMalformed, off, err)
	}
	l.bufOff, l.i = off, 0
	return true, nil
}

// peekByte returns the next byte without consuming it; ok is false at the end.
func (l *lexer) peekByte() (c byte, ok bool, err error) {
	if ok, err = l.fill(); !ok {
		return 0, false, err
	}
	return l.buf[l.i], true, nil
}

func (l *lexer) readByte() (byte, bool, error) {
	c, ok, err := l.peekByte()
	if ok {
		l.i++
	}
	return c, ok, err
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isRegular(c byte) bool { return !isSpace(c) && !isDelim(c) }

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() error {
	for {
		c, ok, err := l.peekByte()
		if !ok {
			return err
		}
		switch {
		case isSpace(c):
			l.i++
		case c == '%':
			for {
				c, ok, err := l.peekByte()
				if !ok {
					return err
				}
				if c == '\r' || c == '\n' {
					break
				}
				l.i++
			}
		default:
			return nil
		}
	}
}

// skipWhite skips white space only (comments are significant to callers
// looking for %%EOF).
func (l *lexer) skipWhite() error {
	for {
		c, ok, err := l.peekByte()
		if !ok || !isSpace(c) {
			return err
		}
		l.i++
	}
}

// hasPrefix reports whether the bytes at the current position are s,
// without consuming them.
func (l *lexer) hasPrefix(s string) (bool, error) {
	save := l.pos()
	defer l.seek(save)
	for i := 0; i < len(s); i++ {
		c, ok, err := l.readByte()
		if err != nil {
			return false, err
		}
		if !ok || c != s[i] {
			return false, nil
		}
	}
	return true, nil
}

func (l *lexer) unread(t token) { l.back = append(l.back, t) }

// next returns the next token. At the end of data it returns a tEOF token.
func (l *lexer) next() (token, error) {
	if n := len(l.back); n > 0 {
		t := l.back[n-1]
		l.back = l.back[:n-1]
		return t, nil
	}
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	start := l.pos()
	c, ok, err := l.readByte()
	if err != nil {
		return token{}, err
	}
	if !ok {
		return token{kind: tEOF, start: start, end: start}, nil
	}
	t := token{start: start}
	switch c {
	case '[':
		t.kind = tArrayOpen
	case ']':
		t.kind = tArrayClose
	case '<':
		n, ok, err := l.peekByte()
		if err != nil {
			return token{}, err
		}
		if ok && n == '<' {
			l.i++
			t.kind = tDictOpen
		} else if t, err = l.hexString(start); err != nil {
			return token{}, err
		}
	case '>':
		n, ok, err := l.readByte()
		if err != nil {
			return token{}, err
		}
		if !ok || n != '>' {
			return token{}, malformed(start, "stray '>'")
		}
		t.kind = tDictClose
	case '(':
		if t, err = l.literalString(start); err != nil {
			return token{}, err
		}
	case '/':
		if t, err = l.name(start); err != nil {
			return token{}, err
		}
	case ')', '{', '}':
		return token{}, malformed(start, "unexpected %q", c)
	default:
		l.i--
		if t, err = l.regular(start); err != nil {
			return token{}, err
		}
	}
	t.end = l.pos()
	return t, nil
}

// regularRun reads a run of regular characters.
func (l *lexer) regularRun(start int64) ([]byte, error) {
	var b []byte
	for {
		c, ok, err := l.peekByte()
		if err != nil {
			return nil, err
		}
		if !ok || !isRegular(c) {
			return b, nil
		}
		if len(b) >= maxToken {
			return nil, limit("token at byte %d longer than %d bytes", start, maxToken)
		}
		b = append(b, c)
		l.i++
	}
}

func (l *lexer) regular(start int64) (token, error) {
	// Fast path for the commonest token, an unsigned integer of up to 18
	// digits: read without allocating. Anything else is read again by the
	// general path below.
	var v int64
	for n := 0; ; n++ {
		c, ok, err := l.peekByte()
		if err != nil {
			return token{}, err
		}
		if n > 0 && (!ok || !isRegular(c)) {
			return token{kind: tInt, start: start, i: v}, nil
		}
		if !ok || c < '0' || c > '9' || n == 18 {
			l.seek(start)
			break
		}
		v = v*10 + int64(c-'0')
		l.i++
	}
	b, err := l.regularRun(start)
	if err != nil {
		return token{}, err
	}
	c := b[0]
	if c != '+' && c != '-' && c != '.' && (c < '0' || c > '9') {
		return token{kind: tKeyword, start: start, b: b}, nil
	}
	digits, dots := 0, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		case (c == '+' || c == '-') && i == 0:
		default:
			return token{}, malformed(start, "bad number %q", b)
		}
	}
	if digits == 0 || dots > 1 {
		return token{}, malformed(start, "bad number %q", b)
	}
	if dots == 0 {
		i, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return token{}, malformed(start, "integer %q out of range", b)
		}
		return token{kind: tInt, start: start, i: i}, nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return token{}, malformed(start, "real %q out of range", b)
	}
	return token{kind: tReal, start: start, f: f}, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (l *lexer) name(start int64) (token, error) {
	raw, err := l.regularRun(start)
	if err != nil {
		return token{}, err
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '#' {
			b = append(b, raw[i])
			continue
		}
		if i+2 >= len(raw) {
			return token{}, malformed(start, "bad #xx escape in name")
		}
		h, ok1 := unhex(raw[i+1])
		lo, ok2 := unhex(raw[i+2])
		if !ok1 || !ok2 || h == 0 && lo == 0 {
			return token{}, malformed(start, "bad #xx escape in name")
		}
		b = append(b, h<<4|lo)
		i += 2
	}
	return token{kind: tName, start: start, b: b}, nil
}

func (l *lexer) hexString(start int64) (token, error) {
	var b []byte
	var hi byte
	half := false
	for {
		// Work through the buffered bytes directly: signature /Contents
		// strings are tens of kilobytes.
		if ok, err := l.fill(); err != nil {
			return token{}, err
		} else if !ok {
			return token{}, malformed(start, "unterminated hex string")
		}
		for l.i < len(l.buf) {
			c := l.buf[l.i]
			l.i++
			if c == '>' {
				if half {
					b = append(b, hi<<4)
				}
				return token{kind: tString, start: start, b: b, hex: true}, nil
			}
			if isSpace(c) {
				continue
			}
			v, ok := unhex(c)
			if !ok {
				return token{}, malformed(start, "bad character %q in hex string", c)
			}
			if half {
				b = append(b, hi<<4|v)
			} else {
				if len(b) >= l.maxStr {
					return token{}, limit("string at byte %d longer than %d bytes", start, l.maxStr)
				}
				hi = v
			}
			half = !half
		}
	}
}

func (l *lexer) literalString(start int64) (token, error) {
	var b []byte
	depth := 1
	eof := func() (token, error) { return token{}, malformed(start, "unterminated string") }
	for {
		if len(b) >= l.maxStr {
			return token{}, limit("string at byte %d longer than %d bytes", start, l.maxStr)
		}
		c, ok, err := l.readByte()
		if err != nil {
			return token{}, err
		}
		if !ok {
			return eof()
		}
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return token{kind: tString, start: start, b: b}, nil
			}
		case '\r':
			// An end-of-line in a literal string reads as \n (§7.3.4.2).
			if n, ok, _ := l.peekByte(); ok && n == '\n' {
				l.i++
			}
			c = '\n'
		case '\\':
			e, ok, err := l.readByte()
			if err != nil {
				return token{}, err
			}
			if !ok {
				return eof()
			}
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '(', ')', '\\':
				c = e
			case '\r', '\n':
				// Line continuation: the backslash and the EOL vanish.
				if e == '\r' {
					if n, ok, _ := l.peekByte(); ok && n == '\n' {
						l.i++
					}
				}
				continue
			default:
				if e < '0' || e > '7' {
					// An unknown escape drops the backslash (§7.3.4.2).
					c = e
					break
				}
				v := int(e - '0')
				for k := 0; k < 2; k++ {
					n, ok, err := l.peekByte()
					if err != nil {
						return token{}, err
					}
					if !ok || n < '0' || n > '7' {
						break
					}
					v = v*8 + int(n-'0')
					l.i++
				}
				c = byte(v)
			}
		}
		b = append(b, c)
	}
}
