package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is a tlog.HashReader over stored hashes kept in order.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, errors.New("index out of range")
		}
		out[i] = m[x]
	}
	return out, nil
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func hexHash(t *testing.T, s string) tlog.Hash {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		t.Fatalf("bad hash %q", s)
	}
	return tlog.Hash(b)
}

// TestTreeReferenceVectors builds the RFC 6962 reference tree (the
// Certificate Transparency implementation's vectors) leaf by leaf: every
// root and right edge must match, and the proofs x/mod/sumdb/tlog derives
// from the hashes Tree stores must be the vectors' proofs.
func TestTreeReferenceVectors(t *testing.T) {
	var ref struct {
		LeafInputs   []string   `json:"leafInputs"`
		RootHashes   []string   `json:"rootHashes"`
		CompactTrees [][]string `json:"compactTrees"`
	}
	readJSON(t, "testdata/rfc6962/reference-tree.json", &ref)
	var tr Tree
	var stored memHashes
	for n := 0; n <= len(ref.LeafInputs); n++ {
		if n > 0 {
			in, err := hex.DecodeString(ref.LeafInputs[n-1])
			if err != nil {
				t.Fatal(err)
			}
			stored = tr.appendLeaf(stored, tlog.RecordHash(in))
		}
		if tr.Size() != int64(n) || int64(len(stored)) != tlog.StoredHashCount(int64(n)) {
			t.Fatalf("size %d: %d leaves, %d stored hashes", n, tr.Size(), len(stored))
		}
		var edge []string
		for _, h := range tr.edge {
			edge = append(edge, hex.EncodeToString(h[:]))
		}
		if !slices.Equal(edge, ref.CompactTrees[n]) && len(edge)+len(ref.CompactTrees[n]) > 0 {
			t.Errorf("size %d: edge %v, want %v", n, edge, ref.CompactTrees[n])
		}
		if n == 0 {
			// RFC 6962 defines the empty tree's hash as SHA-256 of nothing;
			// x/mod/sumdb/tlog (and Tree) use all zeros. No checkpoint is
			// ever signed for an empty chain.
			if tr.Root() != (tlog.Hash{}) || hexHash(t, ref.RootHashes[0]) != sha256.Sum256(nil) {
				t.Errorf("empty tree: root %v", tr.Root())
			}
			continue
		}
		if got, want := tr.Root(), hexHash(t, ref.RootHashes[n]); got != want {
			t.Errorf("size %d: root %x, want %x", n, got, want)
		}
	}

	var inc struct {
		LeafIdx, TreeSize int64
		Root, LeafHash    []byte
		Proof             [][]byte
		WantErr           bool
	}
	readJSON(t, "testdata/rfc6962/inclusion-happy-path.json", &inc)
	p, err := tlog.ProveRecord(inc.TreeSize, inc.LeafIdx, stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != len(inc.Proof) {
		t.Fatalf("inclusion proof has %d hashes, the vector %d", len(p), len(inc.Proof))
	}
	for i := range p {
		if !slices.Equal(p[i][:], inc.Proof[i]) {
			t.Errorf("inclusion proof[%d] = %x, the vector has %x", i, p[i], inc.Proof[i])
		}
	}
	var cons struct {
		Size1, Size2 int64
		Root1, Root2 []byte
		Proof        [][]byte
	}
	readJSON(t, "testdata/rfc6962/consistency-happy-path.json", &cons)
	cp, err := tlog.ProveTree(cons.Size2, cons.Size1, stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp) != len(cons.Proof) {
		t.Fatalf("consistency proof has %d hashes, the vector %d", len(cp), len(cons.Proof))
	}
	for i := range cp {
		if !slices.Equal(cp[i][:], cons.Proof[i]) {
			t.Errorf("consistency proof[%d] = %x, the vector has %x", i, cp[i], cons.Proof[i])
		}
	}
}

// TestProofVectors checks the vectors' proofs, valid and tampered, with the
// verifiers sealkeep uses (x/mod/sumdb/tlog's CheckRecord and CheckTree).
func TestProofVectors(t *testing.T) {
	toHashes := func(bs [][]byte) []tlog.Hash {
		var out []tlog.Hash
		for _, b := range bs {
			out = append(out, tlog.Hash(b))
		}
		return out
	}
	for _, f := range []string{"inclusion-happy-path.json", "inclusion-wrong-leaf.json"} {
		var v struct {
			LeafIdx, TreeSize int64
			Root, LeafHash    []byte
			Proof             [][]byte
			WantErr           bool
		}
		readJSON(t, "testdata/rfc6962/"+f, &v)
		var leaf tlog.Hash
		ok := copy(leaf[:], v.LeafHash) == tlog.HashSize
		err := errors.New("leaf hash is not 32 bytes")
		if ok {
			err = tlog.CheckRecord(toHashes(v.Proof), v.TreeSize, tlog.Hash(v.Root), v.LeafIdx, leaf)
		}
		if (err != nil) != v.WantErr {
			t.Errorf("%s: CheckRecord = %v, want error %v", f, err, v.WantErr)
		}
	}
	for _, f := range []string{"consistency-happy-path.json", "consistency-modified-proof-1-bit-4.json"} {
		var v struct {
			Size1, Size2 int64
			Root1, Root2 []byte
			Proof        [][]byte
			WantErr      bool
		}
		readJSON(t, "testdata/rfc6962/"+f, &v)
		err := tlog.CheckTree(toHashes(v.Proof), v.Size2, tlog.Hash(v.Root2), v.Size1, tlog.Hash(v.Root1))
		if (err != nil) != v.WantErr {
			t.Errorf("%s: CheckTree = %v, want error %v", f, err, v.WantErr)
		}
	}
}

// TestTreeAgainstTlog compares Tree, entry by entry, with
// x/mod/sumdb/tlog over the same stored hashes: the stored hashes of each
// append, the root, and inclusion and consistency proofs that verify.
func TestTreeAgainstTlog(t *testing.T) {
	chain := buildChain(300)
	var tr Tree
	var stored memHashes
	for i, e := range chain {
		n := int64(i)
		want, err := tlog.StoredHashes(n, e.Hash[:], stored)
		if err != nil {
			t.Fatal(err)
		}
		got := tr.Append(nil, e.Hash)
		if !slices.Equal(got, want) {
			t.Fatalf("entry %d: stored hashes differ from tlog.StoredHashes", e.Seq)
		}
		if LeafHash(e.Hash) != tlog.RecordHash(e.Hash[:]) {
			t.Fatalf("LeafHash differs from tlog.RecordHash")
		}
		stored = append(stored, got...)
		root, err := tlog.TreeHash(n+1, stored)
		if err != nil || root != tr.Root() || tr.Head() != (tlog.Tree{N: n + 1, Hash: root}) {
			t.Fatalf("size %d: root %x, tlog.TreeHash %x (%v)", n+1, tr.Root(), root, err)
		}
		b, _ := tr.MarshalBinary()
		var back Tree
		if err := back.UnmarshalBinary(b); err != nil || back.Root() != root || back.Size() != n+1 {
			t.Fatalf("size %d: round trip: %v", n+1, err)
		}
		if err := back.UnmarshalBinary(b[:len(b)-1]); !errors.Is(err, ErrTreeFormat) {
			t.Fatalf("truncated encoding accepted: %v", err)
		}
	}
	size := tr.Size()
	root := tr.Root()
	for _, k := range []int64{0, 1, 150, size - 1} {
		p, err := tlog.ProveRecord(size, k, stored)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, size, root, k, LeafHash(chain[k].Hash)); err != nil {
			t.Errorf("inclusion of leaf %d: %v", k, err)
		}
		if err := tlog.CheckRecord(p, size, root, k, LeafHash(chain[(k+1)%size].Hash)); err == nil {
			t.Errorf("inclusion proof of leaf %d accepted for another entry", k)
		}
	}
	for _, old := range []int64{1, 2, 7, 200} {
		var prefix Tree
		for _, e := range chain[:old] {
			prefix.Append(nil, e.Hash)
		}
		p, err := tlog.ProveTree(size, old, stored)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(p, size, root, old, prefix.Root()); err != nil {
			t.Errorf("consistency %d -> %d: %v", old, size, err)
		}
	}
}

