package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/envelope"
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
	if err != nil || c != res.Config {
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
