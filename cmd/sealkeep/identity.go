package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"sealkeep/internal/custody"
)

func init() { register(newIdentityCmd) }

func newIdentityCmd() *cobra.Command {
	cmd := group("identity", "Manage signing identities")
	var spec custody.IdentitySpec
	create := &cobra.Command{
		Use:   "create --org ORG --owner USER --name NAME [--id ID] | --server URL --org ORG --name NAME",
		Short: "Create a signing identity",
		Long: `Create a signing identity of one user in one organization, for example
--name "Jane Doe, P.E. 12345, Texas". The identity ID is printed; --id chooses
it instead of a random one.

With --server the service creates an identity of the signed-in sealer: the
owner is always you and the service chooses the ID, so --owner and --id are
refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serverURL() != "" {
				for _, n := range []string{"owner", "id"} {
					if cmd.Flags().Changed(n) {
						return usageError{fmt.Errorf("--%s has no --server form: the service makes you the owner and chooses the ID", n)}
					}
				}
				return remoteCreateIdentity(cmd, spec.Org, spec.Name)
			}
			if spec.Owner == "" {
				return usageError{errors.New(`required flag(s) "owner" not set`)}
			}
			return withService(cmd, func(svc *custody.Service) error {
				id, err := svc.CreateIdentity(cmd.Context(), actor(), spec)
				if err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), identityJSON(id))
				}
				outf(cmd, "created identity %s\n", id.ID)
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&spec.Org, "org", "", "organization ID (required)")
	f.StringVar(&spec.Owner, "owner", "", "user who owns the identity (required; not with --server)")
	f.StringVar(&spec.Name, "name", "", `name, e.g. "Jane Doe, P.E. 12345, Texas" (required)`)
	f.StringVar(&spec.ID, "id", "", "identity ID (default: random)")
	for _, n := range []string{"org", "name"} {
		_ = create.MarkFlagRequired(n)
	}

	var org string
	list := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List the signing identities of an organization",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serverURL() != "" {
				return remoteListIdentities(cmd, org)
			}
			return withService(cmd, func(svc *custody.Service) error {
				ids, err := svc.Identities(cmd.Context(), org)
				if err != nil {
					return err
				}
				if globals.json {
					out := make([]any, 0, len(ids))
					for _, id := range ids {
						out = append(out, identityJSON(id))
					}
					return printJSON(cmd.OutOrStdout(), out)
				}
				rows := make([][]string, 0, len(ids))
				for _, id := range ids {
					rows = append(rows, []string{id.ID, id.Owner, id.Name, fmtTime(id.CreatedAt)})
				}
				return printTable(cmd.OutOrStdout(), []string{"ID", "OWNER", "NAME", "CREATED"}, rows)
			})
		},
	}
	list.Flags().StringVar(&org, "org", "", "organization ID (required)")
	_ = list.MarkFlagRequired("org")

	var showOrg string
	show := &cobra.Command{
		Use:   "show ID [--server URL --org ORG]",
		Short: "Show a signing identity and its certificate versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vf := versionFlags{org: showOrg}
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				return remoteShowIdentity(cmd, showOrg, args[0])
			}
			return withService(cmd, func(svc *custody.Service) error {
				info, err := svc.CheckedIdentity(cmd.Context(), actor(), args[0])
				if err != nil {
					return err
				}
				if globals.json {
					out := identityJSON(info.Identity)
					out["versions"] = info.Versions
					return printJSON(cmd.OutOrStdout(), out)
				}
				w := cmd.OutOrStdout()
				if err := printFields(w, [][2]string{{"ID", info.ID}, {"Org", info.OrgID}, {"Owner", info.Owner},
					{"Name", info.Name}, {"Created", fmtTime(info.CreatedAt)}}); err != nil {
					return err
				}
				outln(cmd)
				return versionTable(w, info.Versions)
			})
		},
	}
	show.Flags().StringVar(&showOrg, "org", "", "organization of the identity (with --server, required there)")
	cmd.AddCommand(remoteCmd(create), remoteCmd(list), remoteCmd(show), newIdentityKeyCmd())
	return cmd
}

func newIdentityKeyCmd() *cobra.Command {
	var vf versionFlags
	var external, csrOut string
	var sf subjectFlags
	cmd := &cobra.Command{
		Use:   "key --identity ID --external URI --subject-cn NAME [--subject-o ORG ...] --csr-out FILE",
		Short: "Use a key held in your own KMS or HSM for a new pending version, and write its CSR",
		Long: `Reference a key held in the customer's KMS or HSM as a new pending version of
the identity. sealkeep reads the public key through the provider, checks it
against the key policy and writes a CSR signed by that key through the
provider. Have your CA issue a certificate for the CSR, then run cert upload
(the certificate's public key must be the provider's) and cert activate.

sealkeep stores the key URI (without secrets) and the certificate, nothing
else; every signature is one call to the provider, and removing sealkeep's
grant on the key cuts it off. Key URIs:

  awskms:KEY-ID-OR-ARN?region=R[&role=ARN&external-id=ID][&endpoint=URL]
  pkcs11:token=T;object=O?module-path=/path/lib.so&pin-source=file:/path
  azurekv:https://VAULT.vault.azure.net/keys/NAME/VERSION
  gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V

A URI that carries a secret (a PIN, a password, a token) is refused: PINs come
from pin-source (a file or an environment variable).

With --server the service opens the key with its own credentials, for the
schemes its operator enabled (serve --external-key-schemes); pkcs11 keys are
registered on the data directory only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			var v custody.VersionInfo
			var err error
			if serverURL() != "" {
				v, err = remotePending(cmd, csrOut, identitiesPath(vf.org, vf.identity, "external-keys"), map[string]any{"key_uri": external, "subject": sf.body()})
			} else {
				v, err = newPendingVersion(cmd, csrOut, func(svc *custody.Service) (custody.VersionInfo, []byte, error) {
					return svc.ExternalKey(cmd.Context(), actor(), vf.identity, external, sf.name())
				})
			}
			if err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"version": v, "csr_file": csrOut})
			}
			outf(cmd, "external %s key %s: identity %s version %d is pending\nCSR written to %s; have your CA issue a certificate, then run:\n  sealkeep cert upload --identity %s --version %d --cert CERT.pem [--chain CHAIN.pem]\n",
				v.Algorithm, v.KeyRef, v.Identity, v.Version, csrOut, v.Identity, v.Version)
			return nil
		},
	}
	vf.add(cmd, false)
	f := cmd.Flags()
	f.StringVar(&external, "external", "", "key URI in your KMS or HSM (required; see above)")
	sf.add(cmd)
	f.StringVar(&csrOut, "csr-out", "", "file to write the PEM CSR to (must not exist; required)")
	_ = cmd.MarkFlagRequired("external")
	_ = cmd.MarkFlagRequired("csr-out")
	return remoteCmd(cmd)
}

// versionTable prints versions as a table.
func versionTable(w interface{ Write([]byte) (int, error) }, vs []custody.VersionInfo) error {
	rows := make([][]string, 0, len(vs))
	for _, v := range vs {
		rows = append(rows, []string{strconv.Itoa(v.Version), v.Status, v.Algorithm, short(v.Thumbprint), v.Subject, fmtTimePtr(v.NotAfter)})
	}
	return printTable(w, []string{"VERSION", "STATUS", "ALGORITHM", "THUMBPRINT", "SUBJECT", "NOT AFTER"}, rows)
}
