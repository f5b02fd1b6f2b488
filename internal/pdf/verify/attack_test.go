package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/pdf"
)

// The attack tests build each variant from one of our own sealed files and
// assert the verdict. The base is chromium-invoice.pdf (classic xref, fonts,
// link annotations), sealed once per test binary.

var (
	baseOnce   sync.Once
	baseSealed []byte
)

// sealedBase returns the sealed invoice.
func sealedBase(t *testing.T) []byte {
	t.Helper()
	baseOnce.Do(func() {
		out := filepath.Join(t.TempDir(), "base.pdf")
		sealFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"), out, sealCfg{})
		baseSealed = readFile(t, out)
	})
	if baseSealed == nil {
		t.Fatal("base seal failed")
	}
	return append([]byte{}, baseSealed...)
}

// sealBytes seals b (written to a temp file) and returns the result.
func sealBytes(t *testing.T, b []byte, cfg sealCfg) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	writeFile(t, in, b)
	sealFile(t, in, out, cfg)
	return readFile(t, out)
}

func open(t *testing.T, b []byte) *pdf.Reader {
	t.Helper()
	r, err := pdf.Open(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}

// appendRevision appends an incremental update with a classic xref table:
// objs maps object numbers to their bodies (the text between "obj" and
// "endobj"); at maps object numbers to existing offsets (an xref-only
// re-pointing, no body written).
func appendRevision(t *testing.T, b []byte, objs map[int]string, at map[int]int64) []byte {
	t.Helper()
	r := open(t, b)
	latest := r.Latest()
	root := latest.Trailer["Root"].(pdf.Ref)
	size := int(latest.Trailer["Size"].(pdf.Integer))
	prev := latest.Sections[0].Offset - r.HeaderOffset()
	out := append([]byte{}, b...)
	if out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	offsets := map[int]int64{}
	for n, o := range at {
		offsets[n] = o
	}
	var nums []int
	for n := range objs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		offsets[n] = int64(len(out))
		out = fmt.Appendf(out, "%d 0 obj\n%s\nendobj\n", n, objs[n])
	}
	nums = nums[:0]
	for n := range offsets {
		nums = append(nums, n)
		size = max(size, n+1)
	}
	sort.Ints(nums)
	xref := len(out)
	out = append(out, "xref\n0 1\n0000000000 65535 f \n"...)
	for _, n := range nums {
		out = fmt.Appendf(out, "%d 1\n%010d 00000 n \n", n, offsets[n])
	}
	out = fmt.Appendf(out, "trailer\n<< /Size %d /Root %d %d R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", size, root.Num, root.Gen, prev, xref)
	return out
}

