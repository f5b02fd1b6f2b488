package audit

import (
	"strings"
	"testing"
)

func TestCheckHead(t *testing.T) {
	c := buildChain(7)
	at := func(seq int) Head { return Head{Seq: uint64(seq), Hash: c[seq-1].Hash} }
	ptr := func(h Head) *Head { return &h }
	for _, tc := range []struct {
		name    string
		rec     *Head
		last    Head
		problem Problem // "" for agreement
		seq     uint64
		reason  string
	}{
		{"empty, no record", nil, Head{}, "", 0, ""},
		{"empty, record at 0", ptr(Head{}), Head{}, "", 0, ""},
		{"agree", ptr(at(7)), at(7), "", 0, ""},
		{"record deleted", nil, at(7), ProblemHead, 8, "entries 1..7 but no head record"},
		{"record reset to 0", ptr(Head{}), at(7), ProblemHead, 8, "head record is at seq 0"},
		{"last entry deleted", ptr(at(7)), at(6), ProblemTruncated, 7, "ends at seq 7 (hash " + c[6].Hash.String() + "), but its entries end at seq 6: entry 7 was deleted"},
		{"three deleted", ptr(at(7)), at(4), ProblemTruncated, 5, "entries 5..7 were deleted"},
		{"all deleted", ptr(at(7)), Head{}, ProblemTruncated, 1, "end at nothing (no entries): entries 1..7 were deleted"},
		{"entries beyond the record", ptr(at(5)), at(7), ProblemInserted, 6, "entries 6..7 were added"},
		{"last hash differs", ptr(Head{Seq: 7, Hash: c[5].Hash}), at(7), ProblemRewritten, 7, "entry 7, the last, has hash " + c[6].Hash.String()},
		{"empty chain, hash set", ptr(Head{Hash: Hash{1}}), Head{}, ProblemHead, 1, "non-zero hash"},
	} {
		b := CheckHead("org-a", tc.rec, tc.last)
		switch {
		case tc.problem == "" && b != nil:
			t.Errorf("%s: %v, want agreement", tc.name, b)
		case tc.problem == "":
		case b == nil:
			t.Errorf("%s: agreement, want %s", tc.name, tc.problem)
		case b.Problem != tc.problem || b.Seq != tc.seq || b.Chain != "org-a" || !strings.Contains(b.Reason, tc.reason):
			t.Errorf("%s: %s at %d: %s\nwant %s at %d containing %q", tc.name, b.Problem, b.Seq, b.Reason, tc.problem, tc.seq, tc.reason)
		}
	}
}

// TestVerifierExpectHead: the verifier reports the head record's
// disagreement with the entries it read, and a break in the entries first.
func TestVerifierExpectHead(t *testing.T) {
	c := buildChain(7)
	rec := &Head{Seq: 7, Hash: c[6].Hash}
	verify := func(entries []Entry, rec *Head) Report {
		v := NewVerifier("org-a")
		v.ExpectHead(rec)
		for _, e := range entries {
			if v.Add(e) != nil {
				break
			}
		}
		return v.Report()
	}
	if r := verify(c, rec); !r.OK() {
		t.Fatalf("intact chain with its head: %+v", r.Break)
	}
	if r := verify(c[:6], rec); r.OK() || r.Break.Problem != ProblemTruncated || r.Break.Seq != 7 || r.Head.Seq != 6 {
		t.Errorf("tail entry deleted: %+v", r.Break)
	}
	if r := verify(c, nil); r.OK() || r.Break.Problem != ProblemHead || r.Break.Seq != 8 {
		t.Errorf("head record missing: %+v", r.Break)
	}
	// A chain broken in the middle reports that break, not the head's.
	broken := clone(c)
	broken[2].Actor.ID = "mallory"
	if r := verify(broken[:6], rec); r.OK() || r.Break.Problem != ProblemEdited || r.Break.Seq != 3 {
		t.Errorf("edited entry and deleted tail: %+v", r.Break)
	}
	// Without ExpectHead nothing is compared.
	if r := Verify(Slice(c[:6])); !r.OK() {
		t.Errorf("no head record expected: %+v", r.Break)
	}
	// Report may be called again and gives the same verdict.
	v := NewVerifier("org-a")
	v.ExpectHead(rec)
	for _, e := range c[:6] {
		v.Add(e)
	}
	if a, b := v.Report(), v.Report(); a.Break == nil || b.Break == nil || *a.Break != *b.Break {
		t.Errorf("two reports differ: %+v, %+v", a.Break, b.Break)
	}
}

func TestVerifierExpectFirst(t *testing.T) {
	verify := func(entries []Entry) Report {
		v := NewVerifier("org-a")
		v.ExpectFirst(ActionOrgCreate)
		for _, e := range entries {
			if v.Add(e) != nil {
				break
			}
		}
		return v.Report()
	}
	if r := verify(nil); r.OK() || r.Break.Problem != ProblemTruncated || r.Break.Seq != 1 ||
		!strings.Contains(r.Break.Reason, "must begin with org.create") {
		t.Errorf("empty chain: %+v", r.Break)
	}
	// A fresh chain started where the organization's was: linked, valid,
	// but not beginning with org.create.
	if r := verify(buildChain(3)); r.OK() || r.Break.Problem != ProblemDeleted || r.Break.Seq != 1 || r.Head.Seq != 0 {
		t.Errorf("chain beginning with seal: %+v", r.Break)
	}
	var c []Entry
	c = appendEntry(c, Entry{Chain: "org-a", Time: t0, Actor: Actor{Kind: ActorCLI, ID: "root"}, Action: ActionOrgCreate, Subject: Subject{Org: "org-a"}})
	c = appendEntry(c, buildChain(1)[0])
	if r := verify(c); !r.OK() || r.Head.Seq != 2 {
		t.Errorf("chain beginning with org.create: %+v", r.Break)
	}
}
