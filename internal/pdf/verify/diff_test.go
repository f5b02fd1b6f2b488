package verify

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sealkeep/internal/pdf"
	"sealkeep/internal/testenv"
)

// The difference-analysis tests build each hostile update on a file that
// sealkeep sealed, assert the verdict, and, where the attack is visual,
// have poppler's pdftoppm render the page before and after: the pixels
// must differ (the oracle that a person would see the change). pdfsig's
// view of each file is logged for comparison; it misses all of these
// (poppler 22.12 here): for every hostile file it says "Signature is Valid"
// with only "Not total document signed", which it says of any later
// update, and a field that reuses the seal's signature dictionary is a
// second "Signature is Valid" to it.

// visibleSeal is where visibleBase puts its seal on page 1.
var visibleSeal = pdf.Appearance{Page: 1, Rect: [4]float64{330, 700, 560, 790}, Lines: []string{"Jane Doe, P.E.", "Texas licence 123456"}}

var (
	visMu   sync.Mutex
	visBase = map[int][]byte{}
)

// visibleBase returns chromium-invoice.pdf sealed once with a visible
// seal, as an approval (docMDP 0) or a certification with that P.
func visibleBase(t *testing.T, docMDP int) []byte {
	t.Helper()
	visMu.Lock()
	defer visMu.Unlock()
	if b, ok := visBase[docMDP]; ok {
		return append([]byte{}, b...)
	}
	ap := visibleSeal
	b := sealBytes(t, readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf")), sealCfg{opts: pdf.SealOptions{Visible: &ap, DocMDP: docMDP}})
	visBase[docMDP] = b
	return append([]byte{}, b...)
}

// sealInfo locates the last signature of a file: its field (which is its
// widget), the signature dictionary and the normal appearance stream.
type sealInfo struct {
	field, sig, ap pdf.Ref
	dict           pdf.Dict
}

func sealOf(t *testing.T, b []byte) sealInfo {
	t.Helper()
	sigs, err := open(t, b).Latest().Signatures()
	if err != nil || len(sigs) == 0 {
		t.Fatalf("signatures: %v", err)
	}
	s := sigs[len(sigs)-1]
	ap, _ := s.Field.Dict["AP"].(pdf.Dict)
	apRef, _ := ap["N"].(pdf.Ref)
	return sealInfo{field: s.Field.Ref, sig: s.Ref, ap: apRef, dict: s.Field.Dict}
}

// addToFields adds ref to the AcroForm /Fields of b's latest revision, by
// writing into objs the object that holds the array.
func addToFields(t *testing.T, b []byte, objs map[int]string, ref pdf.Ref) {
	t.Helper()
	rv := open(t, b).Latest()
	catRef, cat, err := rv.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	af, err := rv.Dict(cat["AcroForm"])
	if err != nil {
		t.Fatal(err)
	}
	fields, err := rv.Array(af["Fields"])
	if err != nil {
		t.Fatal(err)
	}
	fields = append(append(pdf.Array{}, fields...), ref)
	if fr, ok := af["Fields"].(pdf.Ref); ok {
		objs[fr.Num] = objText(t, fields)
		return
	}
	af = af.Clone()
	af["Fields"] = fields
	if ar, ok := cat["AcroForm"].(pdf.Ref); ok {
		objs[ar.Num] = objText(t, af)
		return
	}
	c := cat.Clone()
	c["AcroForm"] = af
	objs[catRef.Num] = objText(t, c)
}

// addToAnnots adds ref to page 1's /Annots, by writing into objs the page
// or its annotation array.
func addToAnnots(t *testing.T, b []byte, objs map[int]string, ref pdf.Ref) {
	t.Helper()
	pref, page, rv := page1(t, b)
	annots, _ := rv.Array(page["Annots"])
	annots = append(append(pdf.Array{}, annots...), ref)
	if ar, ok := page["Annots"].(pdf.Ref); ok {
		objs[ar.Num] = objText(t, annots)
		return
	}
	p := page.Clone()
	p["Annots"] = annots
	objs[pref.Num] = objText(t, p)
}

const byteRangeHole = "[0 0000000000 0000000000 0000000000]"

// signatureUpdate appends an update shaped exactly like a signature: a
// new signature dictionary whose /ByteRange ends at the update's end, its
// invisible field and widget with an empty appearance, merged into /Fields
// and page 1's /Annots, plus the extra objects. Its /Contents is zeros:
// the tests judge what the update does to the earlier signature, not this
// one's CMS.
func signatureUpdate(t *testing.T, b []byte, extra map[int]string) []byte {
	t.Helper()
	n := nextNum(t, b)
	pref, _, _ := page1(t, b)
	objs := map[int]string{
		n: "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange " + byteRangeHole +
			" /Contents <" + strings.Repeat("0", 128) + "> >>",
		n + 1: objText(t, pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Widget"), "FT": pdf.Name("Sig"),
			"T": pdf.Text("Second"), "V": pdf.Ref{Num: n}, "P": pref, "F": pdf.Integer(132),
			"Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(0), pdf.Integer(0)},
			"AP":   pdf.Dict{"N": pdf.Ref{Num: n + 2}}}),
		n + 2: "<< /Type /XObject /Subtype /Form /BBox [0 0 0 0] /Length 0 >>\nstream\n\nendstream",
	}
	addToFields(t, b, objs, pdf.Ref{Num: n + 1})
	addToAnnots(t, b, objs, pdf.Ref{Num: n + 1})
	for k, o := range extra {
		objs[k] = o
	}
	out := appendRevision(t, b, objs, nil)
	i := bytes.LastIndex(out, []byte("/ByteRange "+byteRangeHole)) + len("/ByteRange ")
	cs := i + bytes.Index(out[i:], []byte("/Contents <")) + len("/Contents ")
	ce := cs + bytes.IndexByte(out[cs:], '>') + 1
	copy(out[i:], fmt.Sprintf("[0 %010d %010d %010d]", cs, ce, len(out)-ce))
	return out
}

