package open_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/store"
	"sealkeep/internal/store/open"
	"sealkeep/internal/store/postgres/pgtest"
)

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{"sqlite:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")} {
		s, err := open.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.PutOrg(store.Org{ID: "o"}) }); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	for _, name := range []string{"a.db", "b.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("no SQLite file: %v", err)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, dsn := range []string{"", "mysql://user:hunter2@host/db", "sqlite:"} {
		s, err := open.Open(context.Background(), dsn)
		if !errors.Is(err, store.ErrInvalid) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrInvalid", dsn, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the DSN: %v", err)
		}
	}
}

func TestPostgres(t *testing.T) {
	dsn := pgtest.Fresh(t)
	for _, d := range []string{dsn, "postgresql://" + strings.TrimPrefix(dsn, "postgres://")} {
		s, err := open.Open(context.Background(), d)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := s.View(context.Background(), func(tx store.ReadTx) error { _, err := tx.Orgs(); return err }); err != nil {
			t.Error(err)
		}
		s.Close()
	}
}
