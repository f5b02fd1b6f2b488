package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"sealkeep/internal/testenv"
)

// TestPostgresScripts runs testdata/postgres/*.txtar against a fresh
// PostgreSQL database each ($PGDSN), through `init --database`. Besides the
// scripts' issue, mkpem, reissue and exitcode commands (see TestScripts):
//
//	pgsql STATEMENT    run SQL on $PGDSN (to tamper with the database)
func TestPostgresScripts(t *testing.T) {
	base := testenv.Postgres(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/postgres",
		Setup: func(e *testscript.Env) error {
			dsn, err := freshDatabase(base)
			if err != nil {
				return err
			}
			e.Setenv("PGDSN", dsn)
			e.Setenv("SEALKEEP_HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"issue": cmdIssue, "mkpem": cmdMkPEM, "reissue": cmdReissue, "exitcode": cmdExitCode, "pgsql": cmdPgSQL,
		},
	})
}

// freshDatabase creates an empty database on the server of base and
// returns its DSN.
func freshDatabase(base string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "cli_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func cmdPgSQL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgsql STATEMENT")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.Getenv("PGDSN"))
	ts.Check(err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, args[0])
	ts.Check(err)
}
