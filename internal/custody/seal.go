package custody

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// SealKey is an identity's active version opened for one seal: its signer
// and certificates, and who owns it. It is what the seal pipeline
// (internal/seal) signs with; the pipeline, not custody, checks the
// owner's approval.
type SealKey struct {
	Org, Identity string
	// Owner is the user ID of the sealer who owns the identity: the only
	// user whose approval can seal with it.
	Owner   string
	Version int
	// Signer signs through [Service.Signer]: a local key is decrypted,
	// used and zeroed inside each Sign call.
	Signer crypto.Signer
	Leaf   *x509.Certificate
	Chain  []*x509.Certificate
	// Thumbprint is the SHA-256 (hex) of Leaf's DER.
	Thumbprint string
	// Provider names where the key lives: "local" (in custody) or the
	// scheme of its key URI ("awskms", "pkcs11", ...).
	Provider string
}

// ActiveKey opens the active version of identity for sealing: the version
// the verified fold of the org's chain makes active, checked (with the
// identity's other versions) against the store as [Service.Signer] checks
// it. It refuses (wrapping [ErrForbidden]) an identity with no active
// version; a stored state that differs from the trail is an
// [ErrStateMismatch], audited.
func (s *Service) ActiveKey(ctx context.Context, actor audit.Actor, identity string) (SealKey, error) {
	var ident store.Identity
	var v store.Version
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		state, err := s.foldOrg(tx, ident.OrgID)
		if err != nil {
			return err
		}
		n, ok := state.Active(identity)
		if !ok {
			return fmt.Errorf("identity %q has no active version: %w", identity, ErrForbidden)
		}
		v, err = checkedVersionIn(tx, state, ident, n)
		return err
	})
	if err != nil {
		return SealKey{}, s.refused(ctx, actor, ident, v.Version, err)
	}
	certs, err := parseCerts(append([][]byte{v.CertDER}, v.ChainDER...))
	if err != nil {
		return SealKey{}, fmt.Errorf("stored certificate of identity %q version %d: %w", identity, v.Version, err)
	}
	// The version is active by the fold it was checked against, so
	// neither revoked nor destroyed: its signer is built from this read.
	sgn, err := s.signerFor(ctx, actor, ident, v)
	if err != nil {
		return SealKey{}, err
	}
	return SealKey{Org: ident.OrgID, Identity: ident.ID, Owner: ident.Owner, Version: v.Version,
		Signer: sgn, Leaf: certs[0], Chain: certs[1:], Thumbprint: thumbprint(v.CertDER), Provider: provider(v.KeyRef)}, nil
}

// provider is the provider name of a key reference: "local", or the
// scheme of an external key URI.
func provider(keyRef string) string {
	if keyRef == KeyRefLocal {
		return KeyRefLocal
	}
	scheme, _, _ := strings.Cut(keyRef, ":")
	return scheme
}