// render rasterises page n of b with pdftoppm (grey, 50 dpi).
func render(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	pdftoppm := testenv.Tool(t, "pdftoppm")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	writeFile(t, in, b)
	page := fmt.Sprint(n)
	if out, err := exec.Command(pdftoppm, "-f", page, "-l", page, "-r", "50", "-gray", "-singlefile", in, filepath.Join(dir, "p")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	img, err := os.ReadFile(filepath.Join(dir, "p.pgm"))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// assertVisible fails unless page n renders differently before and after.
func assertVisible(t *testing.T, before, after []byte, n int) {
	t.Helper()
	a, b := render(t, before, n), render(t, after, n)
	if len(a) != len(b) {
		return // a different page size is visible too
	}
	diff := 0
	for i := range a {
		if a[i] != b[i] {
			diff++
		}
	}
	if diff == 0 {
		t.Fatal("pdftoppm renders the page the same before and after: the attack is not visible, so the test proves nothing")
	}
	t.Logf("pdftoppm: %d bytes of the page image differ", diff)
}

// logPdfsig records what pdfsig says of b, for comparison.
func logPdfsig(t *testing.T, nss string, b []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.pdf")
	writeFile(t, p, b)
	var lines []string
	for _, l := range strings.Split(pdfsig(t, nss, p), "\n") {
		if strings.Contains(l, "Signature #") || strings.Contains(l, "Signature Validation") || strings.Contains(l, "document signed") || strings.Contains(l, "Signer full") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	t.Logf("pdfsig: %s", strings.Join(lines, "; "))
}

// expectUpdate verifies b and checks that the first signature is
// modified/other with a change line mentioning want, and that a
// certification forbids it.
func expectUpdate(t *testing.T, b []byte, want string) *Report {
	t.Helper()
	rep := expect(t, b, Modified, Other)
	s := rep.Signatures[0]
	var all []string
	for _, u := range s.Updates {
		all = append(all, u.Changes...)
	}
	if !strings.Contains(strings.Join(all, "\n"), want) {
		t.Fatalf("changes %q do not mention %q", all, want)
	}
	if s.DocMDP > 0 && s.DocMDPOK {
		t.Fatalf("DocMDP P=%d allowed it: %+v", s.DocMDP, s.Updates)
	}
	return rep
}

// TestSignatureUpdateControl: the shape signatureUpdate writes is a
// signature update for the first seal (so that the tests below fail for
// what they add, not for the shape); the new signature itself is invalid.
func TestSignatureUpdateControl(t *testing.T) {
	for _, p := range []int{0, 2} {
		b := signatureUpdate(t, visibleBase(t, p), nil)
		rep := mustVerify(t, b, Options{})
		if len(rep.Signatures) != 2 {
			t.Fatalf("P=%d: %d signatures", p, len(rep.Signatures))
		}
		s := rep.Signatures[0]
		if s.Verdict != Valid || s.Modification != None || len(s.Updates) != 1 || s.Updates[0].Class != ClassSignature || !s.DocMDPOK {
			t.Fatalf("P=%d: first seal %+v", p, s)
		}
		if rep.Signatures[1].Verdict != Invalid {
			t.Fatalf("P=%d: the zero /Contents verified: %+v", p, rep.Signatures[1])
		}
	}
}

// TestOnlyNewSignatures: section 1 of issue 7. A field that reuses the
// seal's signature dictionary, or names anything but a new signature
// dictionary that signs its own revision, is not a signature; a signature
// update that does anything more is other; after a seal, any change to its
// widget is other. The same under DocMDP P=2.
func TestOnlyNewSignatures(t *testing.T) {
	nss := nssDB(t)
	for _, p := range []int{0, 2} {
		t.Run(fmt.Sprintf("P=%d", p), func(t *testing.T) {
			base := visibleBase(t, p)
			seal := sealOf(t, base)
			pref, _, _ := page1(t, base)
			n := nextNum(t, base)
			widget := func(v pdf.Object, visible bool) map[int]string {
				d := pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Widget"), "FT": pdf.Name("Sig"),
					"T": pdf.Text("Approved by the chief engineer"), "V": v, "P": pref, "F": pdf.Integer(4),
					"Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(0), pdf.Integer(0)}}
				objs := map[int]string{}
				if visible {
					d["Rect"] = pdf.Array{pdf.Integer(40), pdf.Integer(40), pdf.Integer(260), pdf.Integer(120)}
					d["AP"] = pdf.Dict{"N": pdf.Ref{Num: n + 1}}
					objs[n+1] = formText("0 0 1 rg 0 0 595 842 re f")
				}
				objs[n] = objText(t, d)
				addToFields(t, base, objs, pdf.Ref{Num: n})
				addToAnnots(t, base, objs, pdf.Ref{Num: n})
				return objs
			}
			reseal := func(f func(d pdf.Dict)) map[int]string {
				d := seal.dict.Clone()
				f(d)
				return map[int]string{seal.field.Num: objText(t, d)}
			}
			cases := []struct {
				name   string
				b      []byte
				want   string
				visual bool
			}{
				{"reused signature, visible", appendRevision(t, base, widget(seal.sig, true), nil), "from an earlier revision", true},
				{"reused signature, invisible", appendRevision(t, base, widget(seal.sig, false), nil), "from an earlier revision", false},
				{"value not a signature", func() []byte {
					objs := widget(pdf.Ref{Num: n + 2}, false)
					objs[n+2] = "<< /Type /Annot /Subtype /Text /Rect [0 0 1 1] >>"
					return appendRevision(t, base, objs, nil)
				}(), "is not a signature dictionary whose /ByteRange ends", false},
				{"signature that hides the seal", signatureUpdate(t, base, reseal(func(d pdf.Dict) { d["F"] = pdf.Integer(132 | 2) })), "signed before this update, changed (/F)", true},
				{"signature that repaints the seal", signatureUpdate(t, base, map[int]string{seal.ap.Num: formText("1 0 0 rg 0 0 595 842 re f")}), "rewritten in place", true},
				{"appearance re-pointed", appendRevision(t, base, func() map[int]string {
					objs := reseal(func(d pdf.Dict) { d["AP"] = pdf.Dict{"N": pdf.Ref{Num: n}} })
					objs[n] = formText("1 0 0 rg 0 0 595 842 re f")
					return objs
				}(), nil), "changed (/AP)", true},
				{"appearance rewritten in place", appendRevision(t, base, map[int]string{seal.ap.Num: formText("1 0 0 rg 0 0 595 842 re f")}, nil), "rewritten in place, used by", true},
				{"hidden", appendRevision(t, base, reseal(func(d pdf.Dict) { d["F"] = pdf.Integer(132 | 2) }), nil), "changed (/F)", true},
				{"no view", appendRevision(t, base, reseal(func(d pdf.Dict) { d["F"] = pdf.Integer(132 | 32) }), nil), "changed (/F)", true},
				{"moved", appendRevision(t, base, reseal(func(d pdf.Dict) {
					d["Rect"] = pdf.Array{pdf.Integer(40), pdf.Integer(40), pdf.Integer(270), pdf.Integer(130)}
				}), nil), "changed (/Rect)", true},
				{"appearance characteristics", appendRevision(t, base, reseal(func(d pdf.Dict) {
					d["MK"] = pdf.Dict{"BG": pdf.Array{pdf.Integer(1), pdf.Integer(0), pdf.Integer(0)}}
				}), nil), "changed (/MK)", false},
				{"parent", appendRevision(t, base, func() map[int]string {
					objs := reseal(func(d pdf.Dict) { d["Parent"] = pdf.Ref{Num: n} })
					objs[n] = objText(t, pdf.Dict{"T": pdf.Text("Seals"), "Kids": pdf.Array{seal.field}})
					return objs
				}(), nil), "changed (/Parent)", false},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					rep := expectUpdate(t, c.b, c.want)
					if strings.HasPrefix(c.name, "reused") {
						if len(rep.Signatures) != 1 || !strings.Contains(strings.Join(rep.Signatures[0].Notes, "\n"), "not a second signature") {
							t.Fatalf("one signature dictionary reported as %d signatures: %+v", len(rep.Signatures), rep.Signatures)
						}
					}
					if c.visual {
						assertVisible(t, base, c.b, 1)
					}
					logPdfsig(t, nss, c.b)
				})
			}
		})
	}
}

// sharedFormBase prepares libreoffice-acroform.pdf so that the FullName
// widget's appearance stream is also used elsewhere, as share says, and
// seals it (certified P=2, which allows form filling). It returns the
// sealed file, the FullName field and its appearance stream.
func sharedFormBase(t *testing.T, share string) ([]byte, pdf.Field, pdf.Ref) {
	t.Helper()
	orig := readFile(t, filepath.Join(corpusDir, "libreoffice-acroform.pdf"))
	rv := open(t, orig).Latest()
	full, ap := formField(t, orig, "FullName")
	email, _ := formField(t, orig, "Email")
	pref, page, _ := page1(t, orig)
	n := nextNum(t, orig)
	res, err := rv.Dict(page["Resources"])
	if err != nil {
		t.Fatal(err)
	}
	objs := map[int]string{}
	// The page draws XObject /S, as a second content stream.
	drawOnPage := func(x pdf.Ref) {
		r := res.Clone()
		r["XObject"] = pdf.Dict{"S": x}
		p := page.Clone()
		p["Resources"] = r
		p["Contents"] = pdf.Array{page["Contents"], pdf.Ref{Num: n}}
		objs[pref.Num] = objText(t, p)
		objs[n] = streamText("q 1 0 0 1 100 300 cm /S Do Q")
	}
	switch share {
	case "page":
		drawOnPage(ap)
	case "widget":
		e := email.Dict.Clone()
		e["AP"] = pdf.Dict{"N": ap}
		objs[email.Ref.Num] = objText(t, e)
	case "xobject":
		objs[n+1] = fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /XObject << /A %d 0 R >> >> /Length 6 >>\nstream\n/A Do\nendstream", ap.Num)
		drawOnPage(pdf.Ref{Num: n + 1})
	}
	prepared := orig
	if len(objs) > 0 {
		prepared = appendRevision(t, orig, objs, nil)
	}
	signed := sealBytes(t, prepared, sealCfg{opts: pdf.SealOptions{DocMDP: 2}})
	if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
		t.Fatalf("prepared file: %+v", rep.Signatures)
	}
	return signed, full, ap
}

