package custody

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Chains lists every audit chain, in byte order: the system chain, every
// chain the store knows of ([store.ReadTx.AuditChains]: organizations,
// chains with entries, chains with a head record) and every organization
// the system chain records creating, so that deleting the rows of one
// kind, or all of an organization's rows, hides no chain from
// [Service.VerifyChain].
func (s *Service) Chains(ctx context.Context) ([]string, error) {
	var out []string
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if out, err = tx.AuditChains(); err != nil {
			return err
		}
		out = append(out, audit.SystemChain)
		// Entries that do not verify still name chains; the system chain's
		// own verification reports them.
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == audit.ActionOrgCreate && e.Subject.Org != "" {
				out = append(out, e.Subject.Org)
			}
			return nil
		})
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// VerifyChain verifies one chain by streaming it in constant memory, and
// against cp (signed by pub) when cp is not nil. When the store publishes
// checkpoints ([translog.Publisher]), the chain must also extend its newest
// checkpoint (else the report names the truncation or rewrite), and the
// stored Merkle tree must be the tree of the entries, built in the same
// pass, with a consistency proof from the checkpoint ([ErrTreeMismatch]);
// a checkpoint that cannot be read or verified wraps [ErrCheckpoint]. The returned report names
// the first broken entry; the error is for failures to read or to check the
// checkpoint's own signature. For an org chain it also checks, in the same
// pass over the chain, that every stored version agrees with the fold of
// the chain (as [Service.CheckState] does), reported as an error wrapping
// [ErrStateMismatch].
//
// The chain's head record must agree with its last entry
// ([audit.Verifier.ExpectHead]); an org chain must begin with org.create
// ([audit.Verifier.ExpectFirst]) and its organization must be stored
// (else an error wrapping [ErrStateMismatch]); the system chain must
// record org.create for every stored organization (else the report's
// Break is [audit.ProblemTruncated] after its last entry: an emptied or
// cut system chain cannot pass).
//
// progress, if not nil, is called every 4096 entries with the count read.
func (s *Service) VerifyChain(ctx context.Context, chain string, cp *audit.Checkpoint, pub ed25519.PublicKey, progress func(read uint64)) (audit.Report, error) {
	v := audit.NewVerifier(chain)
	if cp != nil {
		if err := v.Expect(*cp, pub); err != nil {
			return audit.Report{Chain: chain}, err
		}
	}
	signed, err := s.expectCheckpoint(v, chain)
	if err != nil {
		return audit.Report{Chain: chain}, err
	}
	fold := chain != audit.SystemChain
	if fold {
		v.ExpectFirst(audit.ActionOrgCreate)
	}
	var (
		n         uint64
		created   = make(map[string]bool) // orgs the system chain creates
		orgsBreak *audit.Break
		// entryBreak is the first entry that is linked and hashed right
		// but says something that does not verify: a seal whose approval
		// does not, a passkey entry that makes no sense.
		entryBreak *audit.Break
	)
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		switch rec, err := tx.AuditHeadRecord(chain); {
		case err == nil:
			v.ExpectHead(&rec)
		case errors.Is(err, store.ErrNotFound):
			v.ExpectHead(nil)
		default:
			return err
		}
		state := new(audit.State)
		var foldErr error
		var approvals approvalChecker
		reg := new(audit.Passkeys) // the system chain's, as it is read
		if fold {
			approvals.reg, approvals.regErr = loadPasskeys(tx)
		}
		err := tx.AuditEntries(chain, 1, func(e audit.Entry) error {
			n++
			if progress != nil && n%4096 == 0 {
				progress(n)
			}
			if err := v.Add(e); err != nil {
				return err
			}
			if !fold && e.Action == audit.ActionOrgCreate {
				created[e.Subject.Org] = true
			}
			if !fold && entryBreak == nil {
				if err := reg.Apply(e); err != nil {
					entryBreak = &audit.Break{Chain: chain, Seq: e.Seq, Position: n, Problem: audit.ProblemInvalid, Reason: err.Error()}
				}
			}
			if fold && foldErr == nil {
				if err := state.Apply(e); err != nil {
					foldErr = fmt.Errorf("audit: fold: entry %d: %w", e.Seq, err)
				}
			}
			if fold && e.Action == audit.ActionSeal && entryBreak == nil {
				if _, err := approvals.check(e); err != nil {
					entryBreak = &audit.Break{Chain: chain, Seq: e.Seq, Position: n, Problem: audit.ProblemApproval, Reason: err.Error()}
				}
			}
			return nil
		})
		if err != nil || !v.Report().OK() || entryBreak != nil {
			return err
		}
		if !fold {
			orgsBreak, err = checkSystemOrgs(tx, created, v.Report().Head.Seq)
			if err != nil || orgsBreak != nil {
				return err
			}
			if err := checkCredentials(tx, reg); err != nil {
				return err
			}
		}
		if err := checkTree(tx, chain, v.Report().Tree, signed); err != nil || !fold {
			return err
		}
		if foldErr != nil {
			return fmt.Errorf("%w: chain %q: %w", ErrStateMismatch, chain, foldErr)
		}
		if _, err := tx.Org(chain); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: the audit trail creates org %q (entry 1) but the store has no such org: its row was deleted", ErrStateMismatch, chain)
		} else if err != nil {
			return err
		}
		return checkOrg(tx, chain, state)
	})
	rep := v.Report()
	if orgsBreak != nil && err == nil {
		rep.Break = orgsBreak
	}
	if entryBreak != nil && err == nil && (rep.Break == nil || rep.Break.Seq > entryBreak.Seq) {
		rep.Break = entryBreak
	}
	switch {
	case err == nil, errors.Is(err, audit.ErrBroken):
		return rep, nil
	case errors.Is(err, ErrStateMismatch), errors.Is(err, ErrTreeMismatch):
		return rep, err
	default:
		return rep, fmt.Errorf("read chain %q: %w", chain, err)
	}
}