// objText writes a dictionary or array as PDF syntax.
func objText(t *testing.T, o pdf.Object) string {
	t.Helper()
	b, err := pdf.AppendObject(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func formText(data string) string {
	return fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Length %d >>\nstream\n%s\nendstream", len(data), data)
}

func streamText(data string) string {
	return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(data), data)
}

// nextNum is the first unused object number.
func nextNum(t *testing.T, b []byte) int {
	return int(open(t, b).Latest().Trailer["Size"].(pdf.Integer))
}

// page1 returns the first page's reference and dictionary.
func page1(t *testing.T, b []byte) (pdf.Ref, pdf.Dict, *pdf.Revision) {
	t.Helper()
	rv := open(t, b).Latest()
	ref, d, err := rv.Page(1)
	if err != nil {
		t.Fatal(err)
	}
	return ref, d, rv
}

// expect verifies b and checks the first signature's verdict (and, when
// given, modification). An unreadable file passes when allowErr.
func expect(t *testing.T, b []byte, verdict, modification string) *Report {
	t.Helper()
	rep, err := verifyBytes(t, b, Options{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(rep.Signatures) == 0 {
		t.Fatalf("no signatures found; report %+v", rep)
	}
	s := rep.Signatures[0]
	if s.Verdict != verdict || (modification != "" && s.Modification != modification) {
		t.Fatalf("verdict %s, modification %s (want %s, %s); reasons %q; updates %+v", s.Verdict, s.Modification, verdict, modification, s.Reasons, s.Updates)
	}
	if rep.Verdict == Valid {
		t.Fatalf("file verdict valid")
	}
	return rep
}

// sigDictSpan returns the offsets of the signature dictionary's
// "/ByteRange [...]" array and of the /Contents hex string.
func sigDictSpan(t *testing.T, b []byte) (brStart, brEnd int, br []int64) {
	t.Helper()
	rep := mustVerify(t, b, Options{})
	br = rep.Signatures[0].ByteRange
	i := bytes.LastIndex(b[:br[1]], []byte("/ByteRange ["))
	if i < 0 {
		t.Fatal("no /ByteRange")
	}
	brStart = i + len("/ByteRange ")
	brEnd = brStart + bytes.IndexByte(b[brStart:], ']') + 1
	return brStart, brEnd, br
}

// replaceSame overwrites b[start:end] with s padded with spaces.
func replaceSame(t *testing.T, b []byte, start, end int, s string) []byte {
	t.Helper()
	if len(s) > end-start {
		t.Fatalf("replacement %q longer than %d bytes", s, end-start)
	}
	out := append([]byte{}, b...)
	copy(out[start:end], s+strings.Repeat(" ", end-start-len(s)))
	return out
}

// TestUSF: universal signature forgery variants are invalid.
func TestUSF(t *testing.T) {
	base := sealedBase(t)
	brS, brE, br := sigDictSpan(t, base)
	gapS, gapE := int(br[1]), int(br[2])
	keyC := bytes.LastIndex(base[:gapS], []byte("/Contents"))
	keyB := bytes.LastIndex(base[:brS], []byte("/ByteRange"))
	zeros := "<" + strings.Repeat("0", gapE-gapS-2) + ">"
	cases := map[string][]byte{
		"contents missing":   replaceSame(t, base, keyC, keyC+9, "/Contentz"),
		"contents empty":     replaceSame(t, base, gapS, gapE, "<>"),
		"contents null":      replaceSame(t, base, gapS, gapE, "null"),
		"contents all zero":  replaceSame(t, base, gapS, gapE, zeros),
		"contents literal":   replaceSame(t, base, gapS, gapE, "(abc)"),
		"byterange missing":  replaceSame(t, base, keyB, keyB+10, "/ByteRangx"),
		"byterange null":     replaceSame(t, base, brS, brE, "null"),
		"byterange 3 ints":   replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d]", br[1], br[2])),
		"byterange 6 ints":   replaceSame(t, base, brS, brE, "[0 1 2 3 4 5]"),
		"byterange negative": replaceSame(t, base, brS, brE, fmt.Sprintf("[0 -1 %d %d]", br[2], br[3])),
		"byterange overlap":  replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d %d]", br[1]+10, br[2], br[3])),
		"byterange not at 0": replaceSame(t, base, brS, brE, fmt.Sprintf("[1 %d %d %d]", br[1]-1, br[2], br[3])),
		"byterange short":    replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d %d]", br[1], br[2], br[3]-10)),
		"byterange past end": replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d %d]", br[1], br[2], br[3]+10)),
		"byterange reals":    replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d 9.5]", br[1], br[2])),
		"gap off by one":     replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d %d]", br[1]+1, br[2]-1, br[3]+1)),
		"gap includes more":  replaceSame(t, base, brS, brE, fmt.Sprintf("[0 %d %d %d]", br[1]-20, br[2], br[3])),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			rep, err := verifyBytes(t, b, Options{})
			if err != nil {
				// The reader refusing the damaged dictionary outright
				// is a verdict too: never valid.
				if !errors.Is(err, ErrUnreadable) {
					t.Fatal(err)
				}
				return
			}
			t.Logf("%s: %q", name, rep.Signatures[0].Reasons)
			if rep.Verdict != Invalid || len(rep.Signatures) != 1 || rep.Signatures[0].Verdict != Invalid {
				t.Fatalf("verdict %s: %+v", rep.Verdict, rep.Signatures)
			}
		})
	}
}

