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
		Use:   "init [--database postgres://...] [--kek-file F | --kek-env VAR | --kek-awskms KEY] [--checkpoint-key-file F]",
		Short: "Create the data directory, database, KEK keyring and checkpoint key",
		Long: `Create the data directory (0700) with a SQLite database (WAL) unless
--database names PostgreSQL, a KEK keyring file (0600, 256-bit, versioned)
unless --kek-env names an environment variable holding the keyring or
--kek-file an existing one or --kek-awskms a symmetric AWS KMS key (key ID,
ARN or alias; with --kek-awskms-region and --kek-awskms-endpoint if needed;
credentials from the AWS SDK's default chain), and an Ed25519
audit-checkpoint key (0600). The sources are recorded in config.json. Nothing
is ever overwritten. With a KEK in AWS KMS, kek rotate creates a new KMS key
and records it in config.json.

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
					"kek_env": c.KEKEnv, "kek_awskms": c.KEKAWSKMS, "checkpoint_key_file": c.CheckpointKeyFile, "checkpoint_dir": c.CheckpointDir,
					"created": res.Made, "reused": res.Reused,
				})
			}
			kek := c.KEKFile
			if c.KEKEnv != "" {
				kek = "$" + c.KEKEnv + " (environment variable)"
			}
			if k := c.KEKAWSKMS; k != nil {
				kek = k.Keys[k.Active] + " (AWS KMS)"
			}
			outf(cmd, "initialized %s\n", o.Dir)
			_ = printFields(cmd.OutOrStdout(), [][2]string{
				{"  database", config.RedactDSN(c.Database)},
				{"  KEK keyring", kek},
				{"  checkpoint key", c.CheckpointKeyFile},
				{"  checkpoints", c.CheckpointDir},
				{"  config", filepath.Join(o.Dir, config.FileName)},
			})
			if c.KEKAWSKMS != nil {
				outln(cmd, "\nIMPORTANT: the KEK is the AWS KMS key above. Keep it (and config.json, which")
				outln(cmd, "names it and every later KEK version's key) apart from the database backups;")
				outln(cmd, "without it the database cannot be read.")
				return nil
			}
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
	f.StringVar(&o.CheckpointDir, "checkpoint-dir", "", "directory for the signed checkpoints written after every append, on storage apart from the database (default DATA_DIR/checkpoints)")
	f.StringVar(&o.CheckpointKeyFile, "checkpoint-key-file", "", "Ed25519 checkpoint key file (created if missing; default DATA_DIR/checkpoint.key)")
	f.StringVar(&o.KEKAWSKMS, "kek-awskms", "", "symmetric AWS KMS key (ID, ARN or alias) that holds the KEK instead of a file")
	f.StringVar(&o.KEKAWSKMSRegion, "kek-awskms-region", "", "AWS region of --kek-awskms (default: from the ARN or AWS_REGION)")
	f.StringVar(&o.KEKAWSKMSEndpoint, "kek-awskms-endpoint", "", "KMS endpoint URL for --kek-awskms (VPC endpoint; http only on loopback)")
	cmd.MarkFlagsMutuallyExclusive("kek-file", "kek-env", "kek-awskms")
	return cmd
}
