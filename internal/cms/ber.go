package cms

import (
	"bytes"
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
// not reorder SET OF: the
// signed attributes are verified over the bytes the signer sent, as every
// deployed verifier does. DER input comes back byte for byte (and without a
// copy), so certificates keep the exact encoding their signature covers.
type normalizer struct {
	elements int
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
	der, rest, _, err = n.element(in, 0)
	return der, rest, err
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

// element normalises one element. changed reports whether der differs from
// the input bytes; when it does not, der aliases in.
func (n *normalizer) element(in []byte, depth int) (der, rest []byte, changed bool, err error) {
	if depth > MaxDepth {
		return nil, nil, false, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, MaxDepth)
	}
	if n.elements++; n.elements > MaxElements {
		return nil, nil, false, fmt.Errorf("%w: more than %d ASN.1 elements", ErrLimit, MaxElements)
	}
	if len(in) < 2 {
		return nil, nil, false, malformed("truncated ASN.1 header")
	}
	start := in
	tag := in[0]
	if tag&0x1f == 0x1f {
		return nil, nil, false, fmt.Errorf("%w: high-tag-number form (tag byte 0x%02x)", ErrUnsupported, tag)
	}
	if tag == 0 {
		return nil, nil, false, malformed("unexpected end-of-contents marker")
	}
	constructed := tag&0x20 != 0
	lb := in[1]
	hdr := 2
	length := 0
	indefinite := false
	switch {
	case lb < 0x80:
		length = int(lb)
	case lb == 0x80:
		if !constructed {
			return nil, nil, false, malformed("indefinite length on a primitive element (tag 0x%02x)", tag)
		}
		indefinite = true
		changed = true
	case lb == 0xff:
		return nil, nil, false, malformed("reserved length octet 0xff")
	default:
		nb := int(lb & 0x7f)
		if nb > 4 {
			return nil, nil, false, fmt.Errorf("%w: length field of %d octets", ErrLimit, nb)
		}
		if len(in) < 2+nb {
			return nil, nil, false, malformed("truncated length field")
		}
		for _, b := range in[2 : 2+nb] {
			length = length<<8 | int(b)
		}
		hdr += nb
		if in[2] == 0 || length < 0x80 {
			changed = true // non-minimal length
		}
	}
	in = in[hdr:]
	if !indefinite && length > len(in) {
		return nil, nil, false, malformed("element of %d bytes runs past the end of its container (%d bytes left)", length, len(in))
	}

	if !constructed {
		body := in[:length]
		rest = in[length:]
		if !changed {
			return start[:hdr+length], rest, false, nil
		}
		return encodeTLV(tag, body), rest, true, nil
	}

	var content []byte
	if !indefinite {
		content, rest = in[:length], in[length:]
	} else {
		content = in
	}
	var children [][]byte
	for {
		if indefinite {
			if len(content) >= 2 && content[0] == 0 && content[1] == 0 {
				rest = content[2:]
				break
			}
			if len(content) == 0 {
				return nil, nil, false, malformed("indefinite-length element without end-of-contents")
			}
		} else if len(content) == 0 {
			break
		}
		child, r, ch, err := n.element(content, depth+1)
		if err != nil {
			return nil, nil, false, err
		}
		children = append(children, child)
		changed = changed || ch
		content = r
	}

	if tag&0xc0 == 0 && isStringType(tag&0x1f) {
		body, err := mergeSegments(tag&0x1f, children)
		if err != nil {
			return nil, nil, false, err
		}
		return encodeTLV(tag&^0x20, body), rest, true, nil
	}
	if !changed {
		return start[:hdr+length], rest, false, nil
	}
	return encodeTLV(tag, bytes.Join(children, nil)), rest, true, nil
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

// mergeSegments joins the (already normalised, hence primitive) segments of
// a constructed string. BIT STRING segments carry their own unused-bits
// octet, of which only the last may be non-zero; every other string type is
// segmented as OCTET STRINGs (X.690 8.23.6).
func mergeSegments(num byte, segs [][]byte) ([]byte, error) {
	want := byte(0x04)
	if num == 3 {
		want = 0x03
	}
	var out []byte
	if num == 3 {
		out = []byte{0}
	}
	for i, seg := range segs {
		if seg[0] != want {
			return nil, malformed("segment of a constructed string has tag 0x%02x, want 0x%02x", seg[0], want)
		}
		body := seg[headerLen(seg):]
		if num != 3 {
			out = append(out, body...)
			continue
		}
		if len(body) == 0 {
			return nil, malformed("BIT STRING segment without its unused-bits octet")
		}
		if body[0] > 7 || body[0] != 0 && (i != len(segs)-1 || len(body) == 1) {
			return nil, malformed("BIT STRING segment with %d unused bits in the middle of the string", body[0])
		}
		out[0] = body[0]
		out = append(out, body[1:]...)
	}
	return out, nil
}

// headerLen returns the header length of a DER element.
func headerLen(der []byte) int {
	if der[1] < 0x80 {
		return 2
	}
	return 2 + int(der[1]&0x7f)
}

// encodeTLV writes a DER element with a minimal definite length.
func encodeTLV(tag byte, body []byte) []byte {
	out := make([]byte, 0, len(body)+6)
	out = append(out, tag)
	switch n := len(body); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 1<<8:
		out = append(out, 0x81, byte(n))
	case n < 1<<16:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, body...)
}