// formField returns the named field of b's latest revision and its
// normal appearance stream.
func formField(t *testing.T, b []byte, name string) (pdf.Field, pdf.Ref) {
	t.Helper()
	fields, err := open(t, b).Latest().Fields()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if f.Name == name {
			ap, _ := f.Dict["AP"].(pdf.Dict)
			r, _ := ap["N"].(pdf.Ref)
			return f, r
		}
	}
	t.Fatalf("no field %q", name)
	return pdf.Field{}, pdf.Ref{}
}

// fill sets FullName's value and rewrites its appearance stream in place.
func fill(t *testing.T, b []byte, full pdf.Field, ap pdf.Ref, rewrite bool) []byte {
	f := full.Dict.Clone()
	f["V"] = pdf.Text("PAID IN FULL")
	objs := map[int]string{full.Ref.Num: objText(t, f)}
	if rewrite {
		objs[ap.Num] = fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 251 19] /Length %d >>\nstream\n%s\nendstream", len("0 0 0 rg 0 0 251 19 re f"), "0 0 0 rg 0 0 251 19 re f")
	}
	return appendRevision(t, b, objs, nil)
}

// TestSharedAppearance: section 2 of issue 7. Filling a field and
// rewriting its appearance stream in place is form filling, unless the
// stream is also used by the page, another widget or another XObject:
// then the rewrite changes them too, and it is other.
func TestSharedAppearance(t *testing.T) {
	nss := nssDB(t)
	t.Run("not shared", func(t *testing.T) {
		b, full, ap := sharedFormBase(t, "")
		rep := expect(t, fill(t, b, full, ap, true), Modified, FormFilling)
		if !rep.Signatures[0].DocMDPOK {
			t.Fatalf("DocMDP P=2 must allow filling: %+v", rep.Signatures[0])
		}
	})
	t.Run("rewritten without filling", func(t *testing.T) {
		b, _, ap := sharedFormBase(t, "")
		after := appendRevision(t, b, map[int]string{ap.Num: formText("0 0 0 rg 0 0 595 842 re f")}, nil)
		expectUpdate(t, after, "rewritten in place, used by object 4 (the widget of field \"FullName\", /AP)")
	})
	t.Run("radio group", func(t *testing.T) {
		// Choosing "premium" in the Plan radio group (the parent's /V,
		// each kid's /AS) and redrawing the kid's "premium" appearance in
		// place is filling; redrawing it while filling another field is not.
		b, full, ap := sharedFormBase(t, "")
		rv := open(t, b).Latest()
		plan, _ := formField(t, b, "Plan")
		kids := plan.Dict["Kids"].(pdf.Array)
		objs := map[int]string{}
		p := plan.Dict.Clone()
		p["V"] = pdf.Name("premium")
		objs[plan.Ref.Num] = objText(t, p)
		var on pdf.Ref
		for _, k := range kids {
			kd, err := rv.Dict(k)
			if err != nil {
				t.Fatal(err)
			}
			kd = kd.Clone()
			states := kd["AP"].(pdf.Dict)["N"].(pdf.Dict)
			kd["AS"] = pdf.Name("Off")
			if r, ok := states["premium"].(pdf.Ref); ok {
				kd["AS"], on = pdf.Name("premium"), r
			}
			objs[k.(pdf.Ref).Num] = objText(t, kd)
		}
		redraw := fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 9 9] /Length %d >>\nstream\n%s\nendstream", len("0 0 1 rg 0 0 9 9 re f"), "0 0 1 rg 0 0 9 9 re f")
		objs[on.Num] = redraw
		rep := expect(t, appendRevision(t, b, objs, nil), Modified, FormFilling)
		if !rep.Signatures[0].DocMDPOK {
			t.Fatalf("DocMDP P=2: %+v", rep.Signatures[0])
		}
		other := fill(t, b, full, ap, false)
		expectUpdate(t, appendRevision(t, other, map[int]string{on.Num: redraw}, nil), "rewritten in place, used by")
	})
	t.Run("shared with the trailer", func(t *testing.T) {
		b, full, ap := sharedFormBase(t, "")
		after := fill(t, b, full, ap, true)
		i := bytes.LastIndex(after, []byte("trailer\n<< "))
		after = append(append(append([]byte{}, after[:i]...), fmt.Sprintf("trailer\n<< /Thumb %d 0 R ", ap.Num)...), after[i+len("trailer\n<< "):]...)
		expectUpdate(t, after, "the trailer (/Thumb)")
	})
	for _, c := range []struct{ share, want string }{
		{"page", "/Page, /Resources"},
		{"widget", "the widget of field \"Email\", /AP"},
		{"xobject", "/XObject, /Resources"},
	} {
		t.Run("shared with "+c.share, func(t *testing.T) {
			b, full, ap := sharedFormBase(t, c.share)
			after := fill(t, b, full, ap, true)
			expectUpdate(t, after, c.want)
			if c.share != "widget" {
				// poppler regenerates field appearances (NeedAppearances),
				// but draws the page's use of the stream as it is.
				assertVisible(t, b, after, 1)
			}
			logPdfsig(t, nss, after)
			// The same fill without the rewrite is form filling.
			expect(t, fill(t, b, full, ap, false), Modified, FormFilling)
		})
	}
}

