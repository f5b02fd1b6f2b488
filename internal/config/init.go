package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/envelope/awskmskek"
	"sealkeep/internal/errs"
	"sealkeep/internal/fileperm"
	"sealkeep/internal/store"
	storeopen "sealkeep/internal/store/open"
	"sealkeep/internal/translog"
)

// InitOptions names the sources init records; empty fields mean "create it
// inside the data directory".
type InitOptions struct {
	Dir      string
	Database string // SQLite path or postgres:// DSN
	KEKFile  string // keyring file: used if it exists, else created
	KEKEnv   string // environment variable holding the keyring
	// KEKAWSKMS is the key ID, ARN or alias of a symmetric AWS KMS key
	// that becomes KEK version 1, in KEKAWSKMSRegion (optional for an ARN
	// or with AWS_REGION) through KEKAWSKMSEndpoint (optional).
	KEKAWSKMS         string
	KEKAWSKMSRegion   string
	KEKAWSKMSEndpoint string
	CheckpointKeyFile string // used if it exists, else created
	// CheckpointDir receives the signed checkpoints (created if missing;
	// default DATA_DIR/checkpoints). It belongs on separate storage.
	CheckpointDir string
}

// Created reports what init made and what it found.
type Created struct {
	Config Config
	// Made lists the files and directories init created.
	Made []string
	// Reused lists existing key files init recorded without touching.
	Reused []string
}

// Init creates a data directory (0700) and everything in it: the database
// (migrated), the KEK keyring (0600) unless an environment variable or an
// existing file is named, the Ed25519 checkpoint key (0600) unless an
// existing file is named, and config.json. It refuses to overwrite anything:
// an existing config file or SQLite database is an error.
func Init(ctx context.Context, o InitOptions) (Created, error) {
	var out Created
	if n := countSet(o.KEKFile, o.KEKEnv, o.KEKAWSKMS); n > 1 {
		return out, errs.New(errs.Invalid, "give the KEK as a file, an environment variable or an AWS KMS key, only one")
	}
	if o.KEKAWSKMS == "" && (o.KEKAWSKMSRegion != "" || o.KEKAWSKMSEndpoint != "") {
		return out, errs.New(errs.Invalid, "an AWS KMS region or endpoint needs the AWS KMS KEK key")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return out, err
	}
	o.Dir = dir
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return out, err
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return out, err
	}
	if _, err := os.Stat(filepath.Join(o.Dir, FileName)); err == nil {
		return out, fmt.Errorf("%w %s: the data directory is already initialized", ErrExists, filepath.Join(o.Dir, FileName))
	}
	c := Default(o.Dir)
	if o.Database != "" {
		c.Database = o.Database
		if !IsPostgresDSN(o.Database) {
			if c.Database, err = filepath.Abs(o.Database); err != nil {
				return out, err
			}
		}
	}
	if !c.IsPostgres() {
		if _, err := os.Stat(c.Database); err == nil {
			return out, fmt.Errorf("%w %s: a database exists there", ErrExists, c.Database)
		}
	}
	switch {
	case o.KEKEnv != "":
		c.KEKFile, c.KEKEnv = "", o.KEKEnv
		if _, err := envelope.KeyringFromEnv(os.Getenv(o.KEKEnv)); err != nil {
			return out, fmt.Errorf("KEK from $%s: %w", o.KEKEnv, err)
		}
		out.Reused = append(out.Reused, "$"+o.KEKEnv)
	case o.KEKFile != "":
		if c.KEKFile, err = keyPath(o.KEKFile); err != nil {
			return out, err
		}
	case o.KEKAWSKMS != "":
		c.KEKFile = ""
		c.KEKAWSKMS = &AWSKMSKEK{Active: 1, Keys: map[uint32]string{1: awsKMSURI(o.KEKAWSKMS, o.KEKAWSKMSRegion, o.KEKAWSKMSEndpoint)}}
		// Checks that the key exists, is enabled and can encrypt.
		if _, err := openKEK(ctx, "", c); err != nil {
			return out, err
		}
		out.Reused = append(out.Reused, c.KEKAWSKMS.Keys[1])
	}
	if o.CheckpointKeyFile != "" {
		if c.CheckpointKeyFile, err = keyPath(o.CheckpointKeyFile); err != nil {
			return out, err
		}
	}
	if o.CheckpointDir != "" {
		if c.CheckpointDir, err = filepath.Abs(o.CheckpointDir); err != nil {
			return out, err
		}
	}
	if c.IsPostgres() {
		// A shared PostgreSQL database may already hold data: join it only
		// with a KEK that unwraps its data keys, never with a new one.
		if err := checkExistingData(ctx, c); err != nil {
			return out, err
		}
	}
	if c.KEKFile != "" {
		made, err := ensure(c.KEKFile, func(p string) error {
			_, err := envelope.CreateKeyringFile(p)
			return err
		}, func(p string) error {
			_, err := envelope.OpenKeyringFile(p)
			return err
		})
		if err != nil {
			return out, fmt.Errorf("KEK keyring: %w", err)
		}
		record(&out, c.KEKFile, made)
	}
	made, err := ensure(c.CheckpointKeyFile, func(p string) error {
		_, err := audit.CreateCheckpointKeyFile(p)
		return err
	}, func(p string) error {
		_, err := audit.LoadCheckpointKey(p)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("checkpoint key: %w", err)
	}
	record(&out, c.CheckpointKeyFile, made)
	if _, err := os.Stat(c.CheckpointDir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(c.CheckpointDir, 0o700); err != nil {
			return out, fmt.Errorf("checkpoint directory: %w", err)
		}
		out.Made = append(out.Made, c.CheckpointDir)
	} else if err != nil {
		return out, fmt.Errorf("checkpoint directory: %w", err)
	} else {
		out.Reused = append(out.Reused, c.CheckpointDir)
	}
	if !c.IsPostgres() {
		// An empty file is a new SQLite database; creating it first gives
		// it mode 0600 (SQLite gives its -wal and -shm files the same).
		f, err := os.OpenFile(c.Database, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return out, fmt.Errorf("%w %s: a database exists there", ErrExists, c.Database)
		}
		if err != nil {
			return out, err
		}
		f.Close()
	}
	st, err := storeopen.Open(ctx, c.Database)
	if err != nil {
		return out, fmt.Errorf("database %s: %w", RedactDSN(c.Database), err)
	}
	if err := st.Close(); err != nil {
		return out, err
	}
	if !c.IsPostgres() {
		out.Made = append(out.Made, c.Database)
	}
	if err := c.Save(o.Dir); err != nil {
		return out, err
	}
	out.Made = append(out.Made, filepath.Join(o.Dir, FileName))
	out.Config = c
	return out, nil
}

