package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"sealkeep/internal/auth"
	"sealkeep/internal/client"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/redact"
)

func init() {
	register(newLoginCmd)
	register(newLogoutCmd)
}

func newLoginCmd() *cobra.Command {
	var login, passwordFile, passwordEnv, name string
	var ttl time.Duration
	var code codeFlags
	cmd := &cobra.Command{
		Use:   "login --server URL [--login LOGIN] [--password-file F | --password-env VAR] [--code-file F | --code-fd N]",
		Short: "Sign in to a sealkeep service and store an API token for the client commands",
		Long: `Sign in to the sealkeep service at --server with a login, password and, for an
account with TOTP, a code, and store the API token the service issues in the
credentials file ($SEALKEEP_CREDENTIALS, else sealkeep/credentials.json in
the user's configuration directory, mode 0600), where the client commands
(--server) find it. Logging in again replaces the server's entry.

The password is the first line of --password-file, the variable named by
--password-env, or asked on the terminal; the code is read from --code-file
or --code-fd, or asked on the terminal when the service says it needs one.
Neither ever comes from a flag's value. --server is https, or http on a
loopback address only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := anonymousClient()
			if err != nil {
				return err
			}
			if login == "" {
				if login, err = promptLine("Login: "); err != nil {
					return err
				}
			}
			pw, err := keyfile.ReadPassphrase(passwordFile, passwordEnv, "Password: ", os.Stdin, os.Stderr)
			if err != nil {
				return usageError{fmt.Errorf("password: %w", err)}
			}
			req := client.LoginRequest{Login: login, Password: redact.NewSecret(pw), Name: name, TTL: ttl}
			defer req.Password.Zero()
			if code.file != "" || code.fd >= 0 {
				if req.Code, err = code.read(""); err != nil {
					return err
				}
			}
			cred, err := c.Login(cmd.Context(), req)
			var pe *client.ProblemError
			if req.Code == nil && errors.As(err, &pe) && strings.Contains(pe.Detail, auth.ErrMFARequired.Error()) {
				// The account has TOTP: ask for the code and try once more.
				if req.Code, err = code.read("TOTP code: "); err != nil {
					return err
				}
				cred, err = c.Login(cmd.Context(), req)
			}
			if req.Code != nil {
				req.Code.Zero()
			}
			if err != nil {
				return err
			}
			path, err := client.DefaultCredentialsPath()
			if err != nil {
				return err
			}
			if err := client.SaveCredential(path, cred); err != nil {
				return err
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"server": cred.Server, "login": cred.Login, "user_id": cred.UserID,
					"token_id": cred.TokenID, "expires_at": cred.ExpiresAt, "credentials": path})
			}
			outf(cmd, "logged in to %s as %s; token %s expires %s\n", cred.Server, cred.Login, cred.TokenID, fmtTime(cred.ExpiresAt))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&login, "login", "", "account login (asked on the terminal if not given)")
	fl.StringVar(&passwordFile, "password-file", "", "file whose first line is the password")
	fl.StringVar(&passwordEnv, "password-env", "", "environment variable holding the password")
	fl.StringVar(&name, "name", defaultTokenName(), "name of the API token in the service's listings")
	fl.DurationVar(&ttl, "ttl", 0, "lifetime of the token (default: the service's, 30 days)")
	code.add(cmd)
	cmd.MarkFlagsMutuallyExclusive("password-file", "password-env")
	return remoteCmd(cmd)
}

func newLogoutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout --server URL",
		Short: "Revoke the stored API token of a sealkeep service and forget it",
		Long: `Revoke the API token that sealkeep login stored for --server (at the service)
and remove it from the credentials file. A token the service no longer
accepts is removed all the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needServer(); err != nil {
				return err
			}
			path, err := client.DefaultCredentialsPath()
			if err != nil {
				return err
			}
			cred, err := client.LoadCredential(path, serverURL())
			if err != nil {
				return err
			}
			c, err := remoteClient()
			if err != nil {
				return err
			}
			err = c.JSON(cmd.Context(), "DELETE", "/api/v1/tokens/"+cred.TokenID, nil, nil)
			var pe *client.ProblemError
			if err != nil && !(errors.As(err, &pe) && pe.Status == 401) {
				return err
			}
			if err := client.RemoveCredential(path, cred.Server); err != nil {
				return err
			}
			outf(cmd, "logged out of %s\n", cred.Server)
			return nil
		},
	}
	return remoteCmd(cmd)
}

// defaultTokenName names a token by the user and host it was made on.
func defaultTokenName() string {
	host, _ := os.Hostname()
	n := "sealkeep CLI on " + host
	if u := actor().ID; u != "" {
		n = "sealkeep CLI, " + u + "@" + host
	}
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// promptLine reads one line from the terminal.
func promptLine(prompt string) (string, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", usageError{errors.New("--login is needed (no terminal to ask on)")}
	}
	fmt.Fprint(os.Stderr, prompt)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
