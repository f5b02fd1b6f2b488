package translog

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"

	"sealkeep/internal/testenv"
)

// startLitewitness runs filippo.io/torchwood's litewitness, a real
// c2sp.org/tlog-witness implementation (built from
// testdata/litewitness, a test-only module), knowing the logs whose
// verifier keys are given, with a fresh Ed25519 witness key served by an
// in-process ssh-agent. It returns the witness's URL and its cosignature
// verifier key as litewitness prints it.
func startLitewitness(t *testing.T, vkeys ...string) (url, cosigKey string) {
	t.Helper()
	modDir, err := filepath.Abs("testdata/litewitness")
	if err != nil {
		t.Fatal(err)
	}
	lw := testenv.BuildTool(t, modDir, "filippo.io/torchwood/cmd/litewitness")
	wctl := testenv.BuildTool(t, modDir, "filippo.io/torchwood/cmd/witnessctl")

	// A short directory: unix socket paths are limited to ~108 bytes.
	tmp, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	_, wpriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: wpriv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(tmp, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(kr, c) }()
		}
	}()
	signer, err := ssh.NewSignerFromKey(wpriv)
	if err != nil {
		t.Fatal(err)
	}

	db := filepath.Join(tmp, "witness.db")
	for _, vkey := range vkeys {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"add-log", "-db", db, "-origin", v.Name()}, {"add-key", "-db", db, "-origin", v.Name(), "-key", vkey}} {
			if out, err := exec.Command(wctl, args...).CombinedOutput(); err != nil {
				t.Fatalf("witnessctl %v: %v\n%s", args, err, out)
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(lw, "-db", db, "-name", "example.com/witness", "-key", ssh.FingerprintSHA256(signer.PublicKey()),
		"-ssh-agent", sock, "-listen", addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	keys := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`vkey=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				keys <- m[1]
			}
		}
	}()
	select {
	case cosigKey = <-keys:
	case <-time.After(30 * time.Second):
		t.Fatal("litewitness printed no verifier key")
	}
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 300 {
			t.Fatalf("litewitness does not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr, cosigKey
}

// TestLitewitness sends sealkeep's checkpoints to a real witness: it
// cosigns the first one and every later one after checking sealkeep's
// consistency proofs; a lost record of what it cosigned is recovered
// from its 409 answer; a forked log (same key and chain, another history)
// is refused; every stored cosignature verifies with the witness's key.
func TestLitewitness(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	vkey, err := VerifierKey(key.Public(), "org-1")
	if err != nil {
		t.Fatal(err)
	}
	url, cosigKey := startLitewitness(t, vkey)
	w := Witness{URL: url, Key: cosigKey}
	if w.Name() != "example.com/witness" {
		t.Fatalf("witness key %q", cosigKey)
	}
	cv, err := parseCosigVerifier(cosigKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := Dir(t.TempDir())
	raw := openStore(t)
	p := NewPublisher(raw, key, dir, Options{Witnesses: []Witness{w}, Client: http.DefaultClient})
	cosigned := func() int64 {
		t.Helper()
		p.Flush()
		b, err := readNote(dir.CosignedPath("org-1", w.Name()))
		if err != nil || b == nil {
			t.Fatalf("no cosigned checkpoint: %v", err)
		}
		ours, _ := note.NewVerifier(vkey)
		n, err := note.Open(b, note.VerifierList(ours, cv))
		if err != nil || len(n.Sigs) != 2 {
			t.Fatalf("cosigned checkpoint does not carry both signatures: %v", err)
		}
		cp, err := ParseCheckpoint(n.Text)
		if err != nil {
			t.Fatal(err)
		}
		return cp.N
	}
	appendN(t, p, "org-1", 1)
	if n := cosigned(); n != 1 {
		t.Fatalf("cosigned size %d, want 1", n)
	}
	appendN(t, p, "org-1", 4)
	appendN(t, p, "org-1", 1)
	if n := cosigned(); n != 6 {
		t.Fatalf("cosigned size %d, want 6", n)
	}
	// Forget what the witness cosigned: it answers 409 with its size and
	// the retry carries the right proof.
	if err := os.Remove(dir.CosignedPath("org-1", w.Name())); err != nil {
		t.Fatal(err)
	}
	appendN(t, p, "org-1", 3)
	if n := cosigned(); n != 9 {
		t.Fatalf("cosigned size %d, want 9", n)
	}

	// A fork: another database, same key and chain, another history.
	forkDir := Dir(t.TempDir())
	fork := NewPublisher(openStore(t), key, forkDir, Options{Witnesses: []Witness{w}, Client: http.DefaultClient})
	appendN(t, fork.Store, "org-1", 12) // the wrapped store: no checkpoint yet
	// The witness answers 409 (it cosigned size 9), the retry's proof from
	// 9 does not hold: 422, named as such.
	if err := fork.Publish(ctx, "org-1"); !errors.Is(err, ErrWitness) ||
		!strings.Contains(err.Error(), "example.com/witness refused the checkpoint: 422") ||
		!strings.Contains(err.Error(), "bad consistency proof") {
		t.Fatalf("forked checkpoint: %v, want the witness's 422 refusal", err)
	}
	if b, _ := readNote(forkDir.CosignedPath("org-1", w.Name())); b != nil {
		t.Fatal("the fork got a cosignature")
	}
	// A log cut back and rewritten (5 entries where the witness cosigned
	// 9), with its checkpoints and cosignatures gone: the witness's 409
	// names the larger size, and nothing is sent.
	cutDir := Dir(t.TempDir())
	cut := NewPublisher(openStore(t), key, cutDir, Options{Witnesses: []Witness{w}, Client: http.DefaultClient})
	appendN(t, cut.Store, "org-1", 5)
	if err := cut.Publish(ctx, "org-1"); !errors.Is(err, ErrWitness) ||
		!strings.Contains(err.Error(), "knows tree size 9, larger than 5: the log forked or was truncated") {
		t.Fatalf("rewritten shorter log: %v", err)
	}
	if b, _ := readNote(cutDir.CosignedPath("org-1", w.Name())); b != nil {
		t.Fatal("the rewritten log got a cosignature")
	}
	// A witness key that is not the witness's: its answer is refused.
	other := Witness{URL: url, Key: otherCosigKey(t)}
	q := NewPublisher(raw, key, Dir(t.TempDir()), Options{Witnesses: []Witness{other}, Client: http.DefaultClient})
	if err := q.Publish(ctx, "org-1"); !errors.Is(err, ErrWitness) {
		t.Fatalf("cosignature under the wrong key: %v", err)
	}
}

// otherCosigKey is a cosignature verifier key named like the test
// witness but for another Ed25519 key.
func otherCosigKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := append([]byte{algCosignatureV1}, pub...)
	sum := sha256.Sum256(append([]byte("example.com/witness\n"), k...))
	return fmt.Sprintf("example.com/witness+%08x+%s", binary.BigEndian.Uint32(sum[:]), base64.StdEncoding.EncodeToString(k))
}
