// Package storetest is the contract suite of [store.Store]: every
// implementation runs [Run] from its own tests and must pass all of it.
//
// # What it checks
//
// Every method, ErrNotFound and ErrConflict, a certificate or key held by
// at most one version (found by thumbprint, checked on read, backfilled by
// the migration that added the thumbprints), exact round trips (nil and
// empty blobs, certificate chains, unicode, details maps, times), rollback
// when fn fails or panics, fail-closed behaviour when the database fails
// midway (an injected audit-insert failure, a cancelled context, a process
// killed inside a transaction), snapshots, retry-safe read-modify-write
// under [store.Tx.LockChain], linear audit chains under 16 concurrent
// appenders and under two processes appending at once, chains listed from
// every kind of row that names them, appends refused on a chain whose
// head record was deleted or edited or whose tail was deleted, and the
// account tables: conflicts that leave the transaction usable, a TOTP step
// accepted once across transactions, recovery codes spent once, failure
// counters that lose no count between two stores, and system data keys
// listed with the org DEKs without an org, and seal entries found by their
// signature's hash (the receipt index); passkeys whose ID one user holds
// and whose counter only advances, and WebAuthn ceremonies finished once
// across two store handles, with their migration safe to run again.
//
// # Child processes
//
// The two-process and crash tests re-execute the test binary (os.Args[0])
// with -test.run naming the calling test and the SEALKEEP_STORETEST_CHILD
// environment variable set; [Run] then plays the child's part instead of
// running the suite.
package storetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Backend is what the suite needs of an implementation.
type Backend struct {
	// Fresh returns the DSN of a new, empty database that lives until the
	// test ends.
	Fresh func(t testing.TB) string
	// Open opens (and migrates) the database named by dsn.
	Open func(ctx context.Context, dsn string) (store.Store, error)
	// Exec runs raw SQL on the database named by dsn, outside the store.
	Exec func(t testing.TB, dsn, query string)
	// FailAuditSQL creates a trigger that makes every insert into
	// audit_entries whose actor_id is "storetest-fail" fail.
	FailAuditSQL string
	// Blob, if set, writes b as an SQL literal of the backend's blob type;
	// [FillFast] needs it.
	Blob func(b []byte) string
}

// Environment of a child process.
const (
	childEnv    = "SEALKEEP_STORETEST_CHILD" // "append" or "crash"
	dsnEnv      = "SEALKEEP_STORETEST_DSN"
	countEnv    = "SEALKEEP_STORETEST_N"
	chainEnv    = "SEALKEEP_STORETEST_CHAIN"
	readyLine   = "storetest: ready"
	crashLine   = "storetest: inside the transaction"
	attemptLine = "storetest: appending"
)

// Run runs the contract suite against b. When the process is a child
// started by the suite itself, Run plays the child's part instead.
func Run(t *testing.T, b Backend) {
	if mode := os.Getenv(childEnv); mode != "" {
		runChild(t, b, mode)
		return
	}
	top := t.Name()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"Orgs", testOrgs},
		{"Identities", testIdentities},
		{"Versions", testVersions},
		{"Thumbprints", testThumbprints},
		{"ThumbprintsMigration", testThumbprintsMigration},
		{"TrailIndex", testTrailIndex},
		{"DEKs", testDEKs},
		{"Auth", testAuth},
		{"InvalidValues", testInvalid},
		{"Audit", testAudit},
		{"AuditBatches", testAuditBatches},
		{"AuditTree", testAuditTree},
		{"AuditTreeBackfill", testAuditTreeBackfill},
		{"FillFast", testFillFast},
		{"CanonicalEdits", testCanonicalEdits},
		{"CanonicalMigration", testCanonicalMigration},
		{"AuditChainsUnion", testAuditChainsUnion},
		{"AuditSeals", testAuditSeals},
		{"AppendFailsClosed", testAppendFailsClosed},
		{"Rollback", testRollback},
		{"CancelledMidway", testCancelled},
		{"AuditInsertFails", testAuditInsertFails},
		{"Snapshot", testSnapshot},
		{"Migrations", testMigrations},
		{"LockChainReadModifyWrite", testLockChain},
		{"ConcurrentAppend", testConcurrentAppend},
		{"TwoProcesses", func(t *testing.T, b Backend) { testTwoProcesses(t, b, top) }},
		{"ProcessKilledMidway", func(t *testing.T, b Backend) { testKilled(t, b, top) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each subtest has a database of its own
			tc.fn(t, b)
		})
	}
}

// ---- helpers