// RecordSeal writes the seal entry of a seal made with key, in one
// transaction that locks the org's chain: by the verified fold of the
// chain (checked against the store, [ErrStateMismatch] otherwise) the
// version must still be the identity's active one and hold the same
// certificate (a rotation, revoke
// or destroy since the key was opened refuses the record, wrapping
// [ErrTransition] or [ErrConflict]), no seal entry may have used the same
// approval (intent_sha256; [ErrConflict]: an approval seals once), and
// the entry must pass
// [audit.CheckSeal] ([ErrInvalidInput] otherwise). Once the entry is
// appended, commit (if not nil) runs in the same transaction with the
// entry: the seal pipeline records the approval there (the step-up's
// single-use record), and its caller what it keeps with the seal, so that
// all of it commits together or not at all. An error from commit rolls
// everything back and is returned wrapped. The seal pipeline releases the
// sealed file only once this returns without error.
//
// # Group commit
//
// Seals recorded at once in one org's chain share a transaction: the
// first caller records, in one transaction (one chain lock, one fold, one
// commit), its own seal and every seal of the org that is waiting (at
// most [maxSealBatch]), in the order they arrived, each checked as above
// against the fold and the store as the seals before it in the batch left
// them; then the next waiting caller records the next batch. A seal whose
// checks or commit function fail is taken out with its error and the
// others are recorded again without it, in a transaction of their own
// (commit functions may run more than once, as in every transaction); a
// failure of the transaction itself is every member's. Either way each
// caller gets exactly its own entry or its own error.
func (s *Service) RecordSeal(ctx context.Context, actor audit.Actor, key SealKey, details map[string]string, commit func(store.Tx, audit.Entry) error) (audit.Entry, error) {
	d := maps.Clone(details)
	d[audit.DetailThumbprint] = key.Thumbprint
	e := s.entry(key.Org, actor, audit.ActionSeal, audit.Subject{Org: key.Org, Identity: key.Identity, Version: key.Version}, d)
	if err := audit.CheckSeal(e); err != nil {
		return audit.Entry{}, invalid(err)
	}
	r := &sealRecord{ctx: ctx, key: key, e: e, commit: commit, done: make(chan struct{}), lead: make(chan struct{})}
	lead := r.lead
	if s.seals.join(r) {
		lead = nil
		s.recordNext(key.Org)
	}
	for waiting := true; waiting; {
		select {
		case <-r.done:
			waiting = false
		case <-lead: // closed once: this caller records the next batch
			lead = nil
			s.recordNext(key.Org)
		}
	}
	if r.err != nil {
		ident := store.Identity{ID: key.Identity, OrgID: key.Org}
		return audit.Entry{}, fmt.Errorf("record seal: %w", s.refused(ctx, actor, ident, key.Version, r.err))
	}
	s.log.InfoContext(ctx, "sealed", "identity", key.Identity, "version", key.Version, "seq", r.out.Seq)
	return r.out, nil
}

// maxSealBatch bounds the seals one transaction records.
const maxSealBatch = 32

// sealRecord is one seal waiting to be recorded.
type sealRecord struct {
	ctx    context.Context
	key    SealKey
	e      audit.Entry
	commit func(store.Tx, audit.Entry) error
	out    audit.Entry // the appended entry, once done
	err    error       // or why it was not recorded
	done   chan struct{}
	// finished is set with done (by the recording goroutine only).
	finished bool
	lead     chan struct{} // closed when this caller is to record the next batch
}

// sealQueue holds the seals waiting to be recorded, per org, and which
// orgs have a caller recording.
type sealQueue struct {
	mu      sync.Mutex
	waiting map[string][]*sealRecord
	busy    map[string]bool
}

// join queues r and reports whether its caller is to record (no other
// caller is recording in r's org).
func (q *sealQueue) join(r *sealRecord) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting == nil {
		q.waiting, q.busy = map[string][]*sealRecord{}, map[string]bool{}
	}
	org := r.key.Org
	q.waiting[org] = append(q.waiting[org], r)
	if q.busy[org] {
		return false
	}
	q.busy[org] = true
	return true
}

// take removes and returns the next batch of org's waiting seals.
func (q *sealQueue) take(org string) []*sealRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.waiting[org]
	n := min(len(w), maxSealBatch)
	batch := slices.Clone(w[:n])
	if q.waiting[org] = w[n:]; len(q.waiting[org]) == 0 {
		delete(q.waiting, org)
	}
	return batch
}

// handOff makes the first waiting caller of org record next, or marks
// org idle.
func (q *sealQueue) handOff(org string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w := q.waiting[org]; len(w) > 0 {
		close(w[0].lead)
		return
	}
	delete(q.busy, org)
}

// recordNext records the next batch of org's waiting seals, then hands
// the recording on. A panic fails the batch's unfinished members before
// it goes on up.
func (s *Service) recordNext(org string) {
	defer s.seals.handOff(org)
	batch := s.seals.take(org)
	defer func() {
		if p := recover(); p != nil {
			for _, r := range batch {
				r.finish(audit.Entry{}, errors.New("custody: recording the seal panicked"))
			}
			panic(p)
		}
	}()
	s.recordBatch(org, batch)
}

