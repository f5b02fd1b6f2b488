-- sealkeep schema: the RFC 6962 Merkle tree of each audit chain (package
-- audit's Tree). Leaf i is the leaf hash of entry i+1 of the chain.
-- audit_trees holds the tree's right edge (audit.Tree.MarshalBinary: the
-- size, then the roots of its complete subtrees) and moves with every
-- append, under the chain's head lock; audit_tree_hashes holds every
-- stored hash in golang.org/x/mod/sumdb/tlog's layout (idx is
-- tlog.StoredHashIndex), which inclusion and consistency proofs read.
-- Both are a cache of the entries: audit verify recomputes the tree and
-- checks them. Chains that exist when this migration runs (and have no
-- tree yet: the migration may run again after a downgrade) are filled in
-- by the store (sqlcore.backfillTrees) in the migration's transaction.
CREATE TABLE IF NOT EXISTS audit_trees (
	chain TEXT PRIMARY KEY,
	size  INTEGER NOT NULL,
	edge  BLOB NOT NULL,
	CHECK (size >= 0 AND length(edge) >= 8)
);

CREATE TABLE IF NOT EXISTS audit_tree_hashes (
	chain TEXT NOT NULL,
	idx   INTEGER NOT NULL,
	hash  BLOB NOT NULL,
	PRIMARY KEY (chain, idx),
	CHECK (idx >= 0 AND length(hash) = 32)
) WITHOUT ROWID;
