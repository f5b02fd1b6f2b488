package pdf

import (
	"fmt"
	"unicode/utf16"
)

// Catalog returns the document catalog of this revision and its reference.
func (rv *Revision) Catalog() (Ref, Dict, error) {
	ref, ok := rv.Trailer["Root"].(Ref)
	if !ok {
		return Ref{}, nil, fmt.Errorf("%w: revision %d: trailer has no /Root reference", ErrMalformed, rv.Index)
	}
	d, err := rv.Dict(ref)
	if err != nil {
		return Ref{}, nil, fmt.Errorf("catalog %v: %w", ref, err)
	}
	if t, ok := d["Type"]; ok && t != Name("Catalog") { // a missing /Type is a common, harmless omission
		return Ref{}, nil, fmt.Errorf("%w: catalog %v has /Type %s", ErrMalformed, ref, format(t))
	}
	return ref, d, nil
}

// maxTreeDepth bounds the depth of the page and field trees.
const maxTreeDepth = 64

// NumPages returns the page count from the root of the page tree.
func (rv *Revision) NumPages() (int, error) {
	_, cat, err := rv.Catalog()
	if err != nil {
		return 0, err
	}
	pages, err := rv.Dict(cat["Pages"])
	if err != nil {
		return 0, fmt.Errorf("catalog /Pages: %w", err)
	}
	n, err := rv.Int(pages["Count"])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: page tree root has no valid /Count", ErrMalformed)
	}
	return int(n), nil
}

// Page finds page n (1-based) by walking down the page tree with the
// /Count of each node, reading only the nodes on the way.
func (rv *Revision) Page(n int) (Ref, Dict, error) {
	_, cat, err := rv.Catalog()
	if err != nil {
		return Ref{}, nil, err
	}
	node, ok := cat["Pages"].(Ref)
	if !ok {
		return Ref{}, nil, fmt.Errorf("%w: catalog /Pages is not a reference", ErrMalformed)
	}
	if n < 1 {
		return Ref{}, nil, fmt.Errorf("%w: page %d does not exist", ErrInvalidInput, n)
	}
	seen := map[Ref]bool{}
	left := n
	for depth := 0; depth < maxTreeDepth; depth++ {
		if seen[node] {
			return Ref{}, nil, fmt.Errorf("%w: page tree loop at %v", ErrMalformed, node)
		}
		seen[node] = true
		d, err := rv.Dict(node)
		if err != nil {
			return Ref{}, nil, fmt.Errorf("page tree node %v: %w", node, err)
		}
		if isLeaf(d) {
			if left == 1 {
				return node, d, nil
			}
			return Ref{}, nil, fmt.Errorf("%w: page tree /Count is wrong", ErrMalformed)
		}
		kids, err := rv.Array(d["Kids"])
		if err != nil {
			return Ref{}, nil, fmt.Errorf("page tree node %v /Kids: %w", node, err)
		}
		next := Ref{}
		for _, k := range kids {
			kref, ok := k.(Ref)
			if !ok {
				return Ref{}, nil, fmt.Errorf("%w: page tree node %v has a direct kid", ErrMalformed, node)
			}
			kd, err := rv.Dict(kref)
			if err != nil {
				return Ref{}, nil, fmt.Errorf("page tree node %v: %w", kref, err)
			}
			cnt := int64(1)
			if !isLeaf(kd) {
				if cnt, err = rv.Int(kd["Count"]); err != nil || cnt < 0 {
					return Ref{}, nil, fmt.Errorf("%w: page tree node %v has no valid /Count", ErrMalformed, kref)
				}
			}
			if int64(left) <= cnt {
				next = kref
				break
			}
			left -= int(cnt)
		}
		if next == (Ref{}) {
			return Ref{}, nil, fmt.Errorf("%w: page %d does not exist", ErrInvalidInput, n)
		}
		node = next
	}
	return Ref{}, nil, limit("page tree deeper than %d", maxTreeDepth)
}

