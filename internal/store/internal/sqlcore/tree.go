package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
)

// treeMigration names the migration that creates the Merkle tree tables;
// chains that exist when it runs are filled in by backfillTrees.
const treeMigration = "_audit_tree.sql"

// treeState is a chain's Merkle tree as a write transaction extends it.
// The head lock of the chain is held while it exists, so the cached tree
// stays current; flushTrees writes it before commit.
type treeState struct {
	tree  audit.Tree
	base  tlog.Tree  // the tree as the transaction found it
	head  audit.Hash // hash of the tree's last entry
	dirty bool
	buf   [64]tlog.Hash // the stored hashes of one append
}

// cachedTree is a chain's tree as the last transaction of this store that
// extended it committed it, with the chain head it belongs to.
type cachedTree struct {
	head audit.Head
	tree audit.Tree
}

// chainTree returns the Merkle tree of chain, whose head (just locked) is
// head, from the transaction's cache, the store's (valid while the head is
// the one it was committed with: no other process appended since) or the
// database. A stored tree whose size is not the head's seq fails closed:
// the tables were edited.
func (t *tx) chainTree(chain string, head audit.Head) (*treeState, error) {
	seq := int64(head.Seq)
	ts := t.trees[chain]
	if ts == nil {
		t.s.treeMu.Lock()
		c, ok := t.s.trees[chain]
		t.s.treeMu.Unlock()
		if ok && c.head == head {
			ts = &treeState{tree: c.tree.Clone(), head: head.Hash}
		} else {
			tr, err := t.readTree(chain)
			if err != nil {
				return nil, err
			}
			ts = &treeState{tree: tr, head: head.Hash}
		}
		ts.base = ts.tree.Head()
		if t.trees == nil {
			t.trees = make(map[string]*treeState)
		}
		t.trees[chain] = ts
	}
	if n := ts.tree.Size(); n != seq {
		b := &audit.Break{Chain: chain, Seq: uint64(min(n, seq)) + 1, Problem: audit.ProblemTruncated,
			Reason: fmt.Sprintf("the stored Merkle tree has %d leaves, the chain %d entries", n, seq)}
		if n < seq {
			b.Problem = audit.ProblemEdited
		}
		err := fmt.Errorf("store: append to audit chain %q refused, the chain was tampered with: %w", chain, b)
		if t.poison == nil {
			t.poison = err
		}
		return nil, err
	}
	return ts, nil
}

// readTree reads the stored tree of chain (empty if none).
func (t *tx) readTree(chain string) (audit.Tree, error) {
	var (
		tr   audit.Tree
		size int64
		edge []byte
	)
	err := t.queryRow(qTree, chain).Scan(&size, &edge)
	if errors.Is(err, sql.ErrNoRows) {
		return tr, nil
	}
	if err != nil {
		return tr, t.fail(err, "read Merkle tree of audit chain %q", chain)
	}
	if err := tr.UnmarshalBinary(edge); err != nil || tr.Size() != size {
		return tr, t.fail(fmt.Errorf("stored Merkle tree is malformed (%v)", err), "audit chain %q", chain)
	}
	return tr, nil
}

// appendTree adds entry e (just inserted, seq = tree size + 1) to its
// chain's tree and stores the new hashes.
func (t *tx) appendTree(ts *treeState, e audit.Entry) error {
	n := ts.tree.Size()
	hashes := ts.tree.Append(ts.buf[:0], e.Hash)
	ts.dirty, ts.head = true, e.Hash
	idx := tlog.StoredHashIndex(0, n)
	// One statement for up to len(qPutTreeHashes) hashes (an append stores
	// two on average), one per hash beyond.
	for len(hashes) > 0 {
		k := min(len(hashes), len(qPutTreeHashes))
		args := make([]any, 0, 1+2*k)
		args = append(args, e.Chain)
		for i := range k {
			args = append(args, idx+int64(i), hashes[i][:])
		}
		if _, err := t.exec(qPutTreeHashes[k-1], args...); err != nil {
			return t.fail(err, "store Merkle tree hash of audit chain %q", e.Chain)
		}
		hashes, idx = hashes[k:], idx+int64(k)
	}
	return nil
}

// committed records the trees a committed transaction extended in the
// store's cache.
func (t *tx) committed() {
	if len(t.trees) == 0 {
		return
	}
	t.s.treeMu.Lock()
	defer t.s.treeMu.Unlock()
	if t.s.trees == nil {
		t.s.trees = make(map[string]cachedTree)
	}
	for chain, ts := range t.trees {
		t.s.trees[chain] = cachedTree{head: audit.Head{Seq: uint64(ts.tree.Size()), Hash: ts.head}, tree: ts.tree}
	}
}

