package audit

import "errors"

// ChainReport is the verification of one chain as sealkeep reports it to
// people and programs: each element of `sealkeep audit verify --json`, and
// the answer of the service's GET .../audit/verify.
type ChainReport struct {
	Chain string `json:"chain"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
	// Entries is the number of entries read; HeadSeq the last one that
	// verified in order.
	Entries uint64 `json:"entries"`
	HeadSeq uint64 `json:"head_seq"`
	// Problem and BrokenSeq name the first broken entry and what is wrong
	// there ([Problem]); Error says what failed, for a person.
	Problem   string `json:"problem,omitempty"`
	BrokenSeq uint64 `json:"broken_seq,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Summary is r as a ChainReport, with err, a failure of the checks beyond
// the entries (a stored state or Merkle tree that differs, a checkpoint
// that does not verify), failing it too.
func (r Report) Summary(err error) ChainReport {
	out := ChainReport{Chain: r.Chain, OK: r.OK() && err == nil, Entries: r.Read, HeadSeq: r.Head.Seq}
	if r.Break != nil {
		out.Problem, out.BrokenSeq, out.Error = string(r.Break.Problem), r.Break.Seq, r.Break.Reason
	} else if e := errors.Join(r.Err, err); e != nil {
		out.Error = e.Error()
	}
	return out
}
