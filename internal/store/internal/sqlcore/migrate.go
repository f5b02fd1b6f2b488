package sqlcore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"sealkeep/internal/store"
)

// Migration is one numbered schema step.
type Migration struct {
	Version int
	Name    string // file name, for schema_migrations
	SQL     string
}

// LoadMigrations reads the files NNNN_description.sql of dir in fsys. Their
// numbers must start at 1 and increase; gaps are allowed, so that schema
// steps developed on separate branches (say 0002 and 0004) can land in
// either order: [migrate] applies every step a database lacks, not only
// those above its highest.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var ms []Migration
	for _, e := range ents { // sorted by name
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: migration %q: want NNNN_description.sql", e.Name())
		}
		switch {
		case len(ms) == 0 && v != 1:
			return nil, fmt.Errorf("store: migration %q: the first migration is number 1", e.Name())
		case len(ms) > 0 && v <= ms[len(ms)-1].Version:
			return nil, fmt.Errorf("store: migration %q: number %d is used twice", e.Name(), v)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migration %q: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("store: no migrations in %s", dir)
	}
	return ms, nil
}

// migrate applies, in number order and all in one transaction, every
// migration db lacks (a step below the database's highest too, when
// branches landed out of order), and refuses a database that has a step it
// does not know.
func migrate(ctx context.Context, db *sql.DB, d *Dialect, ms []Migration) error {
	tx, err := db.BeginTx(ctx, &d.Write)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_us BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("store: migrate: read versions: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("store: migrate: read versions: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: migrate: read versions: %w", err)
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	newest := ms[len(ms)-1].Version
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("%w: the database has schema version %d and this sealkeep knows versions up to %d; run a newer sealkeep",
				store.ErrSchemaTooNew, v, newest)
		}
	}
	if len(applied) == len(ms) {
		return nil
	}
	var todo []Migration
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		todo = append(todo, m)
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
		// Later steps index the column, so it is filled in now.
		if strings.HasSuffix(m.Name, canonicalMigration) {
			if err := addCanonical(ctx, tx); err != nil {
				return fmt.Errorf("store: migration %s: the canonical encoding of audit entries: %w", m.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
	}
	if appliesTreeMigration(todo) {
		if err := backfillTrees(ctx, tx); err != nil {
			return fmt.Errorf("store: migration: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}
