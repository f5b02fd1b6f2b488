package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"sealkeep/internal/client"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
)

// errNoRequest: the version has no pending activation request (exit 3).
var errNoRequest = errs.New(errs.Conflict, "no pending activation request of this version: it was approved, declined, or replaced by a later change (see cert requests --server)")

// remoteActivationRequest is a pending (or declined) activation request
// as the API shows it.
type remoteActivationRequest struct {
	Identity    string `json:"identity"`
	Version     int    `json:"version"`
	RequestSeq  uint64 `json:"request_seq"`
	RequestHash string `json:"request_hash"`
	RequestedBy string `json:"requested_by"`
	Thumbprint  string `json:"thumbprint"`
	Reason      string `json:"reason,omitempty"`
	Status      string `json:"status"`
}

// printActivation prints the answer of an activation: the active version,
// or (202, the org requires an owner's approval) the pending request.
func printActivation(cmd *cobra.Command, vf versionFlags, raw json.RawMessage) error {
	var probe struct {
		RequestSeq uint64 `json:"request_seq"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return err
	}
	if probe.RequestSeq == 0 {
		var v custody.VersionInfo
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		return printVersion(cmd, "activated", v)
	}
	var r remoteActivationRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), r)
	}
	outf(cmd, "pending approval: organization %s requires an owner's approval; identity %s version %d is not active yet\n"+
		"request %d (%s)\nanother owner approves it with:\n  sealkeep --server %s cert approve --org %s --identity %s --version %d --request %d\n",
		vf.org, r.Identity, r.Version, r.RequestSeq, r.RequestHash, serverURL(), vf.org, r.Identity, r.Version, r.RequestSeq)
	return nil
}

// pendingRequest finds the pending request seq of vf's version.
func pendingRequest(cmd *cobra.Command, c *client.Client, vf versionFlags, seq uint64) (remoteActivationRequest, error) {
	var list struct {
		Requests []remoteActivationRequest `json:"requests"`
	}
	if err := c.JSON(cmd.Context(), "GET", "/api/v1/orgs/"+url.PathEscape(vf.org)+"/activation-requests", nil, &list); err != nil {
		return remoteActivationRequest{}, err
	}
	for _, r := range list.Requests {
		if r.Identity == vf.identity && r.Version == vf.version && (seq == 0 || r.RequestSeq == seq) {
			return r, nil
		}
	}
	return remoteActivationRequest{}, errNoRequest
}

// newCertDecideCmd is cert approve or cert decline (verb), a client
// command of owners.
func newCertDecideCmd(verb string) *cobra.Command {
	var vf versionFlags
	var seq uint64
	var code codeFlags
	short := map[string]string{"approve": "Approve another member's activation request (owners; the version becomes active)",
		"decline": "Decline another member's activation request (owners)"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " --server URL --org ORG --identity ID --version N [--request SEQ] [--code-file F | --code-fd N]",
		Short: short,
		Long: short + `.

When the organization requires an owner's approval (org policy), a
sealer's cert activate --server records a request instead of activating.
This command shows the request (who asked, the certificate's SHA-256, the
reason) and asks for your fresh TOTP code, which approves that request
only. You cannot approve a request you made. Exit 3 for a request no
longer pending (approved, declined, or replaced by a later change) or your
own, 6 for a missing, wrong or replayed code.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needServer(); err != nil {
				return err
			}
			if err := vf.checkOrg(); err != nil {
				return err
			}
			return withClient(func(c *client.Client) error {
				r, err := pendingRequest(cmd, c, vf, seq)
				if err != nil {
					return err
				}
				if code.file == "" && code.fd < 0 {
					fmt.Fprintf(os.Stderr, "%s request %d: identity %s version %d, requested by %s, certificate SHA-256 %s\n  reason %s\n",
						verb, r.RequestSeq, r.Identity, r.Version, r.RequestedBy, r.Thumbprint, dash(r.Reason))
				}
				totp, err := code.read("TOTP code: ")
				if err != nil {
					return err
				}
				defer totp.Zero()
				body := struct {
					Seq  uint64       `json:"request_seq"`
					Hash string       `json:"request_hash"`
					Code secretString `json:"code"`
				}{r.RequestSeq, r.RequestHash, secretString{totp}}
				if verb == "decline" {
					var out remoteActivationRequest
					if err := c.JSON(cmd.Context(), "POST", vf.path("decline"), body, &out); err != nil {
						return err
					}
					if globals.json {
						return printJSON(cmd.OutOrStdout(), out)
					}
					outf(cmd, "declined: request %d of identity %s version %d\n", out.RequestSeq, out.Identity, out.Version)
					return nil
				}
				var v custody.VersionInfo
				if err := c.JSON(cmd.Context(), "POST", vf.path("approve"), body, &v); err != nil {
					return err
				}
				return printVersion(cmd, "approved and activated", v)
			})
		},
	}
	vf.add(cmd, true)
	cmd.Flags().Uint64Var(&seq, "request", 0, "the request's audit seq (default: the version's pending request)")
	code.add(cmd)
	return remoteCmd(cmd)
}