// TestISA: incremental saving attacks are modified (or invalid).
func TestISA(t *testing.T) {
	base := sealedBase(t)
	pref, page, _ := page1(t, base)
	n := nextNum(t, base)
	t.Run("new page content", func(t *testing.T) {
		p := page.Clone()
		p["Contents"] = pdf.Ref{Num: n}
		b := appendRevision(t, base, map[int]string{
			n:        streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET"),
			pref.Num: objText(t, p),
		}, nil)
		rep := expect(t, b, Modified, Other)
		if !strings.Contains(strings.Join(rep.Signatures[0].Updates[0].Changes, "\n"), "page dictionary changed (/Contents)") {
			t.Fatalf("reasons: %+v", rep.Signatures[0].Updates)
		}
	})
	t.Run("content stream redefined", func(t *testing.T) {
		c := page["Contents"].(pdf.Ref)
		b := appendRevision(t, base, map[int]string{c.Num: streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET")}, nil)
		expect(t, b, Modified, Other)
	})
	t.Run("object deleted", func(t *testing.T) {
		c := page["Contents"].(pdf.Ref)
		r := open(t, base)
		latest := r.Latest()
		b := append([]byte{}, base...)
		xref := len(b)
		b = fmt.Appendf(b, "xref\n0 1\n0000000000 65535 f \n%d 1\n0000000000 00001 f \ntrailer\n<< /Size %d /Root %v /Prev %d >>\nstartxref\n%d\n%%%%EOF\n",
			c.Num, latest.Trailer["Size"], latest.Trailer["Root"], latest.Sections[0].Offset, xref)
		expect(t, b, Modified, Other)
	})
	t.Run("catalog changed", func(t *testing.T) {
		r := open(t, base)
		ref, cat, err := r.Latest().Catalog()
		if err != nil {
			t.Fatal(err)
		}
		c := cat.Clone()
		c["OpenAction"] = pdf.Array{pref, pdf.Name("Fit")}
		b := appendRevision(t, base, map[int]string{ref.Num: objText(t, c)}, nil)
		expect(t, b, Modified, Other)
	})
	t.Run("garbage appended without xref", func(t *testing.T) {
		b := append(append([]byte{}, base...), "10 0 obj\n<< /Length 4 >>\nstream\nEVIL\nendstream\nendobj\n"...)
		rep, err := verifyBytes(t, b, Options{})
		if err == nil {
			if rep.Verdict == Valid || rep.Signatures[0].Coverage == EntireFile || rep.Signatures[0].Modification != Other {
				t.Fatalf("%+v", rep.Signatures[0])
			}
		}
	})
	t.Run("unreferenced new object", func(t *testing.T) {
		b := appendRevision(t, base, map[int]string{n: "<< /Evil true >>"}, nil)
		expect(t, b, Modified, Other)
	})
}

// TestSWA: signature wrapping. A copy of the signature dictionary in a
// later revision, with the original /ByteRange and /Contents (so the ranges
// hash right and the CMS verifies), takes over the field; the document is
// changed too.
func TestSWA(t *testing.T) {
	base := sealedBase(t)
	r := open(t, base)
	latest := r.Latest()
	sigs, err := latest.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	sig := sigs[0]
	n := nextNum(t, base)
	pref, page, _ := page1(t, base)
	p := page.Clone()
	p["Contents"] = pdf.Ref{Num: n + 1}
	field := sig.Field.Dict.Clone()
	field["V"] = pdf.Ref{Num: n}
	t.Run("signature dictionary copied", func(t *testing.T) {
		b := appendRevision(t, base, map[int]string{
			n:                 objText(t, sig.Dict),
			n + 1:             streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET"),
			pref.Num:          objText(t, p),
			sig.Field.Ref.Num: objText(t, field),
		}, nil)
		expect(t, b, Invalid, "")
	})
	t.Run("signature dictionary re-pointed", func(t *testing.T) {
		// The signature dictionary's number points to a copy in the
		// update; the gap still holds the original /Contents.
		b := appendRevision(t, base, map[int]string{sig.Ref.Num: objText(t, sig.Dict)}, nil)
		expect(t, b, Invalid, "")
	})
	t.Run("signed revision moved", func(t *testing.T) {
		// The signed bytes are moved after a forged prefix: the ranges
		// no longer hash to the signed digest.
		br := sig.ByteRange
		forged := append([]byte("%PDF-1.7\n% forged prefix\n"), base...)
		rep, err := verifyBytes(t, forged, Options{})
		if err == nil && rep.Verdict == Valid {
			t.Fatalf("moved revision verified: %+v", rep.Signatures)
		}
		_ = br
	})
}

// TestShadow: hide, replace and hide-and-replace shadow attacks.
func TestShadow(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	pref, page, rv := page1(t, orig)
	n := nextNum(t, orig)

	t.Run("hide", func(t *testing.T) {
		// Before signing: an unused content stream is added. After: the
		// page points to it.
		prepared := appendRevision(t, orig, map[int]string{n: streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET")}, nil)
		signed := sealBytes(t, prepared, sealCfg{})
		if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
			t.Fatalf("prepared file: %+v", rep.Signatures)
		}
		p := page.Clone()
		p["Contents"] = pdf.Ref{Num: n}
		b := appendRevision(t, signed, map[int]string{pref.Num: objText(t, p)}, nil)
		expect(t, b, Modified, Other)
	})
	t.Run("replace font", func(t *testing.T) {
		signed := sealedBase(t)
		res, err := rv.Dict(page["Resources"])
		if err != nil {
			t.Fatal(err)
		}
		fonts, err := rv.Dict(res["Font"])
		if err != nil {
			t.Fatal(err)
		}
		fref := fonts["F4"].(pdf.Ref)
		f, err := rv.Dict(fref)
		if err != nil {
			t.Fatal(err)
		}
		f = f.Clone()
		f["BaseFont"] = pdf.Name("Evil-Font")
		b := appendRevision(t, signed, map[int]string{fref.Num: objText(t, f)}, nil)
		expect(t, b, Modified, Other)
	})
	t.Run("replace image under P=3", func(t *testing.T) {
		// An image XObject has a /Subtype too; replacing it is never an
		// annotation change, even under a certification that allows
		// annotations.
		signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: 3}})
		res, err := rv.Dict(page["Resources"])
		if err != nil {
			t.Fatal(err)
		}
		xobjs, err := rv.Dict(res["XObject"])
		if err != nil {
			t.Fatal(err)
		}
		var xref pdf.Ref
		for _, x := range xobjs {
			xref = x.(pdf.Ref)
		}
		img, err := rv.Get(xref)
		if err != nil {
			t.Fatal(err)
		}
		d := img.(*pdf.Stream).Dict.Clone()
		delete(d, "Type")
		delete(d, "Filter")
		delete(d, "DecodeParms")
		delete(d, "SMask")
		d["Length"] = pdf.Integer(4)
		d["Width"], d["Height"], d["BitsPerComponent"], d["ColorSpace"] = pdf.Integer(2), pdf.Integer(2), pdf.Integer(8), pdf.Name("DeviceGray")
		body := strings.TrimSuffix(objText(t, d), "\n") + "\nstream\n\x00\xff\x00\xff\nendstream"
		b := appendRevision(t, signed, map[int]string{xref.Num: body}, nil)
		rep := expect(t, b, Modified, Other)
		if rep.Signatures[0].DocMDPOK {
			t.Fatal("DocMDP P=3 allowed replacing an image")
		}
	})
	t.Run("replace annotation", func(t *testing.T) {
		signed := sealedBase(t)
		var annots pdf.Array
		for i := 1; len(annots) == 0; i++ {
			_, pg, err := rv.Page(i)
			if err != nil {
				t.Fatalf("no page with annotations: %v", err)
			}
			annots, _ = rv.Array(pg["Annots"])
		}
		aref := annots[0].(pdf.Ref)
		a, err := rv.Dict(aref)
		if err != nil {
			t.Fatal(err)
		}
		a = a.Clone()
		a["A"] = pdf.Dict{"S": pdf.Name("URI"), "URI": pdf.String{Value: []byte("https://evil.example/")}}
		b := appendRevision(t, signed, map[int]string{aref.Num: objText(t, a)}, nil)
		expect(t, b, Modified, Annotations)
	})
	t.Run("hide and replace", func(t *testing.T) {
		// Before signing: a stray body for the page's content stream
		// number that no cross-reference lists. After: an xref-only
		// update re-points the number to it; no object is written.
		c := page["Contents"].(pdf.Ref)
		stray := fmt.Sprintf("%d 0 obj\n%s\nendobj\n", c.Num, streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET"))
		prepared := appendRevision(t, orig, map[int]string{n: "<< /Unused true >>\nendobj\n" + stray + "% the stray body above is listed by no xref\n" + fmt.Sprint(n) + " 0 obj\n<< /Unused true >>"}, nil)
		strayAt := int64(bytes.Index(prepared, []byte(stray)))
		signed := sealBytes(t, prepared, sealCfg{})
		if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
			t.Fatalf("prepared file: %+v", rep.Signatures)
		}
		b := appendRevision(t, signed, nil, map[int]int64{c.Num: strayAt})
		if got := nextNum(t, b); got != nextNum(t, signed) {
			t.Fatalf("the xref-only update added objects")
		}
		expect(t, b, Modified, Other)
	})
}

