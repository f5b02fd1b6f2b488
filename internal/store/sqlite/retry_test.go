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

// The retry loop of Update is shared by both backends; it is tested here,
// on a SQLite database, with a dialect that calls errRetry retryable.

var errRetry = errors.New("please retry")

func openCore(t *testing.T) *sqlcore.Store {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	d := &sqlcore.Dialect{Classify: func(err error) sqlcore.Class {
		if errors.Is(err, errRetry) {
			return sqlcore.Retryable
		}
		return sqlcore.Other
	}}
	s, err := sqlcore.New(context.Background(), db, d, ms)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func countOrgs(t *testing.T, s *sqlcore.Store) int {
	var n int
	s.View(context.Background(), func(tx store.ReadTx) error {
		orgs, err := tx.Orgs()
		n = len(orgs)
		return err
	})
	return n
}

func TestUpdateRetries(t *testing.T) {
	s := openCore(t)
	calls := 0
	err := s.Update(context.Background(), func(tx store.Tx) error {
		calls++
		if err := tx.PutOrg(store.Org{ID: "org-1"}); err != nil {
			return err // a second attempt must not see the first one's insert
		}
		if calls < 3 {
			return errRetry
		}
		return nil
	})
	if err != nil || calls != 3 || countOrgs(t, s) != 1 {
		t.Errorf("Update = %v after %d calls, %d orgs; want success after 3 calls, 1 org", err, calls, countOrgs(t, s))
	}

	calls = 0
	err = s.Update(context.Background(), func(tx store.Tx) error { calls++; return errRetry })
	if !errors.Is(err, errRetry) || calls != sqlcore.MaxAttempts {
		t.Errorf("endless retryable failure: %v after %d calls, want %d calls", err, calls, sqlcore.MaxAttempts)
	}

	calls = 0
	errOther := errors.New("other")
	err = s.Update(context.Background(), func(tx store.Tx) error { calls++; return errOther })
	if !errors.Is(err, errOther) || calls != 1 {
		t.Errorf("non-retryable failure: %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = s.Update(ctx, func(tx store.Tx) error { calls++; cancel(); return errRetry })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled: %v after %d calls", err, calls)
	}
}
