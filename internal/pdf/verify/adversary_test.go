package verify

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/pdf"
)

// The adversary tests: attacks on the difference analysis tried after
// it landed, each built on a file that sealkeep sealed, with pdftoppm as
// the oracle that the change is visible. Each one verified as valid (or
// as allowed by the certification) before the fix it names.

// TestDanglingReferenceBeyondBound: the dangling-reference attack of
// TestDanglingReference in a revision of more than maxRefObjects objects,
// where references are not looked up. The check used to be skipped there
// (fail open): the page's content array named a missing object when
// sealed, a "metadata" update created it as XMP metadata whose bytes are
// page content, and the seal verified as valid with the page painted
// blue. Now every new object of such an update is other.
func TestDanglingReferenceBeyondBound(t *testing.T) {
	orig := manyObjectsPDF(maxRefObjects)
	pref, page, _ := page1(t, orig)
	ghost := nextNum(t, orig) + 50
	p := page.Clone()
	p["Contents"] = pdf.Array{pdf.Ref{Num: ghost}}
	signed := sealBytes(t, appendRevision(t, orig, map[int]string{pref.Num: objText(t, p)}, nil), sealCfg{})
	catRef, cat, err := open(t, signed).Latest().Catalog()
	if err != nil {
		t.Fatal(err)
	}
	c := cat.Clone()
	c["Metadata"] = pdf.Ref{Num: ghost}
	content := "0 0 1 rg 0 0 200 200 re f"
	after := appendRevision(t, signed, map[int]string{
		catRef.Num: objText(t, c),
		ghost:      fmt.Sprintf("<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n%s\nendstream", len(content), content),
	}, nil)
	expectUpdate(t, after, fmt.Sprintf("object %d: XMP metadata; whether anything else uses it is not known", ghost))
	assertVisible(t, signed, after, 1)
}

// TestAnnotsReordered: two overlapping opaque annotations, black under
// white when sealed (certified P=2, which forbids annotation changes);
// an update that only swaps them in the page's /Annots shows black on
// top. It used to be metadata ("annotations reordered"), so the seal
// verified as valid with DocMDP satisfied; now it is annotations. Repeating
// the lower one at the end of the array does the same.
func TestAnnotsReordered(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	pref, page, rv := page1(t, orig)
	n := nextNum(t, orig)
	annots, _ := rv.Array(page["Annots"]) // none, or links
	square := func(ap int) string {
		return objText(t, pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Square"), "F": pdf.Integer(4),
			"Rect": pdf.Array{pdf.Integer(50), pdf.Integer(300), pdf.Integer(400), pdf.Integer(500)}, "AP": pdf.Dict{"N": pdf.Ref{Num: ap}}})
	}
	fill := func(gray string) string {
		data := gray + " g 0 0 350 200 re f"
		return fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 350 200] /Length %d >>\nstream\n%s\nendstream", len(data), data)
	}
	black, white := pdf.Ref{Num: n}, pdf.Ref{Num: n + 1}
	p := page.Clone()
	p["Annots"] = append(append(pdf.Array{}, annots...), black, white)
	prepared := appendRevision(t, orig, map[int]string{black.Num: square(n + 2), white.Num: square(n + 3),
		n + 2: fill("0"), n + 3: fill("1"), pref.Num: objText(t, p)}, nil)
	signed := sealBytes(t, prepared, sealCfg{opts: pdf.SealOptions{DocMDP: 2}})
	if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
		t.Fatalf("prepared and sealed: %+v", rep.Signatures)
	}
	pref, page, rv = page1(t, signed)
	annots, err := rv.Array(page["Annots"])
	if err != nil {
		t.Fatal(err)
	}
	withAnnots := func(a pdf.Array) []byte {
		if ar, ok := page["Annots"].(pdf.Ref); ok {
			return appendRevision(t, signed, map[int]string{ar.Num: objText(t, a)}, nil)
		}
		p := page.Clone()
		p["Annots"] = a
		return appendRevision(t, signed, map[int]string{pref.Num: objText(t, p)}, nil)
	}
	swapped := append(pdf.Array{}, annots...)
	for i, x := range swapped {
		switch x {
		case black:
			swapped[i] = white
		case white:
			swapped[i] = black
		}
	}
	for name, after := range map[string][]byte{
		"swapped":  withAnnots(swapped),
		"repeated": withAnnots(append(append(pdf.Array{}, annots...), black)),
	} {
		t.Run(name, func(t *testing.T) {
			rep := expect(t, after, Modified, Annotations)
			if s := rep.Signatures[0]; s.DocMDPOK || !strings.Contains(strings.Join(s.Updates[0].Changes, "\n"), "which one is drawn on top changes") {
				t.Fatalf("%+v", s)
			}
			assertVisible(t, signed, after, 1)
		})
	}
	// The same annotations in the same order (the array rewritten as it
	// was) change nothing.
	if s := mustVerify(t, withAnnots(annots), Options{}).Signatures[0]; s.Verdict != Valid || !s.DocMDPOK {
		t.Fatalf("unchanged /Annots: %+v", s)
	}
}

// TestAcroFormDA: libreoffice-acroform.pdf has /NeedAppearances true, so
// viewers draw its fields from their values and default appearances. The
// FullName field, filled and without a /DA of its own, inherits the
// AcroForm's /DA; after an approval seal, an update that only turns that
// /DA white erases the value from the page. It used to be metadata, and
// the seal verified as valid; now it is other (pyHanko compares the
// AcroForm strictly but for /Fields, /DR and /SigFlags).
func TestAcroFormDA(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "libreoffice-acroform.pdf"))
	full, _ := formField(t, orig, "FullName")
	withDA := func(b []byte, da string) map[int]string {
		catRef, cat, err := open(t, b).Latest().Catalog()
		if err != nil {
			t.Fatal(err)
		}
		c := cat.Clone()
		af := c["AcroForm"].(pdf.Dict).Clone() // direct in this file
		af["DA"] = pdf.String{Value: []byte(da)}
		c["AcroForm"] = af
		return map[int]string{catRef.Num: objText(t, c)}
	}
	f := full.Dict.Clone()
	delete(f, "DA")
	f["V"] = pdf.Text("PAID 100")
	objs := withDA(orig, "0 0 0 rg /He 8 Tf")
	objs[full.Ref.Num] = objText(t, f)
	signed := sealBytes(t, appendRevision(t, orig, objs, nil), sealCfg{})
	if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
		t.Fatalf("prepared and sealed: %+v", rep.Signatures)
	}
	after := appendRevision(t, signed, withDA(signed, "1 1 1 rg /He 8 Tf"), nil)
	expectUpdate(t, after, "/DA (other)")
	assertVisible(t, signed, after, 1)
}
