package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"sealkeep/internal/benchdata"
	"sealkeep/internal/pdf"
)

// TestHostileFiles verifies each file of the bounded-cost benchmark
// (issue 7, FAULTS.md 13 and 32): every one is unreadable because it is
// over the processing limit, never a verdict.
func TestHostileFiles(t *testing.T) {
	want := map[string]string{
		"objstm-interleaved": "the cap on one stream",
		"objstm-wide-update": "the cap on one stream",
		"objstm-budget":      "more than 256 MiB of decoded stream data in this file",
		"flate-bomb":         "the cap on one stream",
		"deep-nesting":       "nested deeper than 64",
		"prev-loop":          "more than 1000 cross-reference sections",
	}
	for _, h := range benchdata.HostileFiles() {
		t.Run(h.Name, func(t *testing.T) {
			var b bytes.Buffer
			if _, err := h.Write(&b); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(context.Background(), bytes.NewReader(b.Bytes()), int64(b.Len()), Options{})
			checkOverLimit(t, rep, err, want[h.Name])
		})
	}
}

func checkOverLimit(t *testing.T, rep *Report, err error, msg string) {
	t.Helper()
	if rep != nil || !errors.Is(err, ErrUnreadable) || !errors.Is(err, pdf.ErrLimit) ||
		!strings.Contains(err.Error(), "over the processing limit") || !strings.Contains(err.Error(), msg) {
		t.Fatalf("Verify: %v (report %v); want ErrUnreadable wrapping pdf.ErrLimit, mentioning %q", err, rep != nil, msg)
	}
}

// TestHostileUpdateAfterSeal appends to a sealed file one xref-stream
// update that adds 19 form fields and rewrites the catalog to list them,
// each of the 20 objects in an object stream of its own padded to
// inflate to a lot: over the cap on one stream (200 MB each), or each
// under it but over the budget together (30 MB each). The sealed revision alone is fine; the file as a whole
// is over the processing limit, and no verdict is given.
func TestHostileUpdateAfterSeal(t *testing.T) {
	sealed := sealedBase(t)
	r := open(t, sealed)
	latest := r.Latest()
	root := latest.Trailer["Root"].(pdf.Ref)
	_, cat, err := latest.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	size := int(latest.Trailer["Size"].(pdf.Integer))
	prev := latest.Sections[0].Offset - r.HeaderOffset()
	// The new catalog's form lists 19 new text fields after the
	// signature field, so verifying reads every object stream.
	af, err := latest.Dict(cat["AcroForm"])
	if err != nil {
		t.Fatal(err)
	}
	fields, err := latest.Array(af["Fields"])
	if err != nil {
		t.Fatal(err)
	}
	var objs []benchdata.Obj
	for i := 1; i < 20; i++ {
		num := size + 100 + i
		fields = append(fields, pdf.Ref{Num: num})
		objs = append(objs, benchdata.Obj{Num: num, Body: fmt.Sprintf("<< /FT /Tx /T (filler %d) >>", i)})
	}
	af, cat = af.Clone(), cat.Clone()
	af["Fields"], cat["AcroForm"] = fields, af
	objs = append([]benchdata.Obj{{Num: root.Num, Body: objText(t, cat)}}, objs...)
	for _, c := range []struct {
		pad int64
		msg string
	}{{200 << 20, "the cap on one stream"}, {30 << 20, "of decoded stream data in this file"}} {
		t.Run(fmt.Sprint(c.pad>>20, "MiB"), func(t *testing.T) {
			var b bytes.Buffer
			if _, err := benchdata.AppendObjStmUpdate(&b, sealed, prev, size, objs, c.pad, fmt.Sprintf("/Root %d %d R", root.Num, root.Gen)); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(context.Background(), bytes.NewReader(b.Bytes()), int64(b.Len()), Options{})
			checkOverLimit(t, rep, err, c.msg)
		})
	}
	// The same update with little padding is read and judged: what stops
	// the hostile ones is the limit, not the shape of the update.
	var b bytes.Buffer
	if _, err := benchdata.AppendObjStmUpdate(&b, sealed, prev, size, objs, 1<<10, fmt.Sprintf("/Root %d %d R", root.Num, root.Gen)); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, b.Bytes(), Options{})
	if len(rep.Signatures) != 1 || rep.Signatures[0].Verdict == Valid || !rep.Signatures[0].Intact {
		t.Fatalf("sealed file with a small object-stream update: %+v", rep.Signatures)
	}
}
