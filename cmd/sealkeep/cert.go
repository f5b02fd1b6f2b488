package main

import (
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"sealkeep/internal/custody"
)

func init() { register(newCertCmd) }

// versionFlags are --identity and --version, and --org for a client
// form.
type versionFlags struct {
	org, identity string
	version       int
}

func (v *versionFlags) add(cmd *cobra.Command, withVersion bool) {
	cmd.Flags().StringVar(&v.org, "org", "", "organization of the identity (with --server, required there)")
	cmd.Flags().StringVar(&v.identity, "identity", "", "signing identity ID (required)")
	_ = cmd.MarkFlagRequired("identity")
	if withVersion {
		cmd.Flags().IntVar(&v.version, "version", 0, "certificate version (required)")
		_ = cmd.MarkFlagRequired("version")
	}
}

func newCertCmd() *cobra.Command {
	cmd := group("cert", "Manage certificate versions: generate, upload, import, activate, revoke, destroy")
	cmd.AddCommand(newCertGenerateCmd(), newCertUploadCmd(), newCertImportCmd(),
		newCertActivateCmd(), newCertRevokeCmd(), newCertDestroyCmd(), newCertListCmd(), newCertShowCmd(),
		newCertCheckCmd(), newCertDecideCmd("approve"), newCertDecideCmd("decline"), newCertRequestsCmd())
	return cmd
}

// printVersion prints a version after a change.
func printVersion(cmd *cobra.Command, verb string, v custody.VersionInfo) error {
	if globals.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	outf(cmd, "%s: identity %s version %d is %s\n", verb, v.Identity, v.Version, v.Status)
	if v.Thumbprint != "" {
		outf(cmd, "thumbprint (SHA-256): %s\n", v.Thumbprint)
	}
	return nil
}

// subjectFlags are the --subject-* flags of a CSR.
type subjectFlags struct {
	cn, o, ou, c, st, l string
}

func (sf *subjectFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.cn, "subject-cn", "", "CSR subject common name (required)")
	f.StringVar(&sf.o, "subject-o", "", "CSR subject organization")
	f.StringVar(&sf.ou, "subject-ou", "", "CSR subject organizational unit")
	f.StringVar(&sf.c, "subject-c", "", "CSR subject country (two letters)")
	f.StringVar(&sf.st, "subject-st", "", "CSR subject state or province")
	f.StringVar(&sf.l, "subject-l", "", "CSR subject locality")
	_ = cmd.MarkFlagRequired("subject-cn")
}

// name returns the CSR subject.
func (sf *subjectFlags) name() pkix.Name {
	n := pkix.Name{CommonName: sf.cn}
	for _, p := range []struct {
		v   string
		dst *[]string
	}{{sf.o, &n.Organization}, {sf.ou, &n.OrganizationalUnit}, {sf.c, &n.Country}, {sf.st, &n.Province}, {sf.l, &n.Locality}} {
		if p.v != "" {
			*p.dst = []string{p.v}
		}
	}
	return n
}

// newPendingVersion runs create (which adds a pending version and returns
// its CSR) and writes the CSR to csrOut as PEM. csrOut must not exist; it
// is created before anything changes and removed if create fails.
func newPendingVersion(cmd *cobra.Command, csrOut string, create func(*custody.Service) (custody.VersionInfo, []byte, error)) (custody.VersionInfo, error) {
	out, err := os.OpenFile(csrOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return custody.VersionInfo{}, usageError{fmt.Errorf("--csr-out: %w", err)}
	}
	svc, done, err := openService(cmd.Context())
	if err != nil {
		out.Close()
		os.Remove(csrOut)
		return custody.VersionInfo{}, err
	}
	defer done()
	v, csr, err := create(svc)
	if err != nil {
		out.Close()
		os.Remove(csrOut)
		return custody.VersionInfo{}, err
	}
	if err := pem.Encode(out, &pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}); err != nil {
		out.Close()
		return custody.VersionInfo{}, err
	}
	return v, out.Close()
}

