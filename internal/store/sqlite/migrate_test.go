package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"sealkeep/internal/store"
	"sealkeep/internal/store/internal/sqlcore"
)

// TestMigrationsOutOfOrder opens a database migrated by a binary that had
// steps 1 and 4 with one that also has step 2 (a branch that landed
// later): step 2 is applied, nothing twice; a binary without step 4 is
// refused.
func TestMigrationsOutOfOrder(t *testing.T) {
	ms, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "db")
	open := func(ms []sqlcore.Migration) error {
		db, err := sql.Open("sqlite", path+"?_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlcore.New(context.Background(), db, dialect, ms)
		if err == nil {
			s.Close()
		}
		return err
	}
	var without []sqlcore.Migration
	for _, m := range ms {
		if m.Version != 2 {
			without = append(without, m)
		}
	}
	if err := open(without); err != nil {
		t.Fatal(err)
	}
	step2 := sqlcore.Migration{Version: 2, Name: "0002_late.sql", SQL: `CREATE TABLE late_branch (x INTEGER)`}
	with := append([]sqlcore.Migration{without[0], step2}, without[1:]...)
	if err := open(with); err != nil {
		t.Fatalf("open with step 2 added: %v", err)
	}
	if err := open(with); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 2`).Scan(&n); err != nil || n != 1 {
		t.Errorf("step 2 recorded %d times, %v", n, err)
	}
	if _, err := db.Exec(`INSERT INTO late_branch VALUES (1)`); err != nil {
		t.Errorf("table of step 2: %v", err)
	}
	if err := open(with[:2]); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Errorf("binary without step 4: %v, want ErrSchemaTooNew", err)
	}
}