// newCertRequestsCmd lists an org's pending activation requests.
func newCertRequestsCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "requests --server URL --org ORG",
		Short: "List the activation requests waiting for an owner's approval (owners)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needServer(); err != nil {
				return err
			}
			return withClient(func(c *client.Client) error {
				var list struct {
					Requests []remoteActivationRequest `json:"requests"`
				}
				if err := c.JSON(cmd.Context(), "GET", "/api/v1/orgs/"+url.PathEscape(org)+"/activation-requests", nil, &list); err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), list.Requests)
				}
				rows := make([][]string, 0, len(list.Requests))
				for _, r := range list.Requests {
					rows = append(rows, []string{fmt.Sprint(r.RequestSeq), r.Identity, fmt.Sprint(r.Version), r.RequestedBy, r.Thumbprint, r.Reason})
				}
				return printTable(cmd.OutOrStdout(), []string{"REQUEST", "IDENTITY", "VERSION", "REQUESTED BY", "CERTIFICATE SHA-256", "REASON"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization (required)")
	_ = cmd.MarkFlagRequired("org")
	return remoteCmd(cmd)
}

// newOrgPolicyCmd shows or sets an org's rotation policy.
func newOrgPolicyCmd() *cobra.Command {
	var set string
	var code codeFlags
	cmd := &cobra.Command{
		Use:   "policy ORG --server URL [--rotation-approval required|none [--code-file F | --code-fd N]]",
		Short: "Show or set whether activating a version needs a second owner's approval (owners)",
		Long: `Show the organization's rotation policy, or set it with
--rotation-approval: "required" makes every activation of a certificate
version (and so every rotation) a request that another owner approves
(cert approve --server); "none" lets the identity's owner activate on their
own step-up. Setting it needs your fresh TOTP code, and is an org.policy
entry of the organization's audit chain, where the service reads it from.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needServer(); err != nil {
				return err
			}
			path := "/api/v1/orgs/" + url.PathEscape(args[0]) + "/policy"
			return withClient(func(c *client.Client) error {
				var p struct {
					RotationApproval string `json:"rotation_approval"`
					Seq              uint64 `json:"seq"`
					SetBy            string `json:"set_by,omitempty"`
				}
				if set == "" {
					if err := c.JSON(cmd.Context(), "GET", path, nil, &p); err != nil {
						return err
					}
				} else {
					totp, err := code.read("TOTP code: ")
					if err != nil {
						return err
					}
					defer totp.Zero()
					body := struct {
						Value string       `json:"rotation_approval"`
						Code  secretString `json:"code"`
					}{set, secretString{totp}}
					if err := c.JSON(cmd.Context(), "PUT", path, body, &p); err != nil {
						return err
					}
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), p)
				}
				outf(cmd, "org %s: rotation approval %s (audit entry %d, set by %s)\n", args[0], p.RotationApproval, p.Seq, dash(p.SetBy))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&set, "rotation-approval", "", `set the policy: "required" or "none"`)
	code.add(cmd)
	return remoteCmd(cmd)
}