// isLeaf tells a page from an intermediate node: by /Type, or, when the
// type is missing, by the absence of /Kids.
func isLeaf(d Dict) bool {
	switch d.Name("Type") {
	case "Page":
		return true
	case "Pages":
		return false
	}
	_, kids := d["Kids"]
	return !kids
}

// Field is one terminal field of the interactive form (AcroForm).
type Field struct {
	// Ref is the field dictionary's reference (zero for a direct field
	// dictionary, which the specification does not allow but producers
	// write).
	Ref Ref
	// Name is the fully qualified field name (partial names joined by ".").
	Name string
	// Type is the field type, inherited from ancestors: Btn, Tx, Ch or Sig.
	Type Name
	// Dict is the field dictionary (merged with its widget when they are one).
	Dict Dict
}

// AcroForm returns the interactive form dictionary, or nil when the
// document has none.
func (rv *Revision) AcroForm() (Dict, error) {
	_, cat, err := rv.Catalog()
	if err != nil {
		return nil, err
	}
	af, ok := cat["AcroForm"]
	if !ok {
		return nil, nil
	}
	if _, isNull := af.(Null); isNull {
		return nil, nil
	}
	d, err := rv.Dict(af)
	if err != nil {
		return nil, fmt.Errorf("catalog /AcroForm: %w", err)
	}
	return d, nil
}

