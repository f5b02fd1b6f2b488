package config

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/testenv"
)

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{"postgres://u:s3cret-pw@db:5432/sk?sslmode=require", "s3cret-pw"},
		{"postgresql://u@db/sk?password=s3cret-pw&sslmode=disable", "s3cret-pw"},
	} {
		out := RedactDSN(tc.in)
		if strings.Contains(out, tc.secret) || !strings.Contains(out, "xxxxx") {
			t.Errorf("RedactDSN(%q) = %q", tc.in, out)
		}
	}
	if got := RedactDSN("/var/lib/sk.db"); got != "/var/lib/sk.db" {
		t.Errorf("path changed: %q", got)
	}
}

// TestInit creates a data directory with private files, refuses to run
// again or over an existing database, and Load reads back what it wrote.
func TestInit(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "home")
	res, err := Init(ctx, InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, res.Config.Database, res.Config.KEKFile, res.Config.CheckpointKeyFile, filepath.Join(dir, FileName)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %o", p, st.Mode().Perm())
		}
	}
	c, err := Load(dir)
	if err != nil || !reflect.DeepEqual(c, res.Config) {
		t.Fatalf("Load = %+v, %v; want %+v", c, err, res.Config)
	}
	if _, err := Init(ctx, InitOptions{Dir: dir}); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, err := Init(ctx, InitOptions{Dir: other, Database: res.Config.Database}); !errors.Is(err, ErrExists) {
		t.Fatalf("init over an existing database: %v", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("Load of an empty directory: %v", err)
	}
	env, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	env.Store.Close()
}

// TestInitKEKEnv records an environment variable as the KEK source and
// creates no keyring file.
func TestInitKEKEnv(t *testing.T) {
	ctx := context.Background()
	ring := filepath.Join(t.TempDir(), "ring")
	if _, err := Init(ctx, InitOptions{Dir: filepath.Join(t.TempDir(), "a"), KEKFile: ring}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ring)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SK_TEST_KEK", string(b))
	dir := filepath.Join(t.TempDir(), "b")
	res, err := Init(ctx, InitOptions{Dir: dir, KEKEnv: "SK_TEST_KEK"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Config.KEKFile != "" || res.Config.KEKEnv != "SK_TEST_KEK" {
		t.Fatalf("config %+v", res.Config)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyringName)); err == nil {
		t.Fatal("a keyring file was created for an environment KEK")
	}
	env, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := env.KEK.(envelope.KEKRotator); ok {
		t.Error("an environment keyring presents itself as rotatable")
	}
	env.Store.Close()
	t.Setenv("SK_TEST_KEK", "garbage")
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("opened with a malformed environment keyring")
	}
}

// TestInitSharedPostgres: a second instance joins a PostgreSQL database
// that holds data only with the KEK that unwraps it.
func TestInitSharedPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := freshPostgres(t)
	first := filepath.Join(t.TempDir(), "first")
	res, err := Init(ctx, InitOptions{Dir: first, Database: dsn})
	if err != nil {
		t.Fatal(err)
	}
	env, err := Open(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := custody.New(env.Store, env.KEK, custody.Options{}).CreateOrg(ctx, audit.Actor{Kind: "cli", ID: "t"}, "acme", ""); err != nil {
		t.Fatal(err)
	}
	env.Store.Close()
	// A new keyring would not read the data: refused, nothing created.
	second := filepath.Join(t.TempDir(), "second")
	if _, err := Init(ctx, InitOptions{Dir: second, Database: dsn}); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("join with a new KEK: %v", err)
	}
	if _, err := os.Stat(filepath.Join(second, KeyringName)); err == nil {
		t.Fatal("a refused init left a keyring file")
	}
	other := filepath.Join(t.TempDir(), "other.keyring")
	if _, err := envelope.CreateKeyringFile(other); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, InitOptions{Dir: second, Database: dsn, KEKFile: other}); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("join with another KEK: %v", err)
	}
	if _, err := Init(ctx, InitOptions{Dir: second, Database: dsn, KEKFile: res.Config.KEKFile}); err != nil {
		t.Fatalf("join with the right KEK: %v", err)
	}
}

func freshPostgres(t *testing.T) string {
	base := testenv.Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "config_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
