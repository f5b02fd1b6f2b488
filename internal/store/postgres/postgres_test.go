package postgres_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/storetest"
	"sealkeep/internal/testenv"
)

var backend = storetest.Backend{
	Fresh: pgtest.Fresh,
	Open:  postgres.Open,
	Exec:  func(t testing.TB, dsn, query string) { pgtest.Exec(t, dsn, query) },
	Blob:  func(b []byte) string { return `'\x` + hex.EncodeToString(b) + `'::bytea` },
	FailAuditSQL: `CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'injected audit failure'; END $$;
		CREATE TRIGGER fail_audit BEFORE INSERT ON audit_entries FOR EACH ROW
		WHEN (NEW.actor_id = 'storetest-fail') EXECUTE FUNCTION fail_audit();`,
}

func TestContract(t *testing.T) { storetest.Run(t, backend) }

// BenchmarkStream1M streams a chain of 1,000,000 entries, alone and into
// audit.Verifier, and reports CPU seconds per million entries (of this
// process: the server's work is not counted) against audit.Verify in
// memory (see storetest.BenchmarkStream).
func BenchmarkStream1M(b *testing.B) { storetest.BenchmarkStream(b, backend, 1_000_000) }

func open(t *testing.T) (store.Store, string) {
	dsn := pgtest.Fresh(t)
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// TestDeadlockRetried makes two transactions lock two chains in opposite
// orders. PostgreSQL aborts one (40P01); Update runs its fn again and both
// commit.
func TestDeadlockRetried(t *testing.T) {
	s, _ := open(t)
	var calls atomic.Int32
	var locked sync.WaitGroup
	locked.Add(2)
	run := func(first, second string) error {
		var once sync.Once
		return s.Update(context.Background(), func(tx store.Tx) error {
			calls.Add(1)
			if err := tx.LockChain(first); err != nil {
				return err
			}
			once.Do(func() { locked.Done(); locked.Wait() })
			if err := tx.LockChain(second); err != nil {
				return err
			}
			_, err := tx.AppendAudit(audit.Entry{Chain: first, Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal})
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run("a", "b") }()
	go func() { errs <- run("b", "a") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if n := calls.Load(); n < 3 {
		t.Errorf("fn ran %d times; the deadlock victim was not retried", n)
	}
}

// TestBackendKilledMidway terminates the transaction's server process
// (pg_terminate_backend) after fn has written records and an audit entry.
// Nothing may survive and the store keeps working.
func TestBackendKilledMidway(t *testing.T) {
	s, dsn := open(t)
	u, _ := url.Parse(dsn)
	admin := testenv.Postgres(t)
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(audit.Entry{Chain: "org-1", Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal}); err != nil {
			return err
		}
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return err
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND state = 'idle in transaction'`, u.Path[1:]).Scan(&n); err != nil || n != 1 {
			t.Errorf("terminated %d backends: %v", n, err)
		}
		_, err = tx.AppendAudit(audit.Entry{Chain: "org-1", Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSeal})
		return err
	})
	if err == nil {
		t.Fatal("Update succeeded although its connection was killed")
	}
	t.Logf("Update: %v", err)
	if err := s.View(context.Background(), func(tx store.ReadTx) error {
		if _, err := tx.Org("org-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("org survived: %v", err)
		}
		if _, err := tx.AuditHead("org-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("audit entry survived: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenHidesPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=1")
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func BenchmarkAppend(b *testing.B) { storetest.BenchmarkAppend(b, backend) }

// BenchmarkAppendCheckpoint compares appends with and without automatic
// checkpoints, side by side.
func BenchmarkAppendCheckpoint(b *testing.B) { storetest.BenchmarkAppendCheckpoint(b, backend) }