// TestVerifierExpectTree: a signed tree head catches a cut-off tail and a
// history rewritten consistently (every entry relinked), which the hash
// chain alone cannot.
func TestVerifierExpectTree(t *testing.T) {
	chain := buildChain(40)
	var tr Tree
	for _, e := range chain[:30] {
		tr.Append(nil, e.Hash)
	}
	head := tr.Head()
	check := func(entries []Entry) Report {
		v := NewVerifier("org-a")
		if err := v.ExpectTree(head); err != nil {
			t.Fatal(err)
		}
		return v.run(Slice(entries))
	}
	if r := check(chain); !r.OK() || r.Tree.N != 40 {
		t.Fatalf("intact chain: %+v", r)
	}
	var full Tree
	for _, e := range chain {
		full.Append(nil, e.Hash)
	}
	if r := Verify(Slice(chain)); r.Tree != full.Head() {
		t.Errorf("Report.Tree = %v, want %v", r.Tree, full.Head())
	}
	if r := check(chain[:29]); r.OK() || r.Break.Problem != ProblemTruncated || r.Break.Seq != 30 {
		t.Errorf("truncated: %+v", r.Break)
	}
	if r := check(chain[:30]); !r.OK() {
		t.Errorf("chain ending at the checkpoint: %v", r.Error())
	}
	edited := clone(chain)
	edited[10].Details[DetailReason] = "rewritten"
	edited = relink(edited)
	if r := Verify(Slice(edited)); !r.OK() {
		t.Fatalf("relinked chain should verify on its own: %v", r.Error())
	}
	if r := check(edited); r.OK() || r.Break.Problem != ProblemRewritten || r.Break.Seq != 30 {
		t.Errorf("rewritten: %+v", r.Break)
	}
	if err := NewVerifier("").ExpectTree(tlog.Tree{}); err == nil {
		t.Error("a tree of size 0 was accepted as a checkpoint")
	}
}
