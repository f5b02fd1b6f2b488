package audit

import (
	"fmt"
	"iter"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"sealkeep/internal/errs"
)

// MaxClockSkew is how far an entry's time may fall behind the latest time
// seen earlier in its chain. Appends from several sealkeep instances take
// their time from different clocks; a larger step back means the times were
// tampered with.
const MaxClockSkew = time.Minute

// window is how many recent head hashes a [Verifier] remembers, to tell a
// duplicated entry from an inserted one. It bounds memory, not correctness:
// every break is still detected.
const window = 1024

// ErrBroken is wrapped by every [*Break].
var ErrBroken = errs.New(errs.Verification, "audit: chain broken")

// Problem classifies a break in a chain.
type Problem string

// Problems a [Verifier] reports.
const (
	// ProblemEdited: an entry's stored hash differs from its recomputed hash,
	// or an entry was rewritten and rehashed, so that the next entry's
	// prev_hash no longer matches it, or its seq was rewritten.
	ProblemEdited Problem = "edited"
	// ProblemDeleted: sequence numbers skip, and the entry after the gap
	// links to an entry that is not there.
	ProblemDeleted Problem = "deleted"
	// ProblemReordered: an entry appears after a later one.
	ProblemReordered Problem = "reordered"
	// ProblemInserted: an extra entry whose link does not fit: a second,
	// different entry with a seq already used, or an entry of another chain.
	ProblemInserted Problem = "inserted"
	// ProblemDuplicated: an exact copy of an entry already read.
	ProblemDuplicated Problem = "duplicated"
	// ProblemTime: an entry's time is more than [MaxClockSkew] before an
	// earlier entry's.
	ProblemTime Problem = "time"
	// ProblemInvalid: a correctly linked entry fails [Entry.Validate].
	ProblemInvalid Problem = "invalid"
	// ProblemTruncated: the chain ends before the seq (or tree size) a
	// checkpoint signed or its head record names, or it must begin with an
	// entry and is empty (see [Verifier.ExpectFirst]).
	ProblemTruncated Problem = "truncated"
	// ProblemRewritten: the entry at a checkpoint's seq has a different hash
	// than the checkpoint signed, or the Merkle tree of the entries up to a
	// checkpoint's tree size has a different root.
	ProblemRewritten Problem = "rewritten"
	// ProblemHead: the store holds entries of the chain but no head record
	// for it (see [CheckHead]).
	ProblemHead Problem = "head"
	// ProblemApproval: a correctly linked seal entry whose approval does
	// not verify ([CheckSealApproval]): its recorded intent is not the one
	// it names or not this seal's, or its passkey assertion does not
	// verify under the key the system chain registered for its user.
	ProblemApproval Problem = "approval"
)

// Break locates the first broken entry of a chain.
type Break struct {
	Chain string
	// Seq is the first sequence number that cannot be trusted: entries
	// 1..Seq-1 verified. For a deletion it is the first missing seq; for a
	// duplicated or inserted entry, the seq the extra entry claims.
	Seq uint64
	// Position is the 1-based index, in the stream read, of the entry that
	// revealed the break (0 when the stream ended early).
	Position uint64
	Problem  Problem
	Reason   string
}

// Error describes the break.
func (b *Break) Error() string {
	return fmt.Sprintf("audit: chain %q broken at seq %d (%s): %s", b.Chain, b.Seq, b.Problem, b.Reason)
}

// Unwrap returns [ErrBroken].
func (b *Break) Unwrap() error { return ErrBroken }

// Report is the outcome of verifying one chain.
type Report struct {
	Chain string // the chain verified (from the first entry, or as given)
	Read  uint64 // entries read
	// Head is the last entry that verified in order; Head.Seq entries
	// verified. Zero when none did.
	Head  Entry
	Break *Break // the first break, or nil
	Err   error  // reading the chain failed, or the checkpoint did not verify
	// Tree is the size and root of the Merkle tree ([Tree]) of the entries
	// read, built in the same pass; zero unless the whole chain verified.
	Tree tlog.Tree
}

// OK reports whether the whole chain verified.
func (r Report) OK() bool { return r.Break == nil && r.Err == nil }

// Error returns r.Err, else r.Break, else nil.
func (r Report) Error() error {
	if r.Err != nil {
		return r.Err
	}
	if r.Break != nil {
		return r.Break
	}
	return nil
}

// pending is a suspected break that later entries classify.
type pending int