// TestDamagedUpdate: section 3 of issue 7. An update after a seal that
// needs a repair to be read is other, with a change line naming the
// repair; the same damage before the seal is a warning.
func TestDamagedUpdate(t *testing.T) {
	nss := nssDB(t)
	base := sealedBase(t)
	rv := open(t, base).Latest()
	infoRef, _ := rv.Trailer["Info"].(pdf.Ref)
	info, err := rv.Dict(infoRef)
	if err != nil {
		t.Fatal(err)
	}
	i2 := info.Clone()
	i2["Title"] = pdf.Text("Invoice, reviewed")
	metadata := map[int]string{infoRef.Num: objText(t, i2)}
	clean := appendRevision(t, base, metadata, nil)
	if s := mustVerify(t, clean, Options{}).Signatures[0]; s.Verdict != Valid || s.Updates[0].Class != ClassMetadata {
		t.Fatalf("the undamaged update: %+v", s)
	}
	_, page, _ := page1(t, base)
	c := page["Contents"].(pdf.Ref)
	// The damaged variants of the same metadata update.
	at := bytes.LastIndex(clean, []byte(fmt.Sprintf("\n%d 0 obj", infoRef.Num))) + 1
	cases := []struct {
		name, want string
		b          []byte
	}{
		{"object offset wrong", "cross-reference offset", bytes.Replace(clean, []byte(fmt.Sprintf("%010d 00000 n \ntrailer", at)), []byte(fmt.Sprintf("%010d 00000 n \ntrailer", at-7)), 1)},
		{"prev off", "startxref points", func() []byte {
			prev := open(t, base).Latest().Sections[0].Offset
			return bytes.Replace(clean, []byte(fmt.Sprintf("/Prev %d ", prev)), []byte(fmt.Sprintf("/Prev %d ", prev+2)), 1)
		}()},
		{"startxref off", "startxref points", func() []byte {
			i := bytes.LastIndex(clean, []byte("startxref\n"))
			var x int
			fmt.Sscan(string(clean[i+len("startxref\n"):]), &x)
			return append(append([]byte{}, clean[:i]...), fmt.Sprintf("startxref\n%d\n%%%%EOF\n", x+3)...)
		}()},
		{"unlisted object", "in no cross-reference section", func() []byte {
			// A body for the page's content stream that the update's
			// xref does not list: a viewer that rebuilds the table shows it.
			stray := fmt.Sprintf("%d 0 obj\n%s\nendobj\n", c.Num, streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET"))
			objs := map[int]string{infoRef.Num: objText(t, i2) + "\nendobj\n" + strings.TrimSuffix(stray, "endobj\n") + "% no xref lists the body above\n"}
			return appendRevision(t, base, objs, nil)
		}()},
		{"truncated xref stream", "holds 1 of the 2 entries", func() []byte {
			r := open(t, base)
			latest := r.Latest()
			out := append([]byte{}, base...)
			off := len(out)
			out = fmt.Appendf(out, "%d 0 obj\n%s\nendobj\n", infoRef.Num, objText(t, i2))
			x := nextNum(t, base)
			xoff := len(out)
			data := []byte{1, byte(off >> 24), byte(off >> 16), byte(off >> 8), byte(off), 0}
			out = fmt.Appendf(out, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Index [%d 2] /Root %v /Prev %d /Length %d >>\nstream\n%s\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n",
				x, x+1, infoRef.Num, latest.Trailer["Root"], latest.Sections[0].Offset, len(data), data, xoff)
			return out
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := expectUpdate(t, c.b, "reading this revision needed a repair: ")
			expectUpdate(t, c.b, c.want)
			if len(rep.Warnings) == 0 && c.name != "unlisted object" {
				t.Fatalf("no warning: %+v", rep)
			}
			logPdfsig(t, nss, c.b)
		})
	}
	t.Run("damage before the seal", func(t *testing.T) {
		// An update before the seal whose /Prev is two bytes off: the
		// reader repairs it, the seal covers the file as it is, and it
		// verifies with a warning.
		orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
		r := open(t, orig)
		prev := r.Latest().Sections[0].Offset
		oi := r.Latest().Trailer["Info"].(pdf.Ref)
		damaged := appendRevision(t, orig, map[int]string{oi.Num: "<< /Title (draft) >>"}, nil)
		damaged = bytes.Replace(damaged, []byte(fmt.Sprintf("/Prev %d ", prev)), []byte(fmt.Sprintf("/Prev %d ", prev+2)), 1)
		rep := mustVerify(t, sealBytes(t, damaged, sealCfg{}), Options{})
		if rep.Verdict != Valid || !strings.Contains(strings.Join(rep.Warnings, "\n"), "startxref points") {
			t.Fatalf("%+v", rep)
		}
	})
}

// TestAllowedUpdates: updates that change nothing the seal shows keep
// their verdicts: document information and XMP metadata (valid), and
// form filling after an approval seal (modified, form filling).
func TestAllowedUpdates(t *testing.T) {
	base := sealedBase(t)
	rv := open(t, base).Latest()
	infoRef, _ := rv.Trailer["Info"].(pdf.Ref)
	info, err := rv.Dict(infoRef)
	if err != nil {
		t.Fatal(err)
	}
	i2 := info.Clone()
	i2["Subject"] = pdf.Text("reviewed")
	catRef, cat, err := rv.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	n := nextNum(t, base)
	c := cat.Clone()
	c["Metadata"] = pdf.Ref{Num: n}
	xmp := `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>`
	for name, objs := range map[string]map[int]string{
		"info": {infoRef.Num: objText(t, i2)},
		"xmp": {catRef.Num: objText(t, c),
			n: fmt.Sprintf("<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n%s\nendstream", len(xmp), xmp)},
	} {
		s := mustVerify(t, appendRevision(t, base, objs, nil), Options{}).Signatures[0]
		if s.Verdict != Valid || len(s.Updates) != 1 || s.Updates[0].Class != ClassMetadata {
			t.Fatalf("%s: %+v", name, s)
		}
	}
	// An invisible, unsigned signature field placed for the next signer:
	// metadata after an approval, forbidden by DocMDP P=1.
	for _, p := range []int{0, 1} {
		signed := sealBytes(t, readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf")), sealCfg{opts: pdf.SealOptions{DocMDP: p}})
		pref, _, _ := page1(t, signed)
		m := nextNum(t, signed)
		objs := map[int]string{m: objText(t, pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Widget"), "FT": pdf.Name("Sig"),
			"T": pdf.Text("Reviewer"), "P": pref, "F": pdf.Integer(4), "Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(0), pdf.Integer(0)}})}
		addToFields(t, signed, objs, pdf.Ref{Num: m})
		addToAnnots(t, signed, objs, pdf.Ref{Num: m})
		s := mustVerify(t, appendRevision(t, signed, objs, nil), Options{}).Signatures[0]
		if len(s.Updates) != 1 || s.Updates[0].Class != ClassMetadata || s.Modification != None || s.DocMDPOK != (p == 0) {
			t.Fatalf("empty signature field, P=%d: %+v", p, s)
		}
	}
	// Form filling after an approval seal.
	signed := sealBytes(t, readFile(t, filepath.Join(corpusDir, "libreoffice-acroform.pdf")), sealCfg{})
	full, ap := formField(t, signed, "FullName")
	rep := expect(t, fill(t, signed, full, ap, true), Modified, FormFilling)
	if s := rep.Signatures[0]; s.DocMDP != 0 || !s.DocMDPOK {
		t.Fatalf("%+v", s)
	}
}

// TestObjectStreamRewritten: an update that rewrites an existing object
// stream in place changes every object that older sections store in it,
// without listing any of them: here page 2 of a sealed file gets another
// /MediaBox. It is other.
func TestObjectStreamRewritten(t *testing.T) {
	signed := sealBytes(t, readFile(t, filepath.Join(corpusDir, "qpdf-objstm-xrefstream.pdf")), sealCfg{})
	r := open(t, signed)
	rv := r.Latest()
	p2ref, p2, err := rv.Page(2)
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := rv.Entry(p2ref.Num)
	if e.Type != pdf.EntryCompressed {
		t.Fatalf("page 2 is not in an object stream: %+v", e)
	}
	o, err := rv.Get(pdf.Ref{Num: e.Stream})
	if err != nil {
		t.Fatal(err)
	}
	stm := o.(*pdf.Stream)
	data, err := r.StreamData(stm)
	if err != nil {
		t.Fatal(err)
	}
	first := int(stm.Dict["First"].(pdf.Integer))
	var nums, offs []int
	head := strings.Fields(string(data[:first]))
	for i := 0; i+1 < len(head); i += 2 {
		var a, b int
		fmt.Sscan(head[i], &a)
		fmt.Sscan(head[i+1], &b)
		nums, offs = append(nums, a), append(offs, b)
	}
	p := p2.Clone()
	p["MediaBox"] = pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(300), pdf.Integer(300)}
	var hdr, body strings.Builder
	for i, num := range nums {
		end := len(data) - first
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		text := string(data[first+offs[i] : first+end])
		if num == p2ref.Num {
			text = objText(t, p) + "\n"
		}
		fmt.Fprintf(&hdr, "%d %d ", num, body.Len())
		body.WriteString(text)
	}
	content := hdr.String() + "\n" + body.String()
	after := appendRevision(t, signed, map[int]string{e.Stream: fmt.Sprintf("<< /Type /ObjStm /N %d /First %d /Length %d >>\nstream\n%s\nendstream",
		len(nums), hdr.Len()+1, len(content), content)}, nil)
	if got, err := open(t, after).Latest().Dict(p2ref); err != nil || fmt.Sprint(got["MediaBox"]) != fmt.Sprint(p["MediaBox"]) {
		t.Fatalf("the rewritten stream does not change page 2: %v %v", got, err)
	}
	expectUpdate(t, after, "an existing object stream is rewritten")
	assertVisible(t, signed, after, 2)
	logPdfsig(t, nssDB(t), after)
}

// TestSharedQuietObjects: an existing object changed in a role that shows
// nothing (document information, DSS) is other when the document also
// uses it for something it shows: here the page's resources are the
// document information dictionary (prepared before the seal), or the
// page's content stream is declared DSS data after it.
func TestSharedQuietObjects(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	pref, page, rv := page1(t, orig)
	infoRef := rv.Trailer["Info"].(pdf.Ref)
	info, err := rv.Dict(infoRef)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rv.Dict(page["Resources"])
	if err != nil {
		t.Fatal(err)
	}
	t.Run("information dictionary as page resources", func(t *testing.T) {
		both := info.Clone()
		for k, x := range res {
			both[k] = x
		}
		p := page.Clone()
		p["Resources"] = infoRef
		prepared := appendRevision(t, orig, map[int]string{infoRef.Num: objText(t, both), pref.Num: objText(t, p)}, nil)
		signed := sealBytes(t, prepared, sealCfg{})
		if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
			t.Fatalf("prepared: %+v", rep.Signatures)
		}
		// The "metadata" update: the page's fonts become Courier.
		evil := both.Clone()
		evil["Title"] = pdf.Text("Invoice")
		fonts := pdf.Dict{}
		f, _ := open(t, signed).Latest().Dict(both["Font"])
		for k := range f {
			fonts[k] = pdf.Dict{"Type": pdf.Name("Font"), "Subtype": pdf.Name("Type1"), "BaseFont": pdf.Name("Courier")}
		}
		evil["Font"] = fonts
		after := appendRevision(t, signed, map[int]string{infoRef.Num: objText(t, evil)}, nil)
		expectUpdate(t, after, "document information dictionary, but the object is also used by object")
		assertVisible(t, signed, after, 1)
	})
	t.Run("page content declared DSS data", func(t *testing.T) {
		signed := sealBytes(t, orig, sealCfg{opts: pdf.SealOptions{DocMDP: 1}})
		catRef, cat, err := open(t, signed).Latest().Catalog()
		if err != nil {
			t.Fatal(err)
		}
		c := cat.Clone()
		content := page["Contents"].(pdf.Ref)
		c["DSS"] = pdf.Dict{"Certs": pdf.Array{content}}
		after := appendRevision(t, signed, map[int]string{
			catRef.Num:  objText(t, c),
			content.Num: streamText("BT /F4 48 Tf 100 400 Td (PAID) Tj ET"),
		}, nil)
		expectUpdate(t, after, "DSS validation data, but the object is also used by object")
		assertVisible(t, signed, after, 1)
	})
}

// TestSealAppearanceRepointed: the hide-and-replace attack on the seal
// itself. Before sealing, a body for the object number that the seal's
// appearance stream will get is planted where no cross-reference lists
// it; after the seal, an xref-only update points that number at it. No
// object is written, but the seal shows something else: other.
func TestSealAppearanceRepointed(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	n := nextNum(t, orig)
	// The prepared update adds object n; the seal then allocates n+1
	// (signature), n+2 (widget) and n+3 (appearance).
	apNum := n + 3
	stray := fmt.Sprintf("%d 0 obj\n%s\nendobj\n", apNum, formText("1 0 0 rg 0 0 595 842 re f"))
	prepared := appendRevision(t, orig, map[int]string{n: "<< /Unused true >>\nendobj\n" + stray + "% the body above is listed by no xref\n" + fmt.Sprint(n) + " 0 obj\n<< /Unused true >>"}, nil)
	strayAt := int64(bytes.Index(prepared, []byte(stray)))
	ap := visibleSeal
	signed := sealBytes(t, prepared, sealCfg{opts: pdf.SealOptions{Visible: &ap}})
	if got := sealOf(t, signed).ap; got.Num != apNum {
		t.Fatalf("the seal's appearance is object %d, not %d", got.Num, apNum)
	}
	if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
		t.Fatalf("prepared and sealed: %+v", rep.Signatures)
	}
	after := appendRevision(t, signed, nil, map[int]int64{apNum: strayAt})
	expectUpdate(t, after, "rewritten in place, used by object")
	assertVisible(t, signed, after, 1)
	logPdfsig(t, nssDB(t), after)
}

// manyObjectsPDF is a one-page PDF with n extra objects (nulls) and a
// document information dictionary.
func manyObjectsPDF(n int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>", "<< /Title (many) >>"}
	for i := 0; i < n; i++ {
		objs = append(objs, "null")
	}
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj %s endobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, x)
	return b.Bytes()
}