// ErrWrongKEK means a database already holds data keys that the given KEK
// does not unwrap (or no existing KEK was given for them).
var ErrWrongKEK = errs.New(errs.Invalid, "the database already holds data keys this KEK cannot unwrap")

// checkExistingData opens c's database and, if it already holds data keys,
// requires c's KEK to exist already and to unwrap one of them.
func checkExistingData(ctx context.Context, c Config) error {
	st, err := storeopen.Open(ctx, c.Database)
	if err != nil {
		return fmt.Errorf("database %s: %w", RedactDSN(c.Database), err)
	}
	defer st.Close()
	var deks []store.WrappedDEK
	if err := st.View(ctx, func(tx store.ReadTx) error {
		deks, err = tx.AllDEKs()
		return err
	}); err != nil {
		return err
	}
	i := slices.IndexFunc(deks, func(d store.WrappedDEK) bool { return d.Wrapped != nil })
	if i < 0 {
		return nil
	}
	if c.KEKFile != "" {
		if _, serr := os.Stat(c.KEKFile); serr != nil {
			return fmt.Errorf("%w: it is in use by another sealkeep instance; name that instance's KEK keyring with --kek-file or --kek-env", ErrWrongKEK)
		}
	}
	kek, err := openKEK(ctx, "", c)
	if err != nil {
		return err
	}
	d := deks[i]
	dek, err := envelope.UnwrapDEK(ctx, kek, d.OrgID, d.Version, d.KEKVersion, d.Wrapped)
	if err != nil {
		return fmt.Errorf("%w (data key %d of org %q: %w)", ErrWrongKEK, d.Version, d.OrgID, err)
	}
	dek.Zero()
	return nil
}

// keyPath makes a named key file's path absolute (the config is read from
// any directory) and creates its directory (0700) if missing.
func keyPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return abs, os.MkdirAll(filepath.Dir(abs), 0o700)
}

// ensure creates path with create unless it exists, in which case check
// must accept it. It reports whether it created the file.
func ensure(path string, create, check func(string) error) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, check(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, create(path)
}