func newCertGenerateCmd() *cobra.Command {
	var vf versionFlags
	var alg, csrOut string
	var sf subjectFlags
	cmd := &cobra.Command{
		Use:   "generate --identity ID [--alg RSA-4096] --subject-cn NAME [--subject-o ORG ...] --csr-out FILE",
		Short: "Generate a key in custody (new pending version) and write its CSR",
		Long: `Generate a private key inside custody for a new version of the identity.
The key is encrypted before anything is written; the version is pending until
the certificate your CA issues for the CSR is uploaded (cert upload).
Algorithms: RSA-2048, RSA-3072, RSA-4096 (default), ECDSA-P256, ECDSA-P384.
For a key held in your own KMS or HSM, use identity key --external instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			var v custody.VersionInfo
			var err error
			if serverURL() != "" {
				v, err = remotePending(cmd, csrOut, identitiesPath(vf.org, vf.identity, "versions"), map[string]any{"algorithm": alg, "subject": sf.body()})
			} else {
				v, err = newPendingVersion(cmd, csrOut, func(svc *custody.Service) (custody.VersionInfo, []byte, error) {
					return svc.GenerateKey(cmd.Context(), actor(), vf.identity, alg, sf.name())
				})
			}
			if err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"version": v, "csr_file": csrOut})
			}
			outf(cmd, "generated %s key: identity %s version %d is pending\nCSR written to %s; have your CA issue a certificate, then run:\n  sealkeep cert upload --identity %s --version %d --cert CERT.pem [--chain CHAIN.pem]\n",
				v.Algorithm, v.Identity, v.Version, csrOut, v.Identity, v.Version)
			return nil
		},
	}
	vf.add(cmd, false)
	f := cmd.Flags()
	f.StringVar(&alg, "alg", "", "key algorithm (default RSA-4096)")
	sf.add(cmd)
	f.StringVar(&csrOut, "csr-out", "", "file to write the PEM CSR to (must not exist; required)")
	_ = cmd.MarkFlagRequired("csr-out")
	return remoteCmd(cmd)
}

// readFile reads a user-named file, reporting a usage error if it cannot.
func readFile(flag, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--%s: %w", flag, err)}
	}
	return b, nil
}

func newCertUploadCmd() *cobra.Command {
	var vf versionFlags
	var certFile, chainFile string
	cmd := &cobra.Command{
		Use:   "upload --identity ID --version N --cert FILE [--chain FILE]",
		Short: "Upload the certificate issued for a pending version (it becomes ready)",
		Long: `Upload the certificate your CA issued for a pending version's CSR, with
its chain (PEM, issuer first). The certificate's public key must be the
pending key's, and it must pass the key policy; it is stored byte-for-byte.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readFile("cert", certFile)
			if err != nil {
				return err
			}
			leaf, err := custody.DecodeCertificates(data)
			if err != nil {
				return err
			}
			if len(leaf) != 1 {
				return usageError{fmt.Errorf("--cert holds %d certificates; give the leaf alone and the rest with --chain", len(leaf))}
			}
			var chain [][]byte
			if chainFile != "" {
				data, err := readFile("chain", chainFile)
				if err != nil {
					return err
				}
				if chain, err = custody.DecodeCertificates(data); err != nil {
					return err
				}
			}
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				return remoteUpload(cmd, vf, leaf[0], chain)
			}
			return withService(cmd, func(svc *custody.Service) error {
				v, err := svc.UploadCertificate(cmd.Context(), actor(), vf.identity, vf.version, leaf[0], chain)
				if err != nil {
					return err
				}
				return printVersion(cmd, "uploaded", v)
			})
		},
	}
	vf.add(cmd, true)
	cmd.Flags().StringVar(&certFile, "cert", "", "certificate file, PEM or DER (required)")
	cmd.Flags().StringVar(&chainFile, "chain", "", "chain file, PEM (issuer first)")
	_ = cmd.MarkFlagRequired("cert")
	return remoteCmd(cmd)
}