// flushTrees writes every tree the transaction extended.
func (t *tx) flushTrees() error {
	for chain, ts := range t.trees {
		if !ts.dirty {
			continue
		}
		edge, _ := ts.tree.MarshalBinary()
		if _, err := t.exec(qPutTree, chain, ts.tree.Size(), edge); err != nil {
			return t.fail(err, "store Merkle tree of audit chain %q", chain)
		}
		ts.dirty = false
	}
	return nil
}

func (t *tx) AuditTree(chain string) (tlog.Tree, error) {
	if !validText(chain) {
		return tlog.Tree{}, nil
	}
	if ts := t.trees[chain]; ts != nil {
		return ts.tree.Head(), nil
	}
	tr, err := t.readTree(chain)
	if err != nil {
		return tlog.Tree{}, err
	}
	return tr.Head(), nil
}

func (t *tx) AuditTreeBase(chain string) (tlog.Tree, bool) {
	ts := t.trees[chain]
	if ts == nil {
		return tlog.Tree{}, false
	}
	return ts.base, true
}

func (t *tx) AuditTreeHashes(chain string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		var h []byte
		if err := t.queryRow(qTreeHash, chain, x).Scan(&h); err != nil {
			return nil, t.fail(err, "Merkle tree hash %d of audit chain %q", x, chain)
		}
		if len(h) != tlog.HashSize {
			return nil, t.fail(fmt.Errorf("malformed hash"), "Merkle tree hash %d of audit chain %q", x, chain)
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// backfillTrees builds the Merkle tree of every chain that has entries but
// no tree, from the stored entry hashes, in the migration's transaction.
func backfillTrees(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT h.chain, h.seq FROM audit_heads h
		LEFT JOIN audit_trees t ON t.chain = h.chain WHERE h.seq > 0 AND t.chain IS NULL`)
	if err != nil {
		return err
	}
	type head struct {
		chain string
		seq   int64
	}
	var heads []head
	for rows.Next() {
		var h head
		if err := rows.Scan(&h.chain, &h.seq); err != nil {
			rows.Close()
			return err
		}
		heads = append(heads, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range heads {
		if err := backfillTree(ctx, tx, h.chain, h.seq); err != nil {
			return fmt.Errorf("the Merkle tree of audit chain %q: %w", h.chain, err)
		}
	}
	return nil
}

func backfillTree(ctx context.Context, tx *sql.Tx, chain string, seq int64) error {
	put, err := tx.PrepareContext(ctx, qPutTreeHash)
	if err != nil {
		return err
	}
	defer put.Close()
	var tr audit.Tree
	var buf [64]tlog.Hash
	for next := int64(1); next <= seq; {
		rows, err := tx.QueryContext(ctx, `SELECT seq, hash FROM audit_entries WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
			chain, next, auditBatch)
		if err != nil {
			return err
		}
		var batch []audit.Hash
		for rows.Next() {
			var s int64
			var h []byte
			if err := rows.Scan(&s, &h); err != nil {
				rows.Close()
				return err
			}
			if s != next+int64(len(batch)) || len(h) != len(audit.Hash{}) {
				rows.Close()
				return fmt.Errorf("entry %d is missing or malformed; repair the chain before upgrading", next+int64(len(batch)))
			}
			batch = append(batch, audit.Hash(h))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return fmt.Errorf("entry %d is missing; repair the chain before upgrading", next)
		}
		for _, h := range batch {
			first := tlog.StoredHashIndex(0, tr.Size())
			for i, x := range tr.Append(buf[:0], h) {
				if _, err := put.ExecContext(ctx, chain, first+int64(i), x[:]); err != nil {
					return err
				}
			}
		}
		next += int64(len(batch))
	}
	edge, _ := tr.MarshalBinary()
	_, err = tx.ExecContext(ctx, qPutTree, chain, tr.Size(), edge)
	return err
}

// appliesTreeMigration reports whether ms[from:] creates the tree tables.
func appliesTreeMigration(ms []Migration) bool {
	for _, m := range ms {
		if strings.HasSuffix(m.Name, treeMigration) {
			return true
		}
	}
	return false
}

// The tree's statements (listed in statements).
var (
	qTree    = `SELECT size, edge FROM audit_trees WHERE chain = $1`
	qPutTree = `INSERT INTO audit_trees (chain, size, edge) VALUES ($1, $2, $3)
		ON CONFLICT (chain) DO UPDATE SET size = excluded.size, edge = excluded.edge`
	qTreeHash = `SELECT hash FROM audit_tree_hashes WHERE chain = $1 AND idx = $2`
	// qPutTreeHashes[k-1] inserts k hashes of one chain.
	qPutTreeHashes = func() []string {
		var qs []string
		values := ""
		for k := 1; k <= 4; k++ {
			if k > 1 {
				values += ", "
			}
			values += fmt.Sprintf("($1, $%d, $%d)", 2*k, 2*k+1)
			qs = append(qs, `INSERT INTO audit_tree_hashes (chain, idx, hash) VALUES `+values)
		}
		return qs
	}()
	qPutTreeHash = qPutTreeHashes[0]
)