// Fields lists the terminal fields of the form, depth first, with loops
// and excessive depth reported as errors.
func (rv *Revision) Fields() ([]Field, error) {
	af, err := rv.AcroForm()
	if err != nil || af == nil {
		return nil, err
	}
	roots, err := rv.Array(af["Fields"])
	if err != nil {
		return nil, fmt.Errorf("AcroForm /Fields: %w", err)
	}
	var out []Field
	seen := map[Ref]bool{}
	count := 0
	var walk func(o Object, prefix string, ft Name, depth int) error
	walk = func(o Object, prefix string, ft Name, depth int) error {
		if depth > maxTreeDepth {
			return limit("field tree deeper than %d", maxTreeDepth)
		}
		// Fields should be indirect; a direct field dictionary is read
		// too (it cannot start a loop: only references can).
		ref, isRef := o.(Ref)
		if isRef {
			if seen[ref] {
				return fmt.Errorf("%w: form field tree loop at %v", ErrMalformed, ref)
			}
			seen[ref] = true
		}
		if count++; count > rv.r.lim.MaxElements {
			return limit("more than %d form fields", rv.r.lim.MaxElements)
		}
		d, err := rv.Dict(o)
		if err != nil {
			return fmt.Errorf("form field %v: %w", ref, err)
		}
		name := prefix
		if t, ok := d["T"].(String); ok {
			if name != "" {
				name += "."
			}
			name += decodeText(t.Value)
		}
		if t := d.Name("FT"); t != "" {
			ft = t
		}
		var kids Array
		if k, ok := d["Kids"]; ok {
			if kids, err = rv.Array(k); err != nil {
				return fmt.Errorf("form field %v /Kids: %w", ref, err)
			}
		}
		// Kids that carry a /T are fields; kids without are widgets.
		isParent := false
		for _, k := range kids {
			kd, err := rv.Dict(k)
			if err != nil {
				return fmt.Errorf("form field %v kid: %w", ref, err)
			}
			if _, ok := kd["T"]; ok {
				isParent = true
				break
			}
		}
		if !isParent {
			out = append(out, Field{Ref: ref, Name: name, Type: ft, Dict: d})
			return nil
		}
		for _, k := range kids {
			if err := walk(k, name, ft, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range roots {
		if err := walk(f, "", "", 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Signature is a signature field with its signature dictionary.
type Signature struct {
	// Field is the signature field.
	Field Field
	// Ref is the reference of the signature dictionary (/V).
	Ref Ref
	// Dict is the signature dictionary.
	Dict Dict
	// ByteRange is the /ByteRange array: offset and length pairs.
	ByteRange []int64
	// Contents is the decoded /Contents string (the CMS, with padding).
	Contents []byte
	// ContentsStart and ContentsEnd are the absolute offsets of the
	// /Contents string in the file: its "<" and just after its ">". They are
	// -1 when the signature dictionary is inside an object stream.
	ContentsStart, ContentsEnd int64
	// Section is the cross-reference section that lists the signature
	// dictionary in this revision.
	Section *Section
}

// Signatures lists the signed signature fields (those with a /V).
func (rv *Revision) Signatures() ([]Signature, error) {
	fields, err := rv.Fields()
	if err != nil {
		return nil, err
	}
	var out []Signature
	for _, f := range fields {
		if f.Type != "Sig" {
			continue
		}
		v, ok := f.Dict["V"]
		if !ok {
			continue
		}
		ref, ok := v.(Ref)
		if !ok {
			return nil, fmt.Errorf("%w: signature field %q: /V is a direct %s, not a reference", ErrMalformed, f.Name, kindName(v))
		}
		s, err := rv.signature(f, ref)
		if err != nil {
			return nil, fmt.Errorf("signature field %q: %w", f.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func (rv *Revision) signature(f Field, ref Ref) (Signature, error) {
	d, err := rv.Dict(ref)
	if err != nil {
		return Signature{}, err
	}
	s := Signature{Field: f, Ref: ref, Dict: d, ContentsStart: -1, ContentsEnd: -1}
	br, err := rv.Array(d["ByteRange"])
	if err != nil {
		return Signature{}, fmt.Errorf("/ByteRange: %w", err)
	}
	for _, x := range br {
		i, ok := x.(Integer)
		if !ok || i < 0 {
			return Signature{}, fmt.Errorf("%w: /ByteRange holds a %s", ErrMalformed, kindName(x))
		}
		s.ByteRange = append(s.ByteRange, int64(i))
	}
	c, ok := d["Contents"].(String)
	if !ok {
		return Signature{}, fmt.Errorf("%w: /Contents is a %s, not a string", ErrMalformed, kindName(d["Contents"]))
	}
	s.Contents = c.Value
	e, sec, _ := rv.Entry(ref.Num)
	s.Section = sec
	if e.Type == EntryInUse {
		start, end, err := rv.r.stringSpan(rv.r.base+e.Offset, "Contents")
		if err != nil {
			return Signature{}, err
		}
		if start < 0 {
			// The object was found by repair at another offset.
			return Signature{}, fmt.Errorf("%w: cannot locate /Contents of %v", ErrMalformed, ref)
		}
		s.ContentsStart, s.ContentsEnd = start, end
	}
	return s, nil
}

// stringSpan re-reads the dictionary object at abs and returns the offsets
// of the string stored under key in its top level.
func (r *Reader) stringSpan(abs int64, key Name) (int64, int64, error) {
	p := r.parser(abs)
	if _, _, err := p.header(); err != nil {
		return -1, -1, nil
	}
	t, err := p.lex.next()
	if err != nil {
		return -1, -1, err
	}
	if t.kind != tDictOpen {
		return -1, -1, malformed(t.start, "signature dictionary expected")
	}
	for {
		k, err := p.lex.next()
		if err != nil {
			return -1, -1, err
		}
		if k.kind != tName {
			return -1, -1, malformed(k.start, "no /%s string in the dictionary", key)
		}
		v, err := p.lex.next()
		if err != nil {
			return -1, -1, err
		}
		if Name(k.b) == key && v.kind == tString {
			return v.start, v.end, nil
		}
		if _, err := p.objectFrom(v, 0); err != nil {
			return -1, -1, err
		}
	}
}

// decodeText decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM,
// or PDFDocEncoding read as Latin-1, which agrees on the printable range).
// A surrogate that is not half of a pair decodes as U+FFFD, as in other
// readers, never as another character.
func decodeText(b []byte) string {
	if len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff {
		units := make([]uint16, 0, len(b)/2)
		for i := 2; i+1 < len(b); i += 2 {
			units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return string(utf16.Decode(units))
	}
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return string(b[3:])
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// Certification returns the DocMDP permission level (1, 2 or 3) of the
// document's certification signature, or 0 when it is not certified. It
// reads the catalog's /Perms /DocMDP and every signature dictionary's
// /Reference entries.
func (rv *Revision) Certification() (int, error) {
	_, cat, err := rv.Catalog()
	if err != nil {
		return 0, err
	}
	var sigDicts []Object
	if po, ok := cat["Perms"]; ok {
		perms, err := rv.Dict(po)
		if err != nil {
			return 0, fmt.Errorf("catalog /Perms: %w", err)
		}
		if d, ok := perms["DocMDP"]; ok {
			sigDicts = append(sigDicts, d)
		}
	}
	// Only /Reference matters here: a signature whose /ByteRange or
	// /Contents is broken does not stop this check (the verifier reports it).
	fields, err := rv.Fields()
	if err != nil {
		return 0, err
	}
	for _, f := range fields {
		if v, ok := f.Dict["V"]; ok && f.Type == "Sig" {
			sigDicts = append(sigDicts, v)
		}
	}
	level := 0
	for _, o := range sigDicts {
		d, err := rv.Dict(o)
		if err != nil {
			return 0, fmt.Errorf("DocMDP signature: %w", err)
		}
		refs, ok := d["Reference"]
		if !ok {
			continue
		}
		arr, err := rv.Array(refs)
		if err != nil {
			return 0, fmt.Errorf("signature /Reference: %w", err)
		}
		for _, x := range arr {
			sr, err := rv.Dict(x)
			if err != nil {
				return 0, fmt.Errorf("signature reference: %w", err)
			}
			if sr.Name("TransformMethod") != "DocMDP" {
				continue
			}
			p := int64(2) // the default (§12.8.2.2)
			if tp, ok := sr["TransformParams"]; ok {
				params, err := rv.Dict(tp)
				if err != nil {
					return 0, fmt.Errorf("DocMDP /TransformParams: %w", err)
				}
				if po, ok := params["P"]; ok {
					if p, err = rv.Int(po); err != nil || p < 1 || p > 3 {
						return 0, fmt.Errorf("%w: DocMDP /P is not 1, 2 or 3", ErrMalformed)
					}
				}
			}
			if level == 0 || int(p) < level {
				level = int(p)
			}
		}
	}
	return level, nil
}

// PageBox returns page n's /MediaBox (inherited from the page tree when the
// page has none) and its /Rotate in degrees, so that callers can place a
// visible seal in the page's own coordinates.
func (rv *Revision) PageBox(n int) (box [4]float64, rotate int, err error) {
	ref, d, err := rv.Page(n)
	if err != nil {
		return box, 0, err
	}
	var mb, rot Object
	for depth := 0; depth < maxTreeDepth && d != nil; depth++ {
		if mb == nil {
			mb = d["MediaBox"]
		}
		if rot == nil {
			rot = d["Rotate"]
		}
		p, ok := d["Parent"]
		if !ok || mb != nil && rot != nil {
			break
		}
		if d, err = rv.Dict(p); err != nil {
			return box, 0, fmt.Errorf("page %d /Parent: %w", n, err)
		}
	}
	a, err := rv.Array(mb)
	if err != nil || len(a) != 4 {
		return box, 0, fmt.Errorf("%w: page %d (%v) has no valid /MediaBox", ErrMalformed, n, ref)
	}
	for i, x := range a {
		x, err := rv.Resolve(x)
		if err != nil {
			return box, 0, err
		}
		switch v := x.(type) {
		case Integer:
			box[i] = float64(v)
		case Real:
			box[i] = float64(v)
		default:
			return box, 0, fmt.Errorf("%w: page %d /MediaBox holds a %s", ErrMalformed, n, kindName(x))
		}
	}
	if rot != nil {
		r, err := rv.Int(rot)
		if err != nil || r%90 != 0 {
			return box, 0, fmt.Errorf("%w: page %d /Rotate is not a multiple of 90", ErrMalformed, n)
		}
		rotate = int((r%360 + 360) % 360)
	}
	return box, rotate, nil
}
