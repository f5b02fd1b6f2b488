package verify

import (
	"fmt"
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
