//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sk runs the test binary as sealkeep with the extra environment env and
// args, and returns its stdout, stderr and exit code.
func sk(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), envRunMain+"=1", "SEALKEEP_SERVER="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// mustSK is sk that fails the test unless the exit code is want.
func mustSK(t *testing.T, want int, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := sk(t, env, args...)
	if code != want {
		t.Fatalf("sealkeep %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out + errOut
}

// served is a data directory with an operator, served by `sealkeep
// serve`, and a client environment with its own credentials file.
type served struct {
	home, creds, pwFile string
	srv                 *serveChild
	env                 []string
}

func newServed(t *testing.T) *served {
	t.Helper()
	dir := t.TempDir()
	s := &served{home: filepath.Join(dir, "data"), creds: filepath.Join(dir, "config", "credentials.json"), pwFile: filepath.Join(dir, "pw")}
	if err := os.WriteFile(s.pwFile, []byte("operator password 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSK(t, 0, nil, "--data-dir", s.home, "init")
	mustSK(t, 0, nil, "--data-dir", s.home, "setup", "--operator", "admin", "--password-file", s.pwFile)
	s.srv = startServe(t, s.home)
	s.env = []string{"SEALKEEP_CREDENTIALS=" + s.creds, "SEALKEEP_HOME=" + filepath.Join(dir, "no-home")}
	return s
}

// TestClientLogin: sealkeep login stores a working token 0600 for the
// server; a wrong password is exit 6 and stores nothing; plain http to a
// non-loopback host is refused before anything is sent; logout revokes
// the token at the server.
func TestClientLogin(t *testing.T) {
	s := newServed(t)
	_, errOut, code := sk(t, s.env, "login", "--server", s.srv.url, "--login", "admin", "--password-env", "PW", "--json")
	if code != 2 || !strings.Contains(errOut, "password") {
		t.Fatalf("login without a password source: exit %d %s", code, errOut)
	}
	wrong := append([]string{"PW=not the password"}, s.env...)
	if _, errOut, code := sk(t, wrong, "login", "--server", s.srv.url, "--login", "admin", "--password-env", "PW"); code != 6 || !strings.Contains(errOut, "request r-") {
		t.Fatalf("wrong password: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(s.creds); !os.IsNotExist(err) {
		t.Fatalf("a failed login wrote the credentials file: %v", err)
	}
	out := mustSK(t, 0, s.env, "login", "--server", s.srv.url+"/", "--login", "admin", "--password-file", s.pwFile, "--json")
	var res struct {
		Server, Login string
		TokenID       string `json:"token_id"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Server != s.srv.url || res.Login != "admin" || res.TokenID == "" {
		t.Fatalf("login --json: %v %s", err, out)
	}
	fi, err := os.Stat(s.creds)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(s.creds)); di.Mode().Perm() != 0o700 {
		t.Fatalf("credentials directory mode %v", di.Mode())
	}
	var creds []struct{ Token string }
	b, _ := os.ReadFile(s.creds)
	if err := json.Unmarshal(b, &creds); err != nil || len(creds) != 1 {
		t.Fatalf("credentials: %v", err)
	}
	tok := creds[0].Token
	me := func() int {
		req, _ := http.NewRequest("GET", s.srv.url+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := me(); c != 200 {
		t.Fatalf("the stored token: %d", c)
	}
	// The token never reaches the output or the server log.
	if strings.Contains(out, tok) || strings.Contains(s.srv.log.String(), tok) || strings.Contains(s.srv.log.String(), "operator password 1") {
		t.Fatal("the token or the password leaked")
	}
	// A credentials file others may read is refused.
	os.Chmod(s.creds, 0o644)
	if _, errOut, code := sk(t, s.env, "logout", "--server", s.srv.url); code != 2 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("logout with a 0644 credentials file: exit %d %s", code, errOut)
	}
	os.Chmod(s.creds, 0o600)
	mustSK(t, 0, s.env, "logout", "--server", s.srv.url)
	if c := me(); c != 401 {
		t.Fatalf("the token after logout: %d", c)
	}
	if _, errOut, code := sk(t, s.env, "logout", "--server", s.srv.url); code != 6 || !strings.Contains(errOut, "not logged in") {
		t.Fatalf("second logout: exit %d %s", code, errOut)
	}
	for _, bad := range []string{"http://example.com", "ftp://127.0.0.1", "https://user:pw@example.com"} {
		if _, errOut, code := sk(t, s.env, "login", "--server", bad, "--login", "admin", "--password-file", s.pwFile); code != 2 {
			t.Errorf("login --server %s: exit %d %s", bad, code, errOut)
		}
	}
	// A command without a client form refuses --server.
	if _, errOut, code := sk(t, s.env, "org", "rotate-dek", "acme", "--server", s.srv.url); code != 2 || !strings.Contains(errOut, "no --server form") {
		t.Errorf("org rotate-dek --server: exit %d %s", code, errOut)
	}
	// An unreachable server is exit 5.
	if _, errOut, code := sk(t, s.env, "login", "--server", "http://127.0.0.1:1", "--login", "admin", "--password-file", s.pwFile); code != 5 {
		t.Errorf("unreachable server: exit %d %s", code, errOut)
	}
}