// TestUsesBeyondBound: where an object is used is looked up in at most
// maxRefObjects objects; in a larger revision a change that depends on it
// is other (fail closed, in bounded time).
func TestUsesBeyondBound(t *testing.T) {
	signed := sealBytes(t, manyObjectsPDF(maxRefObjects), sealCfg{})
	after := appendRevision(t, signed, map[int]string{4: "<< /Title (reviewed) >>"}, nil)
	expectUpdate(t, after, "whether anything else uses it is not known")
}

// TestCorpusSealTwice: every sealable corpus file sealed twice (the second
// seal visible) keeps its first seal valid, followed by exactly one
// signature update: the rules for what a signature update may do hold for
// the update our own sealer writes, in every cross-reference style.
func TestCorpusSealTwice(t *testing.T) {
	for _, name := range append(append([]string{}, sealable...), "certified P=2") {
		t.Run(name, func(t *testing.T) {
			cfg := sealCfg{}
			if name == "certified P=2" {
				name, cfg.opts.DocMDP = "libreoffice-acroform.pdf", 2
			}
			once := sealBytes(t, readFile(t, filepath.Join(corpusDir, name)), cfg)
			box, _, err := open(t, once).Latest().PageBox(1)
			if err != nil {
				t.Fatal(err)
			}
			ap := pdf.Appearance{Page: 1, Rect: [4]float64{box[0] + 10, box[1] + 10, box[0] + 150, box[1] + 60}, Lines: []string{"Second seal"}}
			twice := sealBytes(t, once, sealCfg{opts: pdf.SealOptions{Visible: &ap}})
			rep := mustVerify(t, twice, Options{})
			s := rep.Signatures[len(rep.Signatures)-2]
			if !s.Intact || !s.Valid || s.Modification != None || !s.DocMDPOK || len(s.Updates) != 1 || s.Updates[0].Class != ClassSignature {
				t.Fatalf("first seal after the second: %+v", s)
			}
			if last := rep.Signatures[len(rep.Signatures)-1]; last.Verdict != Valid || last.Coverage != EntireFile {
				t.Fatalf("second seal: %+v", last)
			}
		})
	}
}

