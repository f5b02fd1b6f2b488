// Package sqlcore implements [store.Store] over database/sql for both SQL
// backends, so that SQLite and PostgreSQL run the same queries, the same
// audit append and the same retry loop. A [Dialect] carries the few
// differences: transaction options, the row-lock clause and how driver
// errors are classified.
//
// # Queries
//
// Every query uses $1-style placeholders, which PostgreSQL and SQLite both
// accept. Integer columns hold times as UTC microseconds. Nullable blobs are
// read together with "col IS NULL", because the SQLite driver returns a
// zero-length blob as nil.
//
// # Audit append
//
// The head row of a chain in audit_heads is created or locked, and read, by
// one INSERT ... ON CONFLICT DO UPDATE (a no-op update) ... RETURNING. On
// PostgreSQL the upsert takes the row lock that SELECT ... FOR UPDATE would
// and, at READ COMMITTED, returns the latest committed head; on SQLite the
// transaction already holds the database write lock. The entry is inserted
// and the head moved in the same transaction.
//
// # Merkle trees
//
// AppendAudit extends the chain's tree (audit.Tree) in the same
// transaction: its new stored hashes go into audit_tree_hashes (one
// multi-row INSERT), its right edge into audit_trees once, before commit.
// The tree is read when the chain is first appended to in a transaction,
// unless the store itself committed the chain's current head (same seq
// and hash under the head lock: no other process appended since), in
// which case its own copy is used. A tree whose size is not the head's seq
// refuses the append.
//
// # Reading audit chains
//
// AuditEntries reads a chain in pages of auditBatch entries by keyset
// pagination on (chain, seq) and calls its callback between queries. In a
// View on a dialect with ConcurrentReads (SQLite), one goroutine runs a
// single query over the chain on a statement of its own, a second decodes
// its rows, and the callback runs on the entries before, so reading,
// decoding and verification overlap; the snapshot is fixed, so the entries
// are the same. The reader goes through the driver (sql.Conn.Raw, held
// only while it reads a batch), without database/sql's per-row locking
// and Scan conversions; driverValues converts the values as Scan would.
//
// # Entries and their encoding
//
// Every entry is read from its canonical encoding (column canonical,
// audit.ParseCanonical), never from the columns that copy its fields for
// SQL users. The columns that queries select by (chain, seq, action,
// details) are compared with the encoding on every read, a difference
// making the entry read as edited (entryRow.entry), and the trail's
// indexes are built on the encoding itself (TrailKey).
package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"sealkeep/internal/store"
)

// Class is what an error means for a transaction.
type Class int

// Error classes.
const (
	Other     Class = iota // anything else: fail
	Retryable              // serialisation failure, deadlock, busy: run fn again
	Unique                 // duplicate key
)

// Dialect describes one database.
type Dialect struct {
	// Write and Read are the options of Update and View transactions.
	Write, Read sql.TxOptions
	// MigrationLock, if set, runs first in the migration transaction to
	// serialise concurrent migrators.
	MigrationLock string
	// Classify tells retryable and duplicate-key errors from the rest; it
	// must look through wrapping (errors.As).
	Classify func(error) Class
	// ConcurrentReads says that a transaction's connection may run a query
	// while other statements of the same transaction are open, so
	// AuditEntries in a View can read the next batch while fn runs.
	ConcurrentReads bool
	// SerialWrites makes Update transactions of one Store wait for each
	// other in Go rather than on the database lock.
	SerialWrites bool
}

// MaxAttempts is how many times Update runs fn before it gives up on
// retryable errors.
const MaxAttempts = 12

// Backoff bounds between attempts (jittered, doubling).
const (
	minBackoff = 2 * time.Millisecond
	maxBackoff = 250 * time.Millisecond
)

// Store is a [store.Store] over one *sql.DB.
type Store struct {
	db       *sql.DB
	d        *Dialect
	writeSem chan struct{} // nil unless d.SerialWrites
	treeMu   sync.Mutex
	trees    map[string]cachedTree // chain -> tree as last committed here (see chainTree)
	stmts    map[string]*sql.Stmt  // every query of tx.go, prepared; read-only
}

// New migrates db with the numbered migrations in fsys and returns a store
// over it. It closes db when it fails.
func New(ctx context.Context, db *sql.DB, d *Dialect, migrations []Migration) (*Store, error) {
	if err := migrate(ctx, db, d, migrations); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, d: d, stmts: make(map[string]*sql.Stmt, len(statements))}
	// Statements are prepared here, before any transaction holds a
	// connection; a transaction rebinds them to its own connection
	// (sql.Tx.StmtContext), where database/sql keeps them prepared.
	for _, q := range statements {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: prepare: %w", err)
		}
		s.stmts[q] = st
	}
	if d.SerialWrites {
		s.writeSem = make(chan struct{}, 1)
	}
	return s, nil
}

// Close closes the statements and the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return s.db.Close()
}

// View runs fn in a read-only transaction.
// It holds the connection (a *sql.Conn), so that AuditEntries can read
// through the driver directly.
func (s *Store) View(ctx context.Context, fn func(store.ReadTx) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer conn.Close()
	sqlTx, err := conn.BeginTx(ctx, &s.d.Read)
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&tx{ctx: ctx, sqlTx: sqlTx, s: s, readConn: conn})
}

// Update runs fn in a read-write transaction, retrying it on retryable
// errors with jittered exponential backoff.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		err := s.update(ctx, fn)
		if err == nil || s.d.Classify(err) != Retryable {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("store: %w (retrying after: %w)", ctx.Err(), err)
		}
		if attempt == MaxAttempts {
			return fmt.Errorf("store: giving up after %d attempts: %w", attempt, err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store: %w (retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (s *Store) update(ctx context.Context, fn func(store.Tx) error) error {
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
			defer func() { <-s.writeSem }()
		case <-ctx.Done():
			return fmt.Errorf("store: %w", ctx.Err())
		}
	}
	sqlTx, err := s.db.BeginTx(ctx, &s.d.Write)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer sqlTx.Rollback()
	t := &tx{ctx: ctx, sqlTx: sqlTx, s: s}
	if err := fn(t); err != nil {
		return err
	}
	if t.poison == nil {
		if err := t.flushTrees(); err != nil {
			return err
		}
	}
	if t.poison != nil {
		return fmt.Errorf("store: rolled back after an earlier failure: %w", t.poison)
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	t.committed()
	return nil
}

// fail maps a driver error to the store's sentinels, with context. Any
// error but "no rows" poisons the transaction.
func (t *tx) fail(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", msg, store.ErrNotFound)
	}
	if t.s.d.Classify(err) == Unique {
		err = fmt.Errorf("store: %s: %w (%w)", msg, store.ErrConflict, err)
	} else {
		err = fmt.Errorf("store: %s: %w", msg, err)
	}
	if t.poison == nil {
		t.poison = err
	}
	return err
}
