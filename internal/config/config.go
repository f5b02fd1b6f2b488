// Package config is the sealkeep data directory: where the database, the KEK
// keyring and the audit-checkpoint key live, recorded in a small JSON file
// written once by `sealkeep init`.
//
// # Layout
//
//	$SEALKEEP_HOME (default ~/.sealkeep)   0700
//	├── config.json       0600  the sources below, written once by init
//	│                           (files in this directory relative to it)
//	├── sealkeep.db       0600  SQLite database (WAL: also -wal and -shm files),
//	│                           unless the database is PostgreSQL
//	├── kek.keyring       0600  KEK keyring, unless the KEK comes from another
//	│                           file, an environment variable or AWS KMS
//	├── checkpoint.key    0600  Ed25519 audit-checkpoint signing key, unless
//	│                           another file was named
//	└── checkpoints/      0700  signed checkpoints of every chain, written
//	                            after every append, unless another directory
//	                            was named: it belongs on separate storage
//	                            (see package translog)
//
// The KEK keyring must be backed up apart from the database: a database
// backup alone is unreadable, which is the point.
//
// # Paths
//
// config.json names the files inside the data directory relative to it
// ("sealkeep.db"), so that a data directory copied or moved elsewhere opens
// its own database and keys, not the original's. A file outside the data
// directory (an --database, --kek-file or --checkpoint-key-file the user
// named there) is recorded by its absolute path. [Load] returns absolute
// paths either way.
//
// config.json files written by earlier versions hold absolute paths, also
// for the files inside the data directory; they are read as before. A copy
// of such a directory would silently use the original's files, so [Load]
// refuses a config whose path lies outside the data directory (absolute,
// or relative through "..") when the data directory holds a different file
// of the same name (its own copy), and says how to fix config.json: name
// the file relative to the data directory ("database": "sealkeep.db").
//
// # Permissions
//
// [Load] refuses a data directory that group or others may write (without
// the sticky bit) and a config.json they may write; [OpenStore] refuses a
// SQLite database, -wal or -shm file (beside the file a linked database
// names, where SQLite keeps them), or database directory they may write
// (package fileperm; the key files are checked where they are read). Each
// refusal names the file and the chmod that fixes it.
//
// # Secrets
//
// config.json holds no key material. With a KEK in AWS KMS it holds the
// KMS key of each KEK version ([AWSKMSKEK]); rotation rewrites it with
// [Config.Replace]. It may hold a PostgreSQL DSN; a DSN
// with a password is accepted but never printed: [RedactDSN] hides it.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"sealkeep/internal/errs"
	"sealkeep/internal/fileperm"
)

// File names inside the data directory.
const (
	FileName          = "config.json"
	SQLiteName        = "sealkeep.db"
	KeyringName       = "kek.keyring"
	CheckpointKeyName = "checkpoint.key"
	CheckpointDirName = "checkpoints"
)

// EnvHome names the environment variable that overrides the default data
// directory.
const EnvHome = "SEALKEEP_HOME"

// ErrNotInitialized means the data directory has no config file.
var ErrNotInitialized = errs.New(errs.Invalid, "data directory is not initialized (run `sealkeep init`)")

// ErrExists means init would overwrite something.
var ErrExists = errs.New(errs.Conflict, "refusing to overwrite")

// Config records where sealkeep finds its database and keys.
type Config struct {
	// Version of this file's format; currently 1.
	Version int `json:"version"`
	// Database is a SQLite file path or a postgres:// DSN.
	Database string `json:"database"`
	// KEKFile is the KEK keyring file; KEKEnv names an environment variable
	// holding the keyring instead. Exactly one is set.
	KEKFile string `json:"kek_file,omitempty"`
	KEKEnv  string `json:"kek_env,omitempty"`
	// KEKAWSKMS holds the KEK in AWS KMS instead: one symmetric KMS key per
	// KEK version. Rotation and retirement rewrite it (atomically).
	KEKAWSKMS *AWSKMSKEK `json:"kek_awskms,omitempty"`
	// CheckpointKeyFile is the Ed25519 checkpoint signing key.
	CheckpointKeyFile string `json:"checkpoint_key_file"`
	// CheckpointDir receives a signed checkpoint of a chain after every
	// transaction that appends to it (package translog). It belongs on
	// storage apart from the database. Default DATA_DIR/checkpoints.
	CheckpointDir string `json:"checkpoint_dir,omitempty"`
	// Witnesses are sent every checkpoint (c2sp.org/tlog-witness); their
	// cosignatures are kept in CheckpointDir.
	Witnesses []Witness `json:"witnesses,omitempty"`
}

// Witness is a c2sp.org/tlog-witness witness: its submission URL and its
// cosignature verifier key (name+keyhash+base64).
type Witness struct {
	URL string `json:"url"`
	Key string `json:"key"`
}

// AWSKMSKEK is the version map of a KEK held in AWS KMS (see package
// awskmskek). It names keys; it holds no key material.
type AWSKMSKEK struct {
	// Active is the version that wraps.
	Active uint32 `json:"active"`
	// Keys maps each usable version to the awskms: URI of its KMS key.
	Keys map[uint32]string `json:"keys"`
	// Retired lists the versions whose KMS key is scheduled for deletion.
	Retired []uint32 `json:"retired,omitempty"`
}

