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
// numbers must run 1, 2, 3, ... without gaps.
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
		if v != len(ms)+1 {
			return nil, fmt.Errorf("store: migration %q: want number %d", e.Name(), len(ms)+1)
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

// migrate applies the migrations db lacks, all in one transaction, and
// refuses a database that has more than it knows.
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
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("store: migrate: read version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("%w: the database is at schema version %d and this sealkeep knows versions up to %d; run a newer sealkeep",
			store.ErrSchemaTooNew, cur, len(ms))
	}
	if cur == len(ms) {
		return nil
	}
	for _, m := range ms[cur:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
	}
	if appliesTreeMigration(ms[cur:]) {
		if err := backfillTrees(ctx, tx); err != nil {
			return fmt.Errorf("store: migration: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}
