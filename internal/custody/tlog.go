package custody

import (
	"context"
	"errors"
	"fmt"

	"sealkeep/internal/errs"

	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
	"sealkeep/internal/translog"
)

// ErrTreeMismatch means a chain's stored Merkle tree (its size, root or
// proof hashes) differs from the tree of its entries: the database was
// edited outside sealkeep.
var ErrTreeMismatch = errs.New(errs.Verification, "stored Merkle tree differs from the audit trail")

// ErrCheckpoint means a chain's newest checkpoint cannot be read or does
// not verify under the checkpoint key.
var ErrCheckpoint = errs.New(errs.Verification, "audit checkpoint")

// expectCheckpoint makes v check chain's newest checkpoint when the store
// publishes checkpoints: the chain must extend the signed tree. It returns
// the signed tree (nil when there is none).
func (s *Service) expectCheckpoint(v *audit.Verifier, chain string) (*tlog.Tree, error) {
	if s.pub == nil {
		return nil, nil
	}
	signed, err := s.pub.Dir().Latest(chain)
	if err != nil {
		return nil, fmt.Errorf("%w: chain %q: %w", ErrCheckpoint, chain, err)
	}
	if signed == nil {
		return nil, nil
	}
	cp, err := translog.OpenChain(signed, s.pub.Public(), chain)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCheckpoint, s.pub.Dir().CheckpointPath(chain), err)
	}
	if err := v.ExpectTree(cp.Tree); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCheckpoint, s.pub.Dir().CheckpointPath(chain), err)
	}
	return &cp.Tree, nil
}

// checkTree checks the stored Merkle tree of chain against the tree of its
// verified entries (built in the same pass) and, when a checkpoint was
// checked, the consistency proof from it to the current tree built from
// the stored hashes (tlog.ProveTree, tlog.CheckTree).
func checkTree(tx store.ReadTx, chain string, built tlog.Tree, cp *tlog.Tree) error {
	stored, err := tx.AuditTree(chain)
	if err != nil {
		return err
	}
	if stored != built {
		return fmt.Errorf("%w: chain %q: the store's tree has %d leaves and root %s, the entries give %d and %s",
			ErrTreeMismatch, chain, stored.N, stored.Hash, built.N, built.Hash)
	}
	if cp == nil || cp.N == built.N {
		return nil
	}
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return tx.AuditTreeHashes(chain, idx) })
	proof, err := tlog.ProveTree(built.N, cp.N, r)
	if err == nil {
		err = tlog.CheckTree(proof, built.N, built.Hash, cp.N, cp.Hash)
	}
	if err != nil {
		return fmt.Errorf("%w: chain %q: no consistency proof from the checkpoint (size %d) to the tree (size %d) from the stored hashes: %v",
			ErrTreeMismatch, chain, cp.N, built.N, err)
	}
	return nil
}

// ErrNoCheckpoints means the store publishes no checkpoints.
var ErrNoCheckpoints = errs.New(errs.Invalid, "no checkpoint directory is configured")

// Prove returns the inclusion proof of entry seq of chain against the
// chain's newest checkpoint; the proof is checked before it is returned.
// An entry past the newest checkpoint waits for the checkpoints this
// process has still to write ([translog.Publisher.Flush]); one still past
// it is an error wrapping [translog.ErrNotCovered] (not found).
func (s *Service) Prove(ctx context.Context, chain string, seq uint64) (translog.InclusionProof, error) {
	if s.pub == nil {
		return translog.InclusionProof{}, ErrNoCheckpoints
	}
	p, err := s.prove(ctx, chain, seq)
	if errors.Is(err, translog.ErrNotCovered) {
		s.pub.Flush()
		p, err = s.prove(ctx, chain, seq)
	}
	return p, err
}

func (s *Service) prove(ctx context.Context, chain string, seq uint64) (translog.InclusionProof, error) {
	signed, err := s.pub.Dir().Latest(chain)
	if err != nil {
		return translog.InclusionProof{}, fmt.Errorf("%w: chain %q: %w", ErrCheckpoint, chain, err)
	}
	if signed == nil {
		return translog.InclusionProof{}, fmt.Errorf("%w: chain %q has no checkpoint in %s: %w", ErrCheckpoint, chain, s.pub.Dir(), ErrNotFound)
	}
	var p translog.InclusionProof
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		p, err = translog.Prove(tx, chain, seq, signed, s.pub.Public())
		return err
	})
	return p, err
}

// PublishCheckpoint writes (and sends to the witnesses) the checkpoint of
// chain's current tree, as every append does; for a chain whose last
// checkpoint was lost.
func (s *Service) PublishCheckpoint(ctx context.Context, chain string) error {
	if s.pub == nil {
		return ErrNoCheckpoints
	}
	return s.pub.Publish(ctx, chain)
}