// TestEvilAnnotation: a later annotation whose appearance covers the page
// is an annotations change, never "valid/none"; under DocMDP P=2 it is
// also forbidden.
func TestEvilAnnotation(t *testing.T) {
	evil := func(t *testing.T, signed []byte) []byte {
		pref, page, rv := page1(t, signed)
		n := nextNum(t, signed)
		annots, _ := rv.Array(page["Annots"])
		p := page.Clone()
		p["Annots"] = append(append(pdf.Array{}, annots...), pdf.Ref{Num: n})
		return appendRevision(t, signed, map[int]string{
			n: objText(t, pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("FreeText"),
				"Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(595), pdf.Integer(842)},
				"AP":   pdf.Dict{"N": pdf.Ref{Num: n + 1}}, "DA": pdf.String{Value: []byte("/Helv 12 Tf 0 g")}}),
			n + 1:    formText("1 1 1 rg 0 0 595 842 re f 0 0 0 rg"),
			pref.Num: objText(t, p),
		}, nil)
	}
	t.Run("approval", func(t *testing.T) {
		rep := expect(t, evil(t, sealedBase(t)), Modified, Annotations)
		if !rep.Signatures[0].DocMDPOK {
			t.Fatal("no DocMDP here, docmdp_ok must be true")
		}
	})
	t.Run("certified P=2", func(t *testing.T) {
		orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
		signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: 2}})
		rep := expect(t, evil(t, signed), Modified, Annotations)
		if s := rep.Signatures[0]; s.DocMDP != 2 || s.DocMDPOK {
			t.Fatalf("DocMDP %d ok=%v", s.DocMDP, s.DocMDPOK)
		}
	})
	t.Run("certified P=3", func(t *testing.T) {
		orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
		signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: 3}})
		rep := expect(t, evil(t, signed), Modified, Annotations)
		if s := rep.Signatures[0]; s.DocMDP != 3 || !s.DocMDPOK {
			t.Fatalf("DocMDP %d ok=%v", s.DocMDP, s.DocMDPOK)
		}
	})
}

