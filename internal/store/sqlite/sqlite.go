// Package sqlite is the embedded [store.Store]: one SQLite file, opened
// with the pure-Go driver modernc.org/sqlite, nothing to install.
//
// # Connection settings
//
// Every connection runs in WAL mode with synchronous=FULL (a committed
// audit entry survives power loss), foreign keys on and a 10 s busy
// timeout. Write transactions start with BEGIN IMMEDIATE, so writers
// serialise on the database lock across processes; within one process they
// also queue in Go, so goroutines do not poll the lock. Readers (View) run
// deferred transactions and see a snapshot while writers proceed.
//
// Several processes may share one file and their audit chains stay linear,
// but SQLite's busy handler polls rather than queues, so under sustained
// load one process can wait long for the lock (Update retries after the
// busy timeout). Several sealkeep instances belong on PostgreSQL.
//
// # Schema
//
// The numbered files in migrations/ are embedded and applied by [Open].
// The package registers deterministic SQL functions with the driver:
// sha256(BLOB), which the migrations use to backfill thumbprint columns,
// and sealkeep_trail_key(CANONICAL, KIND), which the trail's indexes are
// built on (sqlcore.TrailKey). A tool that inserts or deletes audit
// entries, or changes their encoding, must register the latter too (the
// sqlite3 shell cannot: such writes fail with "unknown function").
package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"sealkeep/internal/store"
	"sealkeep/internal/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

func init() {
	sqlite.MustRegisterDeterministicScalarFunction("sha256", 1, sqlSHA256)
	sqlite.MustRegisterDeterministicScalarFunction("sealkeep_trail_key", 2, sqlTrailKey)
}

// sqlTrailKey is the SQL function sealkeep_trail_key(CANONICAL, KIND) that
// the trail's indexes are built on (sqlcore.TrailKey): NULL unless the
// encoding's entry records such a key.
func sqlTrailKey(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	canon, ok1 := args[0].([]byte)
	kind, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return nil, nil
	}
	if k := sqlcore.TrailKey(canon, kind); k != nil {
		return k, nil
	}
	return nil, nil
}

// sqlSHA256 is the SQL function sha256(X): the SHA-256 of a blob or text,
// NULL for NULL.
func sqlSHA256(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	var b []byte
	switch x := args[0].(type) {
	case nil:
		return nil, nil
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		return nil, fmt.Errorf("sha256: want a blob, got %T", x)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

const params = "?_txlock=immediate" +
	"&_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)"

var dialect = &sqlcore.Dialect{
	Read:            sql.TxOptions{ReadOnly: true}, // deferred BEGIN
	ConcurrentReads: true,
	SerialWrites:    true,
	Classify:        classify,
}

func classify(err error) sqlcore.Class {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return sqlcore.Other
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return sqlcore.Unique
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return sqlcore.Retryable
	}
	return sqlcore.Other
}

// Open opens (creating if needed) the SQLite database file at path and
// migrates it.
func Open(ctx context.Context, path string) (store.Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: sqlite: %w: want a plain file path without '?' or '#'", store.ErrInvalid)
	}
	ms, err := sqlcore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+params)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s, err := sqlcore.New(ctx, db, dialect, ms)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	return s, nil
}
