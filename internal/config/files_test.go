package config

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/fileperm"
)

// rawConfig reads dir/config.json as written.
func rawConfig(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeRaw(t *testing.T, dir string, m map[string]any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func orgs(t *testing.T, dir string) []string {
	t.Helper()
	env, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Store.Close()
	list, err := custody.New(env.Store, env.KEK, custody.Options{}).Orgs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range list {
		ids = append(ids, o.ID)
	}
	return ids
}

func createOrg(t *testing.T, dir, id string) {
	t.Helper()
	env, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Store.Close()
	if _, err := custody.New(env.Store, env.KEK, custody.Options{}).CreateOrg(context.Background(), audit.Actor{Kind: "cli", ID: "t"}, id, ""); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies a data directory as cp -a does.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
}

// TestRelativePaths: init names the files of the data directory relative
// to it and files elsewhere by absolute path; a copied data directory opens
// its own database.
func TestRelativePaths(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	outside := filepath.Join(base, "keys", "cp.key")
	res, err := Init(ctx, InitOptions{Dir: dir, CheckpointKeyFile: outside})
	if err != nil {
		t.Fatal(err)
	}
	m := rawConfig(t, dir)
	if m["database"] != SQLiteName || m["kek_file"] != KeyringName || m["checkpoint_key_file"] != outside || m["checkpoint_dir"] != CheckpointDirName {
		t.Errorf("config.json = %v; want the database, keyring and checkpoint directory relative, the outside key absolute", m)
	}
	if c, err := Load(dir); err != nil || !reflect.DeepEqual(c, res.Config) || c.Database != filepath.Join(dir, SQLiteName) ||
		c.CheckpointDir != filepath.Join(dir, CheckpointDirName) {
		t.Errorf("Load = %+v, %v; want absolute paths %+v", c, err, res.Config)
	}
	// Loading through a relative directory name resolves against it.
	t.Chdir(base)
	if c, err := Load("home"); err != nil || c.KEKFile != filepath.Join(dir, KeyringName) {
		t.Errorf("Load(relative dir) = %+v, %v", c, err)
	}
	// Replace (KEK rotation in AWS KMS rewrites the file) keeps them relative.
	if err := res.Config.Replace("home"); err != nil {
		t.Fatal(err)
	}
	if m := rawConfig(t, dir); m["database"] != SQLiteName || m["checkpoint_key_file"] != outside {
		t.Errorf("after Replace: %v", m)
	}

	createOrg(t, dir, "acme")
	copied := filepath.Join(base, "copy")
	copyDir(t, dir, copied)
	createOrg(t, copied, "beta")
	if got := orgs(t, copied); strings.Join(got, ",") != "acme,beta" {
		t.Errorf("copy has orgs %q", got)
	}
	if got := orgs(t, dir); strings.Join(got, ",") != "acme" {
		t.Errorf("writing in the copy changed the original: orgs %q", got)
	}
}

// TestLegacyAbsolutePaths: a config.json written with absolute paths
// inside the data directory is still read; a copy of such a directory is
// refused instead of silently using the original's database.
func TestLegacyAbsolutePaths(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	res, err := Init(ctx, InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := rawConfig(t, dir)
	m["database"], m["kek_file"], m["checkpoint_key_file"] = res.Config.Database, res.Config.KEKFile, res.Config.CheckpointKeyFile
	writeRaw(t, dir, m)
	createOrg(t, dir, "acme")
	if c, err := Load(dir); err != nil || !reflect.DeepEqual(c, res.Config) {
		t.Fatalf("legacy config: %+v, %v", c, err)
	}
	copied := filepath.Join(base, "copy")
	copyDir(t, dir, copied)
	_, err = Load(copied)
	if err == nil || !strings.Contains(err.Error(), "names "+res.Config.Database+", outside the data directory "+copied) ||
		!strings.Contains(err.Error(), "its own sealkeep.db") {
		t.Fatalf("copied legacy directory: %v", err)
	}
	// The fix the error gives works: the copy opens its own files.
	m["database"], m["kek_file"], m["checkpoint_key_file"] = SQLiteName, KeyringName, CheckpointKeyName
	writeRaw(t, copied, m)
	createOrg(t, copied, "beta")
	if got := orgs(t, dir); strings.Join(got, ",") != "acme" {
		t.Errorf("original has orgs %q", got)
	}
	// A file outside the data directory with no namesake inside is fine.
	elsewhere := filepath.Join(base, "elsewhere.db")
	if err := os.Rename(filepath.Join(copied, SQLiteName), elsewhere); err != nil {
		t.Fatal(err)
	}
	m["database"] = elsewhere
	writeRaw(t, copied, m)
	if got := orgs(t, copied); strings.Join(got, ",") != "acme,beta" {
		t.Errorf("database outside the data directory: orgs %q", got)
	}
}

// TestFilePermissions: files group or others may write are refused with
// an error naming the file and the chmod that fixes it.
func TestFilePermissions(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "home")
	if _, err := Init(ctx, InitOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	createOrg(t, dir, "acme") // the WAL files exist after this
	open := func() error {
		env, err := Open(ctx, dir)
		if err == nil {
			env.Store.Close()
		}
		return err
	}
	for _, tc := range []struct {
		path string
		mode os.FileMode
		fix  string
	}{
		{filepath.Join(dir, FileName), 0o620, "chmod go-w " + filepath.Join(dir, FileName)},
		{filepath.Join(dir, FileName), 0o602, "chmod go-w " + filepath.Join(dir, FileName)},
		{filepath.Join(dir, SQLiteName), 0o660, "chmod go-w " + filepath.Join(dir, SQLiteName)},
		{filepath.Join(dir, SQLiteName) + "-wal", 0o606, "chmod go-w " + filepath.Join(dir, SQLiteName) + "-wal"},
		{filepath.Join(dir, SQLiteName) + "-shm", 0o622, "chmod go-w " + filepath.Join(dir, SQLiteName) + "-shm"},
		{dir, 0o770, "chmod go-w " + dir},
	} {
		if _, err := os.Stat(tc.path); err != nil {
			// SQLite removes the -wal and -shm files when the last
			// connection closes cleanly; make them as a crash leaves them.
			if err := os.WriteFile(tc.path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(tc.path, tc.mode); err != nil {
			t.Fatal(err)
		}
		err = open()
		if !errors.Is(err, fileperm.ErrTooOpen) || !strings.Contains(err.Error(), tc.path+" has mode") && tc.path != dir ||
			!strings.HasSuffix(err.Error(), tc.fix) {
			t.Errorf("%s of mode %04o: %v; want a refusal naming it and %q", tc.path, tc.mode, err, tc.fix)
		}
		if err := os.Chmod(tc.path, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if err := open(); err != nil {
			t.Fatalf("after restoring %s: %v", tc.path, err)
		}
	}
	// Readable by others is allowed for the database and config.json
	// (they hold no key; the keyring and checkpoint key must be private).
	for _, p := range []string{filepath.Join(dir, FileName), filepath.Join(dir, SQLiteName)} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := open(); err != nil {
		t.Errorf("world-readable database and config: %v", err)
	}
	// A missing database is not silently recreated empty.
	if err := os.Remove(filepath.Join(dir, SQLiteName)); err != nil {
		t.Fatal(err)
	}
	if err := open(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SQLiteName)); err == nil {
		t.Error("a missing database was recreated")
	}
}

// TestLinkedConfig: a config.json linked from a directory that group or
// others may write is refused: they could replace it.
func TestLinkedConfig(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	if _, err := Init(ctx, InitOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(base, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(shared, FileName)
	if err := os.Rename(filepath.Join(dir, FileName), target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatalf("linked from a private directory: %v", err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, fileperm.ErrTooOpen) || !strings.Contains(err.Error(), "chmod go-w "+shared) {
		t.Errorf("linked from a directory anyone may write: %v", err)
	}
}

// TestLinkedDatabase: with sealkeep.db a symbolic link to a database kept
// elsewhere, SQLite keeps its -wal and -shm files beside the file the link
// names (it resolves the link), so those are the files whose permissions
// are checked: a -wal file others can write there lets them rewrite the
// audit trail, whatever the files beside the link say.
func TestLinkedDatabase(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	if _, err := Init(ctx, InitOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(base, "db")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(shared, "real.db")
	if err := os.Rename(filepath.Join(dir, SQLiteName), target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, SQLiteName)); err != nil {
		t.Fatal(err)
	}
	env, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("linked database in a private directory: %v", err)
	}
	if _, err := custody.New(env.Store, env.KEK, custody.Options{}).CreateOrg(ctx, audit.Actor{Kind: "cli", ID: "t"}, "acme", ""); err != nil {
		t.Fatal(err)
	}
	// While the store is open, its WAL is beside the target, not the link.
	if _, err := os.Stat(target + "-wal"); err != nil {
		t.Fatalf("SQLite's WAL of a linked database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SQLiteName) + "-wal"); err == nil {
		t.Fatal("SQLite put the WAL beside the link: this test's premise is wrong")
	}
	env.Store.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		p := target + suffix
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
		env, err := Open(ctx, dir)
		if err == nil {
			env.Store.Close()
		}
		if !errors.Is(err, fileperm.ErrTooOpen) || !strings.Contains(err.Error(), p+" has mode") {
			t.Errorf("%s of mode 0666 beside the linked database: %v; want a refusal naming it", p, err)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// TestRelativePathOutside: a relative name that climbs out of the data
// directory ("../home/sealkeep.db") is a path outside it, like an absolute
// one: in a copy that holds its own file of that name, it is refused
// rather than silently opening the original's.
func TestRelativePathOutside(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	if _, err := Init(ctx, InitOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	createOrg(t, dir, "acme")
	copied := filepath.Join(base, "copy")
	copyDir(t, dir, copied)
	m := rawConfig(t, copied)
	m["database"] = filepath.Join("..", "home", SQLiteName)
	writeRaw(t, copied, m)
	if _, err := Load(copied); err == nil || !strings.Contains(err.Error(), "outside the data directory "+copied) {
		t.Fatalf("copy naming ../home/%s: %v; want the copied-directory refusal", SQLiteName, err)
	}
	// With no namesake inside, a file outside named relatively is fine.
	if err := os.Remove(filepath.Join(copied, SQLiteName)); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(copied); err != nil || c.Database != filepath.Join(dir, SQLiteName) {
		t.Fatalf("relative path outside, no namesake: %+v, %v", c, err)
	}
}
