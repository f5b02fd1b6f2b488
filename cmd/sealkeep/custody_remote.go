package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"sealkeep/internal/client"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
)

// The client forms (--server) of the identity and cert commands: the same
// operations through the service's API (docs/api.md), on the signed-in
// user's own identities.

// remoteIdentity is an identity as the API answers it.
type remoteIdentity struct {
	ID        string                `json:"id"`
	Org       string                `json:"org"`
	Owner     string                `json:"owner"`
	Name      string                `json:"name"`
	CreatedAt string                `json:"created_at"`
	Versions  []custody.VersionInfo `json:"versions"`
}

// remoteNewVersion answers a generated, imported or registered version.
type remoteNewVersion struct {
	Version custody.VersionInfo `json:"version"`
	CSR     string              `json:"csr"`
}

// identitiesPath is the API path of org's identities, with more segments
// (each escaped) appended.
func identitiesPath(org string, more ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org) + "/identities"
	for _, m := range more {
		p += "/" + url.PathEscape(m)
	}
	return p
}

// versionPath is the API path of a version, with more segments appended.
func (v *versionFlags) path(more ...string) string {
	return identitiesPath(v.org, append([]string{v.identity, "versions", strconv.Itoa(v.version)}, more...)...)
}

// checkOrg refuses --org without --server and --server without --org.
func (v *versionFlags) checkOrg() error {
	switch {
	case serverURL() != "" && v.org == "":
		return usageError{errors.New("--org is required with --server: the API names an identity by its organization")}
	case serverURL() == "" && v.org != "":
		return usageError{errors.New("--org goes with --server; on the data directory the identity alone names it")}
	}
	return nil
}

// withClient runs fn with the client of --server.
func withClient(fn func(c *client.Client) error) error {
	c, err := remoteClient()
	if err != nil {
		return err
	}
	return fn(c)
}

// remoteCreateIdentity creates an identity of the signed-in user.
func remoteCreateIdentity(cmd *cobra.Command, org, name string) error {
	return withClient(func(c *client.Client) error {
		var id remoteIdentity
		if err := c.JSON(cmd.Context(), "POST", identitiesPath(org), map[string]string{"name": name}, &id); err != nil {
			return err
		}
		if globals.json {
			return printJSON(cmd.OutOrStdout(), id)
		}
		outf(cmd, "created identity %s\n", id.ID)
		return nil
	})
}

// remoteListIdentities lists an org's identities.
func remoteListIdentities(cmd *cobra.Command, org string) error {
	return withClient(func(c *client.Client) error {
		var out struct {
			Identities []remoteIdentity `json:"identities"`
		}
		if err := c.JSON(cmd.Context(), "GET", identitiesPath(org), nil, &out); err != nil {
			return err
		}
		if globals.json {
			return printJSON(cmd.OutOrStdout(), out.Identities)
		}
		rows := make([][]string, 0, len(out.Identities))
		for _, id := range out.Identities {
			rows = append(rows, []string{id.ID, id.Owner, id.Name, id.CreatedAt})
		}
		return printTable(cmd.OutOrStdout(), []string{"ID", "OWNER", "NAME", "CREATED"}, rows)
	})
}

// remoteShowIdentity shows an identity and its versions.
func remoteShowIdentity(cmd *cobra.Command, org, identity string) error {
	return withClient(func(c *client.Client) error {
		var id remoteIdentity
		if err := c.JSON(cmd.Context(), "GET", identitiesPath(org, identity), nil, &id); err != nil {
			return err
		}
		if globals.json {
			return printJSON(cmd.OutOrStdout(), id)
		}
		w := cmd.OutOrStdout()
		if err := printFields(w, [][2]string{{"ID", id.ID}, {"Org", id.Org}, {"Owner", id.Owner}, {"Name", id.Name}, {"Created", id.CreatedAt}}); err != nil {
			return err
		}
		outln(cmd)
		return versionTable(w, id.Versions)
	})
}

// remotePending asks the service for a new pending version (a key
// generated in custody, or an external key) and writes its CSR to csrOut,
// which must not exist: it is created first and removed if the call
// fails.
func remotePending(cmd *cobra.Command, csrOut, path string, body any) (custody.VersionInfo, error) {
	out, err := os.OpenFile(csrOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return custody.VersionInfo{}, usageError{fmt.Errorf("--csr-out: %w", err)}
	}
	var nv remoteNewVersion
	err = withClient(func(c *client.Client) error { return c.JSON(cmd.Context(), "POST", path, body, &nv) })
	if err == nil && nv.CSR == "" {
		err = errors.New("the service answered no CSR")
	}
	if err == nil {
		_, err = io.WriteString(out, nv.CSR)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(csrOut)
		return custody.VersionInfo{}, err
	}
	return nv.Version, nil
}

// subjectBody is the API's CSR subject of sf.
func (sf *subjectFlags) body() map[string]string {
	return map[string]string{"common_name": sf.cn, "organization": sf.o, "organizational_unit": sf.ou,
		"country": sf.c, "province": sf.st, "locality": sf.l}
}

