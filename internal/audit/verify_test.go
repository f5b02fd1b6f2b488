package audit

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// appendEntry links e to the end of chain the way the store's AppendAudit
// does: seq, prev hash, time truncated to microseconds, hash.
func appendEntry(chain []Entry, e Entry) []Entry {
	e.Seq, e.PrevHash = 1, Hash{}
	if n := len(chain); n > 0 {
		e.Seq, e.PrevHash = chain[n-1].Seq+1, chain[n-1].Hash
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Hash = e.ComputeHash()
	return append(chain, e)
}

// buildChain returns n linked entries of chain "org-a" with varied fields.
func buildChain(n int) []Entry {
	var c []Entry
	for i := range n {
		e := Entry{
			Chain:   "org-a",
			Time:    t0.Add(time.Duration(i)*time.Second + 1234567),
			Actor:   Actor{Kind: "user", ID: fmt.Sprintf("u-%d", i%3)},
			Action:  ActionSeal,
			Subject: Subject{Org: "org-a", Identity: "id-1", Version: 1 + i%2},
			Details: map[string]string{DetailDocumentDigest: fmt.Sprintf("%064x", i), DetailRequestID: fmt.Sprint(i)},
		}
		c = appendEntry(c, e)
	}
	return c
}

// relink recomputes seq, prev hash and hash of every entry, as an attacker
// with write access to the database can.
func relink(entries []Entry) []Entry {
	var out []Entry
	for _, e := range entries {
		out = appendEntry(out, e)
	}
	return out
}

func rehash(e Entry) Entry {
	e.Hash = e.ComputeHash()
	return e
}

// clone copies entries deeply enough that tampering does not leak back.
func clone(entries []Entry) []Entry {
	out := slices.Clone(entries)
	for i := range out {
		out[i].Details = maps.Clone(out[i].Details)
	}
	return out
}

func TestVerifyIntact(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 3000} {
		c := buildChain(n)
		r := Verify(Slice(c))
		if !r.OK() || r.Read != uint64(n) || r.Head.Seq != uint64(n) {
			t.Fatalf("n=%d: %+v", n, r)
		}
		if n > 0 && (r.Chain != "org-a" || r.Head.Hash != c[n-1].Hash) {
			t.Fatalf("n=%d: head %+v", n, r.Head)
		}
	}
}

type tamperCase struct {
	name    string
	tamper  func([]Entry) []Entry
	problem Problem
	seq     uint64
}

// edits returns every field edit of one entry.
func edits() []struct {
	name string
	edit func(*Entry)
} {
	return []struct {
		name string
		edit func(*Entry)
	}{
		{"chain", func(e *Entry) { e.Chain = "org-b" }},
		{"seq", func(e *Entry) { e.Seq += 100 }},
		{"seq-down", func(e *Entry) { e.Seq-- }},
		{"time", func(e *Entry) { e.Time = e.Time.Add(time.Microsecond) }},
		{"actor-kind", func(e *Entry) { e.Actor.Kind = "system" }},
		{"actor-id", func(e *Entry) { e.Actor.ID = "mallory" }},
		{"action", func(e *Entry) { e.Action = ActionVersionRevoke }},
		{"subject-org", func(e *Entry) { e.Subject.Org = "org-b" }},
		{"subject-identity", func(e *Entry) { e.Subject.Identity = "id-2" }},
		{"subject-version", func(e *Entry) { e.Subject.Version = 7 }},
		{"details-change", func(e *Entry) { e.Details[DetailDocumentDigest] = strings.Repeat("f", 64) }},
		{"details-add", func(e *Entry) { e.Details[DetailReason] = "x" }},
		{"details-remove", func(e *Entry) { delete(e.Details, DetailRequestID) }},
		{"details-nil", func(e *Entry) { e.Details = nil }},
		{"prev-hash", func(e *Entry) { e.PrevHash[0] ^= 1 }},
		{"hash", func(e *Entry) { e.Hash[31] ^= 0x80 }},
	}
}