// TestDanglingReference: before sealing, the page's content array names an
// object that does not exist (read as null, so the seal covers a page
// without it); after the seal, a "metadata" update creates that object as
// XMP metadata whose bytes are page content. The page now draws it: other.
func TestDanglingReference(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	pref, page, _ := page1(t, orig)
	ghost := nextNum(t, orig) + 50
	p := page.Clone()
	p["Contents"] = pdf.Array{page["Contents"], pdf.Ref{Num: ghost}}
	signed := sealBytes(t, appendRevision(t, orig, map[int]string{pref.Num: objText(t, p)}, nil), sealCfg{})
	if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
		t.Fatalf("prepared and sealed: %+v", rep.Signatures)
	}
	catRef, cat, err := open(t, signed).Latest().Catalog()
	if err != nil {
		t.Fatal(err)
	}
	c := cat.Clone()
	c["Metadata"] = pdf.Ref{Num: ghost}
	content := "BT /F4 48 Tf 100 400 Td (PAID) Tj ET"
	after := appendRevision(t, signed, map[int]string{
		catRef.Num: objText(t, c),
		ghost:      fmt.Sprintf("<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n%s\nendstream", len(content), content),
	}, nil)
	expectUpdate(t, after, "a reference that named nothing when signed now resolves")
	assertVisible(t, signed, after, 1)
	logPdfsig(t, nssDB(t), after)
}

