package custody

import (
	"context"
	"fmt"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// chainGuard is the store as the service uses it. Its transactions refuse
// to start an organization's chain with anything but org.create: the store
// continues a chain from its head record and refuses one whose record
// disagrees with its entries, but a chain whose entries and head record
// were both deleted looks new to it, and appending would start a fresh
// chain at seq 1 in place of the deleted one.
type chainGuard struct{ store.Store }

// Update runs fn with appends checked, and fails (rolling back) on a
// refused append even if fn dropped the error.
func (g chainGuard) Update(ctx context.Context, fn func(store.Tx) error) error {
	return g.Store.Update(ctx, func(tx store.Tx) error {
		gt := &guardTx{Tx: tx}
		err := fn(gt)
		if gt.refused != nil {
			return gt.refused
		}
		return err
	})
}

type guardTx struct {
	store.Tx
	refused error
}

func (t *guardTx) AppendAudit(e audit.Entry) (audit.Entry, error) {
	out, err := t.Tx.AppendAudit(e)
	if err != nil || out.Seq != 1 || out.Chain == audit.SystemChain || out.Action == audit.ActionOrgCreate {
		return out, err
	}
	t.refused = fmt.Errorf("append %s to audit chain %q refused: %w", e.Action, e.Chain, &audit.Break{
		Chain: e.Chain, Seq: 1, Problem: audit.ProblemDeleted,
		Reason: "the chain has no entries and no head record, but an organization's chain begins with org.create: it was deleted outside sealkeep",
	})
	return audit.Entry{}, t.refused
}
