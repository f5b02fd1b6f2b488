package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"sealkeep/internal/client"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/redact"
)

// remoteAnnotation marks a command that runs as a client of a sealkeep
// service when --server is given; every other command refuses --server.
const remoteAnnotation = "sealkeep/remote"

// remoteCmd marks cmd as one that --server runs against the service.
func remoteCmd(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[remoteAnnotation] = "yes"
	return cmd
}

// serverURL is --server, else $SEALKEEP_SERVER.
func serverURL() string {
	if globals.server != "" {
		return globals.server
	}
	return os.Getenv("SEALKEEP_SERVER")
}

// checkRemote refuses --server for a command that does not run against a
// service.
func checkRemote(cmd *cobra.Command) error {
	if serverURL() == "" || cmd.Annotations[remoteAnnotation] == "yes" {
		return nil
	}
	if cmd.Flags().Changed("server") {
		return usageError{fmt.Errorf("sealkeep %s runs on the data directory only; it has no --server form", cmd.Name())}
	}
	return nil // $SEALKEEP_SERVER set in the environment: run locally
}

// clientOptions are the TLS options of --server-ca.
func clientOptions() (client.Options, error) {
	var opts client.Options
	if globals.serverCA != "" {
		pem, err := os.ReadFile(globals.serverCA)
		if err != nil {
			return opts, usageError{fmt.Errorf("--server-ca: %w", err)}
		}
		opts.Roots = x509.NewCertPool()
		if !opts.Roots.AppendCertsFromPEM(pem) {
			return opts, usageError{fmt.Errorf("--server-ca %s holds no PEM certificate", globals.serverCA)}
		}
	}
	return opts, nil
}

// remoteClient is the client of --server with the token `sealkeep login`
// stored for it.
func remoteClient() (*client.Client, error) {
	path, err := client.DefaultCredentialsPath()
	if err != nil {
		return nil, err
	}
	cred, err := client.LoadCredential(path, serverURL())
	if err != nil {
		return nil, err
	}
	opts, err := clientOptions()
	if err != nil {
		return nil, err
	}
	return client.New(cred.Server, cred.Secret(), opts)
}

// errNoServer: a client command without --server.
var errNoServer = errors.New("--server URL (or $SEALKEEP_SERVER) names the sealkeep service")

// needServer refuses a client-only command without --server.
func needServer() error {
	if serverURL() == "" {
		return usageError{errNoServer}
	}
	return nil
}

// anonymousClient is a client of --server without credentials, for the
// public routes and sign-in.
func anonymousClient() (*client.Client, error) {
	if err := needServer(); err != nil {
		return nil, err
	}
	opts, err := clientOptions()
	if err != nil {
		return nil, err
	}
	return client.New(serverURL(), nil, opts)
}

// codeFlags are where a TOTP (or recovery) code comes from: --code-file
// F (a file or pipe), --code-fd N (an open file descriptor, for scripts),
// else a prompt on the terminal. A code never comes from a flag's value,
// which other users can read in the process list.
type codeFlags struct {
	file string
	fd   int
}

func (c *codeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.file, "code-file", "", "read the TOTP code from the first line of this file or pipe")
	cmd.Flags().IntVar(&c.fd, "code-fd", -1, "read the TOTP code from this open file descriptor (scripts)")
	cmd.MarkFlagsMutuallyExclusive("code-file", "code-fd")
}

// read returns the code; prompt is shown on the terminal.
func (c *codeFlags) read(prompt string) (*redact.Secret, error) {
	file := c.file
	if c.fd >= 0 {
		file = fmt.Sprintf("/dev/fd/%d", c.fd)
	}
	b, err := keyfile.ReadPassphrase(file, "", prompt, os.Stdin, os.Stderr)
	if err != nil {
		return nil, usageError{fmt.Errorf("TOTP code: %w", err)}
	}
	return redact.NewSecret(bytes.TrimSpace(b)), nil
}
