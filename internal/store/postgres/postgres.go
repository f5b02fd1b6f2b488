// Package postgres is the [store.Store] for several sealkeep instances
// sharing one PostgreSQL database, through pgx's database/sql driver.
//
// # Isolation and locking
//
// Update runs at READ COMMITTED. Appends to an audit chain lock the chain's
// row in audit_heads (INSERT ... ON CONFLICT DO UPDATE ... RETURNING, which
// takes the row lock SELECT ... FOR UPDATE would and reads the latest
// committed head), which serialises appenders of one chain across connections and
// processes while other chains proceed; [store.Tx.LockChain] takes the same
// lock before a read-modify-write. Deadlocks (40P01) and serialisation
// failures (40001) are retried by Update. View runs REPEATABLE READ, READ
// ONLY: one snapshot.
//
// # Schema
//
// The numbered files in migrations/ are embedded and applied by [Open]
// under a transaction-scoped advisory lock, so instances starting together
// migrate once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"sealkeep/internal/store"
	"sealkeep/internal/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the advisory lock key of schema migrations
// ("sealkeep" in ASCII).
const migrationLockKey = 0x7365616c6b656570

var dialect = &sqlcore.Dialect{
	Write:         sql.TxOptions{Isolation: sql.LevelReadCommitted},
	Read:          sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
	Classify:      classify,
}

func classify(err error) sqlcore.Class {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return sqlcore.Other
	}
	switch e.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return sqlcore.Retryable
	case "23505": // unique_violation
		return sqlcore.Unique
	}
	return sqlcore.Other
}

// MaxConns bounds the connections one store opens.
const MaxConns = 32

// Open connects to the database named by a postgres:// or postgresql:// URL
// (or a libpq key=value string) and migrates it. Errors never repeat the
// DSN, which may hold a password.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w: cannot parse the connection string", store.ErrInvalid)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres: connect to %s/%s: %w", cfg.Host, cfg.Database, err)
	}
	ms, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		db.Close()
		return nil, err
	}
	s, err := sqlcore.New(ctx, db, dialect, ms)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	return s, nil
}
