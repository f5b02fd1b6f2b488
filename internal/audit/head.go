package audit

import "fmt"

// Head is a store's record of where a chain ends: the seq and hash of its
// last entry (zero for a chain without entries). Appenders read it under a
// lock instead of scanning the chain, so it must agree with the entries:
// [CheckHead] compares the two, and [Verifier.ExpectHead] makes a
// verification compare them.
type Head struct {
	Seq  uint64
	Hash Hash
}

// CheckHead compares rec, a store's head record of chain (nil when the store
// has none), with last, the seq and hash of the chain's last stored entry
// (zero when it has none), and returns the break a difference reveals, or
// nil when they agree:
//
//   - no record (or one at seq 0) for a chain with entries: [ProblemHead],
//     at the seq after the last entry (whatever followed it is unknown);
//   - a record beyond the last entry: [ProblemTruncated], at the first
//     entry the record covers that is not stored (the tail was deleted);
//   - a record before the last entry: [ProblemInserted], at the first entry
//     past the record (entries were added outside the appender, or the
//     record was moved back);
//   - the same seq, another hash: [ProblemRewritten], at that seq.
//
// A store's appender calls it before every append and refuses to append on
// a break; verification reports it.
func CheckHead(chain string, rec *Head, last Head) *Break {
	brk := func(seq uint64, p Problem, format string, args ...any) *Break {
		return &Break{Chain: chain, Seq: seq, Problem: p, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case rec == nil && last.Seq == 0:
		return nil
	case rec == nil:
		return brk(last.Seq+1, ProblemHead,
			"the chain has entries 1..%d but no head record: the record was deleted (which hides the chain from a listing of heads), and entries after %d may have been cut off",
			last.Seq, last.Seq)
	case rec.Seq == 0 && last.Seq > 0:
		return brk(last.Seq+1, ProblemHead,
			"the chain has entries 1..%d but its head record is at seq 0: the record was deleted or reset, and entries after %d may have been cut off",
			last.Seq, last.Seq)
	case rec.Seq > last.Seq:
		return brk(last.Seq+1, ProblemTruncated,
			"the head record says the chain ends at seq %d (hash %s), but its entries end at %s: %s deleted",
			rec.Seq, rec.Hash, describeEnd(last.Seq), seqRange(last.Seq+1, rec.Seq+1)+wasWere(rec.Seq-last.Seq))
	case rec.Seq < last.Seq:
		return brk(rec.Seq+1, ProblemInserted,
			"the head record says the chain ends at seq %d, but its entries run to seq %d: %s added outside sealkeep's appender, or the head record was moved back",
			rec.Seq, last.Seq, seqRange(rec.Seq+1, last.Seq+1)+wasWere(last.Seq-rec.Seq))
	case rec.Hash != last.Hash && last.Seq == 0:
		return brk(1, ProblemHead, "the head record of the empty chain has a non-zero hash %s: it was edited", rec.Hash)
	case rec.Hash != last.Hash:
		return brk(last.Seq, ProblemRewritten,
			"entry %d, the last, has hash %s, but the head record says %s: the entry was rewritten or the head record edited",
			last.Seq, last.Hash, rec.Hash)
	}
	return nil
}

func describeEnd(seq uint64) string {
	if seq == 0 {
		return "nothing (no entries)"
	}
	return fmt.Sprintf("seq %d", seq)
}

func wasWere(n uint64) string {
	if n == 1 {
		return " was"
	}
	return " were"
}

// ExpectHead makes [Verifier.Report] compare the chain's end with rec, the
// store's head record of the chain (nil when the store has none), as
// [CheckHead] does, once the entries verified.
func (v *Verifier) ExpectHead(rec *Head) {
	if rec != nil {
		h := *rec
		rec = &h
	}
	v.rec, v.recSet = rec, true
}

// ExpectFirst makes the verifier require that the chain begins with an
// entry of action a, as an organization's chain begins with org.create: an
// empty chain is then [ProblemTruncated] at seq 1, and a correctly linked
// entry 1 of another action is [ProblemDeleted] (the chain's beginning was
// deleted and a new chain started in its place).
func (v *Verifier) ExpectFirst(a Action) { v.first = a }

// checkEnd applies [Verifier.ExpectHead] and [Verifier.ExpectFirst] to a
// chain whose entries verified.
// The head record's verdict comes first: it says more (how far the chain
// reached).
func (v *Verifier) checkEnd() {
	if v.recSet {
		v.brk = CheckHead(v.chain, v.rec, Head{Seq: v.head.Seq, Hash: v.head.Hash})
	}
	if v.brk == nil && v.first != "" && v.head.Seq == 0 {
		v.brk = &Break{Chain: v.chain, Seq: 1, Problem: ProblemTruncated,
			Reason: fmt.Sprintf("the chain has no entries, but it must begin with %s: the whole chain was deleted", v.first)}
	}
	v.final = v.brk != nil
}
