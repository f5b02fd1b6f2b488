package audit

import (
	"errors"
	"testing"
)

// TestSummary: a report's summary is OK only when the chain verified and
// no further check failed; a break names its position, anything else its
// error.
func TestSummary(t *testing.T) {
	other := errors.New("stored state differs")
	brk := &Break{Chain: "acme", Seq: 4, Problem: ProblemDeleted, Reason: "gap"}
	for _, tc := range []struct {
		name string
		r    Report
		err  error
		want ChainReport
	}{
		{"ok", Report{Chain: "acme", Read: 5, Head: Entry{Seq: 5}}, nil, ChainReport{Chain: "acme", OK: true, Entries: 5, HeadSeq: 5}},
		{"break", Report{Chain: "acme", Read: 5, Head: Entry{Seq: 3}, Break: brk}, nil,
			ChainReport{Chain: "acme", Entries: 5, HeadSeq: 3, Problem: "deleted", BrokenSeq: 4, Error: "gap"}},
		{"other check", Report{Chain: "acme", Read: 5, Head: Entry{Seq: 5}}, other,
			ChainReport{Chain: "acme", Entries: 5, HeadSeq: 5, Error: "stored state differs"}},
		{"read error", Report{Chain: "acme", Err: other}, nil, ChainReport{Chain: "acme", Error: "stored state differs"}},
	} {
		if got := tc.r.Summary(tc.err); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
