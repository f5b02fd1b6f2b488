package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// ProofFormat is the format tag of an [InclusionProof].
const ProofFormat = "sealkeep-inclusion-proof/v1"

// MaxProofSize caps the proof files [ParseInclusionProof] reads.
const MaxProofSize = 256 << 10

// InclusionProof proves that an audit entry is leaf Seq-1 of the Merkle
// tree a signed checkpoint commits to. It is checked with the checkpoint's
// note verifier key alone ([InclusionProof.Verify]); the RFC 6962 fields
// (leaf index, tree size, root hash, leaf hash, audit path) serve any RFC
// 6962 verifier, the leaf input being the 32-byte entry hash.
type InclusionProof struct {
	Format     string      `json:"format"`     // ProofFormat
	Checkpoint string      `json:"checkpoint"` // the signed checkpoint note
	Entry      audit.Entry `json:"entry"`      // the entry, as audit export writes it
	LeafIndex  int64       `json:"leaf_index"` // Entry.Seq - 1
	TreeSize   int64       `json:"tree_size"`  // the checkpoint's size
	RootHash   tlog.Hash   `json:"root_hash"`  // the checkpoint's root (base64)
	LeafHash   tlog.Hash   `json:"leaf_hash"`  // SHA-256(0x00 || entry hash)
	Path       []tlog.Hash `json:"path"`       // the RFC 6962 audit path, leaf to root
}

// Prove builds the inclusion proof of entry seq of chain against the
// signed checkpoint note (already verified under pub), reading the entry
// and the stored tree hashes in tx.
func Prove(tx store.ReadTx, chain string, seq uint64, signed []byte, pub ed25519.PublicKey) (InclusionProof, error) {
	cp, err := OpenChain(signed, pub, chain)
	if err != nil {
		return InclusionProof{}, err
	}
	if seq < 1 || seq > uint64(cp.N) {
		return InclusionProof{}, fmt.Errorf("%w: the checkpoint covers entries 1..%d of chain %q, not %d", ErrNotCovered, cp.N, chain, seq)
	}
	var e audit.Entry
	found := false
	if err := tx.AuditEntries(chain, seq, func(x audit.Entry) error {
		e, found = x, x.Seq == seq
		return errStop
	}); err != nil && err != errStop {
		return InclusionProof{}, err
	}
	if !found {
		return InclusionProof{}, fmt.Errorf("translog: entry %d of chain %q: %w", seq, chain, store.ErrNotFound)
	}
	path, err := tlog.ProveRecord(cp.N, int64(seq-1), hashReader(tx, chain))
	if err != nil {
		return InclusionProof{}, err
	}
	p := InclusionProof{Format: ProofFormat, Checkpoint: string(signed), Entry: e, LeafIndex: int64(seq - 1),
		TreeSize: cp.N, RootHash: cp.Hash, LeafHash: audit.LeafHash(e.Hash), Path: path}
	// Check what is handed out: a stored hash edited in the database must
	// not give a proof that fails only at the third party.
	if err := p.Verify(mustVerifierKey(pub, chain)); err != nil {
		return InclusionProof{}, fmt.Errorf("%w (the stored Merkle tree does not match the checkpoint; run audit verify)", err)
	}
	return p, nil
}

func mustVerifierKey(pub ed25519.PublicKey, chain string) string {
	k, _ := VerifierKey(pub, chain)
	return k
}

type stopError struct{}

func (stopError) Error() string { return "stop" }

var errStop error = stopError{}

// Verify checks p under the note verifier key vkey: the checkpoint's
// signature and origin, that the tree size and root are the checkpoint's,
// that the entry's hash is the hash of its fields and its leaf hash the
// one given, and the audit path (tlog.CheckRecord).
func (p InclusionProof) Verify(vkey string) error {
	if p.Format != ProofFormat {
		return fmt.Errorf("%w proof: format %q, want %q", ErrFormat, p.Format, ProofFormat)
	}
	cp, err := Open([]byte(p.Checkpoint), vkey)
	if err != nil {
		return err
	}
	switch e := p.Entry; {
	case cp.N != p.TreeSize || cp.Hash != p.RootHash:
		return fmt.Errorf("%w: the proof's tree size and root are not the checkpoint's", ErrProof)
	case e.ComputeHash() != e.Hash:
		return fmt.Errorf("%w: entry %d's hash is not the hash of its fields", ErrProof, e.Seq)
	case e.Seq < 1 || p.LeafIndex != int64(e.Seq-1):
		return fmt.Errorf("%w: leaf index %d is not entry %d's", ErrProof, p.LeafIndex, e.Seq)
	case audit.LeafHash(e.Hash) != p.LeafHash:
		return fmt.Errorf("%w: the leaf hash is not the entry's", ErrProof)
	case cp.Origin != Origin(keyIDOf(vkey), e.Chain):
		return fmt.Errorf("%w: the entry is of chain %q, the checkpoint of %q", ErrProof, e.Chain, cp.Origin)
	}
	if err := tlog.CheckRecord(p.Path, p.TreeSize, p.RootHash, p.LeafIndex, p.LeafHash); err != nil {
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	return nil
}

// keyIDOf returns the checkpoint key ID in a verifier key's name
// ("sealkeep/<key id>/<chain>"), or "".
func keyIDOf(vkey string) string {
	name, _, _ := bytes.Cut([]byte(vkey), []byte("+"))
	rest, ok := bytes.CutPrefix(name, []byte("sealkeep/"))
	id, _, ok2 := bytes.Cut(rest, []byte("/"))
	if !ok || !ok2 {
		return ""
	}
	return string(id)
}

// ParseInclusionProof reads a proof as MarshalIndent writes it: strict
// JSON (unknown fields refused), at most MaxProofSize bytes.
func ParseInclusionProof(b []byte) (InclusionProof, error) {
	if len(b) > MaxProofSize {
		return InclusionProof{}, fmt.Errorf("%w proof: larger than %d bytes", ErrFormat, MaxProofSize)
	}
	var p InclusionProof
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return InclusionProof{}, fmt.Errorf("%w proof: %v", ErrFormat, err)
	}
	if dec.More() {
		return InclusionProof{}, fmt.Errorf("%w proof: data after the proof", ErrFormat)
	}
	return p, nil
}