func tamperCases() []tamperCase {
	const k = 5 // index 4: seq 5
	var cases []tamperCase
	for _, ed := range edits() {
		cases = append(cases, tamperCase{"edit/" + ed.name, func(c []Entry) []Entry {
			ed.edit(&c[k-1])
			return c
		}, ProblemEdited, k})
	}
	// An attacker who recomputes the edited entry's own hash still breaks
	// the next entry's link.
	for _, ed := range edits() {
		if ed.name == "hash" {
			continue // rehashing undoes it
		}
		cases = append(cases, tamperCase{"edit-rehash/" + ed.name, func(c []Entry) []Entry {
			ed.edit(&c[k-1])
			c[k-1] = rehash(c[k-1])
			return c
		}, ProblemEdited, k})
	}
	cases = append(cases,
		tamperCase{"delete/first", func(c []Entry) []Entry { return slices.Delete(c, 0, 1) }, ProblemDeleted, 1},
		tamperCase{"delete/middle", func(c []Entry) []Entry { return slices.Delete(c, k-1, k) }, ProblemDeleted, k},
		tamperCase{"delete/run", func(c []Entry) []Entry { return slices.Delete(c, k-1, k+2) }, ProblemDeleted, k},
		tamperCase{"delete/second-last", func(c []Entry) []Entry { return slices.Delete(c, len(c)-2, len(c)-1) }, ProblemDeleted, 9},
		tamperCase{"reorder/swap", func(c []Entry) []Entry { c[k-1], c[k] = c[k], c[k-1]; return c }, ProblemReordered, k},
		tamperCase{"reorder/first-two", func(c []Entry) []Entry { c[0], c[1] = c[1], c[0]; return c }, ProblemReordered, 1},
		tamperCase{"reorder/move-to-end", func(c []Entry) []Entry {
			e := c[k-1]
			return append(slices.Delete(c, k-1, k), e)
		}, ProblemReordered, k},
		tamperCase{"reorder/move-last-earlier", func(c []Entry) []Entry {
			e := c[len(c)-1]
			return slices.Insert(c[:len(c)-1], k-1, e)
		}, ProblemReordered, k},
		tamperCase{"duplicate/adjacent", func(c []Entry) []Entry { return slices.Insert(c, k, c[k-1]) }, ProblemDuplicated, k},
		tamperCase{"duplicate/later", func(c []Entry) []Entry { return slices.Insert(c, k+3, c[k-1]) }, ProblemDuplicated, k},
		tamperCase{"duplicate/first", func(c []Entry) []Entry { return slices.Insert(c, 1, c[0]) }, ProblemDuplicated, 1},
		tamperCase{"insert/fork", func(c []Entry) []Entry {
			// A forged entry that links perfectly to entry k, followed by
			// the genuine entry k+1.
			f := c[k]
			f.Actor.ID = "mallory"
			return slices.Insert(c, k, rehash(f))
		}, ProblemInserted, k + 1},
		tamperCase{"insert/unlinked", func(c []Entry) []Entry {
			f := c[k]
			f.PrevHash = Hash{0xaa}
			return slices.Insert(c, k, rehash(f))
		}, ProblemInserted, k + 1},
		tamperCase{"insert/foreign-chain", func(c []Entry) []Entry {
			other := buildChain(3)
			for i := range other {
				other[i].Chain = "org-b"
			}
			other = relink(other)
			return slices.Insert(c, k, other[2])
		}, ProblemInserted, k + 1},
		tamperCase{"insert/renumbered", func(c []Entry) []Entry {
			// Insert, renumber and rehash everything after (without
			// relinking): the entry after the insertion links past it.
			f := c[k]
			f.Actor.ID = "mallory"
			c = slices.Insert(c, k, f)
			for i := k; i < len(c); i++ {
				c[i].Seq = uint64(i + 1)
				if i == k {
					c[i].PrevHash = c[i-1].Hash
				}
				c[i] = rehash(c[i])
			}
			return c
		}, ProblemInserted, k + 1},
		tamperCase{"time/backwards", func(c []Entry) []Entry {
			c[k-1].Time = c[k-2].Time.Add(-MaxClockSkew - time.Second)
			return relink(c)
		}, ProblemTime, k},
		tamperCase{"invalid/action", func(c []Entry) []Entry {
			c[k-1].Action = "bogus"
			return relink(c)
		}, ProblemInvalid, k},
		tamperCase{"invalid/seq-zero", func(c []Entry) []Entry {
			c[k-1].Seq = 0
			c[k-1].PrevHash = Hash{1}
			c[k-1] = rehash(c[k-1])
			return c
		}, ProblemInvalid, k},
	)
	return cases
}