// TestSneakySignature: a later, unsigned signature field with a visible
// appearance over the page is an annotations change.
func TestSneakySignature(t *testing.T) {
	signed := sealedBase(t)
	pref, page, rv := page1(t, signed)
	n := nextNum(t, signed)
	annots, _ := rv.Array(page["Annots"])
	p := page.Clone()
	p["Annots"] = append(append(pdf.Array{}, annots...), pdf.Ref{Num: n})
	_, cat, err := rv.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	catRef, _, _ := rv.Catalog()
	af, err := rv.Dict(cat["AcroForm"])
	if err != nil {
		t.Fatal(err)
	}
	fields, _ := rv.Array(af["Fields"])
	af = af.Clone()
	af["Fields"] = append(append(pdf.Array{}, fields...), pdf.Ref{Num: n})
	c := cat.Clone()
	c["AcroForm"] = af
	b := appendRevision(t, signed, map[int]string{
		n: objText(t, pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Widget"), "FT": pdf.Name("Sig"),
			"T": pdf.String{Value: []byte("Sneaky")}, "P": pref, "F": pdf.Integer(4),
			"Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(595), pdf.Integer(842)},
			"AP":   pdf.Dict{"N": pdf.Ref{Num: n + 1}}}),
		n + 1:      formText("1 1 1 rg 0 0 595 842 re f 0 0 0 rg"),
		pref.Num:   objText(t, p),
		catRef.Num: objText(t, c),
	}, nil)
	expect(t, b, Modified, Annotations)
}