const (
	pendNone     pending = iota
	pendGap              // seq skipped: deleted unless a missing seq shows up later
	pendMismatch         // right seq, wrong prev_hash: head rewritten, unless the next entry links to head
)

// Verifier checks a chain entry by entry in constant memory. Feed it the
// chain in storage order with [Verifier.Add], then call [Verifier.Report].
// Its Add method fits store callbacks directly:
//
//	v := audit.NewVerifier(chain)
//	err := tx.AuditEntries(chain, 1, v.Add) // stops at a definite break
//	rep := v.Report()
type Verifier struct {
	chain   string
	read    uint64
	head    Entry // last entry verified
	prev    Entry // the one before head
	maxTime time.Time
	recent  [window]Hash // recent[s%window] is the hash of verified entry s
	cp      *Checkpoint
	tree    Tree          // Merkle tree of the verified entries
	scratch [64]tlog.Hash // Tree.Append's output, reused
	expect  *tlog.Tree    // a signed tree head the chain must extend
	rec     *Head         // the store's head record ([Verifier.ExpectHead])
	recSet  bool          // ExpectHead was called
	first   Action        // the action entry 1 must have ([Verifier.ExpectFirst])
	readErr error         // reading stopped early: no truncation verdict

	brk   *Break
	final bool
	pend  pending
	// pendGap: seqs [missLo, missHi) are missing. pendMismatch: the entry
	// that did not link to the head.
	missLo, missHi uint64
	suspect        Entry
}

// NewVerifier returns a Verifier for chain; an empty chain means "the chain
// of the first entry".
func NewVerifier(chain string) *Verifier {
	return &Verifier{chain: chain, tree: Tree{edge: make([]tlog.Hash, 0, 64)}}
}

// Verify reads entries (one chain, in storage order) to the end or to the
// first definite break and reports. An error from entries ends the read and
// is reported in [Report.Err].
func Verify(entries iter.Seq2[Entry, error]) Report {
	return NewVerifier("").run(entries)
}

func (v *Verifier) run(entries iter.Seq2[Entry, error]) Report {
	for e, err := range entries {
		if err != nil {
			return v.fail(err)
		}
		if v.Add(e) != nil {
			break
		}
	}
	return v.Report()
}

func (v *Verifier) fail(err error) Report {
	v.readErr = fmt.Errorf("audit: reading chain %q after %d entries: %w", v.chain, v.read, err)
	return v.Report()
}

// Add checks the next entry. It returns a [*Break] (wrapping [ErrBroken])
// once the chain is definitely broken, and nil otherwise, including while a
// suspected break waits for later entries to classify it; keep feeding
// entries until Add returns an error or the chain ends.
func (v *Verifier) Add(e Entry) error {
	if v.final {
		return v.brk
	}
	v.read++
	if v.brk != nil {
		v.refine(e)
	} else {
		v.check(e)
	}
	if v.final {
		return v.brk
	}
	return nil
}

// Report finishes verification and returns the outcome. Call it once, after
// the last entry. While no break was found it changes nothing, so a chain
// read again later may be fed on from its next entry (custody keeps a
// chain's verified fold this way).
func (v *Verifier) Report() Report {
	if v.brk != nil && !v.final {
		v.final = true
		if v.pend == pendGap {
			v.brk.Reason += "; no missing entry appears later in the chain"
		}
	}
	if v.brk != nil && v.brk.Problem == ProblemEdited && v.brk.Seq == v.head.Seq {
		// The head itself turned out to be rewritten.
		v.head = v.prev
	}
	if v.brk == nil && v.readErr == nil && v.cp != nil && v.head.Seq < v.cp.Seq {
		v.brk = &Break{Chain: v.chain, Seq: v.head.Seq + 1, Problem: ProblemTruncated,
			Reason: fmt.Sprintf("the chain ends at seq %d, but a checkpoint signed at %s covers seq %d: the tail was cut off",
				v.head.Seq, v.cp.Time.Format(time.RFC3339), v.cp.Seq)}
		v.final = true
	}
	if v.brk == nil && v.readErr == nil {
		v.checkEnd()
	}
	if v.brk == nil && v.readErr == nil && v.expect != nil && v.head.Seq < uint64(v.expect.N) {
		v.brk = &Break{Chain: v.chain, Seq: v.head.Seq + 1, Problem: ProblemTruncated,
			Reason: fmt.Sprintf("the chain ends at seq %d, but a signed checkpoint covers a tree of %d entries: the tail was cut off",
				v.head.Seq, v.expect.N)}
		v.final = true
	}
	r := Report{Chain: v.chain, Read: v.read, Head: v.head, Break: v.brk, Err: v.readErr}
	if r.OK() {
		r.Tree = v.tree.Head()
	}
	return r
}