// TestVerifyTamper applies every tampering to a 10-entry chain and checks
// the problem and the exact seq reported.
func TestVerifyTamper(t *testing.T) {
	orig := buildChain(10)
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tamper(clone(orig))
			r := Verify(Slice(c))
			if r.OK() || r.Break == nil {
				t.Fatalf("not detected: %+v", r)
			}
			b := r.Break
			if b.Problem != tc.problem || b.Seq != tc.seq {
				t.Fatalf("got %s at seq %d, want %s at seq %d (%s)", b.Problem, b.Seq, tc.problem, tc.seq, b.Reason)
			}
			if r.Head.Seq >= tc.seq && b.Problem != ProblemDuplicated && b.Problem != ProblemInserted {
				t.Errorf("head %d reaches the break at %d", r.Head.Seq, tc.seq)
			}
			if b.Chain != "org-a" || b.Reason == "" || !errors.Is(r.Error(), ErrBroken) {
				t.Errorf("break %+v", b)
			}
			t.Logf("%s", b)
		})
	}
}

// TestVerifyUndetectable documents what a bare chain cannot see, which
// checkpoints cover (TestVerifyAgainstCheckpoint).
func TestVerifyUndetectable(t *testing.T) {
	c := buildChain(10)
	if r := Verify(Slice(c[:6])); !r.OK() || r.Head.Seq != 6 {
		t.Fatalf("truncated chain: %+v", r)
	}
	rewritten := clone(c)
	rewritten[3].Actor.ID = "mallory"
	if r := Verify(Slice(relink(rewritten))); !r.OK() {
		t.Fatalf("relinked chain: %+v", r)
	}
}

func TestVerifierStopsEarly(t *testing.T) {
	c := buildChain(20)
	c[2].Actor.ID = "x"
	v := NewVerifier("org-a")
	calls := 0
	err := func() error {
		for _, e := range c {
			calls++
			if err := v.Add(e); err != nil {
				return err
			}
		}
		return nil
	}()
	var b *Break
	if !errors.As(err, &b) || b.Seq != 3 || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if r := v.Report(); r.Break != b || r.Read != 3 {
		t.Fatalf("report %+v", r)
	}
}

