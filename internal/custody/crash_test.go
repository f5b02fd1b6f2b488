package custody

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
	storeopen "sealkeep/internal/store/open"
	"sealkeep/internal/translog"
)

// Crash-consistency tests. The parent re-executes this test binary as a
// child (TestCrashChild) that runs one custody operation with the fault
// hook set to SIGKILL itself at a named point (or, for the timed variant,
// loops operations until the parent SIGKILLs it after a random delay).
// The parent then reopens the store and checks: every chain verifies,
// stored status equals the fold, every DEK unwraps, and every local version
// that is not destroyed still decrypts and signs: no half-done state and no
// key lost. The hook exists only in tests (Options.fault is unexported).

const (
	envChild = "SEALKEEP_CUSTODY_CRASH_CHILD" // operation to run
	envPoint = "SEALKEEP_CUSTODY_CRASH_AT"    // fault point to die at
	envDB    = "SEALKEEP_CUSTODY_CRASH_DB"
	envKEK   = "SEALKEEP_CUSTODY_CRASH_KEK"
	envArg   = "SEALKEEP_CUSTODY_CRASH_ARG"
	envCP    = "SEALKEEP_CUSTODY_CRASH_CHECKPOINTS"
)

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	op := os.Getenv(envChild)
	if op == "" {
		t.Skip("crash-test child only")
	}
	ctx := context.Background()
	st := crashEnv{dsn: os.Getenv(envDB), cpDir: os.Getenv(envCP)}.store(t)
	kek, err := envelope.OpenKeyringFile(os.Getenv(envKEK))
	if err != nil {
		t.Fatal(err)
	}
	point := os.Getenv(envPoint)
	svc := New(st, kek, Options{fault: func(p string) {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}})
	arg := os.Getenv(envArg)
	switch op {
	case "activate":
		v, _ := strconv.Atoi(arg)
		_, err = svc.Activate(ctx, testActor, "alice", v, "crash test")
	case "generate":
		_, _, err = svc.GenerateKey(ctx, testActor, "alice", keypolicy.ECDSAP256, pkix.Name{CommonName: "crash"})
	case "import":
		err = crashImport(ctx, svc, arg)
	case "kek":
		_, err = svc.RotateKEK(ctx, testActor, nil)
	case "loop": // killed by the parent at a random moment
		for i := 0; ; i++ {
			if i%3 == 2 {
				_, err = svc.RotateKEK(ctx, testActor, nil)
			} else {
				_, _, err = svc.GenerateKey(ctx, testActor, "alice", keypolicy.ECDSAP256, pkix.Name{CommonName: "crash"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Fatalf("fault point %q never reached", point)
}

// crashEnv is a data directory shared by parent and children. Its store
// publishes checkpoints into cpDir (signed by cpDir/../checkpoint.key), so
// that every append is followed by one and every verification checks the
// newest.
type crashEnv struct {
	dsn, kekPath, cpDir string
}

// newCrashEnv makes the keyring and checkpoint key of a crash test.
func newCrashEnv(t *testing.T, dsn string) crashEnv {
	dir := t.TempDir()
	c := crashEnv{dsn: dsn, kekPath: filepath.Join(dir, "kek.keyring"), cpDir: filepath.Join(dir, "checkpoints")}
	if _, err := envelope.CreateKeyringFile(c.kekPath); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.CreateCheckpointKeyFile(filepath.Join(dir, "checkpoint.key")); err != nil {
		t.Fatal(err)
	}
	return c
}

// store opens the database, publishing checkpoints.
func (c crashEnv) store(t *testing.T) store.Store {
	t.Helper()
	st, err := storeopen.Open(context.Background(), c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadCheckpointKey(filepath.Join(filepath.Dir(c.cpDir), "checkpoint.key"))
	if err != nil {
		t.Fatal(err)
	}
	return translog.NewPublisher(st, key, translog.Dir(c.cpDir), translog.Options{})
}

func (c crashEnv) open(t *testing.T) *fixture {
	t.Helper()
	st := c.store(t)
	kek, err := envelope.OpenKeyringFile(c.kekPath)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: New(st, kek, Options{}), st: st, kek: kek, ctx: context.Background()}
}

// child runs op in a child process. With delay 0 it expects death by
// SIGKILL at point; otherwise it kills the child after delay.
func (c crashEnv) child(t *testing.T, op, point, arg string, delay time.Duration) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+op, envPoint+"="+point, envDB+"="+c.dsn, envKEK+"="+c.kekPath, envArg+"="+arg, envCP+"="+c.cpDir)
	out := &limitedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if delay > 0 {
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child %s@%s: %v\n%s", op, point, err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child %s@%s did not die by SIGKILL: %v\n%s", op, point, err, out)
	}
}

// snapshot summarises what a crash case may change.
type snapshot struct {
	versions       int
	status         map[int]string
	entries        int
	allUnderActive bool
}

func crashSnapshot(t *testing.T, f *fixture) snapshot {
	t.Helper()
	out := snapshot{status: map[int]string{}, allUnderActive: true}
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		vs, err := tx.Versions("alice")
		if err != nil {
			return err
		}
		out.versions = len(vs)
		for _, v := range vs {
			out.status[v.Version] = v.Status
		}
		deks, err := tx.AllDEKs()
		if err != nil {
			return err
		}
		for _, d := range deks {
			out.allUnderActive = out.allUnderActive && (erased(d) || d.KEKVersion == f.kek.ActiveVersion())
		}
		chains, err := tx.AuditChains()
		if err != nil {
			return err
		}
		for _, ch := range chains {
			if err := tx.AuditEntries(ch, 1, func(audit.Entry) error { out.entries++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 1<<16 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}
func (l *limitedBuffer) String() string { return string(l.b) }

// checkAfterCrash asserts the invariants on a reopened store.
func checkAfterCrash(t *testing.T, f *fixture, label string) {
	t.Helper()
	f.checkConsistent(t)
	var deks []store.WrappedDEK
	var versions []store.Version
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		var err error
		if deks, err = tx.AllDEKs(); err != nil {
			return err
		}
		versions, err = tx.Versions("alice")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deks {
		if erased(d) {
			continue
		}
		dek, err := envelope.UnwrapDEK(f.ctx, f.kek, d.OrgID, d.Version, d.KEKVersion, d.Wrapped)
		if err != nil {
			t.Fatalf("%s: DEK %s/%d lost: %v", label, d.OrgID, d.Version, err)
		}
		dek.Zero()
	}
	active := 0
	for _, v := range versions {
		if v.Status == "active" {
			active++
		}
		if v.Status == "destroyed" || v.Status == "revoked" {
			continue
		}
		if err := f.signs(t, "alice", v.Version); err != nil {
			t.Fatalf("%s: version %d (%s) lost its key: %v", label, v.Version, v.Status, err)
		}
	}
	if active > 1 {
		t.Fatalf("%s: %d active versions", label, active)
	}
}

func TestCrashConsistency(t *testing.T) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "sk.db") }},
		{"postgres", func(t *testing.T) string { return freshPostgresDSN(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			env := newCrashEnv(t, b.dsn(t))
			f := env.open(t)
			f.orgIdentity(t, "acme", "alice")
			v := f.ready(t, "alice").Version
			if _, err := f.svc.Activate(f.ctx, testActor, "alice", v, ""); err != nil {
				t.Fatal(err)
			}
			f.st.Close()

			cases := []struct{ op, point string }{
				{"activate", "activate.begin"}, {"activate", "activate.in_tx"}, {"activate", "activate.committed"},
				{"generate", "generate.encrypted"}, {"generate", "generate.in_tx"}, {"generate", "generate.committed"},
				{"import", "import.encrypted"}, {"import", "import.in_tx"}, {"import", "import.committed"},
				{"kek", "kek.added"}, {"kek", "kek.in_tx"}, {"kek", "kek.committed"},
			}
			for _, c := range cases {
				arg := ""
				f := env.open(t)
				switch c.op {
				case "activate":
					arg = strconv.Itoa(f.ready(t, "alice").Version)
				case "import":
					arg = crashImportFile(t)
				}
				before := crashSnapshot(t, f)
				f.st.Close()
				env.child(t, c.op, c.point, arg, 0)
				f = env.open(t)
				checkAfterCrash(t, f, c.point)
				after := crashSnapshot(t, f)
				// All or nothing: a kill before the commit changes nothing in
				// the database; a kill after it leaves the whole change.
				committed := strings.HasSuffix(c.point, ".committed")
				switch c.op {
				case "activate":
					v, _ := strconv.Atoi(arg)
					want := map[bool]string{false: "ready", true: "active"}[committed]
					if after.status[v] != want {
						t.Fatalf("%s: version %d is %s, want %s", c.point, v, after.status[v], want)
					}
				case "generate", "import":
					if got := after.versions - before.versions; got != map[bool]int{false: 0, true: 1}[committed] {
						t.Fatalf("%s: %d versions added", c.point, got)
					}
				case "kek":
					if committed != after.allUnderActive {
						t.Fatalf("%s: all DEKs under the active KEK = %v", c.point, after.allUnderActive)
					}
				}
				if !committed && after.entries != before.entries {
					t.Fatalf("%s: the audit chains changed (%d -> %d entries)", c.point, before.entries, after.entries)
				}
				f.st.Close()
			}
			// An interrupted KEK rotation (killed after the keyring gained a
			// version) is completed by the next rotation without a new version.
			f = env.open(t)
			if _, err := f.svc.RotateKEK(f.ctx, testActor, nil); err != nil {
				t.Fatal(err)
			}
			checkAfterCrash(t, f, "rotate after crashes")
			f.st.Close()

			// Timed kills at random moments inside a loop of key generation
			// and KEK rotation.
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 12 {
				env.child(t, "loop", "", "", time.Duration(50+r.IntN(400))*time.Millisecond)
				f := env.open(t)
				checkAfterCrash(t, f, fmt.Sprintf("timed kill %d", i))
				f.st.Close()
			}
		})
	}
}
