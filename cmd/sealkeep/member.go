package main

import (
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"sealkeep/internal/client"
)

func init() { register(newMemberCmd) }

// memberView is a member as the service answers it.
type memberView struct {
	User struct {
		ID    string `json:"id"`
		Login string `json:"login"`
	} `json:"user"`
	Role                string     `json:"role"`
	Since               time.Time  `json:"since"`
	Pending             bool       `json:"pending"`
	InvitationExpiresAt *time.Time `json:"invitation_expires_at,omitempty"`
}

// memberAdded is the answer to a new member: the invitation is set for a
// new account.
type memberAdded struct {
	Member     memberView  `json:"member"`
	Invitation *invitation `json:"invitation,omitempty"`
}

// membersPath is the members collection of org.
func membersPath(org string) string { return "/api/v1/orgs/" + url.PathEscape(org) + "/members" }

// postMember posts body to path (a first owner or a member) and returns
// the answer and the client.
func postMember(cmd *cobra.Command, path string, body map[string]any) (memberAdded, *client.Client, error) {
	c, err := remoteClient()
	if err != nil {
		return memberAdded{}, nil, err
	}
	var out memberAdded
	err = c.JSON(cmd.Context(), "POST", path, body, &out)
	return out, c, err
}

// printMemberAdded prints a new member and, for a new account, its
// invitation (shown once).
func printMemberAdded(cmd *cobra.Command, c *client.Client, org string, a memberAdded) {
	outf(cmd, "%s is now %s of %s\n", a.Member.User.Login, a.Member.Role, org)
	if a.Invitation != nil {
		printInvitation(cmd, a.Member.User.Login, c.URL(), *a.Invitation)
	}
}

// remoteAddMember adds a member (or first owner) at path and prints it.
func remoteAddMember(cmd *cobra.Command, path string, body map[string]any, org string) error {
	a, c, err := postMember(cmd, path, body)
	if err != nil {
		return err
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), a)
	}
	printMemberAdded(cmd, c, org, a)
	return nil
}

// remoteReinvite renews an invitation at path (posting body, nil for
// none) and prints it.
func remoteReinvite(cmd *cobra.Command, path string, body any, login string) error {
	if err := needServer(); err != nil {
		return err
	}
	c, err := remoteClient()
	if err != nil {
		return err
	}
	var inv invitation
	if err := c.JSON(cmd.Context(), "POST", path, body, &inv); err != nil {
		return err
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), inv)
	}
	printInvitation(cmd, login, c.URL(), inv)
	return nil
}

func newMemberCmd() *cobra.Command {
	cmd := group("member", "Manage the members of an organization on a sealkeep service (--server)")
	var org string
	orgFlag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&org, "org", "", "the organization")
		_ = c.MarkFlagRequired("org")
		return remoteCmd(c)
	}

	list := orgFlag(&cobra.Command{
		Use:   "list --org ORG --server URL",
		Short: "List an organization's members (owners and auditors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needServer(); err != nil {
				return err
			}
			c, err := remoteClient()
			if err != nil {
				return err
			}
			var out struct {
				Members []memberView `json:"members"`
			}
			if err := c.JSON(cmd.Context(), "GET", membersPath(org), nil, &out); err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), out.Members)
			}
			rows := make([][]string, 0, len(out.Members))
			for _, m := range out.Members {
				status := "active"
				if m.Pending {
					status = "invited, until " + fmtTimePtr(m.InvitationExpiresAt)
				}
				rows = append(rows, []string{m.User.Login, m.Role, fmtTime(m.Since), status})
			}
			return printTable(cmd.OutOrStdout(), []string{"LOGIN", "ROLE", "SINCE", "ACCOUNT"}, rows)
		},
	})

	var role string
	var newAccount bool
	add := orgFlag(&cobra.Command{
		Use:   "add --org ORG LOGIN --role ROLE [--new-account] --server URL",
		Short: "Add a member: an existing login, or a new account with an invitation (owners)",
		Long: `Give LOGIN the role (owner, sealer, preparer or auditor) in ORG. With
--new-account the service creates the account and prints its one-time
invitation, shown once: hand it to the person, who runs sealkeep account
activate and chooses the password (nobody else ever knows it). Without it,
LOGIN is an existing account (exit 3 if there is none, if it is a member
already, or if it was never activated).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needServer(); err != nil {
				return err
			}
			return remoteAddMember(cmd, membersPath(org), map[string]any{"login": args[0], "role": role, "new_account": newAccount}, org)
		},
	})
	add.Flags().StringVar(&role, "role", "", "owner, sealer, preparer or auditor")
	add.Flags().BoolVar(&newAccount, "new-account", false, "create the account, with an invitation")
	_ = add.MarkFlagRequired("role")

	roleCmd := orgFlag(&cobra.Command{
		Use:   "role --org ORG LOGIN ROLE --server URL",
		Short: "Change a member's role (owners); the last owner stays",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needServer(); err != nil {
				return err
			}
			c, err := remoteClient()
			if err != nil {
				return err
			}
			var m memberView
			if err := c.JSON(cmd.Context(), "PUT", membersPath(org)+"/"+url.PathEscape(args[0]), map[string]any{"role": args[1]}, &m); err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), m)
			}
			outf(cmd, "%s is now %s of %s\n", m.User.Login, m.Role, org)
			return nil
		},
	})

	remove := orgFlag(&cobra.Command{
		Use:   "remove --org ORG LOGIN --server URL",
		Short: "Remove a member (owners); the last owner stays",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needServer(); err != nil {
				return err
			}
			c, err := remoteClient()
			if err != nil {
				return err
			}
			if err := c.JSON(cmd.Context(), "DELETE", membersPath(org)+"/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			outf(cmd, "removed %s from %s\n", args[0], org)
			return nil
		},
	})

	invite := orgFlag(&cobra.Command{
		Use:   "invite --org ORG LOGIN --server URL",
		Short: "Renew the invitation of a member who never activated the account (owners)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return remoteReinvite(cmd, membersPath(org)+"/"+url.PathEscape(args[0])+"/invitation", nil, args[0])
		},
	})
	cmd.AddCommand(list, add, roleCmd, remove, invite)
	return cmd
}
