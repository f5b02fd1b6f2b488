package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sealkeep/internal/errs"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrTreeFormat reports a malformed [Tree] encoding.
var ErrTreeFormat = errs.New(errs.Verification, "audit: malformed Merkle tree state")

// LeafHash is the RFC 6962 leaf hash of an entry in its chain's Merkle
// tree: SHA-256(0x00 || entry hash), the same as tlog.RecordHash(h[:]).
func LeafHash(h Hash) tlog.Hash {
	var buf [1 + len(h)]byte // buf[0] = 0x00, no allocation
	copy(buf[1:], h[:])
	return sha256.Sum256(buf[:])
}

// Tree is the RFC 6962 (RFC 9162) Merkle tree over a chain's entry hashes,
// leaf i being entry i+1, held as its right edge: the roots of the complete
// subtrees that make up its leaves, largest first (one per set bit of the
// size). That is all an append or the root needs; the interior hashes are
// kept by the store, in golang.org/x/mod/sumdb/tlog's stored-hash layout,
// for proofs. The zero Tree is empty.
type Tree struct {
	size int64
	edge []tlog.Hash
}

// Size returns the number of leaves.
func (t *Tree) Size() int64 { return t.size }

// Append adds the leaf of an entry with hash h. It appends to dst, and
// returns, the hashes the tree stores for the new leaf, in the order of
// [tlog.StoredHashes]: they belong at the consecutive stored-hash indexes
// starting at tlog.StoredHashIndex(0, size before the append).
func (t *Tree) Append(dst []tlog.Hash, h Hash) []tlog.Hash {
	return t.appendLeaf(dst, LeafHash(h))
}

// appendLeaf is Append of a leaf hash.
func (t *Tree) appendLeaf(dst []tlog.Hash, x tlog.Hash) []tlog.Hash {
	dst = append(dst, x)
	// Each trailing one bit of the old size completes a subtree with the
	// last edge hash.
	for n := t.size; n&1 == 1; n >>= 1 {
		last := len(t.edge) - 1
		x = tlog.NodeHash(t.edge[last], x)
		t.edge = t.edge[:last]
		dst = append(dst, x)
	}
	t.edge = append(t.edge, x)
	t.size++
	return dst
}

// Root returns the tree hash ([tlog.TreeHash]; all zeros for the empty
// tree).
func (t *Tree) Root() tlog.Hash {
	if len(t.edge) == 0 {
		return tlog.Hash{}
	}
	h := t.edge[len(t.edge)-1]
	for i := len(t.edge) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.edge[i], h)
	}
	return h
}

// Head returns the size and root.
func (t *Tree) Head() tlog.Tree { return tlog.Tree{N: t.size, Hash: t.Root()} }

// Clone returns a copy that shares nothing with t.
func (t *Tree) Clone() Tree {
	return Tree{size: t.size, edge: append([]tlog.Hash(nil), t.edge...)}
}

// MarshalBinary encodes the tree as its size (8 bytes, big-endian) followed
// by its edge hashes, largest subtree first.
func (t *Tree) MarshalBinary() ([]byte, error) {
	b := make([]byte, 8, 8+len(t.edge)*tlog.HashSize)
	binary.BigEndian.PutUint64(b, uint64(t.size))
	for _, h := range t.edge {
		b = append(b, h[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes what [Tree.MarshalBinary] wrote, checking that
// the number of hashes fits the size.
func (t *Tree) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: %d bytes", ErrTreeFormat, len(b))
	}
	size := binary.BigEndian.Uint64(b)
	if size > 1<<62 {
		return fmt.Errorf("%w: size %d", ErrTreeFormat, size)
	}
	n := bits.OnesCount64(size)
	if len(b) != 8+n*tlog.HashSize {
		return fmt.Errorf("%w: size %d needs %d hashes, got %d bytes", ErrTreeFormat, size, n, len(b)-8)
	}
	edge := make([]tlog.Hash, n)
	for i := range edge {
		copy(edge[i][:], b[8+i*tlog.HashSize:])
	}
	t.size, t.edge = int64(size), edge
	return nil
}
