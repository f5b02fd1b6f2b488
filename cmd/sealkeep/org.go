package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"sealkeep/internal/custody"
)

func init() { register(newOrgCmd) }

func newOrgCmd() *cobra.Command {
	cmd := group("org", "Manage organizations (tenants)")
	var name, owner string
	var newOwner bool
	create := &cobra.Command{
		Use:   "create ID [--name NAME] [--server URL [--owner LOGIN [--new-account]]]",
		Short: "Create an organization and its data-encryption key",
		Long: `Create an organization. ID is its short identifier (lowercase letters,
digits, '.', '_', '-'); it names the organization's audit chain. --name sets a
display name (default: ID).

With --server, the platform operator creates it through the service, and
--owner makes its first owner: with --new-account a new account, whose
one-time invitation is printed (hand it to the owner, who runs sealkeep
account activate: the operator never knows the owner's password), or else
an existing login. See org owner for an org created without one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if serverURL() != "" {
				return remoteOrgCreate(cmd, args[0], name, owner, newOwner)
			}
			if owner != "" || newOwner {
				return usageError{errors.New("--owner and --new-account need --server: accounts live in the service")}
			}
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
	create.Flags().StringVar(&owner, "owner", "", "login of the first owner (--server)")
	create.Flags().BoolVar(&newOwner, "new-account", false, "create the first owner's account, with an invitation (--server)")
	list := &cobra.Command{
		Use:   "list [--server URL]",
		Short: "List organizations",
		Long: `List the organizations of the data directory, or with --server those you are
a member of, with your role (the operator sees every one, by ID and name).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serverURL() != "" {
				return remoteOrgList(cmd)
			}
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
	var ownerNew, reinvite bool
	ownerCmd := &cobra.Command{
		Use:   "owner ORG LOGIN --server URL [--new-account | --reinvite]",
		Short: "Make the first owner of an organization that has none (the operator)",
		Long: `Make LOGIN the first owner of ORG, an organization with no owner yet: with
--new-account a new account, whose one-time invitation is printed, or else
an existing login. --reinvite renews the invitation of the pending first
owner (the old one stops working), while no owner of ORG has activated
their account. Once ORG has an owner, its owners manage its members and
the operator cannot (exit 3).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needServer(); err != nil {
				return err
			}
			if reinvite {
				return remoteReinvite(cmd, "/api/v1/orgs/"+url.PathEscape(args[0])+"/first-owner/invitation", map[string]any{"login": args[1]}, args[1])
			}
			return remoteAddMember(cmd, "/api/v1/orgs/"+url.PathEscape(args[0])+"/first-owner",
				map[string]any{"login": args[1], "new_account": ownerNew}, args[0])
		},
	}
	ownerCmd.Flags().BoolVar(&ownerNew, "new-account", false, "create the owner's account, with an invitation")
	ownerCmd.Flags().BoolVar(&reinvite, "reinvite", false, "renew the pending first owner's invitation")
	ownerCmd.MarkFlagsMutuallyExclusive("new-account", "reinvite")
	cmd.AddCommand(remoteCmd(create), remoteCmd(list), rotateDEK, remoteCmd(ownerCmd), newOrgPolicyCmd())
	return cmd
}

// remoteOrgCreate creates an org through the service and, with owner,
// its first owner.
func remoteOrgCreate(cmd *cobra.Command, id, name, owner string, newOwner bool) error {
	if newOwner && owner == "" {
		return usageError{errors.New("--new-account needs --owner")}
	}
	c, err := remoteClient()
	if err != nil {
		return err
	}
	var o struct {
		ID, Name  string
		CreatedAt string `json:"created_at"`
	}
	if err := c.JSON(cmd.Context(), "POST", "/api/v1/orgs", map[string]any{"id": id, "name": name}, &o); err != nil {
		return err
	}
	if owner == "" {
		if globals.json {
			return printJSON(cmd.OutOrStdout(), map[string]any{"id": o.ID, "name": o.Name, "created_at": o.CreatedAt})
		}
		outf(cmd, "created org %s; make its first owner with: sealkeep org owner %s LOGIN --server %s\n", o.ID, o.ID, c.URL())
		return nil
	}
	a, _, err := postMember(cmd, "/api/v1/orgs/"+url.PathEscape(o.ID)+"/first-owner", map[string]any{"login": owner, "new_account": newOwner})
	if err != nil {
		return fmt.Errorf("org %s was created, but not its first owner (run sealkeep org owner %s %s): %w", o.ID, o.ID, owner, err)
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), map[string]any{"id": o.ID, "name": o.Name, "created_at": o.CreatedAt, "owner": a})
	}
	outf(cmd, "created org %s\n", o.ID)
	printMemberAdded(cmd, c, o.ID, a)
	return nil
}

// remoteOrgList lists the caller's orgs at the service.
func remoteOrgList(cmd *cobra.Command) error {
	c, err := remoteClient()
	if err != nil {
		return err
	}
	var out struct {
		Orgs []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Role string `json:"role,omitempty"`
		} `json:"orgs"`
	}
	if err := c.JSON(cmd.Context(), "GET", "/api/v1/orgs", nil, &out); err != nil {
		return err
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), out.Orgs)
	}
	rows := make([][]string, 0, len(out.Orgs))
	for _, o := range out.Orgs {
		role := o.Role
		if role == "" {
			role = "-"
		}
		rows = append(rows, []string{o.ID, o.Name, role})
	}
	return printTable(cmd.OutOrStdout(), []string{"ID", "NAME", "ROLE"}, rows)
}
