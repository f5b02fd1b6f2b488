package pdf

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Object is one PDF value. Its dynamic type is one of [Null], [Bool],
// [Integer], [Real], [String], [Name], [Array], [Dict], [*Stream] or [Ref].
type Object interface {
	isObject()
}

// Null is the PDF null object.
type Null struct{}

// Bool is a PDF boolean.
type Bool bool

// Integer is a PDF integer.
type Integer int64

// Real is a PDF real number.
type Real float64

// String is a PDF string: the bytes after escapes (literal) or hex digits
// (hex) have been decoded. Hex records which syntax the file used.
type String struct {
	Value []byte
	Hex   bool
}

// Name is a PDF name without its leading slash, #xx escapes decoded.
type Name string

// Array is a PDF array.
type Array []Object

// Dict is a PDF dictionary.
type Dict map[Name]Object

// Stream is a PDF stream: its dictionary and where its raw (still encoded)
// data lies in the file. Read the data with [Reader.StreamData].
type Stream struct {
	Dict Dict
	// Offset is the absolute file offset of the first data byte.
	Offset int64
	// Length is the number of raw data bytes.
	Length int64
}

// Ref is an indirect reference "Num Gen R".
type Ref struct {
	Num int
	Gen int
}

func (Null) isObject()    {}
func (Bool) isObject()    {}
func (Integer) isObject() {}
func (Real) isObject()    {}
func (String) isObject()  {}
func (Name) isObject()    {}
func (Array) isObject()   {}
func (Dict) isObject()    {}
func (*Stream) isObject() {}
func (Ref) isObject()     {}

// String formats the reference as "N G R".
func (r Ref) String() string { return fmt.Sprintf("%d %d R", r.Num, r.Gen) }

// Text returns s as a PDF dictionary entry value.
func Text(s string) String { return String{Value: encodeText(s)} }

// Text decodes s as a PDF text string (ISO 32000-2 §7.9.2.2): UTF-16BE or
// UTF-8 after their byte order marks, else PDFDocEncoding.
func (s String) Text() string { return decodeText(s.Value) }

// kindName names the type of an object for error messages.
func kindName(o Object) string {
	switch o.(type) {
	case nil, Null:
		return "null"
	case Bool:
		return "boolean"
	case Integer:
		return "integer"
	case Real:
		return "real"
	case String:
		return "string"
	case Name:
		return "name"
	case Array:
		return "array"
	case Dict:
		return "dictionary"
	case *Stream:
		return "stream"
	case Ref:
		return "reference"
	}
	return fmt.Sprintf("%T", o)
}

// format writes o for an error message, cut to a reasonable length.
func format(o Object) string {
	b, err := AppendObject(nil, o)
	if err != nil {
		return kindName(o)
	}
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// Name returns the name stored under key, or "" when the key is absent or
// not a name. It never resolves references.
func (d Dict) Name(key Name) Name {
	n, _ := d[key].(Name)
	return n
}

// Clone returns a shallow copy of d.
func (d Dict) Clone() Dict {
	c := make(Dict, len(d)+4)
	for k, v := range d {
		c[k] = v
	}
	return c
}

// AppendObject appends the PDF syntax of o to b. Dictionary keys are written
// in sorted order so that output is deterministic. Streams cannot be
// serialised this way (their data lives elsewhere) and produce an error.
func AppendObject(b []byte, o Object) ([]byte, error) {
	switch o := o.(type) {
	case nil, Null:
		return append(b, "null"...), nil
	case Bool:
		return strconv.AppendBool(b, bool(o)), nil
	case Integer:
		return strconv.AppendInt(b, int64(o), 10), nil
	case Real:
		f := float64(o)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: real number %v cannot be written", ErrInvalidInput, f)
		}
		n := len(b)
		b = strconv.AppendFloat(b, f, 'f', -1, 64)
		if bytes.IndexByte(b[n:], '.') < 0 {
			b = append(b, ".0"...) // stay a real when read back
		}
		return b, nil
	case String:
		if o.Hex {
			return appendHex(b, o.Value), nil
		}
		return appendLiteral(b, o.Value), nil
	case Name:
		return appendName(b, o), nil
	case Ref:
		b = strconv.AppendInt(b, int64(o.Num), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(o.Gen), 10)
		return append(b, " R"...), nil
	case Array:
		b = append(b, '[')
		for i, e := range o {
			if i > 0 {
				b = append(b, ' ')
			}
			var err error
			if b, err = AppendObject(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case Dict:
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		b = append(b, "<<"...)
		for _, k := range keys {
			b = appendName(b, Name(k))
			b = append(b, ' ')
			var err error
			if b, err = AppendObject(b, o[Name(k)]); err != nil {
				return nil, err
			}
		}
		return append(b, ">>"...), nil
	}
	return nil, fmt.Errorf("%w: cannot write a %s inline", ErrInvalidInput, kindName(o))
}

func appendHex(b, v []byte) []byte {
	const digits = "0123456789ABCDEF"
	b = append(b, '<')
	for _, c := range v {
		b = append(b, digits[c>>4], digits[c&15])
	}
	return append(b, '>')
}

func appendLiteral(b, v []byte) []byte {
	b = append(b, '(')
	for _, c := range v {
		switch c {
		case '(', ')', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			if c < 0x20 || c >= 0x7f {
				b = append(b, '\\', '0'+(c>>6), '0'+(c>>3)&7, '0'+c&7)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, ')')
}

func appendName(b []byte, n Name) []byte {
	const digits = "0123456789ABCDEF"
	b = append(b, '/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= 0x20 || c >= 0x7f || c == '#' || isDelim(c) {
			b = append(b, '#', digits[c>>4], digits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// encodeText encodes s as a PDF text string: PDFDocEncoding when it is
// printable ASCII, UTF-16BE with a byte order mark otherwise.
func encodeText(s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		return []byte(s)
	}
	var buf bytes.Buffer
	buf.Write([]byte{0xfe, 0xff})
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xd800+(r>>10), 0xdc00+(r&0x3ff)
			buf.Write([]byte{byte(hi >> 8), byte(hi), byte(lo >> 8), byte(lo)})
			continue
		}
		buf.Write([]byte{byte(r >> 8), byte(r)})
	}
	return buf.Bytes()
}