// TestSignatureUpdateExtras: what a signature update may not bring: an
// action on the new field, a rewrite of the image inside the seal's
// appearance; and what /DR may do: gain entries (metadata), but not change
// one or, where /DR is also a page's resources, gain one.
func TestSignatureUpdateExtras(t *testing.T) {
	t.Run("action on the new field", func(t *testing.T) {
		base := visibleBase(t, 0)
		n := nextNum(t, base)
		// signatureUpdate's widget is object n+1: the same widget with an
		// action that runs when the page opens.
		objs := map[int]string{}
		pref, _, _ := page1(t, base)
		objs[n+1] = objText(t, pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Widget"), "FT": pdf.Name("Sig"),
			"T": pdf.Text("Second"), "V": pdf.Ref{Num: n}, "P": pref, "F": pdf.Integer(132),
			"Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(0), pdf.Integer(0)},
			"AA":   pdf.Dict{"PO": pdf.Dict{"S": pdf.Name("JavaScript"), "JS": pdf.String{Value: []byte("app.alert(1)")}}}})
		expectUpdate(t, signatureUpdate(t, base, objs), "gains actions")
		// The same widget unsigned, placed for the next signer.
		d := pdf.Dict{"Type": pdf.Name("Annot"), "Subtype": pdf.Name("Widget"), "FT": pdf.Name("Sig"), "T": pdf.Text("Next"), "P": pref,
			"Rect": pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(0), pdf.Integer(0)},
			"AA":   pdf.Dict{"PO": pdf.Dict{"S": pdf.Name("JavaScript"), "JS": pdf.String{Value: []byte("app.alert(1)")}}}}
		unsigned := map[int]string{n: objText(t, d)}
		addToFields(t, base, unsigned, pdf.Ref{Num: n})
		addToAnnots(t, base, unsigned, pdf.Ref{Num: n})
		expectUpdate(t, appendRevision(t, base, unsigned, nil), "gains actions")
	})
	t.Run("image inside the seal's appearance", func(t *testing.T) {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		var png8 bytes.Buffer
		if err := png.Encode(&png8, img); err != nil {
			t.Fatal(err)
		}
		ap := visibleSeal
		ap.Image = png8.Bytes()
		signed := sealBytes(t, readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf")), sealCfg{opts: pdf.SealOptions{Visible: &ap}})
		rv := open(t, signed).Latest()
		form, err := rv.Get(sealOf(t, signed).ap)
		if err != nil {
			t.Fatal(err)
		}
		res, err := rv.Dict(form.(*pdf.Stream).Dict["Resources"])
		if err != nil {
			t.Fatal(err)
		}
		im := res["XObject"].(pdf.Dict)["Im1"].(pdf.Ref)
		after := appendRevision(t, signed, map[int]string{im.Num: "<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /BitsPerComponent 8 /ColorSpace /DeviceRGB /Length 3 >>\nstream\n\xff\x00\x00\nendstream"}, nil)
		expectUpdate(t, after, "rewritten in place, used by object")
		assertVisible(t, signed, after, 1)
	})
	t.Run("/DR", func(t *testing.T) {
		base := sealedBase(t)
		catRef, _, err := open(t, base).Latest().Catalog()
		if err != nil {
			t.Fatal(err)
		}
		withDR := func(b []byte, dr pdf.Dict) []byte {
			_, cat, err := open(t, b).Latest().Catalog()
			if err != nil {
				t.Fatal(err)
			}
			c := cat.Clone()
			af := c["AcroForm"].(pdf.Dict).Clone()
			af["DR"] = dr
			c["AcroForm"] = af
			return appendRevision(t, b, map[int]string{catRef.Num: objText(t, c)}, nil)
		}
		helv := pdf.Dict{"Type": pdf.Name("Font"), "Subtype": pdf.Name("Type1"), "BaseFont": pdf.Name("Helvetica")}
		added := withDR(base, pdf.Dict{"Font": pdf.Dict{"Helv": helv}})
		if s := mustVerify(t, added, Options{}).Signatures[0]; s.Verdict != Valid || s.Updates[0].Class != ClassMetadata {
			t.Fatalf("/DR added: %+v", s)
		}
		// The seal covers the first /DR; a second update changes its font.
		resealed := sealBytes(t, added, sealCfg{})
		cour := helv.Clone()
		cour["BaseFont"] = pdf.Name("Courier")
		expectUpdate(t, withDR(resealed, pdf.Dict{"Font": pdf.Dict{"Helv": cour}}), "existing /DR entries changed or removed")
		// libreoffice-acroform.pdf's /DR is its page's /Resources: even an
		// added font changes the page's resources.
		lo := sealBytes(t, readFile(t, filepath.Join(corpusDir, "libreoffice-acroform.pdf")), sealCfg{})
		lrv := open(t, lo).Latest()
		af, err := lrv.AcroForm()
		if err != nil {
			t.Fatal(err)
		}
		drRef := af["DR"].(pdf.Ref)
		dr, err := lrv.Dict(drRef)
		if err != nil {
			t.Fatal(err)
		}
		dr = dr.Clone()
		fonts, err := lrv.Dict(dr["Font"])
		if err != nil {
			t.Fatal(err)
		}
		fonts = fonts.Clone()
		fonts["Helv"] = helv
		dr["Font"] = fonts
		expectUpdate(t, appendRevision(t, lo, map[int]string{drRef.Num: objText(t, dr)}, nil), "but the object is also used by object")
	})
}

