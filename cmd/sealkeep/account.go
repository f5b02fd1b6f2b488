package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"sealkeep/internal/client"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/redact"
)

func init() { register(newAccountCmd) }

// passwordFlags are where a password comes from: --NAME-file F (its first
// line), --NAME-env VAR, else a prompt on the terminal; never a flag's
// value.
type passwordFlags struct {
	name, file, env string
}

func (p *passwordFlags) add(cmd *cobra.Command, name, what string) {
	p.name = name
	cmd.Flags().StringVar(&p.file, name+"-file", "", "file whose first line is "+what)
	cmd.Flags().StringVar(&p.env, name+"-env", "", "environment variable holding "+what)
	cmd.MarkFlagsMutuallyExclusive(name+"-file", name+"-env")
}

// read returns the password; prompt is shown on the terminal.
func (p *passwordFlags) read(prompt string) (*redact.Secret, error) {
	b, err := keyfile.ReadPassphrase(p.file, p.env, prompt, os.Stdin, os.Stderr)
	if err != nil {
		return nil, usageError{fmt.Errorf("--%s: %w", p.name, err)}
	}
	return redact.NewSecret(b), nil
}

// printRecoveryCodes prints recovery codes, shown once.
func printRecoveryCodes(cmd *cobra.Command, codes []string) error {
	if globals.json {
		return printJSON(cmd.OutOrStdout(), map[string]any{"recovery_codes": codes})
	}
	outln(cmd, "Recovery codes (each works once, instead of a TOTP code; store them apart from the authenticator, they are not shown again):")
	for _, c := range codes {
		outf(cmd, "  %s\n", c)
	}
	return nil
}

func newAccountCmd() *cobra.Command {
	cmd := group("account", "Manage your own account on a sealkeep service (--server)")

	var pw passwordFlags
	var inv passwordFlags
	activate := &cobra.Command{
		Use:   "activate --server URL [--invitation-file F | --invitation-env VAR] [--password-file F | --password-env VAR]",
		Short: "Activate a new account with its invitation and choose its password",
		Long: `Redeem the one-time invitation that whoever created your account (the
operator for an organization's first owner, an owner for a member) handed
you, and set the account's password (12 or more characters). Then sign in
with sealkeep login and enrol TOTP with sealkeep account totp enrol.

An invitation works once and expires (7 days by default). If yours was
used before you used it, tell the one who gave it to you: someone else
activated your account.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := anonymousClient()
			if err != nil {
				return err
			}
			tok, err := inv.read("Invitation: ")
			if err != nil {
				return err
			}
			defer tok.Zero()
			p, err := pw.read("New password: ")
			if err != nil {
				return err
			}
			defer p.Zero()
			var out struct {
				User struct{ ID, Login string }
			}
			body := map[string]any{"invitation": client.SecretField(tok), "password": client.SecretField(p)}
			if err := c.JSON(cmd.Context(), "POST", "/api/v1/activation", body, &out); err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": out.User.ID, "login": out.User.Login})
			}
			outf(cmd, "activated %s (%s); sign in with: sealkeep login --server %s --login %s\n", out.User.Login, out.User.ID, c.URL(), out.User.Login)
			return nil
		},
	}
	inv.add(activate, "invitation", "the invitation token")
	pw.add(activate, "password", "the new password")

	var oldPW, newPW passwordFlags
	password := &cobra.Command{
		Use:   "password --server URL [--password-file F | --password-env VAR] [--new-password-file F | --new-password-env VAR]",
		Short: "Change your password",
		Long: `Change the password of the account logged in to --server: the current one
(--password-file, --password-env or asked), then the new one (12 or more
characters; --new-password-file, --new-password-env or asked twice). Every
browser session of the account ends; API tokens, the CLI's included, stay
valid. A wrong current password is exit 6 and counts towards the lockout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needServer(); err != nil {
				return err
			}
			c, err := remoteClient()
			if err != nil {
				return err
			}
			old, err := oldPW.read("Current password: ")
			if err != nil {
				return err
			}
			defer old.Zero()
			nw, err := newPW.read("New password: ")
			if err != nil {
				return err
			}
			defer nw.Zero()
			if newPW.file == "" && newPW.env == "" {
				again, err := newPW.read("New password again: ")
				if err != nil {
					return err
				}
				same := again.Equal(nw)
				again.Zero()
				if !same {
					return usageError{errors.New("the new passwords differ")}
				}
			}
			body := map[string]any{"old_password": client.SecretField(old), "new_password": client.SecretField(nw)}
			if err := c.JSON(cmd.Context(), "POST", "/api/v1/me/password", body, nil); err != nil {
				return err
			}
			outf(cmd, "password changed on %s; browser sessions ended\n", c.URL())
			return nil
		},
	}
	oldPW.add(password, "password", "the current password")
	newPW.add(password, "new-password", "the new password")

	cmd.AddCommand(remoteCmd(activate), remoteCmd(password), newTOTPCmd())
	return cmd
}