func newCertImportCmd() *cobra.Command {
	var vf versionFlags
	var file, passFile, passEnv string
	cmd := &cobra.Command{
		Use:   "import --identity ID --file F.p12|F.pem [--passphrase-file F | --passphrase-env VAR]",
		Short: "Import your own key and certificate (PKCS#12 or PEM) as a new ready version",
		Long: `Import a key with its certificate and chain: PKCS#12 (.p12/.pfx) or PEM
(PKCS#1, PKCS#8, SEC1 or encrypted PKCS#8 key plus CERTIFICATE blocks). The
passphrase comes from --passphrase-file, --passphrase-env, or a prompt on the
terminal; never from a flag value. Everything is validated before anything is
stored; a rejected file is recorded in the audit trail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			data, err := readFile("file", file)
			if err != nil {
				return err
			}
			defer clear(data)
			if serverURL() != "" {
				return remoteImport(cmd, vf, file, data, passFile, passEnv)
			}
			return withService(cmd, func(svc *custody.Service) error {
				v, err := svc.Import(cmd.Context(), actor(), vf.identity, data, passphrase(passFile, passEnv))
				if err != nil {
					return err
				}
				return printVersion(cmd, "imported", v)
			})
		},
	}
	vf.add(cmd, false)
	cmd.Flags().StringVar(&file, "file", "", "PKCS#12 or PEM file (required)")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the passphrase (first line)")
	cmd.Flags().StringVar(&passEnv, "passphrase-env", "", "environment variable holding the passphrase")
	cmd.MarkFlagsMutuallyExclusive("passphrase-file", "passphrase-env")
	_ = cmd.MarkFlagRequired("file")
	return remoteCmd(cmd)
}

func newCertActivateCmd() *cobra.Command {
	var vf versionFlags
	var reason string
	var code codeFlags
	cmd := &cobra.Command{
		Use:   "activate --identity ID --version N [--reason TEXT] [--server URL --org ORG [--code-file F | --code-fd N]]",
		Short: "Activate a ready version (a rotation if another is active: --reason required)",
		Long: `Make a ready version the identity's active one. If another version is
active this is a rotation: --reason is required, the old version becomes
superseded (its certificate is kept forever) and one audit entry records the
old and new thumbprints.

With --server the service activates your own identity's version on your
fresh TOTP code, which approves this version's certificate only: the
command shows the certificate's SHA-256 and asks for the code on the
terminal (or reads it from --code-file or --code-fd). The audit entry
records the step-up. If the organization requires an owner's approval
(org policy), the service records a request instead, and the version
becomes active only when another owner approves it (cert approve
--server). Without --server, such an organization's versions are never
activated: the command refuses (exit 3), since no owner's approval can be
given on the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				return remoteActivate(cmd, vf, reason, code)
			}
			if code.file != "" || code.fd >= 0 {
				return usageError{errors.New("--code-file and --code-fd go with --server: on the data directory no TOTP code is asked")}
			}
			return withService(cmd, func(svc *custody.Service) error {
				v, err := svc.Activate(cmd.Context(), actor(), vf.identity, vf.version, reason)
				if err != nil {
					return err
				}
				return printVersion(cmd, "activated", v)
			})
		},
	}
	vf.add(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "reason (required for a rotation)")
	code.add(cmd)
	return remoteCmd(cmd)
}

func newCertRevokeCmd() *cobra.Command {
	var vf versionFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke --identity ID --version N --reason TEXT",
		Short: "Revoke a version (records the time and reason)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				return remoteRevoke(cmd, vf, reason)
			}
			return withService(cmd, func(svc *custody.Service) error {
				v, err := svc.Revoke(cmd.Context(), actor(), vf.identity, vf.version, reason)
				if err != nil {
					return err
				}
				return printVersion(cmd, "revoked", v)
			})
		},
	}
	vf.add(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "reason (required)")
	_ = cmd.MarkFlagRequired("reason")
	return remoteCmd(cmd)
}

func newCertDestroyCmd() *cobra.Command {
	var vf versionFlags
	cmd := &cobra.Command{
		Use:   "destroy --identity ID --version N",
		Short: "Crypto-erase a version's private key (certificate and audit entries stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				return remoteDestroy(cmd, vf)
			}
			return withService(cmd, func(svc *custody.Service) error {
				v, err := svc.Destroy(cmd.Context(), actor(), vf.identity, vf.version)
				if err != nil {
					return err
				}
				return printVersion(cmd, "destroyed", v)
			})
		},
	}
	vf.add(cmd, true)
	return remoteCmd(cmd)
}

