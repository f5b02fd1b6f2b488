package pdf

import "fmt"

// parser builds objects from tokens (ISO 32000-2 §7.3).
type parser struct {
	lex *lexer
	lim *Limits
}

// object parses one direct object or reference.
func (p *parser) object(depth int) (Object, error) {
	t, err := p.lex.next()
	if err != nil {
		return nil, err
	}
	return p.objectFrom(t, depth)
}

func (p *parser) objectFrom(t token, depth int) (Object, error) {
	switch t.kind {
	case tEOF:
		return nil, malformed(t.start, "unexpected end of file, expected an object")
	case tReal:
		return Real(t.f), nil
	case tString:
		return String{Value: t.b, Hex: t.hex}, nil
	case tName:
		return Name(t.b), nil
	case tInt:
		return p.intOrRef(t)
	case tKeyword:
		switch string(t.b) {
		case "null":
			return Null{}, nil
		case "true":
			return Bool(true), nil
		case "false":
			return Bool(false), nil
		}
		return nil, malformed(t.start, "unexpected %s", t.describe())
	case tArrayOpen:
		return p.array(t, depth+1)
	case tDictOpen:
		return p.dict(t, depth+1)
	}
	return nil, malformed(t.start, "unexpected %s", t.describe())
}

// intOrRef distinguishes "5" from "5 0 R" by looking two tokens ahead.
func (p *parser) intOrRef(t token) (Object, error) {
	t2, err := p.lex.next()
	if err != nil {
		return nil, err
	}
	if t2.kind != tInt {
		p.lex.unread(t2)
		return Integer(t.i), nil
	}
	t3, err := p.lex.next()
	if err != nil {
		return nil, err
	}
	if !t3.is("R") {
		p.lex.unread(t3)
		p.lex.unread(t2)
		return Integer(t.i), nil
	}
	if t.i < 0 || t.i > maxObjNum || t2.i < 0 || t2.i > 65535 {
		return nil, malformed(t.start, "bad reference %d %d R", t.i, t2.i)
	}
	return Ref{Num: int(t.i), Gen: int(t2.i)}, nil
}

// maxObjNum is the largest object number accepted (the PDF limit is 8388607
// in ISO 32000-1 Annex C; we allow more but stay far from int overflow).
const maxObjNum = 1<<31 - 1

func (p *parser) array(open token, depth int) (Object, error) {
	if depth > p.lim.MaxDepth {
		return nil, limit("objects nested deeper than %d at byte %d", p.lim.MaxDepth, open.start)
	}
	a := Array{}
	for {
		t, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if t.kind == tArrayClose {
			return a, nil
		}
		if t.kind == tEOF {
			return nil, malformed(open.start, "unterminated array")
		}
		if len(a) >= p.lim.MaxElements {
			return nil, limit("array at byte %d has more than %d elements", open.start, p.lim.MaxElements)
		}
		o, err := p.objectFrom(t, depth)
		if err != nil {
			return nil, err
		}
		a = append(a, o)
	}
}

func (p *parser) dict(open token, depth int) (Object, error) {
	if depth > p.lim.MaxDepth {
		return nil, limit("objects nested deeper than %d at byte %d", p.lim.MaxDepth, open.start)
	}
	d := Dict{}
	for {
		t, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		if t.kind == tDictClose {
			return d, nil
		}
		if t.kind == tEOF {
			return nil, malformed(open.start, "unterminated dictionary")
		}
		if t.kind != tName {
			return nil, malformed(t.start, "dictionary key is a %s, not a name", t.describe())
		}
		k := Name(t.b)
		if _, dup := d[k]; dup {
			return nil, malformed(t.start, "duplicate dictionary key /%s", k)
		}
		if len(d) >= p.lim.MaxElements {
			return nil, limit("dictionary at byte %d has more than %d entries", open.start, p.lim.MaxElements)
		}
		v, err := p.object(depth)
		if err != nil {
			return nil, err
		}
		d[k] = v
	}
}

