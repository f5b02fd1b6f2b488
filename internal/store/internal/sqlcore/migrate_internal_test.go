package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"sealkeep/internal/store"
)

// TestMigrateOutOfOrder migrates a database with steps 1 and 4, then with
// a binary that also has step 2 (a branch that landed later): step 2 is
// applied once and nothing twice; a binary without step 4 is refused.
func TestMigrateOutOfOrder(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := &Dialect{Classify: func(error) Class { return Other }}
	m1 := Migration{Version: 1, Name: "0001_a.sql", SQL: `CREATE TABLE a (x INTEGER)`}
	m2 := Migration{Version: 2, Name: "0002_b.sql", SQL: `CREATE TABLE b (x INTEGER)`}
	m4 := Migration{Version: 4, Name: "0004_d.sql", SQL: `CREATE TABLE d (x INTEGER)`}
	ctx := context.Background()
	if err := migrate(ctx, db, d, []Migration{m1, m4}); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, d, []Migration{m1, m2, m4}); err != nil {
		t.Fatalf("with step 2 added: %v", err)
	}
	if err := migrate(ctx, db, d, []Migration{m1, m2, m4}); err != nil {
		t.Fatalf("again: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d migrations recorded, %v; want 3", n, err)
	}
	if _, err := db.Exec(`INSERT INTO b VALUES (1)`); err != nil {
		t.Errorf("table of step 2: %v", err)
	}
	if err := migrate(ctx, db, d, []Migration{m1, m2}); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Errorf("binary without step 4: %v, want ErrSchemaTooNew", err)
	}
}