func newCertListCmd() *cobra.Command {
	var vf versionFlags
	cmd := &cobra.Command{
		Use:   "list --identity ID",
		Short: "List an identity's certificate versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				return remoteListVersions(cmd, vf)
			}
			return withService(cmd, func(svc *custody.Service) error {
				vs, err := svc.Versions(cmd.Context(), actor(), vf.identity)
				if err != nil {
					return err
				}
				if globals.json {
					if vs == nil {
						vs = []custody.VersionInfo{}
					}
					return printJSON(cmd.OutOrStdout(), vs)
				}
				return versionTable(cmd.OutOrStdout(), vs)
			})
		},
	}
	vf.add(cmd, false)
	return remoteCmd(cmd)
}

func newCertShowCmd() *cobra.Command {
	var vf versionFlags
	cmd := &cobra.Command{
		Use:   "show --identity ID --version N",
		Short: "Show a certificate version with its history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			if serverURL() != "" {
				v, err := remoteShowVersion(cmd, vf)
				if err != nil {
					return err
				}
				return showVersion(cmd, v)
			}
			return withService(cmd, func(svc *custody.Service) error {
				v, err := svc.CheckedVersion(cmd.Context(), actor(), vf.identity, vf.version)
				if err != nil {
					return err
				}
				return showVersion(cmd, v)
			})
		},
	}
	vf.add(cmd, true)
	return remoteCmd(cmd)
}

// showVersion prints a version with its history.
func showVersion(cmd *cobra.Command, v custody.VersionInfo) error {
	if globals.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	key := v.KeyRef
	if !v.KeyPresent && v.KeyRef == custody.KeyRefLocal {
		key += " (destroyed)"
	}
	provider, _, _ := strings.Cut(v.KeyRef, ":")
	if v.KeyRef != custody.KeyRefLocal {
		provider += " (customer-held key; sealkeep stores only its reference)"
	}
	w := cmd.OutOrStdout()
	err := printFields(w, [][2]string{
		{"Identity", v.Identity}, {"Org", v.Org}, {"Version", strconv.Itoa(v.Version)},
		{"Status", v.Status}, {"Key", key}, {"Provider", provider}, {"Algorithm", dash(v.Algorithm)},
		{"Thumbprint (SHA-256)", dash(v.Thumbprint)}, {"Subject", dash(v.Subject)},
		{"Issuer", dash(v.Issuer)}, {"Serial", dash(v.Serial)},
		{"Not before", fmtTimePtr(v.NotBefore)}, {"Not after", fmtTimePtr(v.NotAfter)},
		{"Chain", strconv.Itoa(v.ChainLen) + " certificate(s)"},
	})
	if err != nil {
		return err
	}
	outln(cmd, "\nHistory:")
	rows := make([][]string, 0, len(v.History))
	for _, h := range v.History {
		rows = append(rows, []string{strconv.FormatUint(h.Seq, 10), fmtTime(h.Time), h.Actor.Kind + ":" + h.Actor.ID, string(h.Action), historyNote(h.Details)})
	}
	return printTable(w, []string{"SEQ", "TIME", "ACTOR", "ACTION", "DETAILS"}, rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// historyNote summarises entry details for the history table.
func historyNote(d map[string]string) string {
	s := ""
	for _, k := range []string{"reason", "old_version", "algorithm", "provider", "key_ref", "error"} {
		if v, ok := d[k]; ok {
			if s != "" {
				s += "; "
			}
			s += k + "=" + strconv.Quote(v)
		}
	}
	return s
}

func newCertCheckCmd() *cobra.Command {
	var vf versionFlags
	cmd := &cobra.Command{
		Use:   "check --identity ID --version N",
		Short: "Prove a version's key is intact: decrypt, sign a random probe, verify",
		Long: `Decrypt a local version's key through the signing path (or, for a key
held in the customer's KMS or HSM, call the provider), sign a random probe
(never a document) and verify the signature against the stored public key.
Use it after restoring a backup or rotating the KEK. A key blob that fails
authentication (tampered with, or copied from another org, identity or
version), or a version whose stored state differs from the audit trail, is
recorded in the audit trail and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.checkOrg(); err != nil {
				return err
			}
			return withService(cmd, func(svc *custody.Service) error {
				if err := svc.CheckKey(cmd.Context(), actor(), vf.identity, vf.version); err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"identity": vf.identity, "version": vf.version, "ok": true})
				}
				outf(cmd, "key of identity %s version %d: OK (decrypted, signed and verified a probe)\n", vf.identity, vf.version)
				return nil
			})
		},
	}
	vf.add(cmd, true)
	return cmd
}
