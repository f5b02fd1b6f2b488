package main

import (
	"os"

	"github.com/spf13/cobra"

	"sealkeep/internal/auth"
	"sealkeep/internal/config"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/redact"
)

func init() { register(newSetupCmd) }

func newSetupCmd() *cobra.Command {
	var login, passwordFile, passwordEnv string
	cmd := &cobra.Command{
		Use:   "setup --operator LOGIN [--password-file F | --password-env VAR]",
		Short: "First-run setup: create the platform operator account",
		Long: `Create the platform operator, once, on the data directory: the account that
creates organizations and their first owners through sealkeep serve, and
nothing else (it can never seal, read key material, or change an
organization's identities or members). It runs on the data directory, not
over the network, so that whoever reaches a new server first cannot claim it.

The password is the first line of --password-file, the variable named by
--password-env, or asked on the terminal; at least 12 characters. A second
setup is refused (exit 3). Audited as user.create in the system chain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := config.Open(cmd.Context(), dataDir())
			if err != nil {
				return err
			}
			pub, err := env.Publisher(globals.logger)
			if err != nil {
				env.Store.Close()
				return err
			}
			defer pub.Close()
			pw, err := keyfile.ReadPassphrase(passwordFile, passwordEnv, "Operator password: ", os.Stdin, os.Stderr)
			if err != nil {
				return err
			}
			secret := redact.NewSecret(pw)
			defer secret.Zero()
			u, err := auth.New(pub, env.KEK, auth.Options{Logger: globals.logger}).Setup(cmd.Context(), login, secret)
			if err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": u.ID, "login": u.Login, "operator": true})
			}
			outf(cmd, "created operator %s (%s)\n", u.Login, u.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&login, "operator", "", "login of the operator account")
	fl.StringVar(&passwordFile, "password-file", "", "file whose first line is the password")
	fl.StringVar(&passwordEnv, "password-env", "", "environment variable holding the password")
	_ = cmd.MarkFlagRequired("operator")
	cmd.MarkFlagsMutuallyExclusive("password-file", "password-env")
	return cmd
}
