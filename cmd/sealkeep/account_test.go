//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/redact"
	"sealkeep/internal/testenv"
)

// person is a user of a served data directory: its own credentials file,
// password file and environment.
type person struct {
	login, password, pwFile string
	env                     []string
}

// as returns login's person in s, with password written to a file.
func (s *served) as(t *testing.T, login, password string) *person {
	t.Helper()
	dir := filepath.Dir(s.creds)
	p := &person{login: login, password: password, pwFile: filepath.Join(dir, login+".pw")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.env = []string{"SEALKEEP_CREDENTIALS=" + filepath.Join(dir, login+".json"), "SEALKEEP_HOME=" + filepath.Join(dir, "no-home")}
	return p
}

// writeSecret writes a secret to a new 0600 file and returns its path.
func writeSecret(t *testing.T, name, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

var invitationRE = regexp.MustCompile(`ski_[A-Za-z0-9_-]{43}`)

// TestClientAccounts: the operator creates an org and its first owner
// (a new account, activated with its invitation by its person), the
// owner enrols TOTP (otpauth URI, QR PNG, first code from a file
// descriptor, recovery codes), adds, re-roles and removes members, and
// changes its password; every refusal exits with its exact code; no
// secret reaches the server log.
func TestClientAccounts(t *testing.T) {
	s := newServed(t)
	srv := s.srv.url
	var secrets []string
	admin := &person{login: "admin", pwFile: s.pwFile, env: s.env}
	mustSK(t, 0, admin.env, "login", "--server", srv, "--login", "admin", "--password-file", admin.pwFile)

	// The local form of org create and list still works; --owner needs
	// --server.
	mustSK(t, 0, nil, "--data-dir", s.home, "org", "create", "beta")
	if out := mustSK(t, 0, nil, "--data-dir", s.home, "org", "list"); !strings.Contains(out, "beta") {
		t.Fatalf("local org list: %s", out)
	}
	mustSK(t, 2, nil, "--data-dir", s.home, "org", "create", "gamma", "--owner", "olive")

	// The operator creates acme with a new first owner.
	out := mustSK(t, 0, admin.env, "org", "create", "acme", "--name", "Acme", "--owner", "olive", "--new-account", "--server", srv, "--json")
	var created struct {
		ID    string
		Owner struct {
			Member struct {
				Role    string
				Pending bool
			}
			Invitation struct{ Token string }
		}
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID != "acme" || created.Owner.Member.Role != "owner" ||
		!created.Owner.Member.Pending || !invitationRE.MatchString(created.Owner.Invitation.Token) {
		t.Fatalf("org create --owner --json: %v %s", err, out)
	}
	oliveInv := created.Owner.Invitation.Token
	secrets = append(secrets, oliveInv)
	out = mustSK(t, 0, admin.env, "org", "list", "--server", srv)
	if !strings.Contains(out, "acme") || !strings.Contains(out, "beta") || strings.Contains(out, "owner") {
		t.Fatalf("the operator's org list: %s", out)
	}
	// No second owner, no member management by the operator; nobody else
	// creates orgs.
	mustSK(t, 3, admin.env, "org", "owner", "acme", "mallory", "--new-account", "--server", srv)
	mustSK(t, 3, admin.env, "member", "add", "--org", "acme", "mallory", "--role", "sealer", "--new-account", "--server", srv)
	mustSK(t, 3, admin.env, "member", "list", "--org", "acme", "--server", srv)
	mustSK(t, 3, admin.env, "org", "owner", "beta", "admin", "--server", srv)
	// beta has no owner yet: the operator makes one, by invitation.
	out = mustSK(t, 0, admin.env, "org", "owner", "beta", "bob", "--new-account", "--server", srv)
	if inv := invitationRE.FindString(out); inv == "" || !strings.Contains(out, "sealkeep account activate") {
		t.Fatalf("org owner: %s", out)
	} else {
		secrets = append(secrets, inv)
	}

	// Olive activates her account: once.
	olive := s.as(t, "olive", "olive's own password 1")
	secrets = append(secrets, olive.password)
	invFile := writeSecret(t, "inv", oliveInv)
	mustSK(t, 2, olive.env, "account", "activate", "--invitation-file", invFile, "--password-file", olive.pwFile)
	mustSK(t, 0, olive.env, "account", "activate", "--server", srv, "--invitation-file", invFile, "--password-file", olive.pwFile)
	mustSK(t, 6, olive.env, "account", "activate", "--server", srv, "--invitation-file", invFile, "--password-file", olive.pwFile)
	mustSK(t, 3, admin.env, "org", "owner", "acme", "olive", "--reinvite", "--server", srv)
	mustSK(t, 6, olive.env, "member", "list", "--org", "acme", "--server", srv) // not logged in
	mustSK(t, 0, olive.env, "login", "--server", srv, "--login", "olive", "--password-file", olive.pwFile)
	mustSK(t, 3, olive.env, "org", "create", "evil", "--server", srv)

	// TOTP enrolment: the URI on stderr, the QR code in a new file, the
	// first code through a file descriptor, the recovery codes on stdout.
	qr := filepath.Join(t.TempDir(), "qr.png")
	uri, codes := enrolTOTP(t, olive, srv, qr)
	secret := mustSecret(t, uri)
	secrets = append(secrets, uri, secret)
	secrets = append(secrets, codes...)
	if fi, err := os.Stat(qr); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("QR file: %v %v", fi, err)
	}
	zbar := testenv.Tool(t, "zbarimg")
	if got, err := exec.Command(zbar, "--quiet", "--raw", qr).Output(); err != nil || strings.TrimSpace(string(got)) != uri {
		t.Fatalf("zbarimg read %d bytes (%v), want the printed URI", len(got), err)
	}
	_, errOut, code := sk(t, olive.env, "account", "totp", "enrol", "--server", srv, "--password-file", olive.pwFile, "--code-file", writeSecret(t, "c", "000000"))
	if code != 3 || !strings.Contains(errOut, "already enrolled") {
		t.Fatalf("enrol twice: exit %d %s", code, errOut)
	}
	// Signing in needs a code now: a recovery code does.
	mustSK(t, 2, olive.env, "login", "--server", srv, "--login", "olive", "--password-file", olive.pwFile)
	mustSK(t, 0, olive.env, "login", "--server", srv, "--login", "olive", "--password-file", olive.pwFile, "--code-file", writeSecret(t, "rc", codes[0]))
	// New recovery codes with the next step's code; the old ones stop.
	next := totpCode(t, secret, time.Now().Add(30*time.Second))
	out = mustSK(t, 0, olive.env, "account", "totp", "recovery-codes", "--server", srv, "--code-file", writeSecret(t, "c2", next), "--json")
	var rc struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal([]byte(out), &rc); err != nil || len(rc.Codes) != 10 {
		t.Fatalf("recovery-codes --json: %v %s", err, out)
	}
	secrets = append(secrets, rc.Codes...)
	mustSK(t, 6, olive.env, "account", "totp", "recovery-codes", "--server", srv, "--code-file", writeSecret(t, "c3", next)) // replayed
	mustSK(t, 6, olive.env, "account", "totp", "reset", "--server", srv, "--code-file", writeSecret(t, "rc1", codes[1]))
	mustSK(t, 0, olive.env, "account", "totp", "reset", "--server", srv, "--code-file", writeSecret(t, "rc2", rc.Codes[0]))

	// Members.
	out = mustSK(t, 0, olive.env, "member", "add", "--org", "acme", "jane", "--role", "sealer", "--new-account", "--server", srv)
	janeInv := invitationRE.FindString(out)
	if janeInv == "" || !strings.Contains(out, "jane is now sealer of acme") {
		t.Fatalf("member add --new-account: %s", out)
	}
	secrets = append(secrets, janeInv)
	out = mustSK(t, 0, olive.env, "member", "list", "--org", "acme", "--server", srv)
	if !regexp.MustCompile(`jane\s+sealer\s+.*invited, until`).MatchString(out) || !regexp.MustCompile(`olive\s+owner\s+.*active`).MatchString(out) {
		t.Fatalf("member list: %s", out)
	}
	out = mustSK(t, 0, olive.env, "member", "invite", "--org", "acme", "jane", "--server", srv)
	janeInv2 := invitationRE.FindString(out)
	secrets = append(secrets, janeInv2)
	jane := s.as(t, "jane", "jane's own password 22")
	secrets = append(secrets, jane.password)
	mustSK(t, 6, jane.env, "account", "activate", "--server", srv, "--invitation-file", writeSecret(t, "ji", janeInv), "--password-file", jane.pwFile)
	mustSK(t, 0, jane.env, "account", "activate", "--server", srv, "--invitation-file", writeSecret(t, "ji2", janeInv2), "--password-file", jane.pwFile, "--json")
	mustSK(t, 0, jane.env, "login", "--server", srv, "--login", "jane", "--password-file", jane.pwFile)
	// Scripted enrolment: the URI to a file, the code confirmed after.
	uriFile := filepath.Join(t.TempDir(), "jane.uri")
	mustSK(t, 0, jane.env, "account", "totp", "enrol", "--server", srv, "--password-file", jane.pwFile, "--uri-out", uriFile, "--no-confirm")
	b, err := os.ReadFile(uriFile)
	if fi, _ := os.Stat(uriFile); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(string(b), "otpauth://totp/") {
		t.Fatalf("--uri-out: %v", err)
	}
	janeSecret := mustSecret(t, strings.TrimSpace(string(b)))
	secrets = append(secrets, strings.TrimSpace(string(b)), janeSecret)
	mustSK(t, 2, jane.env, "account", "totp", "enrol", "--server", srv, "--password-file", jane.pwFile, "--uri-out", uriFile, "--no-confirm") // exists
	out = mustSK(t, 0, jane.env, "account", "totp", "confirm", "--server", srv, "--code-file", writeSecret(t, "jc", totpCode(t, janeSecret, time.Now())), "--json")
	if err := json.Unmarshal([]byte(out), &rc); err != nil || len(rc.Codes) != 10 {
		t.Fatalf("totp confirm --json: %v %s", err, out)
	}
	secrets = append(secrets, rc.Codes...)
	// A sealer manages no members and cannot make itself owner.
	mustSK(t, 3, jane.env, "member", "add", "--org", "acme", "x", "--role", "sealer", "--new-account", "--server", srv)
	mustSK(t, 3, jane.env, "member", "role", "--org", "acme", "jane", "owner", "--server", srv)
	mustSK(t, 3, jane.env, "member", "list", "--org", "acme", "--server", srv)
	if out := mustSK(t, 0, jane.env, "org", "list", "--server", srv, "--json"); !strings.Contains(out, `"role": "sealer"`) || strings.Contains(out, "beta") {
		t.Fatalf("jane's org list: %s", out)
	}
	// The last owner stays.
	_, errOut, code = sk(t, olive.env, "member", "role", "--org", "acme", "olive", "sealer", "--server", srv)
	if code != 3 || !strings.Contains(errOut, "last owner") {
		t.Fatalf("demoting the last owner: exit %d %s", code, errOut)
	}
	mustSK(t, 3, olive.env, "member", "remove", "--org", "acme", "olive", "--server", srv)
	mustSK(t, 2, olive.env, "member", "role", "--org", "acme", "jane", "admin", "--server", srv)
	mustSK(t, 0, olive.env, "member", "role", "--org", "acme", "jane", "auditor", "--server", srv)
	mustSK(t, 0, jane.env, "member", "list", "--org", "acme", "--server", srv) // auditors list
	mustSK(t, 0, olive.env, "member", "remove", "--org", "acme", "jane", "--server", srv)
	mustSK(t, 3, olive.env, "member", "remove", "--org", "acme", "jane", "--server", srv)
	mustSK(t, 3, olive.env, "member", "add", "--org", "acme", "admin", "--role", "auditor", "--server", srv) // the operator
	mustSK(t, 3, olive.env, "member", "add", "--org", "acme", "nobody", "--role", "auditor", "--server", srv)
	mustSK(t, 0, olive.env, "member", "add", "--org", "acme", "jane", "--role", "preparer", "--server", srv)
	mustSK(t, 2, olive.env, "member", "list", "--org", "acme") // no --server
	mustSK(t, 2, olive.env, "member", "list", "--server", srv) // no --org

	// Password change: the current one is checked.
	newPW := "olive's second password 3"
	secrets = append(secrets, newPW)
	newFile := writeSecret(t, "npw", newPW)
	mustSK(t, 6, olive.env, "account", "password", "--server", srv, "--password-file", writeSecret(t, "bad", "not her password"), "--new-password-file", newFile)
	mustSK(t, 2, olive.env, "account", "password", "--server", srv, "--password-file", olive.pwFile, "--new-password-file", writeSecret(t, "short", "short"))
	mustSK(t, 0, olive.env, "account", "password", "--server", srv, "--password-file", olive.pwFile, "--new-password-file", newFile)
	mustSK(t, 6, olive.env, "login", "--server", srv, "--login", "olive", "--password-file", olive.pwFile)
	mustSK(t, 0, olive.env, "login", "--server", srv, "--login", "olive", "--password-file", newFile)

	// The server log holds none of the secrets, nor the stored tokens.
	for _, p := range []string{"admin", "olive", "jane"} {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(s.creds), p+".json"))
		if p == "admin" {
			b, _ = os.ReadFile(s.creds)
		}
		var creds []struct{ Token string }
		if err := json.Unmarshal(b, &creds); err != nil || len(creds) != 1 {
			t.Fatalf("%s's credentials: %v", p, err)
		}
		secrets = append(secrets, creds[0].Token)
	}
	log := s.srv.log.Bytes()
	for _, sec := range append(secrets, "operator password 1") {
		if form, found := redact.ScanForSecret(log, []byte(sec)); found {
			t.Errorf("the server log holds a secret (%s)", form)
		}
	}
}

