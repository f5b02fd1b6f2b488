package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"sealkeep/internal/atomicfile"
	"sealkeep/internal/errs"
	"sealkeep/internal/fileperm"
	"sealkeep/internal/redact"
)

// CredentialsEnv names a credentials file to use instead of
// [DefaultCredentialsPath].
const CredentialsEnv = "SEALKEEP_CREDENTIALS"

// maxCredentialsFile bounds the credentials file read.
const maxCredentialsFile = 1 << 20

// ErrNotLoggedIn: the credentials file holds no token for the server.
var ErrNotLoggedIn = errs.New(errs.Unauthenticated, "not logged in")

// Credential is one server's API token in the credentials file.
type Credential struct {
	Server    string    `json:"server"`
	Login     string    `json:"login"`
	UserID    string    `json:"user_id"`
	TokenID   string    `json:"token_id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Secret returns the token as a Secret.
func (c Credential) Secret() *redact.Secret { return redact.NewSecret([]byte(c.Token)) }

// Format keeps the token out of every formatting path.
func (c Credential) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "{%s %s %s %s %s}", c.Server, c.Login, c.UserID, c.TokenID, redact.Redacted)
}

// DefaultCredentialsPath is $SEALKEEP_CREDENTIALS, else
// sealkeep/credentials.json in the user's configuration directory
// ($XDG_CONFIG_HOME, else ~/.config).
func DefaultCredentialsPath() (string, error) {
	if p := os.Getenv(CredentialsEnv); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", errs.With(errs.Invalid, fmt.Errorf("no configuration directory for the credentials file (set $%s): %w", CredentialsEnv, err))
	}
	return filepath.Join(dir, "sealkeep", "credentials.json"), nil
}

// readCredentials reads the file; a missing file holds none. A file that
// group or others may read or write is refused: it holds bearer tokens.
func readCredentials(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := fileperm.Private(path, fi.Mode()); err != nil {
		return nil, errs.With(errs.Invalid, err)
	}
	b, err := redact.ReadSecret(f, maxCredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	defer clear(b)
	var out []Credential
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, errs.With(errs.Invalid, fmt.Errorf("credentials file %s is not a sealkeep credentials file: remove it and log in again", path))
	}
	return out, nil
}

// writeCredentials replaces the file atomically, mode 0600, in a
// directory of mode 0700 (created if missing).
func writeCredentials(path string, creds []Credential) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	defer clear(b)
	f, err := atomicfile.Create(path, atomicfile.Options{Overwrite: true})
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Abort()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// LoadCredential returns the token for server from the file at path.
func LoadCredential(path, server string) (Credential, error) {
	u, err := ParseServerURL(server)
	if err != nil {
		return Credential{}, err
	}
	creds, err := readCredentials(path)
	if err != nil {
		return Credential{}, err
	}
	for _, c := range creds {
		if c.Server == u.String() {
			return c, nil
		}
	}
	return Credential{}, fmt.Errorf("%w to %s: run sealkeep login --server %s", ErrNotLoggedIn, u, u)
}

// SaveCredential stores c in the file at path, replacing the entry of
// the same server.
func SaveCredential(path string, c Credential) error {
	creds, err := readCredentials(path)
	if err != nil {
		return err
	}
	creds = slices.DeleteFunc(creds, func(x Credential) bool { return x.Server == c.Server })
	return writeCredentials(path, append(creds, c))
}

// RemoveCredential deletes server's entry from the file at path; none is
// ErrNotLoggedIn.
func RemoveCredential(path, server string) error {
	u, err := ParseServerURL(server)
	if err != nil {
		return err
	}
	creds, err := readCredentials(path)
	if err != nil {
		return err
	}
	n := len(creds)
	creds = slices.DeleteFunc(creds, func(x Credential) bool { return x.Server == u.String() })
	if len(creds) == n {
		return fmt.Errorf("%w to %s", ErrNotLoggedIn, u)
	}
	return writeCredentials(path, creds)
}

// LoginRequest is a CLI sign-in: it becomes an API token named Name.
type LoginRequest struct {
	Login    string
	Password *redact.Secret
	Code     *redact.Secret // TOTP or recovery code; nil for none
	Name     string
	TTL      time.Duration // 0: the server's default
}

// Login signs in at the client's server and returns the new API token as
// a credential (not yet saved).
func (c *Client) Login(ctx context.Context, req LoginRequest) (Credential, error) {
	body := map[string]any{"login": req.Login, "password": secretJSON{req.Password}, "name": req.Name}
	if req.Code != nil && req.Code.Len() > 0 {
		body["code"] = secretJSON{req.Code}
	}
	if req.TTL > 0 {
		body["ttl_seconds"] = int64(req.TTL / time.Second)
	}
	var out struct {
		ID        string    `json:"id"`
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := c.JSON(ctx, "POST", "/api/v1/tokens", body, &out); err != nil {
		return Credential{}, err
	}
	var me Me
	cred := Credential{Server: c.base.String(), Login: req.Login, TokenID: out.ID, Token: out.Token, ExpiresAt: out.ExpiresAt}
	authed, err := New(c.base.String(), cred.Secret(), Options{Timeout: c.timeout})
	if err != nil {
		return Credential{}, err
	}
	authed.http = c.http
	if err := authed.JSON(ctx, "GET", "/api/v1/me", nil, &me); err != nil {
		return Credential{}, err
	}
	cred.UserID = me.User.ID
	return cred, nil
}

// secretJSON marshals a secret's bytes (only into a request body).
type secretJSON struct{ s *redact.Secret }

// SecretField returns s as a JSON request body member: its bytes as a
// string (a redact.Secret marshals as "[REDACTED]" everywhere else).
func SecretField(s *redact.Secret) json.Marshaler { return secretJSON{s} }

func (s secretJSON) MarshalJSON() ([]byte, error) { return json.Marshal(string(s.s.Bytes())) }

// Me is the caller as GET /api/v1/me shows it.
type Me struct {
	User struct {
		ID       string `json:"id"`
		Login    string `json:"login"`
		Operator bool   `json:"operator"`
	} `json:"user"`
	MFA bool `json:"mfa"`
}

// Me returns the caller.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var me Me
	err := c.JSON(ctx, "GET", "/api/v1/me", nil, &me)
	return me, err
}