func record(out *Created, path string, made bool) {
	if made {
		out.Made = append(out.Made, path)
	} else {
		out.Reused = append(out.Reused, path)
	}
}

// Env is an opened data directory.
type Env struct {
	Config Config
	Store  store.Store
	KEK    envelope.KEK
}

// Open loads dir's config and opens its database ([OpenStore]) and KEK.
func Open(ctx context.Context, dir string) (*Env, error) {
	c, err := Load(dir)
	if err != nil {
		return nil, err
	}
	kek, err := openKEK(ctx, dir, c)
	if err != nil {
		return nil, fmt.Errorf("KEK: %w", err)
	}
	st, err := OpenStore(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Env{Config: c, Store: st, KEK: kek}, nil
}

// OpenStore opens c's database. A SQLite database is refused when its file
// is missing (only init creates one: an empty database in its place would
// pass for a trail without entries) or when group or others may write its
// file, its -wal or -shm file or its directory (without the sticky bit):
// they could rewrite the audit trail.
func OpenStore(ctx context.Context, c Config) (store.Store, error) {
	if !c.IsPostgres() {
		if err := checkSQLiteFiles(strings.TrimPrefix(c.Database, "sqlite:")); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	st, err := storeopen.Open(ctx, c.Database)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", RedactDSN(c.Database), err)
	}
	return st, nil
}

// checkSQLiteFiles applies the permission rules to a SQLite database and
// the files SQLite keeps beside it: beside the file a symbolic link names,
// since SQLite resolves the link to place its -wal and -shm files.
func checkSQLiteFiles(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the SQLite database %s does not exist; only sealkeep init creates one: restore it from a backup or fix config.json", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for _, p := range []string{real, real + "-wal", real + "-shm"} {
		if err := fileperm.NotWritableFile(p); err != nil {
			return err
		}
	}
	return fileperm.Dirs(path, "the database "+path)
}

// Publisher wraps e's store so that every append is followed by a signed
// checkpoint (with the checkpoint key) in the checkpoint directory, sent
// to the configured witnesses; failures to publish go to logger.
func (e *Env) Publisher(logger *slog.Logger) (*translog.Publisher, error) {
	key, err := audit.LoadCheckpointKey(e.Config.CheckpointKeyFile)
	if err != nil {
		return nil, err
	}
	var ws []translog.Witness
	for _, w := range e.Config.Witnesses {
		ws = append(ws, translog.Witness{URL: w.URL, Key: w.Key})
	}
	return translog.NewPublisher(e.Store, key, translog.Dir(e.Config.CheckpointDir), translog.Options{Witnesses: ws, Logger: logger}), nil
}

// openKEK opens c's KEK. A KEK in AWS KMS persists its changed version map
// into dir/config.json (atomically, [Config.Replace]); with dir "" it cannot
// rotate.
func openKEK(ctx context.Context, dir string, c Config) (envelope.KEK, error) {
	switch {
	case c.KEKAWSKMS != nil:
		var opts []awskmskek.Option
		if dir != "" {
			opts = append(opts, awskmskek.WithSave(func(_ context.Context, kc awskmskek.Config) error {
				cur, err := Load(dir)
				if err != nil {
					return err
				}
				cur.KEKAWSKMS = &AWSKMSKEK{Active: kc.Active, Keys: kc.Keys, Retired: kc.Retired}
				return cur.Replace(dir)
			}))
		}
		k := c.KEKAWSKMS
		return awskmskek.New(ctx, awskmskek.Config{Active: k.Active, Keys: k.Keys, Retired: k.Retired}, opts...)
	case c.KEKEnv != "":
		v, ok := os.LookupEnv(c.KEKEnv)
		if !ok {
			return nil, fmt.Errorf("the KEK comes from $%s, which is not set", c.KEKEnv)
		}
		ring, err := envelope.KeyringFromEnv(v)
		if err != nil {
			return nil, err
		}
		// Only the KEK methods: an environment keyring is not a
		// KEKRotator, so custody reports it as not rotatable.
		return struct{ envelope.KEK }{ring}, nil
	default:
		return envelope.OpenKeyringFile(c.KEKFile)
	}
}

// awsKMSURI builds the awskms: URI of a KEK key.
func awsKMSURI(key, region, endpoint string) string {
	q := url.Values{}
	if region != "" {
		q.Set("region", region)
	}
	if endpoint != "" {
		q.Set("endpoint", endpoint)
	}
	u := "awskms:" + key
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// countSet counts the non-empty strings.
func countSet(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}
