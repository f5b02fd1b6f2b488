package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"sealkeep/internal/config"
)

func init() { register(newInitCmd) }

func newInitCmd() *cobra.Command {
	var o config.InitOptions
	cmd := &cobra.Command{
		Use:   "init [--database postgres://...] [--kek-file F | --kek-env VAR] [--checkpoint-key-file F]",
		Short: "Create the data directory, database, KEK keyring and checkpoint key",
		Long: `Create the data directory (0700) with a SQLite database (WAL) unless
--database names PostgreSQL, a KEK keyring file (0600, 256-bit, versioned)
unless --kek-env names an environment variable holding the keyring or
--kek-file an existing one, and an Ed25519 audit-checkpoint key (0600). The
sources are recorded in config.json. Nothing is ever overwritten.

Back the KEK keyring up apart from the database: without it, the database
(and every backup of it) is unreadable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(dataDir())
			if err != nil {
				return err
			}
			o.Dir = dir
			res, err := config.Init(cmd.Context(), o)
			if err != nil {
				return err
			}
			c := res.Config
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"data_dir": o.Dir, "database": config.RedactDSN(c.Database), "kek_file": c.KEKFile,
					"kek_env": c.KEKEnv, "checkpoint_key_file": c.CheckpointKeyFile, "created": res.Made, "reused": res.Reused,
				})
			}
			kek := c.KEKFile
			if c.KEKEnv != "" {
				kek = "$" + c.KEKEnv + " (environment variable)"
			}
			outf(cmd, "initialized %s\n", o.Dir)
			_ = printFields(cmd.OutOrStdout(), [][2]string{
				{"  database", config.RedactDSN(c.Database)},
				{"  KEK keyring", kek},
				{"  checkpoint key", c.CheckpointKeyFile},
				{"  config", filepath.Join(o.Dir, config.FileName)},
			})
			outln(cmd, "\nIMPORTANT: back up the KEK keyring, and keep that backup apart from the")
			outln(cmd, "database backups. Without the KEK the database cannot be read; a backup that")
			outln(cmd, "holds both gives away every key's protection.")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Database, "database", "", "PostgreSQL DSN (postgres://...) or SQLite path (default DATA_DIR/sealkeep.db)")
	f.StringVar(&o.KEKFile, "kek-file", "", "KEK keyring file (created if missing; default DATA_DIR/kek.keyring)")
	f.StringVar(&o.KEKEnv, "kek-env", "", "environment variable holding the KEK keyring instead of a file")
	f.StringVar(&o.CheckpointKeyFile, "checkpoint-key-file", "", "Ed25519 checkpoint key file (created if missing; default DATA_DIR/checkpoint.key)")
	cmd.MarkFlagsMutuallyExclusive("kek-file", "kek-env")
	return cmd
}