// ExpectTree makes v also check a signed tree head (from a checkpoint whose
// signature the caller verified): the Merkle tree of entries 1..head.N must
// have root head.Hash (else [ProblemRewritten]) and the chain must reach
// head.N entries (else [ProblemTruncated]). Call it before the first
// [Verifier.Add].
func (v *Verifier) ExpectTree(head tlog.Tree) error {
	if head.N < 1 {
		return fmt.Errorf("%w: tree size %d", ErrCheckpointFormat, head.N)
	}
	v.expect = &head
	return nil
}

func (v *Verifier) breakAt(seq uint64, p Problem, final bool, format string, args ...any) {
	v.brk = &Break{Chain: v.chain, Seq: seq, Position: v.read, Problem: p, Reason: fmt.Sprintf(format, args...)}
	v.final = final
}

// seqRange names entries lo..hi-1.
func seqRange(lo, hi uint64) string {
	if hi-lo == 1 {
		return fmt.Sprintf("entry %d", lo)
	}
	return fmt.Sprintf("entries %d..%d", lo, hi-1)
}

func describeHead(seq uint64) string {
	if seq == 0 {
		return "the start of the chain"
	}
	return fmt.Sprintf("entry %d", seq)
}

// recentHash returns the hash of verified entry seq if it is still in the
// window.
func (v *Verifier) recentHash(seq uint64) (Hash, bool) {
	if seq == 0 || seq > v.head.Seq || v.head.Seq-seq >= window {
		return Hash{}, false
	}
	return v.recent[seq%window], true
}

func (v *Verifier) check(e Entry) {
	if v.chain == "" {
		v.chain = e.Chain
	}
	next := v.head.Seq + 1
	if h := e.ComputeHash(); h != e.Hash {
		v.breakAt(next, ProblemEdited, true,
			"entry at position %d (stored seq %d): stored hash %s differs from the recomputed %s; the entry was changed after it was written",
			v.read, e.Seq, e.Hash, Hash(h))
		return
	}
	if e.Chain != v.chain && next > 1 && e.Seq == next && e.PrevHash == v.head.Hash {
		v.breakAt(next, ProblemEdited, true, "entry %d links to entry %d but names chain %.64q, not %.64q: its chain name was rewritten",
			e.Seq, v.head.Seq, e.Chain, v.chain)
		return
	}
	if e.Chain != v.chain {
		v.breakAt(next, ProblemInserted, true, "entry at position %d belongs to chain %.64q, not %.64q", v.read, e.Chain, v.chain)
		return
	}
	switch {
	case e.Seq == 0:
		v.breakAt(next, ProblemInvalid, true, "entry at position %d has seq 0", v.read)
		return
	case e.Seq != next && e.PrevHash == v.head.Hash:
		v.breakAt(next, ProblemEdited, true,
			"entry at position %d links to entry %d but claims seq %d: its seq was rewritten", v.read, v.head.Seq, e.Seq)
		return
	case e.Seq < next:
		v.checkRepeat(e)
		return
	case e.Seq > next:
		v.breakAt(next, ProblemDeleted, false, "%s missing: entry %d follows %s and links to %s, a hash not seen",
			seqRange(next, e.Seq), e.Seq, describeHead(v.head.Seq), e.PrevHash)
		v.pend, v.missLo, v.missHi = pendGap, next, e.Seq
		return
	case e.PrevHash != v.head.Hash && next == 1:
		v.breakAt(1, ProblemEdited, true, "entry 1 has prev_hash %s; the first entry's must be all zeros", e.PrevHash)
		return
	case e.PrevHash != v.head.Hash:
		v.checkMismatch(e)
		return
	}
	if err := e.Validate(); err != nil {
		v.breakAt(next, ProblemInvalid, true, "entry %d: %v", e.Seq, err)
		return
	}
	if next == 1 && v.first != "" && e.Action != v.first {
		v.breakAt(1, ProblemDeleted, true,
			"entry 1 is %.64s, but this chain must begin with %s: its beginning was deleted and a new chain started in its place",
			e.Action, v.first)
		return
	}
	if limit := v.maxTime.Add(-MaxClockSkew); e.Time.Before(limit) {
		v.breakAt(next, ProblemTime, true, "entry %d has time %s, more than %s before an earlier entry's %s",
			e.Seq, e.Time.UTC().Format(time.RFC3339Nano), MaxClockSkew, v.maxTime.UTC().Format(time.RFC3339Nano))
		return
	}
	if v.cp != nil && e.Seq == v.cp.Seq && e.Hash != v.cp.Head {
		v.breakAt(e.Seq, ProblemRewritten, true,
			"entry %d has hash %s, but the checkpoint signed at %s says %s: history up to entry %d was rewritten",
			e.Seq, e.Hash, v.cp.Time.Format(time.RFC3339), v.cp.Head, e.Seq)
		return
	}
	if v.expect != nil && v.tree.size+1 == v.expect.N {
		t := v.tree.Clone()
		t.Append(nil, e.Hash)
		if root := t.Root(); root != v.expect.Hash {
			v.breakAt(e.Seq, ProblemRewritten, true,
				"the Merkle tree of entries 1..%d has root %s, but a signed checkpoint says %s: history up to entry %d was rewritten",
				e.Seq, root, v.expect.Hash, e.Seq)
			return
		}
	}
	v.tree.Append(v.scratch[:0], e.Hash)
	v.prev, v.head = v.head, e
	v.recent[e.Seq%window] = e.Hash
	if e.Time.After(v.maxTime) {
		v.maxTime = e.Time
	}
}

