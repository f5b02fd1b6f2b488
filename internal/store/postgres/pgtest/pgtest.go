// Package pgtest gives each test its own PostgreSQL database on the
// throwaway server of [testenv.Postgres].
//
// # Usage
//
// dsn := pgtest.Fresh(t) creates a database named sk_<random>, returns its
// URL and drops it (WITH (FORCE)) when the test ends.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"sealkeep/internal/testenv"
)

// Fresh creates an empty database for t and returns its URL; it skips (or,
// under scripts/test, fails) when no server is configured.
func Fresh(t testing.TB) string {
	t.Helper()
	admin := testenv.Postgres(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("SEALKEEP_TEST_POSTGRES is not a URL: %v", err)
	}
	name := "sk_" + strings.ToLower(rand.Text()[:16])
	Exec(t, admin, `CREATE DATABASE "`+name+`"`)
	t.Cleanup(func() { Exec(t, admin, `DROP DATABASE "`+name+`" WITH (FORCE)`) })
	u.Path = "/" + name
	return u.String()
}

// Exec runs query on the database at dsn over a connection of its own.
func Exec(t testing.TB, dsn, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("exec: %v", err)
	}
}
