package main

import (
	"fmt"
	"sealkeep/internal/custody"
	"strconv"

	"github.com/spf13/cobra"
)

func init() { register(newKEKCmd) }

func newKEKCmd() *cobra.Command {
	cmd := group("kek", "Rotate, retire and inspect the key-encryption key")
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a KEK version and re-wrap every org data key under it",
		Long: `Add a version to the KEK keyring and re-wrap every organization's data key
under it, in one transaction. Key blobs are untouched. If a previous rotation
was interrupted, this completes it instead of adding another version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				step, end := progress("re-wrapping data keys")
				res, err := svc.RotateKEK(cmd.Context(), actor(), step)
				end()
				if err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), res)
				}
				if res.Added != 0 {
					outf(cmd, "added KEK version %d\n", res.Added)
				} else {
					outf(cmd, "completed an interrupted rotation to KEK version %d\n", res.Active)
				}
				outf(cmd, "re-wrapped %d data key(s) under KEK version %d\n", res.Rewrapped, res.Active)
				return nil
			})
		},
	}
	retire := &cobra.Command{
		Use:   "retire VERSION",
		Short: "Remove a KEK version that no longer wraps anything",
		Long: `Remove a KEK version from the keyring. Refused while the version is active
or any data key is still wrapped under it. Database backups whose data keys are
wrapped only under a retired version become unreadable (crypto-erasure).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil || v == 0 {
				return usageError{fmt.Errorf("VERSION must be a positive number")}
			}
			return withService(cmd, func(svc *custody.Service) error {
				if err := svc.RetireKEK(cmd.Context(), actor(), uint32(v)); err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"retired": v})
				}
				outf(cmd, "retired KEK version %d\n", v)
				return nil
			})
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the KEK versions and the data keys wrapped under each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				st, err := svc.KEKStatus(cmd.Context())
				if err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), st)
				}
				rows := make([][]string, 0, len(st.Versions))
				for _, v := range st.Versions {
					a := ""
					if v.Active {
						a = "active"
					}
					rows = append(rows, []string{strconv.FormatUint(uint64(v.Version), 10), a, strconv.Itoa(v.DEKs)})
				}
				if err := printTable(cmd.OutOrStdout(), []string{"KEK VERSION", "STATE", "DATA KEYS"}, rows); err != nil {
					return err
				}
				if !st.Rotatable {
					outln(cmd, "\nThe KEK comes from an environment variable: rotate it by hand.")
				}
				return nil
			})
		},
	}
	cmd.AddCommand(rotate, retire, status)
	return cmd
}