func openStore(t testing.TB, b Backend, dsn string) store.Store {
	t.Helper()
	s, err := b.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fresh(t testing.TB, b Backend) (store.Store, string) {
	t.Helper()
	dsn := b.Fresh(t)
	return openStore(t, b, dsn), dsn
}

func update(t testing.TB, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t testing.TB, s store.Store, fn func(store.ReadTx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// norm is what the store makes of a time.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// event is an audit entry to append, as a caller would build it.
func event(chain, who string, i int) audit.Entry {
	return audit.Entry{
		Chain:   chain,
		Actor:   audit.Actor{Kind: "system", ID: who},
		Action:  audit.ActionSeal,
		Subject: audit.Subject{Org: chain},
		Details: map[string]string{"i": strconv.Itoa(i)},
	}
}

// verifyChain streams a chain and checks that it is linear: seq 1..n without
// gaps, every PrevHash the previous Hash, every Hash recomputed, the head
// record at the last entry; and audit.Verifier, the production verifier,
// must agree. It returns the
// entries.
func verifyChain(t testing.TB, s store.Store, chain string) []audit.Entry {
	t.Helper()
	var got []audit.Entry
	v := audit.NewVerifier(chain)
	view(t, s, func(tx store.ReadTx) error {
		var prev audit.Hash
		err := tx.AuditEntries(chain, 0, func(e audit.Entry) error {
			if err := v.Add(e); err != nil {
				return err
			}
			switch {
			case e.Chain != chain:
				return fmt.Errorf("entry %d is on chain %q", e.Seq, e.Chain)
			case e.Seq != uint64(len(got))+1:
				return fmt.Errorf("entry %d follows %d", e.Seq, len(got))
			case e.PrevHash != prev:
				return fmt.Errorf("entry %d does not link to its predecessor", e.Seq)
			case e.Hash != e.ComputeHash():
				return fmt.Errorf("entry %d: stored hash is not the hash of its fields", e.Seq)
			}
			prev = e.Hash
			got = append(got, e)
			return nil
		})
		if err != nil {
			return err
		}
		if len(got) > 0 {
			head, err := tx.AuditHead(chain)
			if err != nil {
				return err
			}
			if head.Seq != got[len(got)-1].Seq || head.Hash != prev {
				return fmt.Errorf("AuditHead is %d, last streamed entry %d", head.Seq, len(got))
			}
		}
		rec, err := tx.AuditHeadRecord(chain)
		if err != nil && (len(got) > 0 || !errors.Is(err, store.ErrNotFound)) {
			return err
		}
		v.ExpectHead(&rec)
		return checkTree(tx, chain, got)
	})
	if rep := v.Report(); !rep.OK() || rep.Head.Seq != uint64(len(got)) {
		t.Errorf("audit.Verifier: %v after %d entries", rep.Error(), rep.Head.Seq)
	}
	return got
}

// pause leaves the database lock free for a moment, so that the other
// process of the two-process test gets its turn (SQLite's busy handler
// polls; it does not queue).
func pause() { time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) }

// ---- child processes

type child struct {
	cmd   *exec.Cmd
	lines chan string
	out   *syncBuffer
	stdin *os.File
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChild re-executes the test binary as a child in mode.
func startChild(t *testing.T, top, mode, dsn, chain string, n int) *child {
	t.Helper()
	var pattern []string
	for _, part := range strings.Split(top, "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(pattern, "/"), "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, dsnEnv+"="+dsn, chainEnv+"="+chain, countEnv+"="+strconv.Itoa(n))
	c := &child{cmd: cmd, lines: make(chan string, 16), out: &syncBuffer{}}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdinW
	cmd.Stdin = stdinR
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(c.out, sc.Text())
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// await waits for the child to print line; it fails if the child ends
// first.
func (c *child) await(t *testing.T, line string) {
	t.Helper()
	for l := range c.lines {
		if l == line {
			return
		}
	}
	c.cmd.Wait()
	t.Fatalf("child ended before %q: %v\n%s", line, c.cmd.ProcessState, c.out)
}

// wait waits for the child to exit and returns its error.
func (c *child) wait() error {
	for range c.lines {
	}
	return c.cmd.Wait()
}

func runChild(t *testing.T, b Backend, mode string) {
	dsn, chain := os.Getenv(dsnEnv), os.Getenv(chainEnv)
	n, err := strconv.Atoi(os.Getenv(countEnv))
	if err != nil {
		t.Fatalf("child: %s: %v", countEnv, err)
	}
	s, err := b.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("child: open: %v", err)
	}
	defer s.Close()
	switch mode {
	case "append":
		fmt.Println(readyLine)
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			t.Fatalf("child: waiting for go: %v", err)
		}
		fmt.Println(attemptLine)
		for i := range n {
			if err := s.Update(context.Background(), func(tx store.Tx) error {
				_, err := tx.AppendAudit(event(chain, "child", i))
				return err
			}); err != nil {
				t.Fatalf("child: append %d: %v", i, err)
			}
			pause()
		}
	case "crash":
		err := s.Update(context.Background(), func(tx store.Tx) error {
			if err := tx.PutOrg(store.Org{ID: chain, Name: "killed midway"}); err != nil {
				return err
			}
			for i := range n {
				if _, err := tx.AppendAudit(event(chain, "child", i)); err != nil {
					return err
				}
			}
			fmt.Println(crashLine)
			p, err := os.FindProcess(os.Getpid())
			if err == nil {
				err = p.Kill() // SIGKILL: no deferred code runs
			}
			time.Sleep(time.Minute)
			return fmt.Errorf("still alive after kill: %v", err)
		})
		t.Fatalf("child: crash transaction returned: %v", err)
	default:
		t.Fatalf("child: unknown mode %q", mode)
	}
}
