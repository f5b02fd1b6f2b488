package custody

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// sealDetails are the details of a well-formed seal entry with intent
// digest intent (64 hex digits).
func sealDetails(intent string) map[string]string {
	h := func() string {
		var b [32]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	return map[string]string{
		audit.DetailDocumentSHA256: h(), audit.DetailSealedSHA256: h(), audit.DetailSignatureSHA256: h(),
		audit.DetailIntentSHA256: intent, audit.DetailField: "Signature1", audit.DetailPAdESLevel: audit.LevelBB,
		audit.DetailMFAMethod: "totp",
	}
}

// TestRecordSealGroupCommit: seals recorded at once in one org share
// transactions. While the first seal's transaction is held open, eleven
// more queue up and are recorded together; among them one whose commit
// function fails, two with the same approval and one whose key names
// another certificate. Each caller gets its own entry or its own error:
// the failing commit and the wrong certificate are refused, exactly one
// of the two with one approval seals, every other seal is in the chain
// once with the details it was given, its commit function saw the entry
// that was committed, and the chain verifies.
func TestRecordSealGroupCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "alice")
		v := f.ready(t, "alice")
		if _, err := f.svc.Activate(f.ctx, testActor, "alice", v.Version, ""); err != nil {
			t.Fatal(err)
		}
		key, err := f.svc.ActiveKey(f.ctx, audit.Actor{Kind: audit.ActorUser, ID: "jane"}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		const n = 12
		const failing, twinA, twinB, wrongCert = 3, 5, 6, 8
		errCommit := errors.New("the caller's commit failed")
		intents := make([]string, n)
		for i := range intents {
			intents[i] = fmt.Sprintf("%064x", i+1)
		}
		intents[twinB] = intents[twinA]
		release := make(chan struct{})
		var mu sync.Mutex
		saw := map[int]uint64{} // seal -> the seq its commit function last saw
		type result struct {
			e   audit.Entry
			err error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		record := func(i int) {
			k := key
			if i == wrongCert {
				k.Thumbprint = fmt.Sprintf("%064x", 999)
			}
			e, err := f.svc.RecordSeal(f.ctx, audit.Actor{Kind: audit.ActorUser, ID: "jane"}, k, sealDetails(intents[i]), func(tx store.Tx, e audit.Entry) error {
				if i == 0 {
					<-release // the others queue meanwhile
				}
				mu.Lock()
				saw[i] = e.Seq
				mu.Unlock()
				if i == failing {
					return errCommit
				}
				return nil
			})
			results[i] = result{e, err}
		}
		wg.Go(func() { record(0) })
		for deadline := time.Now().Add(time.Minute); ; {
			f.svc.seals.mu.Lock()
			busy := f.svc.seals.busy["acme"]
			f.svc.seals.mu.Unlock()
			if busy {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first seal never started recording")
			}
			time.Sleep(time.Millisecond)
		}
		for i := 1; i < n; i++ {
			wg.Go(func() { record(i) })
		}
		for deadline := time.Now().Add(time.Minute); ; {
			f.svc.seals.mu.Lock()
			queued := len(f.svc.seals.waiting["acme"])
			f.svc.seals.mu.Unlock()
			if queued == n-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d seals queued, want %d", queued, n-1)
			}
			time.Sleep(time.Millisecond)
		}
		close(release)
		wg.Wait()

		sealed := map[uint64]int{}
		for i, r := range results {
			switch {
			case i == failing:
				if !errors.Is(r.err, errCommit) {
					t.Errorf("seal %d with a failing commit: %v", i, r.err)
				}
			case i == wrongCert:
				if !errors.Is(r.err, ErrInvalidInput) && !errors.Is(r.err, ErrConflict) && !errors.Is(r.err, audit.ErrInvalidEntry) {
					t.Errorf("seal %d with another certificate: %v", i, r.err)
				}
			case i == twinA || i == twinB:
				if r.err != nil && !errors.Is(r.err, ErrConflict) {
					t.Errorf("seal %d with a shared approval: %v", i, r.err)
				}
			case r.err != nil:
				t.Errorf("seal %d: %v", i, r.err)
			}
			if r.err != nil {
				continue
			}
			if _, dup := sealed[r.e.Seq]; dup {
				t.Errorf("seals %d and %d got entry %d", sealed[r.e.Seq], i, r.e.Seq)
			}
			sealed[r.e.Seq] = i
			if saw[i] != r.e.Seq {
				t.Errorf("seal %d: its commit function last saw entry %d, it got %d", i, saw[i], r.e.Seq)
			}
		}
		if (results[twinA].err == nil) == (results[twinB].err == nil) {
			t.Errorf("two seals with one approval: %v, %v", results[twinA].err, results[twinB].err)
		}
		if want := n - 3; len(sealed) != want {
			t.Errorf("%d seals recorded, want %d", len(sealed), want)
		}
		inChain := 0
		for _, e := range f.entries(t, "acme") {
			if e.Action != audit.ActionSeal {
				continue
			}
			inChain++
			i, ok := sealed[e.Seq]
			if !ok || e.Details[audit.DetailIntentSHA256] != intents[i] || e.Hash != results[i].e.Hash {
				t.Errorf("seal entry %d (intent %s) is no caller's answer", e.Seq, e.Details[audit.DetailIntentSHA256])
			}
		}
		if inChain != len(sealed) {
			t.Errorf("%d seal entries in the chain, %d answered", inChain, len(sealed))
		}
		f.checkConsistent(t)
		if err := f.svc.CheckState(f.ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRecordSealExpired: a seal whose caller's deadline passed while it
// waited in the queue is not recorded, and the others are.
func TestRecordSealExpired(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "alice")
	v := f.ready(t, "alice")
	if _, err := f.svc.Activate(f.ctx, testActor, "alice", v.Version, ""); err != nil {
		t.Fatal(err)
	}
	actor := audit.Actor{Kind: audit.ActorUser, ID: "jane"}
	key, err := f.svc.ActiveKey(f.ctx, actor, "alice")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var first error
	var wg sync.WaitGroup
	wg.Go(func() {
		_, first = f.svc.RecordSeal(f.ctx, actor, key, sealDetails(fmt.Sprintf("%064x", 1)), func(store.Tx, audit.Entry) error {
			<-release
			return nil
		})
	})
	for {
		f.svc.seals.mu.Lock()
		busy := f.svc.seals.busy["acme"]
		f.svc.seals.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	var late error
	wg.Go(func() { _, late = f.svc.RecordSeal(ctx, actor, key, sealDetails(fmt.Sprintf("%064x", 2)), nil) })
	for {
		f.svc.seals.mu.Lock()
		queued := len(f.svc.seals.waiting["acme"])
		f.svc.seals.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(release)
	wg.Wait()
	if first != nil || !errors.Is(late, context.Canceled) {
		t.Fatalf("first %v, the canceled one %v", first, late)
	}
	seals := 0
	for _, e := range f.entries(t, "acme") {
		if e.Action == audit.ActionSeal {
			seals++
		}
	}
	if seals != 1 {
		t.Fatalf("%d seal entries", seals)
	}
	f.checkConsistent(t)
}
