package main

import (
	"github.com/spf13/cobra"
	"sealkeep/internal/custody"
)

func init() { register(newOrgCmd) }

func newOrgCmd() *cobra.Command {
	cmd := group("org", "Manage organizations (tenants)")
	var name string
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Create an organization and its data-encryption key",
		Long: `Create an organization. ID is its short identifier (lowercase letters,
digits, '.', '_', '-'); it names the organization's audit chain. --name sets a
display name (default: ID).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				org, err := svc.CreateOrg(cmd.Context(), actor(), args[0], name)
				if err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), orgJSON(org))
				}
				outf(cmd, "created org %s\n", org.ID)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List organizations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				orgs, err := svc.Orgs(cmd.Context())
				if err != nil {
					return err
				}
				if globals.json {
					out := make([]any, 0, len(orgs))
					for _, o := range orgs {
						out = append(out, orgJSON(o))
					}
					return printJSON(cmd.OutOrStdout(), out)
				}
				rows := make([][]string, 0, len(orgs))
				for _, o := range orgs {
					rows = append(rows, []string{o.ID, o.Name, fmtTime(o.CreatedAt)})
				}
				return printTable(cmd.OutOrStdout(), []string{"ID", "NAME", "CREATED"}, rows)
			})
		},
	}
	rotateDEK := &cobra.Command{
		Use:   "rotate-dek ID",
		Short: "Give an organization a new data key and erase the old ones",
		Long: `Create a new data-encryption key (DEK) version for the organization,
re-encrypt every stored private key of the organization under it, and erase
the older DEK versions, in one transaction. Together with kek rotate and
kek retire this makes destroyed keys unrecoverable from old database backups
(see the README's crypto-erasure procedure).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				res, err := svc.RotateDEK(cmd.Context(), actor(), args[0])
				if err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), res)
				}
				outf(cmd, "org %s: data key version %d created; %d private key(s) re-encrypted; erased data key version(s) %v\n",
					res.Org, res.New, res.Reencrypted, res.Erased)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, rotateDEK)
	return cmd
}
