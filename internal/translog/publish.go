package translog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sealkeep/internal/errs"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// DefaultWitnessTimeout bounds one add-checkpoint request.
const DefaultWitnessTimeout = 10 * time.Second

// Options configure a [Publisher].
type Options struct {
	// Witnesses are sent every checkpoint written; their cosignatures are
	// stored beside it.
	Witnesses []Witness
	// Client makes the witness requests (default: an http.Client with
	// WitnessTimeout).
	Client *http.Client
	// WitnessTimeout bounds one witness request (default
	// DefaultWitnessTimeout).
	WitnessTimeout time.Duration
	// Logger receives failures to write a checkpoint or reach a witness
	// (default: discard). They do not fail the transaction, which has
	// committed; the next append writes a newer checkpoint.
	Logger *slog.Logger
}

// Publisher is a [store.Store] that writes a signed checkpoint of every
// chain a committed Update appended to into a [Dir], and sends it to the
// witnesses. View is the wrapped store's.
//
// The checkpoints are signed and written by a goroutine of the Publisher,
// after the commit and off the committing goroutine's path, so that an
// append does not wait for a signature, a file write or a witness: when
// commits come faster than checkpoints, the writer signs the newest tree
// of each chain (one checkpoint for several transactions). [Publisher.Flush]
// waits until everything committed so far is published, and
// [Publisher.Close] flushes before it closes the store: a command's
// checkpoints are written when it returns. A process killed in between
// leaves the previous checkpoint, which the tree extends (see [Dir]).
type Publisher struct {
	store.Store
	key  audit.CheckpointKey
	dir  Dir
	opts Options

	mu      sync.Mutex
	written map[string]tlog.Tree // chain -> the newest checkpoint this process wrote or checked
	pending map[string]tlog.Tree // committed heads not yet published
	wake    chan struct{}        // the writer's signal; closed by Close
	started bool
	closed  bool
	writer  sync.WaitGroup
	drainMu sync.Mutex    // held while a batch is published
	count   atomic.Uint64 // checkpoints written
}

// Written returns how many checkpoints p has written.
func (p *Publisher) Written() uint64 { return p.count.Load() }

// NewPublisher wraps st.
func NewPublisher(st store.Store, key audit.CheckpointKey, dir Dir, opts Options) *Publisher {
	if opts.WitnessTimeout == 0 {
		opts.WitnessTimeout = DefaultWitnessTimeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.WitnessTimeout}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Publisher{Store: st, key: key, dir: dir, opts: opts, written: map[string]tlog.Tree{},
		pending: map[string]tlog.Tree{}, wake: make(chan struct{}, 1)}
}

// enqueue hands committed heads to the writer goroutine.
func (p *Publisher) enqueue(heads map[string]tlog.Tree) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for chain, head := range heads {
		if head.N > p.pending[chain].N {
			p.pending[chain] = head
		}
	}
	if p.closed {
		return
	}
	if !p.started {
		p.started = true
		p.writer.Go(func() {
			for range p.wake {
				p.drain()
			}
		})
	}
	select {
	case p.wake <- struct{}{}:
	default: // the writer is already due to run
	}
}

// drain publishes the pending heads until none is left.
func (p *Publisher) drain() {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	for {
		p.mu.Lock()
		batch := p.pending
		p.pending = map[string]tlog.Tree{}
		p.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for chain, head := range batch {
			if err := p.publish(context.Background(), chain, head); err != nil {
				p.opts.Logger.Error("audit checkpoint not published", "chain", chain, "size", head.N, "err", err)
			}
		}
	}
}

// Flush returns when the checkpoints of every transaction committed before
// the call are written and sent to the witnesses.
func (p *Publisher) Flush() { p.drain() }

// Close stops the writer, publishes what is pending and closes the
// wrapped store.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.wake)
	}
	p.mu.Unlock()
	p.writer.Wait()
	p.drain()
	return p.Store.Close()
}

// ErrDiverged means a chain's stored tree is not the tree of its newest
// checkpoint: the chain was truncated or rewritten, and nothing more is
// appended to it.
var ErrDiverged = errs.New(errs.Verification, "translog: the chain does not extend its newest checkpoint")

// appendTx records the chains a transaction appends to, and checks each
// chain's stored tree against its newest checkpoint before the first
// append.
type appendTx struct {
	store.Tx
	p       *Publisher
	chains  map[string]bool
	refused error // a divergence found; Update fails even if fn drops it
}

func (t *appendTx) AppendAudit(e audit.Entry) (audit.Entry, error) {
	if t.refused != nil {
		return audit.Entry{}, t.refused
	}
	first := !t.chains[e.Chain]
	out, err := t.Tx.AppendAudit(e)
	if err != nil {
		return out, err
	}
	t.chains[out.Chain] = true
	if first {
		// Checked after the append, against the tree the store read under
		// the head lock: no query of its own. A divergence rolls the
		// transaction back.
		base, ok := t.Tx.AuditTreeBase(out.Chain)
		if !ok {
			err = fmt.Errorf("translog: the store reports no tree for chain %q after an append", out.Chain)
		} else {
			err = t.p.checkExtends(out.Chain, base)
		}
		if err != nil {
			t.refused = err
			return audit.Entry{}, err
		}
	}
	return out, nil
}

// checkExtends fails closed unless head, chain's stored tree before the
// transaction appended, extends its newest checkpoint: a checkpoint larger
// than the tree means entries were cut off, one of the same size with
// another root that the history was rewritten. A smaller checkpoint (the
// newest was lost in a crash) is not checked here; audit verify checks it.
func (p *Publisher) checkExtends(chain string, head tlog.Tree) error {
	cp, ok, err := p.newest(chain)
	if err != nil || !ok {
		return err
	}
	if cp.N > head.N || (cp.N == head.N && cp.Hash != head.Hash) {
		return fmt.Errorf("%w: chain %q has a tree of %d entries, its checkpoint %s covers %d; run sealkeep audit verify",
			ErrDiverged, chain, head.N, p.dir.CheckpointPath(chain), cp.N)
	}
	return nil
}

