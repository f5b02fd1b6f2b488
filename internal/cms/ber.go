package cms

import (
	"fmt"
)

// Hard limits on every input this package parses. They bound memory and
// time for hostile input; legitimate PDF signatures are far below them (a
// B-T signature with a two-certificate chain and an openssl ts token is
// 3 KiB).
const (
	// MaxSize is the largest CMS object, timestamp token or timestamp
	// response accepted, in bytes.
	MaxSize = 4 << 20
	// MaxDepth is the deepest ASN.1 nesting accepted. A B-T signature, down
	// to the extensions of the TSA certificate inside its token, is 19
	// levels; primitive OCTET STRINGs (extension values, eContent) are not
	// descended into.
	MaxDepth = 32
	// MaxElements is the largest number of ASN.1 elements in one input.
	MaxElements = 1 << 17
	// MaxCertificates is the largest number of embedded certificates.
	MaxCertificates = 64
	// MaxAttributes is the largest number of signed or unsigned attributes.
	MaxAttributes = 64
)

// normalizer turns one BER element into DER: indefinite lengths become
// definite, constructed strings become primitive and long-form lengths
// become minimal. Other non-DER values (a BOOLEAN true other than 0xFF, a
// non-minimal INTEGER) are left for the strict parsers to refuse. It does
// not reorder SET OF (see the package documentation). DER input comes back
// byte for byte and without a copy, so certificates keep the exact
// encoding their signature covers.
//
// It works in two passes, so that its cost is linear in the input: measure
// validates the element and records the DER content length of every
// element in pre-order; emit then writes each header with its final length
// and copies each content byte once.
type normalizer struct {
	elements int
	changed  bool       // the input is not already DER
	info     []elemInfo // pre-order, filled by measure, read by emit
	next     int        // emit's position in info
}

type elemInfo struct {
	size   int  // DER content length
	unused byte // BIT STRING: unused bits of the (merged) string
}

// toDER normalises in, which must hold exactly one BER element.
func toDER(in []byte) ([]byte, error) {
	der, rest, err := splitElement(in)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, malformed("%d bytes of trailing data after the ASN.1 element", len(rest))
	}
	return der, nil
}

// splitElement normalises the BER element at the front of in and returns
// it with the bytes that follow it.
func splitElement(in []byte) (der, rest []byte, err error) {
	if len(in) > MaxSize {
		return nil, nil, fmt.Errorf("%w: input is %d bytes, more than %d", ErrLimit, len(in), MaxSize)
	}
	if len(in) == 0 {
		return nil, nil, malformed("empty input")
	}
	var n normalizer
	span, err := n.measure(in, 0)
	if err != nil {
		return nil, nil, err
	}
	if !n.changed {
		return in[:span], in[span:], nil
	}
	_, out := n.emit(in, make([]byte, 0, derLen(n.info[0].size)))
	return out, in[span:], nil
}

// TrimPadding returns the CMS object at the front of contents (the decoded
// /Contents string of a PDF signature) and checks that everything after it
// is zero padding. Non-zero bytes after the object are refused: a verifier
// that ignored them would let a signature carry hidden data.
func TrimPadding(contents []byte) ([]byte, error) {
	_, rest, err := splitElement(contents)
	if err != nil {
		return nil, err
	}
	for i, b := range rest {
		if b != 0 {
			return nil, malformed("non-zero byte at offset %d after the CMS object (padding must be zeros)", len(contents)-len(rest)+i)
		}
	}
	return contents[:len(contents)-len(rest)], nil
}

// header is a parsed BER identifier and length.
type header struct {
	tag    byte
	len    int // header length
	length int // content length; -1 when indefinite
}

// readHeader reads a BER header; minimal reports whether it is the DER
// form.
func readHeader(in []byte) (h header, minimal bool, err error) {
	if len(in) < 2 {
		return h, false, malformed("truncated ASN.1 header")
	}
	h.tag, h.len, minimal = in[0], 2, true
	if h.tag&0x1f == 0x1f {
		return h, false, fmt.Errorf("%w: high-tag-number form (tag byte 0x%02x)", ErrUnsupported, h.tag)
	}
	switch lb := in[1]; {
	case lb < 0x80:
		h.length = int(lb)
	case lb == 0x80:
		if h.tag&0x20 == 0 {
			return h, false, malformed("indefinite length on a primitive element (tag 0x%02x)", h.tag)
		}
		h.length, minimal = -1, false
	case lb == 0xff:
		return h, false, malformed("reserved length octet 0xff")
	default:
		nb := int(lb & 0x7f)
		if nb > 4 {
			return h, false, fmt.Errorf("%w: length field of %d octets", ErrLimit, nb)
		}
		if len(in) < 2+nb {
			return h, false, malformed("truncated length field")
		}
		for _, b := range in[2 : 2+nb] {
			h.length = h.length<<8 | int(b)
		}
		h.len += nb
		minimal = in[2] != 0 && h.length >= 0x80
	}
	if h.length > len(in)-h.len {
		return h, false, malformed("element of %d bytes runs past the end of its container (%d bytes left)", h.length, len(in)-h.len)
	}
	return h, minimal, nil
}