func TestVerifyWrongChainName(t *testing.T) {
	v := NewVerifier("org-b")
	for _, e := range buildChain(3) {
		if v.Add(e) != nil {
			break
		}
	}
	if r := v.Report(); r.Break == nil || r.Break.Problem != ProblemInserted || r.Break.Seq != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestVerifyReadError(t *testing.T) {
	c := buildChain(5)
	boom := errors.New("disk on fire")
	r := Verify(Walk(func(fn func(Entry) error) error {
		for _, e := range c[:3] {
			if err := fn(e); err != nil {
				return err
			}
		}
		return boom
	}))
	if r.OK() || !errors.Is(r.Err, boom) || r.Head.Seq != 3 || r.Break != nil {
		t.Fatalf("%+v", r)
	}
	// Stopping early swallows Walk's internal error.
	r = Verify(Walk(func(fn func(Entry) error) error {
		bad := clone(c)
		bad[1].Actor.ID = "x"
		for _, e := range bad {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}))
	if r.Err != nil || r.Break == nil || r.Break.Seq != 2 {
		t.Fatalf("%+v", r)
	}
}

// TestVerifyClockSkew accepts a step back within MaxClockSkew.
func TestVerifyClockSkew(t *testing.T) {
	c := buildChain(5)
	c[2].Time = c[1].Time.Add(-MaxClockSkew)
	c[3].Time = c[1].Time.Add(-MaxClockSkew + time.Second)
	if r := Verify(Slice(relink(c))); !r.OK() {
		t.Fatalf("%+v", r.Break)
	}
	// Small steps back do not accumulate past the skew.
	c[3].Time = c[2].Time.Add(-time.Second)
	if r := Verify(Slice(relink(c))); r.OK() || r.Break.Problem != ProblemTime || r.Break.Seq != 4 {
		t.Fatalf("%+v", r)
	}
}

// TestVerifyWindow: a repeat within the remembered window is told apart as
// duplicated or inserted; beyond it, it is still caught, as inserted.
func TestVerifyWindow(t *testing.T) {
	c := buildChain(window + 100)
	for _, tc := range []struct {
		copyOf  int // index of the entry repeated at the end
		forged  bool
		problem Problem
	}{
		{len(c) - window, false, ProblemDuplicated},
		{len(c) - window, true, ProblemInserted},
		{len(c) - window - 1, false, ProblemInserted},
		{0, false, ProblemInserted},
	} {
		e := c[tc.copyOf]
		if tc.forged {
			e.Actor.ID = "mallory"
			e = rehash(e)
		}
		r := Verify(Slice(append(slices.Clone(c), e)))
		if r.Break == nil || r.Break.Problem != tc.problem || r.Break.Seq != e.Seq || r.Head.Seq != uint64(len(c)) {
			t.Errorf("copy of %d (forged %v): %+v", e.Seq, tc.forged, r.Break)
		}
	}
}

// TestVerifyConstantMemory streams entries generated on the fly (nothing
// kept) and checks that Verify's allocations do not grow with the chain.
func TestVerifyConstantMemory(t *testing.T) {
	details := map[string]string{DetailDocumentDigest: strings.Repeat("a", 64)}
	gen := func(n uint64) func(func(Entry, error) bool) {
		return func(yield func(Entry, error) bool) {
			e := Entry{Chain: "org-a", Actor: Actor{Kind: "user", ID: "u"}, Action: ActionSeal,
				Subject: Subject{Identity: "i", Version: 1}, Details: details}
			for s := uint64(1); s <= n; s++ {
				e.Seq, e.PrevHash = s, e.Hash
				e.Time = t0.Add(time.Duration(s) * time.Millisecond)
				e.Hash = e.ComputeHash()
				if !yield(e, nil) {
					return
				}
			}
		}
	}
	var small, large float64
	small = testing.AllocsPerRun(2, func() {
		if r := Verify(gen(1000)); !r.OK() || r.Head.Seq != 1000 {
			t.Fatal(r.Break)
		}
	})
	large = testing.AllocsPerRun(2, func() {
		if r := Verify(gen(50_000)); !r.OK() || r.Head.Seq != 50_000 {
			t.Fatal(r.Break)
		}
	})
	if large > small || large > 10 {
		t.Fatalf("allocations grow: %v for 1000 entries, %v for 50000", small, large)
	}
}

// FuzzVerifyTamper applies a fuzzed sequence of tamperings (delete, swap,
// duplicate, edit with or without rehashing, renumber) to a valid chain. A
// chain the verifier calls OK must be a prefix of the original, entry for
// entry, except for its last entry: cutting the tail and rewriting the new
// last entry are what a bare chain cannot see (checkpoints do).
func FuzzVerifyTamper(f *testing.F) {
	orig := buildChain(8)
	for _, seed := range [][]byte{{0, 3}, {1, 2}, {2, 5}, {3, 4}, {4, 6}, {5, 1}, {0, 7, 1, 2}, {6, 3, 2, 3}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 16 {
			return
		}
		c := clone(orig)
		for i := 0; i+1 < len(ops) && len(c) > 0; i += 2 {
			k := int(ops[i+1]) % len(c)
			switch ops[i] % 7 {
			case 0:
				c = slices.Delete(c, k, k+1)
			case 1:
				j := (k + 1) % len(c)
				c[k], c[j] = c[j], c[k]
			case 2:
				c = slices.Insert(c, k, c[k])
			case 3:
				c[k].Actor.ID += "x"
			case 4:
				c[k].Actor.ID += "y"
				c[k] = rehash(c[k])
			case 5:
				c[k].Seq++
				c[k] = rehash(c[k])
			case 6:
				c = relink(c) // an attacker who rewrites every hash
			}
		}
		r := Verify(Slice(c))
		if !r.OK() {
			if r.Break == nil {
				t.Fatalf("not OK without a break: %+v", r)
			}
			return
		}
		if opsContainsRelink(ops) {
			return // a fully rewritten chain is only caught by a checkpoint
		}
		if len(c) > len(orig) {
			t.Fatalf("verified a chain longer than the original: ops %v", ops)
		}
		// The last entry may have been rewritten and rehashed: with nothing
		// after it, that is a truncation plus a new append.
		for i := range len(c) - 1 {
			if c[i].Hash != orig[i].Hash {
				t.Fatalf("verified a chain that differs from the original at entry %d: ops %v", i, ops)
			}
		}
	})
}

// opsContainsRelink reports whether ops holds a relink operation.
func opsContainsRelink(ops []byte) bool {
	for i := 0; i+1 < len(ops); i += 2 {
		if ops[i]%7 == 6 {
			return true
		}
	}
	return false
}
