package storetest

import (
	"errors"
	"slices"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// testAuditChainsUnion: AuditChains lists organizations, chains with
// entries and chains with a head record, so that deleting the rows of one
// kind, as an insider with write access to the database can, hides no
// chain.
func testAuditChainsUnion(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	chains := func() []string {
		t.Helper()
		var out []string
		view(t, s, func(tx store.ReadTx) error {
			var err error
			out, err = tx.AuditChains()
			return err
		})
		return out
	}
	update(t, s, func(tx store.Tx) error {
		for _, o := range []string{"org-a", "org-β"} {
			if err := tx.PutOrg(store.Org{ID: o}); err != nil {
				return err
			}
		}
		for i, c := range []string{"org-b", "org-b", "org-b", "org-c", "org-β", "org-z"} {
			if _, err := tx.AppendAudit(event(c, "x", i)); err != nil {
				return err
			}
		}
		return tx.LockChain("org-locked") // a head record at seq 0: no chain
	})
	if got, want := chains(), []string{"org-a", "org-b", "org-c", "org-z", "org-β"}; !slices.Equal(got, want) {
		t.Fatalf("AuditChains = %q, want %q (byte order, each once)", got, want)
	}
	b3 := verifyChain(t, s, "org-b")[2]
	view(t, s, func(tx store.ReadTx) error {
		h, err := tx.AuditHeadRecord("org-b")
		if err != nil || h != (audit.Head{Seq: 3, Hash: b3.Hash}) {
			t.Errorf("AuditHeadRecord(org-b) = %+v, %v; want seq 3, hash %s", h, err, b3.Hash)
		}
		if h, err := tx.AuditHeadRecord("org-locked"); err != nil || h != (audit.Head{}) {
			t.Errorf("AuditHeadRecord after LockChain alone = %+v, %v; want seq 0", h, err)
		}
		_, err = tx.AuditHeadRecord("org-a")
		wantErr(t, "head record of an org without a chain", err, store.ErrNotFound)
		_, err = tx.AuditHeadRecord("bad\xff")
		wantErr(t, "head record of an invalid name", err, store.ErrNotFound)
		return nil
	})

	// Each kind of row alone keeps its chain listed.
	b.Exec(t, dsn, `DELETE FROM audit_heads WHERE chain = 'org-b'`)   // entries only
	b.Exec(t, dsn, `DELETE FROM audit_entries WHERE chain = 'org-c'`) // head record only
	b.Exec(t, dsn, `DELETE FROM audit_heads WHERE chain = 'org-β'`)   // org row and entries
	b.Exec(t, dsn, `DELETE FROM audit_entries WHERE chain = 'org-β'`) // org row only
	b.Exec(t, dsn, `DELETE FROM audit_heads WHERE chain = 'org-z'`)
	b.Exec(t, dsn, `UPDATE audit_entries SET chain = 'org-z2' WHERE chain = 'org-z'`) // renamed
	if got, want := chains(), []string{"org-a", "org-b", "org-c", "org-z2", "org-β"}; !slices.Equal(got, want) {
		t.Errorf("after deleting rows: AuditChains = %q, want %q", got, want)
	}
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.AuditHeadRecord("org-b")
		wantErr(t, "deleted head record", err, store.ErrNotFound)
		return nil
	})
}

// testAppendFailsClosed: AppendAudit neither extends nor restarts a chain
// whose head record disagrees with its last entry; the transaction rolls
// back and the chain is left as it was found.
func testAppendFailsClosed(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	names := []string{"no-head", "tail-deleted", "head-edited", "head-behind", "head-reset"}
	update(t, s, func(tx store.Tx) error {
		for _, c := range names {
			for i := range 3 {
				if _, err := tx.AppendAudit(event(c, "x", i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	b.Exec(t, dsn, `DELETE FROM audit_heads WHERE chain = 'no-head'`)
	b.Exec(t, dsn, `DELETE FROM audit_entries WHERE chain = 'tail-deleted' AND seq = 3`)
	b.Exec(t, dsn, `UPDATE audit_heads SET hash = (SELECT hash FROM audit_entries WHERE chain = 'head-edited' AND seq = 2) WHERE chain = 'head-edited'`)
	b.Exec(t, dsn, `UPDATE audit_heads SET seq = 2, hash = (SELECT hash FROM audit_entries WHERE chain = 'head-behind' AND seq = 2) WHERE chain = 'head-behind'`)
	b.Exec(t, dsn, `UPDATE audit_heads SET seq = 0, hash = (SELECT prev_hash FROM audit_entries WHERE chain = 'head-reset' AND seq = 1) WHERE chain = 'head-reset'`)
	for _, tc := range []struct {
		chain   string
		problem audit.Problem
		seq     uint64
		entries int // left in the chain
	}{
		{"no-head", audit.ProblemHead, 4, 3},
		{"tail-deleted", audit.ProblemTruncated, 3, 2},
		{"head-edited", audit.ProblemRewritten, 3, 3},
		{"head-behind", audit.ProblemInserted, 3, 3},
		{"head-reset", audit.ProblemHead, 4, 3},
	} {
		var appendErr error
		err := s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.LockChain(tc.chain); err != nil {
				return err
			}
			_, appendErr = tx.AppendAudit(event(tc.chain, "y", 9))
			return nil // a careless caller: the store must still roll back
		})
		var brk *audit.Break
		if !errors.As(appendErr, &brk) || !errors.Is(appendErr, audit.ErrBroken) ||
			brk.Chain != tc.chain || brk.Problem != tc.problem || brk.Seq != tc.seq {
			t.Errorf("%s: AppendAudit = %v; want a %s break at seq %d", tc.chain, appendErr, tc.problem, tc.seq)
		}
		if !errors.Is(err, audit.ErrBroken) {
			t.Errorf("%s: Update = %v; want it rolled back with the break", tc.chain, err)
		}
		n := 0
		view(t, s, func(tx store.ReadTx) error {
			return tx.AuditEntries(tc.chain, 1, func(e audit.Entry) error {
				n++
				if e.Actor.ID != "x" {
					t.Errorf("%s: entry %d was appended", tc.chain, e.Seq)
				}
				return nil
			})
		})
		if n != tc.entries {
			t.Errorf("%s: %d entries after the refused append, want %d", tc.chain, n, tc.entries)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.AuditHeadRecord("no-head")
		wantErr(t, "head record after the refused append (LockChain's row rolled back)", err, store.ErrNotFound)
		return nil
	})
	// An untouched chain, and a new one, still append.
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.AppendAudit(event("fresh", "x", 0)); err != nil {
			return err
		}
		_, err := tx.AppendAudit(event("fresh", "x", 1))
		return err
	})
	if got := verifyChain(t, s, "fresh"); len(got) != 2 {
		t.Errorf("fresh chain has %d entries", len(got))
	}
}