// indirect is the result of parsing "N G obj ... endobj".
type indirect struct {
	ref   Ref
	obj   Object
	start int64 // offset of N
	end   int64 // offset just after endobj
}

// header parses "N G obj" at the current position.
func (p *parser) header() (Ref, int64, error) {
	t1, err := p.lex.next()
	if err != nil {
		return Ref{}, 0, err
	}
	t2, err := p.lex.next()
	if err != nil {
		return Ref{}, 0, err
	}
	t3, err := p.lex.next()
	if err != nil {
		return Ref{}, 0, err
	}
	if t1.kind != tInt || t2.kind != tInt || !t3.is("obj") || t1.i < 0 || t1.i > maxObjNum || t2.i < 0 || t2.i > 65535 {
		return Ref{}, t1.start, malformed(t1.start, "expected an object header \"N G obj\"")
	}
	return Ref{Num: int(t1.i), Gen: int(t2.i)}, t1.start, nil
}

// indirectObject parses a whole indirect object at the current position.
// length resolves an indirect stream /Length.
func (p *parser) indirectObject(length func(Ref) (int64, error)) (indirect, error) {
	ref, start, err := p.header()
	if err != nil {
		return indirect{}, err
	}
	return p.body(ref, start, length)
}

// body parses the rest of an indirect object after its header.
func (p *parser) body(ref Ref, start int64, length func(Ref) (int64, error)) (indirect, error) {
	obj, err := p.object(0)
	if err != nil {
		return indirect{}, err
	}
	t, err := p.lex.next()
	if err != nil {
		return indirect{}, err
	}
	if t.is("stream") {
		d, ok := obj.(Dict)
		if !ok {
			return indirect{}, malformed(t.start, "stream keyword after a %s", kindName(obj))
		}
		s, err := p.streamBody(d, t, length)
		if err != nil {
			return indirect{}, err
		}
		obj = s
		if t, err = p.lex.next(); err != nil {
			return indirect{}, err
		}
	}
	if !t.is("endobj") {
		return indirect{}, malformed(t.start, "object %d %d: expected endobj, found %s", ref.Num, ref.Gen, t.describe())
	}
	return indirect{ref: ref, obj: obj, start: start, end: t.end}, nil
}

func (p *parser) streamBody(d Dict, kw token, length func(Ref) (int64, error)) (*Stream, error) {
	// The keyword is followed by CRLF or LF (§7.3.8.1); a lone CR, and
	// spaces before the end-of-line, are tolerated because producers
	// wrote them.
	c, ok, err := p.lex.readByte()
	for err == nil && ok && (c == ' ' || c == '\t') {
		c, ok, err = p.lex.readByte()
	}
	if err != nil {
		return nil, err
	}
	if ok && c == '\r' {
		if n, ok, err := p.lex.peekByte(); err != nil {
			return nil, err
		} else if ok && n == '\n' {
			p.lex.i++
		}
	} else if !ok || c != '\n' {
		return nil, malformed(kw.end, "stream keyword not followed by an end-of-line")
	}
	data := p.lex.pos()
	var n int64
	switch l := d["Length"].(type) {
	case Integer:
		n = int64(l)
	case Ref:
		if length == nil {
			return nil, malformed(kw.start, "stream /Length must be a direct integer here")
		}
		if n, err = length(l); err != nil {
			return nil, fmt.Errorf("stream /Length %v: %w", l, err)
		}
	default:
		return nil, malformed(kw.start, "stream /Length is a %s, not an integer", kindName(d["Length"]))
	}
	if n < 0 || n > p.lex.end-data {
		return nil, malformed(kw.start, "stream /Length %d runs past the end of the file", n)
	}
	p.lex.seek(data + n)
	if err := p.lex.skipWhite(); err != nil {
		return nil, err
	}
	if ok, err := p.lex.hasPrefix("endstream"); err != nil {
		return nil, err
	} else if !ok {
		return nil, malformed(data+n, "stream /Length %d is wrong: no endstream after the data", n)
	}
	p.lex.seek(p.lex.pos() + int64(len("endstream")))
	return &Stream{Dict: d, Offset: data, Length: n}, nil
}
