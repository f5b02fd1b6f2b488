package custody

import (
	"context"
	"fmt"
	"math"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
	"sealkeep/internal/translog"
)

// Bounds of one page of [Service.Entries]: at most MaxEntriesPage
// entries, and no more once the entries read exceed MaxEntriesPageBytes
// (by [entrySize]; a page always holds at least one entry).
const (
	MaxEntriesPage      = 1000
	MaxEntriesPageBytes = 1 << 20
)

// pageChunk is how many entries [Service.Entries] reads by one query.
const pageChunk = 64

// Entries returns entries of chain after seq after, in order, as stored
// (only [Service.VerifyChain] proves them): at most limit (1 to
// [MaxEntriesPage]) and fewer past [MaxEntriesPageBytes]. more reports
// whether an entry follows the last one returned. Each page is read in a
// transaction of its own, by queries that read no entry past it, so that
// a reader paging through a long chain holds no transaction between pages
// and reads each entry about once. A chain without entries after
// after (or no chain at all) gives none.
func (s *Service) Entries(ctx context.Context, chain string, after uint64, limit int) (entries []audit.Entry, more bool, err error) {
	if limit < 1 || limit > MaxEntriesPage {
		return nil, false, invalidf("a page holds 1 to %d entries, not %d", MaxEntriesPage, limit)
	}
	if after >= math.MaxInt64 {
		return nil, false, nil
	}
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		entries, more = entries[:0], false
		size, next := 0, after+1
		for {
			// A chunk at a time, so that a page of large entries stops near
			// the byte budget rather than reading them all first; one
			// entry past the page says whether more follow.
			want := min(pageChunk, limit+1-len(entries))
			if size >= MaxEntriesPageBytes {
				want = 1
			}
			chunk, err := tx.AuditPage(chain, next, want)
			if err != nil {
				return err
			}
			for _, e := range chunk {
				if len(entries) == limit || size >= MaxEntriesPageBytes {
					more = true
					return nil
				}
				entries = append(entries, e)
				size += entrySize(e)
			}
			if len(chunk) < want {
				return nil // the chain ends
			}
			next = chunk[len(chunk)-1].Seq + 1
		}
	})
	if err != nil {
		return nil, false, fmt.Errorf("read chain %q: %w", chain, err)
	}
	return entries, more, nil
}

// entrySize is about the bytes of e's JSON form, for the page budget.
func entrySize(e audit.Entry) int {
	n := 320 + len(e.Chain) + len(e.Actor.Kind) + len(e.Actor.ID) + len(e.Action) + len(e.Subject.Org) + len(e.Subject.Identity)
	for k, v := range e.Details {
		n += len(k) + len(v) + 6
	}
	return n
}

// Entry returns entry seq of chain as stored (only [Service.VerifyChain]
// proves it); ErrNotFound if the chain has none.
func (s *Service) Entry(ctx context.Context, chain string, seq uint64) (audit.Entry, error) {
	if seq < 1 || seq >= math.MaxInt64 {
		return audit.Entry{}, fmt.Errorf("entry %d of chain %q: %w", seq, chain, ErrNotFound)
	}
	entries, _, err := s.Entries(ctx, chain, seq-1, 1)
	if err != nil {
		return audit.Entry{}, err
	}
	if len(entries) == 0 || entries[0].Seq != seq {
		return audit.Entry{}, fmt.Errorf("entry %d of chain %q: %w", seq, chain, ErrNotFound)
	}
	return entries[0], nil
}

// LatestCheckpoint returns chain's newest signed checkpoint, the C2SP
// tlog-checkpoint note in the checkpoint directory, after checking its
// signature and origin under the checkpoint key (else an error wrapping
// [ErrCheckpoint]): a note that is not this log's is never handed out. It
// first waits for the checkpoints this process has still to write, so
// that the note covers every append the process committed before.
// ErrNotFound when the chain has none yet; [ErrNoCheckpoints] when the
// store publishes none.
func (s *Service) LatestCheckpoint(ctx context.Context, chain string) ([]byte, error) {
	if s.pub == nil {
		return nil, ErrNoCheckpoints
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.pub.Flush() // the checkpoints of this process's commits so far
	signed, err := s.pub.Dir().Latest(chain)
	if err != nil {
		return nil, fmt.Errorf("%w: chain %q: %w", ErrCheckpoint, chain, err)
	}
	if signed == nil {
		return nil, fmt.Errorf("chain %q has no checkpoint yet: %w", chain, ErrNotFound)
	}
	if _, err := translog.OpenChain(signed, s.pub.Public(), chain); err != nil {
		return nil, fmt.Errorf("%w of chain %q: %w", ErrCheckpoint, chain, err)
	}
	return signed, nil
}