// TestSharedAnnotation: an annotation dictionary that is also the page's
// resources (prepared before a P=3 certification, which allows
// annotation changes) is changed after it: the page's fonts change with
// it, which is other, not an annotation change.
func TestSharedAnnotation(t *testing.T) {
	orig := readFile(t, filepath.Join(corpusDir, "chromium-invoice.pdf"))
	pref, page, rv := page1(t, orig)
	res, err := rv.Dict(page["Resources"])
	if err != nil {
		t.Fatal(err)
	}
	n := nextNum(t, orig)
	note := res.Clone()
	note["Type"], note["Subtype"] = pdf.Name("Annot"), pdf.Name("Text")
	note["Rect"] = pdf.Array{pdf.Integer(10), pdf.Integer(10), pdf.Integer(20), pdf.Integer(20)}
	note["Contents"] = pdf.Text("checked")
	annots, _ := rv.Array(page["Annots"])
	p := page.Clone()
	p["Resources"] = pdf.Ref{Num: n}
	p["Annots"] = append(append(pdf.Array{}, annots...), pdf.Ref{Num: n})
	prepared := appendRevision(t, orig, map[int]string{n: objText(t, note), pref.Num: objText(t, p)}, nil)
	signed := sealBytes(t, prepared, sealCfg{opts: pdf.SealOptions{DocMDP: 3}})
	if rep := mustVerify(t, signed, Options{}); rep.Verdict != Valid {
		t.Fatalf("prepared and sealed: %+v", rep.Signatures)
	}
	evil := note.Clone()
	evil["Contents"] = pdf.Text("checked again")
	fonts := pdf.Dict{}
	f, _ := open(t, signed).Latest().Dict(note["Font"])
	for k := range f {
		fonts[k] = pdf.Dict{"Type": pdf.Name("Font"), "Subtype": pdf.Name("Type1"), "BaseFont": pdf.Name("Courier")}
	}
	evil["Font"] = fonts
	after := appendRevision(t, signed, map[int]string{n: objText(t, evil)}, nil)
	expectUpdate(t, after, "annotation changed, but the object is also used by object")
	assertVisible(t, signed, after, 1)
}