// remoteUpload uploads a certificate and its chain (DER each).
func remoteUpload(cmd *cobra.Command, vf versionFlags, leaf []byte, chain [][]byte) error {
	var b bytes.Buffer
	for _, der := range append([][]byte{leaf}, chain...) {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return remoteVersionCall(cmd, "uploaded", client.Request{Method: "PUT", Path: vf.path("certificate"), Body: &b, ContentType: "application/pem-certificate-chain"})
}

// remoteVersionCall sends req and prints the version it answers.
func remoteVersionCall(cmd *cobra.Command, verb string, req client.Request) error {
	return withClient(func(c *client.Client) error {
		resp, err := c.Do(cmd.Context(), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		v, err := decodeVersion(resp.Body)
		if err != nil {
			return err
		}
		return printVersion(cmd, verb, v)
	})
}

// decodeVersion reads a version answer.
func decodeVersion(r io.Reader) (custody.VersionInfo, error) {
	var v custody.VersionInfo
	if err := decodeAnswer(r, &v); err != nil {
		return v, err
	}
	return v, nil
}

// decodeAnswer reads a JSON answer of the service.
func decodeAnswer(r io.Reader, v any) error {
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return errs.With(errs.Unavailable, fmt.Errorf("the service's answer is not the expected JSON: %w", err))
	}
	return nil
}

// needsPassphrase reports whether a key file is (likely) encrypted: a
// PKCS#12 file always is, a PEM file when it holds an encrypted key.
func needsPassphrase(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && t[0] == 0x30 || bytes.Contains(data, []byte("ENCRYPTED"))
}

// remoteImport uploads a key file with its passphrase: from --passphrase-
// file or --passphrase-env if given, else asked on the terminal when the
// file is encrypted. The form is built in memory and wiped after.
func remoteImport(cmd *cobra.Command, vf versionFlags, file string, data []byte, passFile, passEnv string) error {
	var pass *redact.Secret
	if passFile != "" || passEnv != "" || needsPassphrase(data) {
		b, err := passphrase(passFile, passEnv)()
		if err != nil {
			return usageError{err}
		}
		pass = redact.NewSecret(b)
		defer pass.Zero()
	}
	var body bytes.Buffer
	defer func() { clear(body.Bytes()[:body.Cap()]) }()
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", filepath.Base(file))
	if err != nil {
		return err
	}
	fw.Write(data)
	if pass != nil {
		pw, err := mw.CreateFormField("passphrase")
		if err != nil {
			return err
		}
		pw.Write(pass.Bytes())
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return withClient(func(c *client.Client) error {
		resp, err := c.Do(cmd.Context(), client.Request{Method: "POST", Path: identitiesPath(vf.org, vf.identity, "imports"),
			Body: bytes.NewReader(body.Bytes()), ContentType: mw.FormDataContentType()})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var nv remoteNewVersion
		if err := decodeAnswer(resp.Body, &nv); err != nil {
			return err
		}
		return printVersion(cmd, "imported", nv.Version)
	})
}

// remoteActivate activates a version on the signed-in user's TOTP code:
// it shows the version's certificate, asks for the code (or reads it from
// --code-file or --code-fd) and sends the thumbprint it showed, so that the
// code approves that certificate only.
func remoteActivate(cmd *cobra.Command, vf versionFlags, reason string, code codeFlags) error {
	return withClient(func(c *client.Client) error {
		var cur custody.VersionInfo
		if err := c.JSON(cmd.Context(), "GET", vf.path(), nil, &cur); err != nil {
			return err
		}
		if code.file == "" && code.fd < 0 {
			fmt.Fprintf(os.Stderr, "Activating identity %s version %d (%s), certificate SHA-256 %s\n  subject %s\n",
				cur.Identity, cur.Version, cur.Status, dash(cur.Thumbprint), dash(cur.Subject))
		}
		totp, err := code.read("TOTP code: ")
		if err != nil {
			return err
		}
		defer totp.Zero()
		body := struct {
			Code       secretString `json:"code"`
			Reason     string       `json:"reason,omitempty"`
			Thumbprint string       `json:"thumbprint,omitempty"`
		}{secretString{totp}, reason, cur.Thumbprint}
		var raw json.RawMessage
		if err := c.JSON(cmd.Context(), "POST", vf.path("activate"), body, &raw); err != nil {
			return err
		}
		return printActivation(cmd, vf, raw)
	})
}

// secretString marshals a secret as a JSON string (for a request body
// only).
type secretString struct{ s *redact.Secret }

func (s secretString) MarshalJSON() ([]byte, error) { return json.Marshal(string(s.s.Bytes())) }

// remoteRevoke revokes a version.
func remoteRevoke(cmd *cobra.Command, vf versionFlags, reason string) error {
	return withClient(func(c *client.Client) error {
		var v custody.VersionInfo
		if err := c.JSON(cmd.Context(), "POST", vf.path("revoke"), map[string]string{"reason": reason}, &v); err != nil {
			return err
		}
		return printVersion(cmd, "revoked", v)
	})
}

// remoteDestroy crypto-erases a version's key.
func remoteDestroy(cmd *cobra.Command, vf versionFlags) error {
	return remoteVersionCall(cmd, "destroyed", client.Request{Method: "POST", Path: vf.path("destroy")})
}

// remoteListVersions lists an identity's versions.
func remoteListVersions(cmd *cobra.Command, vf versionFlags) error {
	return withClient(func(c *client.Client) error {
		var out struct {
			Versions []custody.VersionInfo `json:"versions"`
		}
		if err := c.JSON(cmd.Context(), "GET", identitiesPath(vf.org, vf.identity, "versions"), nil, &out); err != nil {
			return err
		}
		if globals.json {
			return printJSON(cmd.OutOrStdout(), out.Versions)
		}
		return versionTable(cmd.OutOrStdout(), out.Versions)
	})
}

// remoteShowVersion fetches a version with its history.
func remoteShowVersion(cmd *cobra.Command, vf versionFlags) (custody.VersionInfo, error) {
	var v custody.VersionInfo
	err := withClient(func(c *client.Client) error { return c.JSON(cmd.Context(), "GET", vf.path(), nil, &v) })
	return v, err
}
