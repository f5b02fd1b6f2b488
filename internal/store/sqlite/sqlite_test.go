package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sealkeep/internal/audit"
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

// BenchmarkStream1M streams a chain of 1,000,000 entries ("read") and
// streams it into audit.Verifier ("verify"), as "sealkeep audit verify"
// does. Besides wall time it reports process CPU seconds per million
// entries, which the load of a shared machine does not inflate, and the
// ratio of those to the CPU seconds of audit.Verify over the same entries
// held in memory ("memory", measured first in the same run): the floor any
// store can reach.
func BenchmarkStream1M(b *testing.B) {
	const n = 1_000_000
	s, err := sqlite.Open(context.Background(), backend.Fresh(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.Fill(b, s, "org-1", n, 20_000)
	var memoryCPU float64 // CPU seconds of the in-memory verification
	b.Run("memory", func(b *testing.B) {
		entries := make([]audit.Entry, 0, n)
		if err := s.View(context.Background(), func(tx store.ReadTx) error {
			return tx.AuditEntries("org-1", 1, func(e audit.Entry) error {
				entries = append(entries, e)
				return nil
			})
		}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		cpu0 := cpuTime(b)
		for b.Loop() {
			if r := audit.Verify(audit.Slice(entries)); !r.OK() || r.Head.Seq != n {
				b.Fatalf("in-memory chain does not verify: %v", r.Error())
			}
		}
		memoryCPU = (cpuTime(b) - cpu0).Seconds() / float64(b.N)
		b.ReportMetric(memoryCPU, "cpu-s/1M-entries")
	})
	for _, verify := range []bool{false, true} {
		name := map[bool]string{false: "read", true: "verify"}[verify]
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime(b)
			for b.Loop() {
				if got := storetest.Stream(b, s, "org-1", verify); got != n {
					b.Fatalf("streamed %d entries, want %d", got, n)
				}
			}
			cpu := (cpuTime(b) - cpu0).Seconds() / float64(b.N)
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(cpu, "cpu-s/1M-entries")
			if memoryCPU > 0 {
				b.ReportMetric(cpu/memoryCPU, "x-memory-verify-cpu")
			}
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
