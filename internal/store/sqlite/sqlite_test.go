package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"sealkeep/internal/store"
	"sealkeep/internal/store/sqlite"
	"sealkeep/internal/store/storetest"
)

var backend = storetest.Backend{
	Fresh: func(t testing.TB) string { return filepath.Join(t.TempDir(), "sealkeep.db") },
	Open:  sqlite.Open,
	Exec: func(t testing.TB, dsn, query string) {
		t.Helper()
		db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(query); err != nil {
			t.Fatalf("exec: %v", err)
		}
	},
	Blob: func(b []byte) string { return "x'" + hex.EncodeToString(b) + "'" },
	FailAuditSQL: `CREATE TRIGGER fail_audit BEFORE INSERT ON audit_entries
		WHEN NEW.actor_id = 'storetest-fail'
		BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END`,
}

func TestContract(t *testing.T) { storetest.Run(t, backend) }

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", "file:x.db", "x.db?mode=ro", "a#b"} {
		if s, err := sqlite.Open(context.Background(), p); !errors.Is(err, store.ErrInvalid) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrInvalid", p, err)
		}
	}
}

func BenchmarkAppend(b *testing.B) { storetest.BenchmarkAppend(b, backend) }

// BenchmarkAppendCheckpoint compares appends with and without automatic
// checkpoints, side by side.
func BenchmarkAppendCheckpoint(b *testing.B) { storetest.BenchmarkAppendCheckpoint(b, backend) }

// BenchmarkStream1M streams a chain of 1,000,000 entries, alone and into
// audit.Verifier, and reports CPU seconds per million entries against
// audit.Verify in memory (see storetest.BenchmarkStream).
func BenchmarkStream1M(b *testing.B) { storetest.BenchmarkStream(b, backend, 1_000_000) }

func TestWALMode(t *testing.T) {
	path := backend.Fresh(t)
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}