// TestCertifiedP1: a second signature after DocMDP P=1 breaks the
// certification.
func TestCertifiedP1(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "qpdf-qdf-uncompressed.pdf"))
	signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: 1}})
	rep := mustVerify(t, signed, Options{})
	if rep.Verdict != Valid || rep.Signatures[0].DocMDP != 1 {
		t.Fatalf("%+v", rep.Signatures)
	}
	// Our sealer refuses to add a signature; an attacker's update adding
	// an annotation is caught.
	pref, page, _ := page1(t, signed)
	n := nextNum(t, signed)
	p := page.Clone()
	annots, _ := open(t, signed).Latest().Array(page["Annots"])
	p["Annots"] = append(append(pdf.Array{}, annots...), pdf.Ref{Num: n})
	b := appendRevision(t, signed, map[int]string{
		n:        "<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /Contents (hi) >>",
		pref.Num: objText(t, p),
	}, nil)
	rep = expect(t, b, Modified, Annotations)
	if rep.Signatures[0].DocMDPOK {
		t.Fatal("DocMDP P=1 allowed an annotation")
	}
}

// TestTruncated: every truncation of a sealed file is an error or not
// valid, never a panic.
func TestTruncated(t *testing.T) {
	base := sealedBase(t)
	for cut := len(base) - 1; cut > 0; cut -= max(1, (len(base)-cut)/4+1) {
		rep, err := verifyBytes(t, base[:cut], Options{})
		if err == nil && rep.Verdict == Valid {
			t.Fatalf("truncated at %d: valid", cut)
		}
	}
}

// TestNotPDF: inputs that are not PDFs cannot be judged.
func TestNotPDF(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("hello"), []byte("%PDF-1.7\n"), bytes.Repeat([]byte{0}, 4096)} {
		if _, err := Verify(context.Background(), bytes.NewReader(b), int64(len(b)), Options{}); !errors.Is(err, ErrUnreadable) {
			t.Fatalf("%q: err %v", b, err)
		}
	}
}

// TestUnsigned: a PDF without signatures is invalid (not an error).
func TestUnsigned(t *testing.T) {
	rep := mustVerify(t, readFile(t, filepath.Join(corpusDir, "cairo-chart.pdf")), Options{})
	if rep.Verdict != Invalid || len(rep.Signatures) != 0 || len(rep.Reasons) == 0 {
		t.Fatalf("%+v", rep)
	}
}

