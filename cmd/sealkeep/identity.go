package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"sealkeep/internal/custody"
)

func init() { register(newIdentityCmd) }

func newIdentityCmd() *cobra.Command {
	cmd := group("identity", "Manage signing identities")
	var spec custody.IdentitySpec
	create := &cobra.Command{
		Use:   "create --org ORG --owner USER --name NAME [--id ID]",
		Short: "Create a signing identity",
		Long: `Create a signing identity of one user in one organization, for example
--name "Jane Doe, P.E. 12345, Texas". The identity ID is printed; --id chooses
it instead of a random one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	f.StringVar(&spec.Owner, "owner", "", "user who owns the identity (required)")
	f.StringVar(&spec.Name, "name", "", `name, e.g. "Jane Doe, P.E. 12345, Texas" (required)`)
	f.StringVar(&spec.ID, "id", "", "identity ID (default: random)")
	for _, n := range []string{"org", "owner", "name"} {
		_ = create.MarkFlagRequired(n)
	}

	var org string
	list := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List the signing identities of an organization",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a signing identity and its certificate versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				info, err := svc.Identity(cmd.Context(), actor(), args[0])
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
	cmd.AddCommand(create, list, show, newIdentityKeyCmd())
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
from pin-source (a file or an environment variable).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := newPendingVersion(cmd, csrOut, func(svc *custody.Service) (custody.VersionInfo, []byte, error) {
				return svc.ExternalKey(cmd.Context(), actor(), vf.identity, external, sf.name())
			})
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
	return cmd
}

// versionTable prints versions as a table.
func versionTable(w interface{ Write([]byte) (int, error) }, vs []custody.VersionInfo) error {
	rows := make([][]string, 0, len(vs))
	for _, v := range vs {
		rows = append(rows, []string{strconv.Itoa(v.Version), v.Status, v.Algorithm, short(v.Thumbprint), v.Subject, fmtTimePtr(v.NotAfter)})
	}
	return printTable(w, []string{"VERSION", "STATUS", "ALGORITHM", "THUMBPRINT", "SUBJECT", "NOT AFTER"}, rows)
}