// measure validates the element at the front of in, appends the DER
// content length of it and of every element inside it to n.info, and
// returns the number of input bytes the element spans.
func (n *normalizer) measure(in []byte, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, MaxDepth)
	}
	if n.elements++; n.elements > MaxElements {
		return 0, fmt.Errorf("%w: more than %d ASN.1 elements", ErrLimit, MaxElements)
	}
	if len(in) >= 2 && in[0] == 0 {
		return 0, malformed("unexpected end-of-contents marker")
	}
	h, minimal, err := readHeader(in)
	if err != nil {
		return 0, err
	}
	n.changed = n.changed || !minimal
	me := len(n.info)
	n.info = append(n.info, elemInfo{size: h.length})
	if h.tag&0x20 == 0 {
		if h.tag == 0x03 && h.length > 0 {
			n.info[me].unused = in[h.len]
		}
		return h.len + h.length, nil
	}

	str := h.tag&0xc0 == 0 && isStringType(h.tag&0x1f)
	bits := str && h.tag&0x1f == 3
	segTag := byte(0x04) // X.690 8.23.6: strings are segmented as OCTET STRINGs
	if bits {
		segTag = 0x03
	}
	if str {
		n.changed = true
	}
	content := in[h.len:]
	if h.length >= 0 {
		content = content[:h.length]
	}
	size, pos := 0, 0
	if bits {
		size = 1
	}
	for {
		rest := content[pos:]
		if h.length < 0 && len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
			pos += 2
			break
		}
		if len(rest) == 0 {
			if h.length < 0 {
				return 0, malformed("indefinite-length element without end-of-contents")
			}
			break
		}
		child := len(n.info)
		span, err := n.measure(rest, depth+1)
		if err != nil {
			return 0, err
		}
		pos += span
		ci := n.info[child]
		switch {
		case !str:
			size += derLen(ci.size)
		case rest[0]&^0x20 != segTag:
			return 0, malformed("segment of a constructed string has tag 0x%02x", rest[0])
		case !bits:
			size += ci.size
		case ci.size == 0:
			return 0, malformed("BIT STRING segment without its unused-bits octet")
		case ci.unused > 7 || n.info[me].unused != 0 || ci.unused != 0 && ci.size == 1:
			return 0, malformed("BIT STRING segment with unused bits in the middle of the string")
		default:
			size += ci.size - 1
			n.info[me].unused = ci.unused
		}
	}
	n.info[me].size = size
	return h.len + pos, nil
}

// emit writes the DER form of the element at the front of in (already
// validated by measure) to out.
func (n *normalizer) emit(in, out []byte) (span int, _ []byte) {
	h, _, _ := readHeader(in)
	me := n.info[n.next]
	n.next++
	if h.tag&0x20 == 0 {
		out = appendHeader(out, h.tag, me.size)
		return h.len + h.length, append(out, in[h.len:h.len+h.length]...)
	}
	str := h.tag&0xc0 == 0 && isStringType(h.tag&0x1f)
	if str {
		out = appendHeader(out, h.tag&^0x20, me.size)
		if h.tag&0x1f == 3 {
			out = append(out, me.unused)
		}
	} else {
		out = appendHeader(out, h.tag, me.size)
	}
	pos := h.len
	for h.length < 0 || pos < h.len+h.length {
		if h.length < 0 && in[pos] == 0 && in[pos+1] == 0 {
			return pos + 2, out
		}
		var s int
		if str {
			s, out = n.emitSegment(in[pos:], out, h.tag&0x1f == 3)
		} else {
			s, out = n.emit(in[pos:], out)
		}
		pos += s
	}
	return pos, out
}

// emitSegment writes the data bytes of one string segment (without its
// header, and without its unused-bits octet for a BIT STRING).
func (n *normalizer) emitSegment(in, out []byte, bits bool) (int, []byte) {
	h, _, _ := readHeader(in)
	n.next++
	if h.tag&0x20 == 0 {
		data := in[h.len : h.len+h.length]
		if bits {
			data = data[1:]
		}
		return h.len + h.length, append(out, data...)
	}
	pos := h.len
	for h.length < 0 || pos < h.len+h.length {
		if h.length < 0 && in[pos] == 0 && in[pos+1] == 0 {
			return pos + 2, out
		}
		var s int
		s, out = n.emitSegment(in[pos:], out, bits)
		pos += s
	}
	return pos, out
}

// isStringType reports whether a universal tag number is a string type that
// BER may encode in constructed (segmented) form.
func isStringType(num byte) bool {
	switch num {
	case 3, 4, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30:
		return true
	}
	return false
}

// headerLen returns the header length of a DER element.
func headerLen(der []byte) int {
	if der[1] < 0x80 {
		return 2
	}
	return 2 + int(der[1]&0x7f)
}

// appendHeader writes a DER identifier and minimal definite length.
func appendHeader(out []byte, tag byte, n int) []byte {
	out = append(out, tag)
	switch {
	case n < 0x80:
		return append(out, byte(n))
	case n < 1<<8:
		return append(out, 0x81, byte(n))
	case n < 1<<16:
		return append(out, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		return append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// encodeTLV writes a DER element with a minimal definite length.
func encodeTLV(tag byte, body []byte) []byte {
	return append(appendHeader(make([]byte, 0, len(body)+6), tag, len(body)), body...)
}