// TestFormFilling: filling a text field after a seal (new /V and a new
// appearance stream) is a form_filling change; changing the field's
// rectangle is not filling.
func TestFormFilling(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "libreoffice-acroform.pdf"))
	signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: 2}})
	rv := open(t, signed).Latest()
	var field pdf.Field
	fields, err := rv.Fields()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if f.Name == "FullName" {
			field = f
		}
	}
	if field.Dict == nil {
		t.Fatal("no FullName field")
	}
	n := nextNum(t, signed)
	filled := field.Dict.Clone()
	filled["V"] = pdf.Text("Jane Doe")
	filled["AP"] = pdf.Dict{"N": pdf.Ref{Num: n}}
	b := appendRevision(t, signed, map[int]string{
		field.Ref.Num: objText(t, filled),
		n:             formText("BT /He 8 Tf 2 5 Td (Jane Doe) Tj ET"),
	}, nil)
	rep := expect(t, b, Modified, FormFilling)
	if s := rep.Signatures[0]; !s.DocMDPOK || s.Updates[0].Class != FormFilling {
		t.Fatalf("DocMDP P=2 must allow form filling: %+v", s)
	}
	// FieldMDP: the same update against a signature whose field locks
	// FullName (a /Lock dictionary) or other fields.
	r := open(t, b)
	for _, tc := range []struct {
		lock pdf.Dict
		want string
	}{
		{pdf.Dict{"Action": pdf.Name("Include"), "Fields": pdf.Array{pdf.Text("FullName")}}, Other},
		// The name as a UTF-8 text string (PDF 2.0) is the same name.
		{pdf.Dict{"Action": pdf.Name("Include"), "Fields": pdf.Array{pdf.String{Value: []byte("\xef\xbb\xbfFullName")}}}, Other},
		{pdf.Dict{"Action": pdf.Name("All")}, Other},
		{pdf.Dict{"Action": pdf.Name("Exclude"), "Fields": pdf.Array{pdf.Text("FullName")}}, FormFilling},
		{pdf.Dict{"Action": pdf.Name("Include"), "Fields": pdf.Array{pdf.Text("Other")}}, FormFilling},
	} {
		v := &verifier{ctx: context.Background(), ra: bytes.NewReader(b), size: int64(len(b)), r: r}
		sf := &sigField{field: pdf.Field{Name: "Signature1", Dict: pdf.Dict{"Lock": tc.lock}}, dict: pdf.Dict{}}
		s := Signature{Modification: None}
		if err := v.checkUpdates(sf, &s, r.Revisions()[len(r.Revisions())-2]); err != nil {
			t.Fatal(err)
		}
		if s.Modification != tc.want {
			t.Fatalf("lock %v: modification %s, want %s (%q)", tc.lock, s.Modification, tc.want, s.Reasons)
		}
	}
	moved := field.Dict.Clone()
	moved["Rect"] = pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(600), pdf.Integer(800)}
	b = appendRevision(t, signed, map[int]string{field.Ref.Num: objText(t, moved)}, nil)
	rep = expect(t, b, Modified, Other)
	if rep.Signatures[0].DocMDPOK {
		t.Fatal("DocMDP P=2 allowed moving a field")
	}
}

// TestDSSUpdate: validation data added after a seal (a /DSS dictionary
// with a certificate stream) is a dss update; the seal stays valid, also
// under DocMDP P=1.
func TestDSSUpdate(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	for _, p := range []int{0, 1} {
		signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: p}})
		rv := open(t, signed).Latest()
		catRef, cat, err := rv.Catalog()
		if err != nil {
			t.Fatal(err)
		}
		n := nextNum(t, signed)
		c := cat.Clone()
		c["DSS"] = pdf.Ref{Num: n}
		cert := string(pki(t).leaf.Raw)
		b := appendRevision(t, signed, map[int]string{
			catRef.Num: objText(t, c),
			n:          objText(t, pdf.Dict{"Certs": pdf.Array{pdf.Ref{Num: n + 1}}}),
			n + 1:      fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cert), cert),
		}, nil)
		rep := mustVerify(t, b, Options{})
		s := rep.Signatures[0]
		if s.Verdict != Valid || len(s.Updates) != 1 || s.Updates[0].Class != ClassDSS || !s.DocMDPOK {
			t.Fatalf("P=%d: %+v", p, s)
		}
	}
}

// TestSneakySignedOverlay: a later, real signature by a signer nobody
// trusts, whose visible appearance covers the page, is a signature update
// for the first seal, but the file is not valid: the overlaying signature
// is untrusted.
func TestSneakySignedOverlay(t *testing.T) {
	k := mustKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "Mallory"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	mallory := mustCert(tmpl, tmpl, k.Public(), k)
	b := sealBytes(t, sealedBase(t), sealCfg{cert: mallory, key: k, noChain: true,
		opts: pdf.SealOptions{Visible: &pdf.Appearance{Page: 1, Rect: [4]float64{0, 0, 595, 842}, Lines: []string{"PAID"}}}})
	rep := mustVerify(t, b, Options{})
	if len(rep.Signatures) != 2 || rep.Signatures[0].Verdict != Valid || rep.Signatures[1].Verdict != Untrusted || rep.Verdict != Untrusted {
		t.Fatalf("%+v", rep)
	}
}