// finish completes r with its entry or error, once.
func (r *sealRecord) finish(out audit.Entry, err error) {
	if r.finished {
		return
	}
	r.finished = true
	r.out, r.err = out, err
	close(r.done)
}

// errSealRefused stops a batch's transaction at a seal that failed its
// checks or its commit function.
var errSealRefused = errors.New("custody: a seal of the batch was refused")

// recordBatch records batch (seals of org's chain) in one transaction,
// taking out each seal that fails with its error (see [Service.RecordSeal]),
// and completes every member.
func (s *Service) recordBatch(org string, batch []*sealRecord) {
	live := make([]*sealRecord, 0, len(batch))
	var deadline time.Time
	unbounded := false
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.finish(audit.Entry{}, err)
			continue
		}
		if d, ok := r.ctx.Deadline(); !ok {
			unbounded = true
		} else if d.After(deadline) {
			deadline = d
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The transaction is not cut short by a member that goes away, and
	// ends by the latest member's deadline.
	ctx := context.WithoutCancel(live[0].ctx)
	if !unbounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	for len(live) > 0 {
		outs := make([]audit.Entry, len(live))
		failed, failure := -1, error(nil)
		err := s.st.Update(ctx, func(tx store.Tx) error {
			failed, failure = -1, nil
			if err := tx.LockChain(org); err != nil {
				return err
			}
			state, err := s.foldOrg(tx, org)
			if err != nil {
				return err
			}
			for i, r := range live {
				if outs[i], err = recordIn(tx, state, r); err != nil {
					failed, failure = i, err
					return errSealRefused
				}
			}
			return nil
		})
		switch {
		case err == nil:
			for i, r := range live {
				r.finish(outs[i], nil)
			}
			return
		case failed >= 0 && errors.Is(err, errSealRefused):
			live[failed].finish(audit.Entry{}, failure)
			live = slices.Delete(live, failed, failed+1)
		default:
			for _, r := range live {
				r.finish(audit.Entry{}, err)
			}
			return
		}
	}
}

// recordIn checks and appends r's seal entry in tx and runs its commit
// function; state is the verified fold of the chain as tx left it, and
// takes the entry.
func recordIn(tx store.Tx, state *audit.State, r *sealRecord) (audit.Entry, error) {
	key, e := r.key, r.e
	v, err := checkedVersionIn(tx, state, store.Identity{ID: key.Identity, OrgID: key.Org}, key.Version)
	if err != nil {
		return audit.Entry{}, err
	}
	if err := state.Check(e); err != nil {
		return audit.Entry{}, fmt.Errorf("identity %q version %d: %w", key.Identity, key.Version, err)
	}
	if thumbprint(v.CertDER) != key.Thumbprint {
		return audit.Entry{}, fmt.Errorf("identity %q version %d holds another certificate than the one that sealed: %w", key.Identity, key.Version, ErrConflict)
	}
	used, err := tx.AuditSeals(audit.DetailIntentSHA256, e.Details[audit.DetailIntentSHA256])
	if err != nil {
		return audit.Entry{}, err
	}
	if len(used) > 0 {
		return audit.Entry{}, fmt.Errorf("this approval was used by seal entry %s #%d already; an approval seals once: %w", used[0].Chain, used[0].Seq, ErrConflict)
	}
	out, err := tx.AppendAudit(e)
	if err != nil {
		return audit.Entry{}, err
	}
	if err := state.Apply(out); err != nil {
		return audit.Entry{}, fmt.Errorf("identity %q version %d: %w", key.Identity, key.Version, err)
	}
	if r.commit != nil {
		if err := r.commit(tx, out); err != nil {
			return audit.Entry{}, err
		}
	}
	return out, nil
}
