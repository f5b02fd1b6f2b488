// Package open opens a [store.Store] from a DSN, choosing the backend. It
// lives apart from package store because it imports both backends, which
// import store.
//
// # DSNs
//
//   - "postgres://..." or "postgresql://...": PostgreSQL ([postgres.Open])
//   - "sqlite:PATH": the SQLite file PATH ([sqlite.Open])
//   - any other string without "://": a SQLite file path
package open

import (
	"context"
	"fmt"
	"strings"

	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/sqlite"
)

// Open opens and migrates the database named by dsn. Errors do not repeat
// dsn, which may hold a password.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case dsn == "":
		return nil, fmt.Errorf("store: %w: empty database DSN", store.ErrInvalid)
	case strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("store: %w: unsupported database URL scheme (want postgres://, postgresql://, sqlite:PATH or a file path)",
			store.ErrInvalid)
	}
	return sqlite.Open(ctx, dsn)
}