func newTOTPCmd() *cobra.Command {
	cmd := group("totp", "Enrol, reset TOTP and renew recovery codes (--server)")
	var pw passwordFlags
	var code codeFlags
	var qrOut, uriOut string
	var noConfirm bool
	enrol := &cobra.Command{
		Use:   "enrol --server URL [--qr-out FILE.png] [--uri-out FILE] [--password-file F | --password-env VAR] [--code-file F | --code-fd N | --no-confirm]",
		Short: "Enrol TOTP for your account and get recovery codes",
		Long: `Enrol a TOTP authenticator for the account logged in to --server. The
service asks for your password again, then makes a secret: this command
prints its otpauth:// URI (for an authenticator app, or to type in) and,
with --qr-out, writes a QR code of it to a new PNG file (mode 0600). Both
hold the secret: delete the PNG once scanned. It then asks for the app's
first code (--code-file, --code-fd or the terminal) and prints ten
single-use recovery codes, which are never shown again.

--uri-out also writes the URI to a new file (mode 0600), and --no-confirm
stops there, for scripts: sealkeep account totp confirm then sends the
first code. Until confirmed, the account signs in without a code, and a
new enrol replaces the secret. An account with TOTP enrolled gets 409
(exit 3): reset it first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needServer(); err != nil {
				return err
			}
			c, err := remoteClient()
			if err != nil {
				return err
			}
			png, err := newSecretFile("--qr-out", qrOut)
			if err != nil {
				return err
			}
			defer png.abandon()
			uriFile, err := newSecretFile("--uri-out", uriOut)
			if err != nil {
				return err
			}
			defer uriFile.abandon()
			p, err := pw.read("Password: ")
			if err != nil {
				return err
			}
			defer p.Zero()
			var e struct {
				URI string `json:"otpauth_uri"`
				QR  []byte `json:"qr_png"`
			}
			if err := c.JSON(cmd.Context(), "POST", "/api/v1/me/totp", map[string]any{"password": client.SecretField(p)}, &e); err != nil {
				return err
			}
			defer clear(e.QR)
			if err := png.keep(e.QR); err != nil {
				return err
			}
			if err := uriFile.keep([]byte(e.URI + "\n")); err != nil {
				return err
			}
			// The URI goes to the terminal (stderr) so that --json keeps
			// stdout for the recovery codes only.
			fmt.Fprintf(cmd.ErrOrStderr(), "Add this to your authenticator app (it holds the secret):\n  %s\n", e.URI)
			if qrOut != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "QR code written to %s (delete it once scanned)\n", qrOut)
			}
			if noConfirm {
				outf(cmd, "TOTP enrolment begun; confirm it with: sealkeep account totp confirm --server %s\n", c.URL())
				return nil
			}
			var rc struct {
				Codes []string `json:"recovery_codes"`
			}
			if err := postCode(cmd, &code, "First code from the app: ", "/api/v1/me/totp/confirm", &rc); err != nil {
				return err
			}
			return printRecoveryCodes(cmd, rc.Codes)
		},
	}
	enrol.Flags().StringVar(&qrOut, "qr-out", "", "write the QR code to this new PNG file")
	enrol.Flags().StringVar(&uriOut, "uri-out", "", "write the otpauth URI to this new file")
	enrol.Flags().BoolVar(&noConfirm, "no-confirm", false, "stop after the URI and QR code (confirm with totp confirm)")
	pw.add(enrol, "password", "the account's password")
	code.add(enrol)
	enrol.MarkFlagsMutuallyExclusive("no-confirm", "code-file")
	enrol.MarkFlagsMutuallyExclusive("no-confirm", "code-fd")

	var confirmCode codeFlags
	confirm := &cobra.Command{
		Use:   "confirm --server URL [--code-file F | --code-fd N]",
		Short: "Confirm a TOTP enrolment begun with enrol --no-confirm, and get recovery codes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rc struct {
				Codes []string `json:"recovery_codes"`
			}
			if err := postCode(cmd, &confirmCode, "First code from the app: ", "/api/v1/me/totp/confirm", &rc); err != nil {
				return err
			}
			return printRecoveryCodes(cmd, rc.Codes)
		},
	}
	confirmCode.add(confirm)

	var resetCode codeFlags
	reset := &cobra.Command{
		Use:   "reset --server URL [--code-file F | --code-fd N]",
		Short: "Remove your TOTP enrolment (with a current code or a recovery code)",
		Long: `Remove the TOTP enrolment and the recovery codes of the account logged in to
--server, proven by a current TOTP code or one of your recovery codes. Sign
in needs no code afterwards until you enrol again (sealing always does).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := postCode(cmd, &resetCode, "TOTP or recovery code: ", "/api/v1/me/totp/reset", nil); err != nil {
				return err
			}
			outf(cmd, "TOTP removed from the account; enrol again with sealkeep account totp enrol\n")
			return nil
		},
	}
	resetCode.add(reset)

	var rcCode codeFlags
	recovery := &cobra.Command{
		Use:   "recovery-codes --server URL [--code-file F | --code-fd N]",
		Short: "Replace your recovery codes (with a current TOTP code)",
		Long: `Make ten new recovery codes for the account logged in to --server, proven by
a current TOTP code; the old ones stop working. The codes are printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rc struct {
				Codes []string `json:"recovery_codes"`
			}
			if err := postCode(cmd, &rcCode, "TOTP code: ", "/api/v1/me/recovery-codes", &rc); err != nil {
				return err
			}
			return printRecoveryCodes(cmd, rc.Codes)
		},
	}
	rcCode.add(recovery)
	cmd.AddCommand(remoteCmd(enrol), remoteCmd(confirm), remoteCmd(reset), remoteCmd(recovery))
	return cmd
}

// postCode posts a code read from flags to path and decodes the answer
// into out (nil: none).
func postCode(cmd *cobra.Command, flags *codeFlags, prompt, path string, out any) error {
	if err := needServer(); err != nil {
		return err
	}
	c, err := remoteClient()
	if err != nil {
		return err
	}
	code, err := flags.read(prompt)
	if err != nil {
		return err
	}
	defer code.Zero()
	return c.JSON(cmd.Context(), "POST", path, map[string]any{"code": client.SecretField(code)}, out)
}

// secretFile is a new 0600 file for a secret that a command writes once
// it has it; abandon removes it unless keep wrote it. The zero value
// (no file asked for) does nothing.
type secretFile struct {
	flag, path string
	f          *os.File
}

// newSecretFile creates path (which must not exist); "" asks for none.
func newSecretFile(flag, path string) (*secretFile, error) {
	sf := &secretFile{flag: flag, path: path}
	if path == "" {
		return sf, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", flag, err)}
	}
	sf.f = f
	return sf, nil
}

// keep writes b and closes the file.
func (sf *secretFile) keep(b []byte) error {
	if sf.f == nil {
		return nil
	}
	_, err := sf.f.Write(b)
	if cerr := sf.f.Close(); err == nil {
		err = cerr
	}
	sf.f = nil
	if err != nil {
		os.Remove(sf.path)
		return fmt.Errorf("%s: %w", sf.flag, err)
	}
	return nil
}

// abandon removes a file that keep did not write.
func (sf *secretFile) abandon() {
	if sf.f != nil {
		sf.f.Close()
		os.Remove(sf.path)
		sf.f = nil
	}
}

// printInvitation prints a new account's invitation, shown once.
func printInvitation(cmd *cobra.Command, login, server string, inv invitation) {
	outf(cmd, "invitation for %s (expires %s), shown once; hand it to its person, who runs\n  sealkeep account activate --server %s\n%s\n",
		login, fmtTime(inv.ExpiresAt), server, inv.Token)
}

// invitation is an invitation in an answer.
type invitation struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}
