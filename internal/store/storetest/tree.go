package storetest

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// checkTree checks the stored Merkle tree of chain against entries (the
// whole chain, verified): AuditTree must be the tree audit.Tree builds from
// the entry hashes, x/mod/sumdb/tlog must compute the same root from the
// stored hashes, and inclusion and consistency proofs built from them must
// verify with tlog.CheckRecord and tlog.CheckTree.
func checkTree(tx store.ReadTx, chain string, entries []audit.Entry) error {
	var want audit.Tree
	for _, e := range entries {
		want.Append(nil, e.Hash)
	}
	got, err := tx.AuditTree(chain)
	if err != nil {
		return err
	}
	if got != want.Head() {
		return fmt.Errorf("AuditTree = %d %x, the entries give %d %x", got.N, got.Hash, want.Size(), want.Root())
	}
	n := got.N
	if n == 0 {
		return nil
	}
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return tx.AuditTreeHashes(chain, idx) })
	root, err := tlog.TreeHash(n, r)
	if err != nil || root != got.Hash {
		return fmt.Errorf("tlog.TreeHash over the stored hashes = %x (%v), want %x", root, err, got.Hash)
	}
	for _, k := range []int64{0, n / 2, n - 1} {
		p, err := tlog.ProveRecord(n, k, r)
		if err != nil {
			return fmt.Errorf("inclusion proof of entry %d: %w", k+1, err)
		}
		if err := tlog.CheckRecord(p, n, root, k, audit.LeafHash(entries[k].Hash)); err != nil {
			return fmt.Errorf("inclusion proof of entry %d: %w", k+1, err)
		}
	}
	var prefix audit.Tree
	for _, e := range entries[:(n+1)/2] {
		prefix.Append(nil, e.Hash)
	}
	p, err := tlog.ProveTree(n, prefix.Size(), r)
	if err == nil {
		err = tlog.CheckTree(p, n, root, prefix.Size(), prefix.Root())
	}
	if err != nil {
		return fmt.Errorf("consistency proof %d -> %d: %w", prefix.Size(), n, err)
	}
	if _, err := tx.AuditTreeHashes(chain, []int64{tlog.StoredHashCount(n)}); !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("a hash past the tree: %v, want ErrNotFound", err)
	}
	return nil
}

// testAuditTree: the tree follows appends one per transaction, several per
// transaction over two chains, and nothing of a transaction that rolls
// back; a tree row edited outside the store makes the next append of
// another store (process) fail closed.
func testAuditTree(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	view(t, s, func(tx store.ReadTx) error {
		if tr, err := tx.AuditTree("org-t"); err != nil || tr != (tlog.Tree{}) {
			t.Errorf("empty chain: %v, %v", tr, err)
		}
		return nil
	})
	for i := range 5 {
		update(t, s, func(tx store.Tx) error {
			_, err := tx.AppendAudit(event("org-t", "one", i))
			return err
		})
		verifyChain(t, s, "org-t")
	}
	var before tlog.Tree
	view(t, s, func(tx store.ReadTx) error {
		var err error
		before, err = tx.AuditTree("org-t")
		return err
	})
	update(t, s, func(tx store.Tx) error {
		if _, ok := tx.AuditTreeBase("org-t"); ok {
			return fmt.Errorf("AuditTreeBase before any append reports a tree")
		}
		for i := range 40 {
			if _, err := tx.AppendAudit(event([]string{"org-t", "org-u"}[i%2], "batch", i)); err != nil {
				return err
			}
			if base, ok := tx.AuditTreeBase("org-t"); !ok || base != before {
				return fmt.Errorf("AuditTreeBase = %v, %v; want the tree before the transaction, %v", base, ok, before)
			}
			if i == 20 { // the tree seen inside the transaction is current
				tr, err := tx.AuditTree("org-t")
				if err != nil || tr.N != 5+11 {
					return fmt.Errorf("AuditTree inside the transaction = %v, %v; want size 16", tr, err)
				}
			}
		}
		return nil
	})
	verifyChain(t, s, "org-t")
	verifyChain(t, s, "org-u")
	errStop := errors.New("stop")
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for i := range 3 {
			if _, err := tx.AppendAudit(event("org-t", "rolled-back", i)); err != nil {
				return err
			}
		}
		return errStop
	})
	wantErr(t, "rolled back", err, errStop)
	if got := verifyChain(t, s, "org-t"); len(got) != 25 {
		t.Fatalf("chain has %d entries, want 25", len(got))
	}
	b.Exec(t, dsn, `DELETE FROM audit_trees WHERE chain = 'org-u'`)
	// A store that has not itself committed the chain's last append (here:
	// another process) reads the tree from the database.
	s2 := openStore(t, b, dsn)
	defer s2.Close()
	err = s2.Update(t.Context(), func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-u", "after-edit", 0))
		return err
	})
	if err == nil {
		t.Fatal("append after the tree row was deleted succeeded")
	}
	if got := verifyChainLen(t, s, "org-u"); got != 20 {
		t.Errorf("org-u has %d entries after the refused append, want 20", got)
	}
}

// verifyChainLen counts a chain's entries without checking its tree.
func verifyChainLen(t testing.TB, s store.Store, chain string) int {
	n := 0
	view(t, s, func(tx store.ReadTx) error {
		return tx.AuditEntries(chain, 1, func(audit.Entry) error { n++; return nil })
	})
	return n
}

// testAuditTreeBackfill: a database whose chains predate the tree tables
// gets every chain's tree when the migration runs.
func testAuditTreeBackfill(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	Fill(t, s, "org-b", 1500, 700)
	Fill(t, s, "org-c", 3, 3)
	s.Close()
	b.Exec(t, dsn, `DROP TABLE audit_tree_hashes`)
	b.Exec(t, dsn, `DROP TABLE audit_trees`)
	b.Exec(t, dsn, `DELETE FROM schema_migrations WHERE name LIKE '%_audit_tree.sql'`)
	s = openStore(t, b, dsn)
	defer s.Close()
	verifyChain(t, s, "org-b")
	verifyChain(t, s, "org-c")
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-c", "after", 0))
		return err
	})
	verifyChain(t, s, "org-c")
}

// testFillFast: what FillFast writes is a chain, tree and head that the
// store reads and extends as its own.
func testFillFast(t *testing.T, b Backend) {
	if b.Blob == nil {
		t.Skip("the backend gives no Blob literal")
	}
	s, dsn := fresh(t, b)
	FillFast(t, b, dsn, "org-f", 2500)
	verifyChain(t, s, "org-f")
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-f", "after", 0))
		return err
	})
	if got := verifyChain(t, s, "org-f"); len(got) != 2501 {
		t.Errorf("%d entries, want 2501", len(got))
	}
}
