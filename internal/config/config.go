// Package config is the sealkeep data directory: where the database, the KEK
// keyring and the audit-checkpoint key live, recorded in a small JSON file
// written once by `sealkeep init`.
//
// # Layout
//
//	$SEALKEEP_HOME (default ~/.sealkeep)   0700
//	├── config.json       0600  the sources below, written once by init
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
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
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
var ErrNotInitialized = errors.New("data directory is not initialized (run `sealkeep init`)")

// ErrExists means init would overwrite something.
var ErrExists = errors.New("refusing to overwrite")

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

// Load reads dir/config.json.
func Load(dir string) (Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("%s: %w", dir, ErrNotInitialized)
	}
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
		c.CheckpointDir = filepath.Join(dir, CheckpointDirName)
	}
	if c.Database == "" || c.kekSources() != 1 || c.CheckpointKeyFile == "" {
		return Config{}, fmt.Errorf("%s: incomplete config (database, one KEK source and the checkpoint key are required)", filepath.Join(dir, FileName))
	}
	return c, nil
}

// Save writes dir/config.json (0600). It refuses to overwrite an existing
// file.
func (c Config) Save(dir string) error {
	b, err := json.MarshalIndent(c, "", "  ")
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
	b, err := json.MarshalIndent(c, "", "  ")
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
