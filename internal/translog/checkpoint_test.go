package translog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
	"sealkeep/internal/store/sqlite"
)

func newKey(t testing.TB) audit.CheckpointKey {
	t.Helper()
	k, err := audit.GenerateCheckpointKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCheckpointNote: a signed checkpoint is a C2SP signed note that
// x/mod/sumdb/note verifies with the verifier key built by
// note.NewEd25519VerifierKey (an independent computation of the key ID),
// its text a C2SP checkpoint; Open refuses another key, another chain's
// key, and any change to the text or signature.
func TestCheckpointNote(t *testing.T) {
	key := newKey(t)
	head := tlog.Tree{N: 42, Hash: tlog.RecordHash([]byte("root"))}
	for _, chain := range []string{"org-1", audit.SystemChain, "Acme Corp+1/ü", "..", strings.Repeat("x", 256)} {
		signed, err := Sign(key, chain, head)
		if err != nil {
			t.Fatalf("%q: %v", chain, err)
		}
		origin := Origin(key.KeyID(), chain)
		if strings.ContainsAny(origin, " +\n") || !strings.HasPrefix(origin, "sealkeep/"+key.KeyID()+"/") {
			t.Fatalf("origin %q", origin)
		}
		vkey, err := note.NewEd25519VerifierKey(origin, key.Public())
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		n, err := note.Open(signed, note.VerifierList(v))
		if err != nil {
			t.Fatalf("%q: note.Open: %v", chain, err)
		}
		if want := origin + "\n42\n" + b64(head.Hash) + "\n"; n.Text != want {
			t.Fatalf("%q: text %q, want %q", chain, n.Text, want)
		}
		if mine, _ := VerifierKey(key.Public(), chain); mine != vkey {
			t.Errorf("VerifierKey = %q, note says %q", mine, vkey)
		}
		cp, err := Open(signed, vkey)
		if err != nil || cp.Tree != head || cp.Origin != origin {
			t.Fatalf("%q: Open = %+v, %v", chain, cp, err)
		}
		if _, err := OpenChain(signed, key.Public(), chain+"x"); !errors.Is(err, ErrSignature) {
			t.Errorf("%q: another chain's key: %v", chain, err)
		}
		if _, err := OpenChain(signed, newKey(t).Public(), chain); !errors.Is(err, ErrSignature) {
			t.Errorf("%q: another key: %v", chain, err)
		}
		for i := range signed {
			bad := bytes.Clone(signed)
			bad[i] ^= 0x01
			cp, err := Open(bad, vkey)
			if err == nil && !(cp.Tree == head && sameSignature(t, signed, bad)) {
				t.Fatalf("%q: byte %d flipped: accepted as %+v", chain, i, cp)
			}
		}
	}
	if _, err := Sign(key, "org-1", tlog.Tree{}); err == nil {
		t.Error("signed a checkpoint of an empty tree")
	}
}

func b64(h tlog.Hash) string { return tlog.Hash(h).String() }

// sameSignature reports whether two notes carry the same signature bytes:
// x/mod/sumdb/note decodes base64 leniently, so a flip of the unused low
// bits of the last character changes the text, not the signature.
func sameSignature(t *testing.T, a, b []byte) bool {
	t.Helper()
	sig := func(n []byte) []byte {
		lines := strings.Split(strings.TrimSuffix(string(n), "\n"), "\n")
		f := strings.Fields(lines[len(lines)-1])
		d, err := base64.StdEncoding.DecodeString(f[len(f)-1])
		if err != nil {
			return nil
		}
		return d
	}
	return bytes.Equal(sig(a), sig(b)) && sig(a) != nil
}

func TestParseCheckpointStrict(t *testing.T) {
	root := tlog.RecordHash(nil)
	good := Checkpoint{Origin: "o", Tree: tlog.Tree{N: 7, Hash: root}}.Text()
	if c, err := ParseCheckpoint(good); err != nil || c.N != 7 || c.Hash != root {
		t.Fatalf("%v %v", c, err)
	}
	for _, bad := range []string{
		"", "o\n7\n", "\n7\n" + b64(root) + "\n", "o\n07\n" + b64(root) + "\n", "o\n-1\n" + b64(root) + "\n",
		"o\n7\n" + b64(root), "o\n7\n" + b64(root) + "\next\n", "o\n7\n" + strings.TrimRight(b64(root), "=") + "\n",
		"o\n7\nAAAA\n",
	} {
		if _, err := ParseCheckpoint(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

// openStore opens a SQLite store in a temporary directory.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func appendN(t *testing.T, st store.Store, chain string, n int) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		for range n {
			if _, err := tx.AppendAudit(audit.Entry{Chain: chain, Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPublisher: every committed transaction that appends leaves the
// chain's checkpoint at its tree; a rolled-back one leaves none; a chain
// whose checkpoint is ahead of its tree (truncated) or has another root
// (rewritten) refuses appends; inclusion proofs verify against the
// checkpoint and a tampered one does not.
func TestPublisher(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	dir := Dir(t.TempDir())
	raw := openStore(t)
	p := NewPublisher(raw, key, dir, Options{})
	t.Cleanup(func() { p.Flush() })
	latest := func(chain string) tlog.Tree {
		t.Helper()
		p.Flush()
		b, err := dir.Latest(chain)
		if err != nil || b == nil {
			t.Fatalf("no checkpoint of %s: %v", chain, err)
		}
		cp, err := OpenChain(b, key.Public(), chain)
		if err != nil {
			t.Fatal(err)
		}
		return cp.Tree
	}
	treeOf := func(chain string) tlog.Tree {
		var tr tlog.Tree
		if err := raw.View(ctx, func(tx store.ReadTx) error {
			var err error
			tr, err = tx.AuditTree(chain)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	appendN(t, p, "org-1", 1)
	if got := latest("org-1"); got != treeOf("org-1") || got.N != 1 {
		t.Fatalf("checkpoint %v, tree %v", got, treeOf("org-1"))
	}
	err := p.Update(ctx, func(tx store.Tx) error {
		for _, c := range []string{"org-1", "org-2", "org-1"} {
			if _, err := tx.AppendAudit(audit.Entry{Chain: c, Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if latest("org-1").N != 3 || latest("org-2").N != 1 {
		t.Fatalf("after a batch: %v %v", latest("org-1"), latest("org-2"))
	}
	errStop := errors.New("stop")
	if err := p.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(audit.Entry{Chain: "org-3", Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal})
		if err != nil {
			return err
		}
		return errStop
	}); !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	p.Flush()
	if b, err := dir.Latest("org-3"); b != nil || err != nil {
		t.Fatalf("a rolled-back transaction left a checkpoint: %q %v", b, err)
	}

	// Proofs.
	appendN(t, p, "org-1", 10)
	p.Flush()
	signed, _ := dir.Latest("org-1")
	vkey, _ := VerifierKey(key.Public(), "org-1")
	for seq := uint64(1); seq <= 13; seq++ {
		var proof InclusionProof
		if err := raw.View(ctx, func(tx store.ReadTx) error {
			var err error
			proof, err = Prove(tx, "org-1", seq, signed, key.Public())
			return err
		}); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if err := proof.Verify(vkey); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if err := tlog.CheckRecord(proof.Path, proof.TreeSize, proof.RootHash, proof.LeafIndex, tlog.RecordHash(proof.Entry.Hash[:])); err != nil {
			t.Fatalf("seq %d: tlog.CheckRecord: %v", seq, err)
		}
		bad := proof
		bad.Path = append([]tlog.Hash(nil), proof.Path...)
		if len(bad.Path) > 0 {
			bad.Path[0][0] ^= 1
			if err := bad.Verify(vkey); !errors.Is(err, ErrProof) {
				t.Errorf("seq %d: tampered path: %v", seq, err)
			}
		}
		bad = proof
		bad.Entry.Action = audit.ActionVersionRevoke
		if err := bad.Verify(vkey); !errors.Is(err, ErrProof) {
			t.Errorf("seq %d: tampered entry: %v", seq, err)
		}
	}

	// A checkpoint ahead of the tree (the tail was cut off) or of the
	// same size with another root (rewritten): appends refuse.
	for _, cp := range []tlog.Tree{{N: 99, Hash: treeOf("org-1").Hash}, {N: treeOf("org-1").N, Hash: tlog.RecordHash([]byte("x"))}} {
		b, err := Sign(key, "org-1", cp)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir.CheckpointPath("org-1"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		q := NewPublisher(raw, key, dir, Options{}) // a new process
		err = q.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(audit.Entry{Chain: "org-1", Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal})
			return err
		})
		if !errors.Is(err, ErrDiverged) {
			t.Errorf("checkpoint %d: append after divergence: %v", cp.N, err)
		}
	}
	// A damaged checkpoint file fails appends closed too.
	if err := os.WriteFile(dir.CheckpointPath("org-2"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := NewPublisher(raw, key, dir, Options{})
	if err := q.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(audit.Entry{Chain: "org-2", Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal})
		return err
	}); err == nil {
		t.Error("append with a damaged checkpoint succeeded")
	}
}

// TestPublisherAsync: many quick transactions (several goroutines) end with
// the checkpoint of the last tree once Flush returns, every checkpoint
// written on the way verifies, and Close writes what is pending.
func TestPublisherAsync(t *testing.T) {
	key := newKey(t)
	dir := Dir(t.TempDir())
	raw, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(raw, key, dir, Options{})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 25 {
				appendN(t, p, "org-a", 1)
			}
		}()
	}
	for range 4 {
		<-done
	}
	appendN(t, p, "org-b", 3)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for chain, n := range map[string]int64{"org-a": 100, "org-b": 3} {
		b, err := dir.Latest(chain)
		if err != nil || b == nil {
			t.Fatalf("%s: no checkpoint after Close: %v", chain, err)
		}
		cp, err := OpenChain(b, key.Public(), chain)
		if err != nil || cp.N != n {
			t.Fatalf("%s: checkpoint %+v, %v; want size %d", chain, cp, err, n)
		}
	}
}