// enrolTOTP runs account totp enrol for p with the first code sent on a
// file descriptor once the URI is printed, and returns the URI and the
// recovery codes.
func enrolTOTP(t *testing.T, p *person, srv, qr string) (string, []string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "account", "totp", "enrol", "--server", srv, "--qr-out", qr,
		"--password-file", p.pwFile, "--code-fd", "3")
	cmd.Env = append(append(os.Environ(), envRunMain+"=1", "SEALKEEP_SERVER="), p.env...)
	cmd.ExtraFiles = []*os.File{pr}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	var errLog bytes.Buffer
	uri := ""
	sc := bufio.NewScanner(io.TeeReader(stderr, &errLog))
	for uri == "" && sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "otpauth://") {
			uri = line
		}
	}
	if uri == "" {
		pw.Close()
		cmd.Wait()
		t.Fatalf("no otpauth URI on stderr:\n%s", errLog.String())
	}
	io.WriteString(pw, totpCode(t, mustSecret(t, uri), time.Now())+"\n")
	pw.Close()
	io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("totp enrol: %v\n%s\n%s", err, stdout.String(), errLog.String())
	}
	codes := regexp.MustCompile(`(?m)^\s+([a-z2-7]{4}(-[a-z2-7]{4}){3})$`).FindAllStringSubmatch(stdout.String(), -1)
	var out []string
	for _, c := range codes {
		out = append(out, c[1])
	}
	if len(out) != 10 {
		t.Fatalf("%d recovery codes printed:\n%s", len(out), stdout.String())
	}
	return uri, out
}

func mustSecret(t *testing.T, uri string) string {
	t.Helper()
	m := regexp.MustCompile(`[?&]secret=([A-Z2-7]+)`).FindStringSubmatch(uri)
	if m == nil {
		t.Fatal("the URI has no secret")
	}
	return m[1]
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