// checkRepeat classifies an entry whose seq was already verified.
func (v *Verifier) checkRepeat(e Entry) {
	h, ok := v.recentHash(e.Seq)
	switch {
	case ok && h == e.Hash:
		v.breakAt(e.Seq, ProblemDuplicated, true, "entry %d appears again at position %d", e.Seq, v.read)
	case ok:
		v.breakAt(e.Seq, ProblemInserted, true,
			"entry at position %d claims seq %d, which a different entry (hash %s) already holds", v.read, e.Seq, h)
	default:
		v.breakAt(e.Seq, ProblemInserted, true,
			"entry at position %d claims seq %d, which was verified earlier: it is a repeated or inserted entry", v.read, e.Seq)
	}
}

// checkMismatch handles an entry with the expected seq whose prev_hash is not
// the head's hash.
func (v *Verifier) checkMismatch(e Entry) {
	next := v.head.Seq + 1
	for s := v.head.Seq - 1; s >= 1; s-- {
		h, ok := v.recentHash(s)
		if !ok {
			break
		}
		if h == e.PrevHash {
			v.breakAt(s+1, ProblemInserted, true,
				"entry at position %d (seq %d) links to entry %d: entries %d..%d were inserted",
				v.read, e.Seq, s, s+1, v.head.Seq)
			return
		}
	}
	v.breakAt(v.head.Seq, ProblemEdited, false,
		"entry %d records prev_hash %s, but entry %d hashes to %s: entry %d was rewritten after entry %d was written (or entries were deleted and the rest renumbered)",
		next, e.PrevHash, v.head.Seq, v.head.Hash, v.head.Seq, next)
	v.pend, v.suspect = pendMismatch, e
}

// refine uses the entries after a suspected break to classify it. The
// break keeps its position: the entry that first did not fit.
func (v *Verifier) refine(e Entry) {
	switch v.pend {
	case pendGap:
		if e.Seq >= v.missLo && e.Seq < v.missHi {
			v.brk.Problem = ProblemReordered
			v.brk.Reason = fmt.Sprintf("entry %d appears at position %d, after entry %d at position %d",
				e.Seq, v.read, v.missHi, v.brk.Position)
			v.final = true
		}
	case pendMismatch:
		next, sus := v.head.Seq+1, v.suspect
		switch {
		case e.ComputeHash() != e.Hash:
			// No evidence either way: keep the first suspicion.
		case e.Seq == next && e.PrevHash == v.head.Hash:
			v.brk.Seq, v.brk.Problem = next, ProblemInserted
			v.brk.Reason = fmt.Sprintf("two entries claim seq %d: the one at position %d links to entry %d, the one at position %d does not and was inserted",
				next, v.read, v.head.Seq, v.brk.Position)
		case e.Seq == sus.Seq+1 && e.PrevHash == sus.Hash:
			// The entries after the suspect link to it: the head is the odd one.
		default:
			v.brk.Seq = sus.Seq
			v.brk.Reason = fmt.Sprintf("entry %d links neither to entry %d (prev_hash %s, want %s) nor is it linked to by the next entry: entry %d was rewritten",
				sus.Seq, v.head.Seq, sus.PrevHash, v.head.Hash, sus.Seq)
		}
		v.final = true
	}
}