// kekSources counts the KEK sources c names.
func (c Config) kekSources() int {
	n := 0
	for _, set := range []bool{c.KEKFile != "", c.KEKEnv != "", c.KEKAWSKMS != nil} {
		if set {
			n++
		}
	}
	return n
}

// DefaultDir returns $SEALKEEP_HOME, else ~/.sealkeep.
func DefaultDir() string {
	if d := os.Getenv(EnvHome); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".sealkeep"
	}
	return filepath.Join(home, ".sealkeep")
}

// Default returns the configuration init writes when no source is named:
// everything inside dir.
func Default(dir string) Config {
	return Config{
		Version:           1,
		Database:          filepath.Join(dir, SQLiteName),
		KEKFile:           filepath.Join(dir, KeyringName),
		CheckpointKeyFile: filepath.Join(dir, CheckpointKeyName),
		CheckpointDir:     filepath.Join(dir, CheckpointDirName),
	}
}

// Load reads dir/config.json and returns it with absolute paths (see
// Paths and Permissions in the package documentation).
func Load(dir string) (Config, error) {
	b, err := readConfigFile(dir)
	if err != nil {
		return Config{}, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: malformed config file: %v", filepath.Join(dir, FileName), err)
	}
	if c.Version != 1 {
		return Config{}, fmt.Errorf("%s: unsupported config version %d", filepath.Join(dir, FileName), c.Version)
	}
	if c.CheckpointDir == "" {
		c.CheckpointDir = CheckpointDirName // resolved below
	}
	if c.Database == "" || c.kekSources() != 1 || c.CheckpointKeyFile == "" {
		return Config{}, fmt.Errorf("%s: incomplete config (database, one KEK source and the checkpoint key are required)", filepath.Join(dir, FileName))
	}
	for _, p := range c.paths() {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(abs, *p)
		}
		// A relative name can leave dir too ("../other/sealkeep.db").
		if err := checkForeign(abs, *p); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// readConfigFile reads dir/config.json after checking that neither it nor
// dir can be written by group or others.
func readConfigFile(dir string) ([]byte, error) {
	p := filepath.Join(dir, FileName)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotInitialized)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := fileperm.NotWritable(p, fi.Mode()); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := fileperm.Dirs(p, "config.json and the files it names"); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return io.ReadAll(io.LimitReader(f, maxConfigSize))
}

// maxConfigSize bounds config.json (it holds a few paths and key names).
const maxConfigSize = 1 << 20

// paths returns the fields of c that name files: the SQLite database
// (a plain path, not a DSN), the KEK keyring, the checkpoint key and the
// checkpoint directory.
func (c *Config) paths() []*string {
	var out []*string
	if c.Database != "" && !c.IsPostgres() && !strings.Contains(c.Database, ":") {
		out = append(out, &c.Database)
	}
	for _, p := range []*string{&c.KEKFile, &c.CheckpointKeyFile, &c.CheckpointDir} {
		if *p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkForeign refuses p, a path read from dir's config.json (made absolute),
// when it lies outside dir while dir holds a different file of the same
// name: dir is then most likely a copy of the data directory p belongs to,
// made from a config.json that recorded absolute paths or climbs out of
// it with "..".
func checkForeign(dir, p string) error {
	if rel, err := filepath.Rel(dir, p); err == nil && filepath.IsLocal(rel) {
		return nil
	}
	own := filepath.Join(dir, filepath.Base(p))
	ownInfo, err := os.Stat(own)
	if err != nil {
		return nil
	}
	if info, err := os.Stat(p); err == nil && os.SameFile(info, ownInfo) {
		return nil
	}
	return fmt.Errorf("%s names %s, outside the data directory %s, but the data directory holds its own %s: it looks copied from another data directory and would use that one's file; in config.json, name the file relative to the data directory (%q) to use the copy's own, or remove %s",
		filepath.Join(dir, FileName), p, dir, filepath.Base(p), filepath.Base(p), own)
}

// marshal encodes c for dir's config.json, naming the files inside dir
// relative to it.
func (c Config) marshal(dir string) ([]byte, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range c.paths() {
		if rel, err := filepath.Rel(abs, *p); err == nil && filepath.IsAbs(*p) && filepath.IsLocal(rel) {
			*p = rel
		}
	}
	return json.MarshalIndent(c, "", "  ")
}

// Save writes dir/config.json (0600). It refuses to overwrite an existing
// file.
func (c Config) Save(dir string) error {
	b, err := c.marshal(dir)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, FileName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w %s", ErrExists, p)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Replace atomically replaces dir/config.json with c (0600): it writes a
// temporary file in dir, syncs it, renames it over the old one and syncs
// the directory, so that a crash leaves the old file or the new one.
func (c Config) Replace(dir string) error {
	b, err := c.marshal(dir)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, FileName+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, FileName)); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsPostgres reports whether the database is a PostgreSQL DSN.
func (c Config) IsPostgres() bool { return IsPostgresDSN(c.Database) }

// IsPostgresDSN reports whether s is a postgres:// or postgresql:// URL.
func IsPostgresDSN(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// RedactDSN returns a database location safe to print: a PostgreSQL DSN
// loses its password (in the URL and in a password= query parameter).
func RedactDSN(s string) string {
	if !IsPostgresDSN(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://(unparsable DSN)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