// newest returns chain's newest checkpoint, from memory or from the
// directory (verified under the checkpoint key).
func (p *Publisher) newest(chain string) (tlog.Tree, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cp, ok := p.written[chain]; ok {
		return cp, true, nil
	}
	signed, err := p.dir.Latest(chain)
	if err != nil || signed == nil {
		return tlog.Tree{}, false, err
	}
	cp, err := OpenChain(signed, p.key.Public(), chain)
	if err != nil {
		return tlog.Tree{}, false, fmt.Errorf("%s: %w", p.dir.CheckpointPath(chain), err)
	}
	p.written[chain] = cp.Tree
	return cp.Tree, true, nil
}

// Update runs fn as the wrapped store does and then has the checkpoint of
// every chain fn appended to, as the transaction committed it, published
// (see [Publisher]).
func (p *Publisher) Update(ctx context.Context, fn func(store.Tx) error) error {
	var heads map[string]tlog.Tree
	err := p.Store.Update(ctx, func(tx store.Tx) error {
		at := &appendTx{Tx: tx, p: p, chains: map[string]bool{}}
		heads = nil
		err := fn(at)
		if at.refused != nil {
			return at.refused
		}
		if err != nil {
			return err
		}
		for chain := range at.chains {
			head, err := tx.AuditTree(chain)
			if err != nil {
				return err
			}
			if heads == nil {
				heads = map[string]tlog.Tree{}
			}
			heads[chain] = head
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(heads) > 0 {
		p.enqueue(heads)
	}
	return nil
}

// Publish signs and writes the checkpoint of chain's current tree and
// sends it to the witnesses, as Update does after an append.
func (p *Publisher) Publish(ctx context.Context, chain string) error {
	var head tlog.Tree
	if err := p.View(ctx, func(tx store.ReadTx) error {
		var err error
		head, err = tx.AuditTree(chain)
		return err
	}); err != nil {
		return err
	}
	return p.publish(ctx, chain, head)
}

func (p *Publisher) publish(ctx context.Context, chain string, head tlog.Tree) error {
	if head.N < 1 {
		return nil
	}
	signed, err := p.write(chain, head)
	if err != nil || signed == nil {
		return err
	}
	var errs []error
	for _, w := range p.opts.Witnesses {
		errs = append(errs, p.witness(ctx, w, chain, head, signed))
	}
	return errors.Join(errs...)
}

// write signs and writes chain's checkpoint unless a checkpoint at least as
// large is already there (another transaction committed later and wrote
// first). It returns the note written, or nil.
func (p *Publisher) write(chain string, head tlog.Tree) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.written[chain].N >= head.N {
		return nil, nil
	}
	signed, err := Sign(p.key, chain, head)
	if err != nil {
		return nil, err
	}
	// Another process may have written a newer one (judged by its size
	// only: what is there is verified by audit verify, not trusted here).
	wrote, err := replace(p.dir.CheckpointPath(chain), signed, func(cur []byte) bool { return peekSize(cur) >= head.N })
	if err != nil || !wrote {
		return nil, err
	}
	p.written[chain] = head
	p.count.Add(1)
	return signed, nil
}

// witness sends a checkpoint to w with a consistency proof from the size w
// last cosigned, retrying once from the size w says it knows, and stores
// the cosigned note.
func (p *Publisher) witness(ctx context.Context, w Witness, chain string, head tlog.Tree, signed []byte) error {
	name := w.Name()
	if name == "" {
		return fmt.Errorf("%w: malformed witness key %.80q", ErrWitness, w.Key)
	}
	path := p.dir.CosignedPath(chain, name)
	old := int64(0)
	if prev, err := readNote(path); err == nil && prev != nil {
		old = max(peekSize(prev), 0)
	}
	for attempt := 0; ; attempt++ {
		if old > head.N {
			return fmt.Errorf("%w %s knows tree size %d, larger than %d: the log forked or was truncated", ErrWitness, name, old, head.N)
		}
		proof, err := p.consistency(ctx, chain, head.N, old)
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, p.opts.WitnessTimeout)
		cosigned, err := w.AddCheckpoint(rctx, p.opts.Client, signed, old, proof)
		cancel()
		var conflict *conflictError
		if errors.As(err, &conflict) && attempt == 0 {
			old = conflict.known
			continue
		}
		if err != nil {
			return err
		}
		_, err = replace(path, cosigned, func(cur []byte) bool { return peekSize(cur) >= head.N })
		return err
	}
}

// consistency returns the consistency proof of chain's tree from size old
// to size n (empty for old 0 or old n).
func (p *Publisher) consistency(ctx context.Context, chain string, n, old int64) (tlog.TreeProof, error) {
	if old == 0 || old == n {
		return nil, nil
	}
	var proof tlog.TreeProof
	err := p.View(ctx, func(tx store.ReadTx) error {
		var err error
		proof, err = tlog.ProveTree(n, old, hashReader(tx, chain))
		return err
	})
	return proof, err
}

// hashReader reads chain's stored tree hashes in tx.
func hashReader(tx store.ReadTx, chain string) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return tx.AuditTreeHashes(chain, idx) })
}

// Dir returns the checkpoint directory.
func (p *Publisher) Dir() Dir { return p.dir }

// Public returns the checkpoint key's public key.
func (p *Publisher) Public() ed25519.PublicKey { return p.key.Public() }