// checkSystemOrgs returns the break of a system chain, verified up to seq
// last, that records no org.create for a stored organization: creating an
// org writes one there in the same transaction, so the entry was cut off
// with the chain's tail (the head row rewritten to match), or the org was
// added outside sealkeep.
func checkSystemOrgs(tx store.ReadTx, created map[string]bool, last uint64) (*audit.Break, error) {
	orgs, err := tx.Orgs()
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		if !created[o.ID] {
			return &audit.Break{Chain: audit.SystemChain, Seq: last + 1, Problem: audit.ProblemTruncated,
				Reason: fmt.Sprintf("org %q exists, but the system chain (%s) records no org.create for it: entries after it were cut off (and its head row rewritten to match), or the org was added outside sealkeep",
					o.ID, endOf(last))}, nil
		}
	}
	return nil, nil
}

// endOf names where a chain ends.
func endOf(last uint64) string {
	if last == 0 {
		return "no entries"
	}
	return fmt.Sprintf("ending at seq %d", last)
}

// ExportChain writes a chain as JSON Lines ([audit.WriteJSONL]: one entry
// per line, in order, readable back by [audit.DecodeJSONL]) and returns the
// number of entries written.
func (s *Service) ExportChain(ctx context.Context, chain string, w io.Writer) (uint64, error) {
	var n uint64
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		return audit.WriteJSONL(w, audit.Walk(func(fn func(audit.Entry) error) error {
			return tx.AuditEntries(chain, 1, func(e audit.Entry) error {
				n++
				return fn(e)
			})
		}))
	})
	return n, err
}

// Checkpoint signs the current head of a chain with key. It refuses (with
// the [*audit.Break]) a chain whose head record disagrees with its last
// entry: a checkpoint would vouch for the tampered end.
func (s *Service) Checkpoint(ctx context.Context, chain string, key audit.CheckpointKey) (audit.Checkpoint, error) {
	var head audit.Entry
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if head, err = tx.AuditHead(chain); err != nil {
			return err
		}
		var rec *audit.Head
		switch r, err := tx.AuditHeadRecord(chain); {
		case err == nil:
			rec = &r
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if b := audit.CheckHead(chain, rec, audit.Head{Seq: head.Seq, Hash: head.Hash}); b != nil {
			return b
		}
		return nil
	})
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("chain %q: %w", chain, err)
	}
	return key.SignCheckpoint(head, s.now())
}

// CheckState folds org's audit chain (verifying it) and checks every
// stored version of the org's identities against it: status, certificate,
// public key, key reference and key blob (see [ErrStateMismatch]), and that
// every version the trail records is stored. A difference wraps
// [ErrStateMismatch].
func (s *Service) CheckState(ctx context.Context, org string) error {
	return s.st.View(ctx, func(tx store.ReadTx) error {
		state, err := foldAll(tx, org)
		if err != nil {
			return err
		}
		return checkOrg(tx, org, state)
	})
}
