//go:build unix

package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/redact"
)

// clientUser is an account of a custodyServed: its password file, TOTP
// secret, the last TOTP step it used, and a client environment of its
// own (credentials file).
type clientUser struct {
	login, id, pwFile, secret string
	last                      int64
	env                       []string
}

// custodyServed is a served data directory with org acme (owner olive and
// sealer jane with TOTP, preparer pete without), org globex (owner gina,
// sealer gus with an identity), and the operator admin.
type custodyServed struct {
	*served
	dir   string
	users map[string]*clientUser
	gusID string // gus's identity in globex
}

// newCustodyServed provisions the accounts on the data directory (in this
// process, before the server starts) and starts `sealkeep serve`.
func newCustodyServed(t *testing.T) *custodyServed {
	t.Helper()
	dir := t.TempDir()
	s := &served{home: filepath.Join(dir, "data"), creds: filepath.Join(dir, "admin.json"), pwFile: filepath.Join(dir, "pw")}
	if err := os.WriteFile(s.pwFile, []byte("operator password 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSK(t, 0, nil, "--data-dir", s.home, "init")
	var op struct{ ID string }
	if err := json.Unmarshal([]byte(mustSK(t, 0, nil, "--data-dir", s.home, "setup", "--operator", "admin", "--password-file", s.pwFile, "--json")), &op); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"SEALKEEP_CREDENTIALS=" + s.creds, "SEALKEEP_HOME=" + filepath.Join(dir, "no-home")}
	cs := &custodyServed{served: s, dir: dir, users: map[string]*clientUser{"admin": {login: "admin", id: op.ID, pwFile: s.pwFile, env: s.env}}}

	ctx := context.Background()
	env, err := config.Open(ctx, s.home)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := env.Publisher(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	as := auth.New(pub, env.KEK, auth.Options{Password: auth.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}})
	cu := custody.New(pub, env.KEK, custody.Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, org := range []string{"acme", "globex"} {
		_, err := cu.CreateOrg(ctx, audit.Actor{Kind: audit.ActorUser, ID: op.ID}, org, org)
		must(err)
	}
	for _, m := range []struct {
		org, login string
		role       auth.Role
		totp       bool
	}{{"acme", "olive", auth.RoleOwner, true}, {"acme", "jane", auth.RoleSealer, true}, {"acme", "pete", auth.RolePreparer, false},
		{"globex", "gina", auth.RoleOwner, false}, {"globex", "gus", auth.RoleSealer, false}} {
		pw := m.login + " password 12345"
		u := &clientUser{login: m.login, pwFile: filepath.Join(dir, m.login+".pw"),
			env: []string{"SEALKEEP_CREDENTIALS=" + filepath.Join(dir, m.login+".json"), "SEALKEEP_HOME=" + filepath.Join(dir, "no-home")}}
		must(os.WriteFile(u.pwFile, []byte(pw+"\n"), 0o600))
		su, err := as.CreateUser(ctx, op.ID, m.login, redact.NewSecret([]byte(pw)))
		must(err)
		u.id = su.ID
		by := op.ID // the operator makes the first owner; the owner the rest
		if m.role != auth.RoleOwner {
			by = cs.users[map[string]string{"acme": "olive", "globex": "gina"}[m.org]].id
		}
		must(as.SetMember(ctx, by, m.org, u.id, m.role))
		if m.totp {
			e, err := as.BeginTOTP(ctx, u.id)
			must(err)
			uri, err := url.Parse(string(e.URI.Bytes()))
			must(err)
			u.secret = uri.Query().Get("secret")
			u.last = time.Now().Unix()/auth.TOTPPeriod - 2
			_, err = as.ConfirmTOTP(ctx, u.id, redact.NewSecret([]byte(cs.code(t, u))), "")
			must(err)
		}
		cs.users[m.login] = u
	}
	id, err := cu.CreateIdentity(ctx, audit.Actor{Kind: audit.ActorUser, ID: cs.users["gus"].id}, custody.IdentitySpec{Org: "globex", Owner: cs.users["gus"].id, Name: "Gus"})
	must(err)
	cs.gusID = id.ID
	s.srv = startServe(t, s.home)
	return cs
}

// code returns u's TOTP code for the step after the last one it used: a
// step within one of now's, so that three codes (the last step, this one
// and the next) fit in one real step; past that it waits for the clock.
func (cs *custodyServed) code(t *testing.T, u *clientUser) string {
	t.Helper()
	step := max(time.Now().Unix()/auth.TOTPPeriod-1, u.last+1)
	for step > time.Now().Unix()/auth.TOTPPeriod+1 {
		time.Sleep(time.Second)
	}
	u.last = step
	c, err := totp.GenerateCodeCustom(u.secret, time.Unix(step*auth.TOTPPeriod, 0), totp.ValidateOpts{Period: auth.TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// codeFile writes a code to a file of its own and returns the path.
func (cs *custodyServed) codeFile(t *testing.T, code string) string {
	t.Helper()
	f, err := os.CreateTemp(cs.dir, "code-*")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(code + "\n")
	f.Close()
	return f.Name()
}

// login signs u in with the CLI.
func (cs *custodyServed) login(t *testing.T, u *clientUser) {
	t.Helper()
	args := []string{"login", "--server", cs.srv.url, "--login", u.login, "--password-file", u.pwFile}
	if u.secret != "" {
		args = append(args, "--code-file", cs.codeFile(t, cs.code(t, u)))
	}
	mustSK(t, 0, u.env, args...)
}

// TestClientCustody: the client forms of identity and cert against a
// real `sealkeep serve`: a sealer creates an identity, generates a key,
// has the CSR signed by openssl, uploads, activates with a TOTP code from a
// file, is refused the replayed code (exit 6), lists, shows, revokes,
// destroys and imports the demo PKCS#12; others are refused with the exit
// codes the local forms use; no code, passphrase or token reaches the
// server log or the output.
func TestClientCustody(t *testing.T) {
	cs := newCustodyServed(t)
	srv := cs.srv.url
	jane, pete, admin, gus := cs.users["jane"], cs.users["pete"], cs.users["admin"], cs.users["gus"]
	for _, u := range []*clientUser{jane, pete, admin, gus} {
		cs.login(t, u)
	}
	sk := func(u *clientUser, want int, args ...string) string {
		t.Helper()
		return mustSK(t, want, u.env, append([]string{"--server", srv}, args...)...)
	}

	out := sk(jane, 0, "identity", "create", "--org", "acme", "--name", "Jane Doe, P.E. 12345", "--json")
	var ident struct{ ID, Owner string }
	if err := json.Unmarshal([]byte(out), &ident); err != nil || ident.Owner != jane.id || !strings.HasPrefix(ident.ID, "idt-") {
		t.Fatalf("identity create: %v %s", err, out)
	}
	id := ident.ID
	sk(jane, 2, "identity", "create", "--org", "acme", "--name", "X", "--owner", "pete")
	sk(jane, 2, "identity", "create", "--org", "acme", "--name", "X", "--id", "mine")
	sk(pete, 3, "identity", "create", "--org", "acme", "--name", "Pete")
	sk(admin, 3, "identity", "create", "--org", "acme", "--name", "Admin")
	if out := sk(pete, 0, "identity", "list", "--org", "acme"); !strings.Contains(out, id) {
		t.Fatalf("identity list: %s", out)
	}
	sk(admin, 3, "identity", "list", "--org", "acme")
	sk(jane, 0, "identity", "show", id, "--org", "acme")
	sk(jane, 2, "identity", "show", id) // --server without --org

	csr := filepath.Join(cs.dir, "jane.csr")
	cert := filepath.Join(cs.dir, "jane.pem")
	sk(pete, 3, "cert", "generate", "--org", "acme", "--identity", id, "--alg", "ECDSA-P256", "--subject-cn", "Pete", "--csr-out", csr)
	if _, err := os.Stat(csr); !os.IsNotExist(err) {
		t.Fatal("a refused generate left its CSR file")
	}
	sk(jane, 2, "cert", "generate", "--org", "acme", "--identity", id, "--alg", "RSA-1024", "--subject-cn", "Jane", "--csr-out", csr)
	out = sk(jane, 0, "cert", "generate", "--org", "acme", "--identity", id, "--alg", "ECDSA-P256", "--subject-cn", "Jane Doe", "--csr-out", csr)
	if !strings.Contains(out, "version 1 is pending") {
		t.Fatalf("generate: %s", out)
	}
	ca := pkitest.Root(t, "client test CA")
	caPEM := filepath.Join(cs.dir, "ca.pem")
	opensslIssue(t, ca, csr, caPEM, cert)
	sk(jane, 2, "cert", "upload", "--identity", id, "--version", "1", "--cert", cert, "--chain", caPEM) // no --org
	if out := sk(jane, 0, "cert", "upload", "--org", "acme", "--identity", id, "--version", "1", "--cert", cert, "--chain", caPEM); !strings.Contains(out, "is ready") {
		t.Fatalf("upload: %s", out)
	}
	// Activation: the code from a file; a replay is exit 6; no source and
	// no terminal is exit 2.
	sk(jane, 2, "cert", "activate", "--org", "acme", "--identity", id, "--version", "1")
	code := cs.code(t, jane)
	codeFile := cs.codeFile(t, code)
	if out := sk(jane, 0, "cert", "activate", "--org", "acme", "--identity", id, "--version", "1", "--code-file", codeFile); !strings.Contains(out, "is active") {
		t.Fatalf("activate: %s", out)
	}
	if out := sk(jane, 6, "cert", "activate", "--org", "acme", "--identity", id, "--version", "1", "--code-file", codeFile); !strings.Contains(out, "already used") {
		t.Fatalf("replayed code: %s", out)
	}
	out = sk(jane, 0, "cert", "show", "--org", "acme", "--identity", id, "--version", "1", "--json")
	var shown custody.VersionInfo
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Status != "active" || len(shown.History) != 3 ||
		shown.History[2].Details[audit.DetailMFAMethod] != "totp" || !regexp.MustCompile(`^r-[0-9a-f]{24}$`).MatchString(shown.History[2].Details[audit.DetailRequestID]) {
		t.Fatalf("cert show: %v %s", err, out)
	}
	if out := sk(jane, 0, "cert", "list", "--org", "acme", "--identity", id); !regexp.MustCompile(`1 +active +ECDSA-P256`).MatchString(out) {
		t.Fatalf("cert list: %s", out)
	}

	// Import the demo PKCS#12 as version 2; a wrong passphrase is exit 2.
	p12 := filepath.Join("..", "..", "testdata", "demo", "demo-signer.p12")
	pass := filepath.Join("..", "..", "testdata", "demo", "demo-passphrase.txt")
	wrong := filepath.Join(cs.dir, "wrong-pass")
	os.WriteFile(wrong, []byte("not the passphrase\n"), 0o600)
	sk(jane, 2, "cert", "import", "--org", "acme", "--identity", id, "--file", p12, "--passphrase-file", wrong)
	sk(jane, 2, "cert", "import", "--org", "acme", "--identity", id, "--file", p12) // no passphrase source, no terminal
	if out := sk(jane, 0, "cert", "import", "--org", "acme", "--identity", id, "--file", p12, "--passphrase-file", pass); !strings.Contains(out, "version 2 is ready") {
		t.Fatalf("import: %s", out)
	}
	sk(pete, 3, "cert", "revoke", "--org", "acme", "--identity", id, "--version", "1", "--reason", "pete")
	sk(jane, 2, "cert", "revoke", "--org", "acme", "--identity", id, "--version", "1")
	if out := sk(jane, 0, "cert", "revoke", "--org", "acme", "--identity", id, "--version", "1", "--reason", "key compromise"); !strings.Contains(out, "is revoked") {
		t.Fatalf("revoke: %s", out)
	}
	if out := sk(jane, 0, "cert", "destroy", "--org", "acme", "--identity", id, "--version", "1"); !strings.Contains(out, "is destroyed") {
		t.Fatalf("destroy: %s", out)
	}
	sk(jane, 3, "cert", "destroy", "--org", "acme", "--identity", id, "--version", "1")

	// Another org: its path is 403 for jane, its identity through acme's
	// path 404 (both exit 3), and gus cannot touch jane's identity.
	sk(jane, 3, "cert", "list", "--org", "globex", "--identity", cs.gusID)
	sk(jane, 3, "cert", "list", "--org", "acme", "--identity", cs.gusID)
	sk(gus, 3, "cert", "destroy", "--org", "acme", "--identity", id, "--version", "2")
	sk(jane, 3, "cert", "show", "--org", "acme", "--identity", id, "--version", "9")
	// Local flags that have no client form, and --org without --server.
	mustSK(t, 2, jane.env, "--data-dir", cs.home, "cert", "list", "--identity", id, "--org", "acme")
	mustSK(t, 2, jane.env, "--data-dir", cs.home, "cert", "activate", "--identity", id, "--version", "2", "--code-file", codeFile)
	// Signed out: exit 6.
	mustSK(t, 0, jane.env, "logout", "--server", srv)
	sk(jane, 6, "cert", "list", "--org", "acme", "--identity", id)

	// The server log holds no code, passphrase or token.
	log := cs.srv.log.String()
	secrets := []string{code, "sealkeep demo passphrase", "not the passphrase"}
	for _, u := range []*clientUser{jane, pete, admin, gus} {
		b, _ := os.ReadFile(strings.TrimPrefix(u.env[0], "SEALKEEP_CREDENTIALS="))
		var creds []struct{ Token string }
		json.Unmarshal(b, &creds)
		for _, c := range creds {
			secrets = append(secrets, c.Token)
		}
	}
	for _, s := range secrets {
		if form, found := redact.ScanForSecret([]byte(log), []byte(s)); found {
			t.Errorf("the server log holds a secret (%s)", form)
		}
	}
	// The trail of the local data directory verifies.
	mustSK(t, 0, nil, "--data-dir", cs.home, "audit", "verify")
}

// opensslIssue has openssl, as the CA ca, issue a document-signing
// certificate for the PEM CSR at csr, writing the CA's certificate to
// caOut and the leaf to leafOut.
func opensslIssue(t *testing.T, ca *pkitest.Cert, csr, caOut, leafOut string) {
	t.Helper()
	dir := t.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(caOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	os.WriteFile(filepath.Join(dir, "leaf.ext"), []byte("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=emailProtection\n"), 0o644)
	cmd := exec.Command("openssl", "x509", "-req", "-in", csr, "-CA", caOut, "-CAkey", filepath.Join(dir, "ca.key"), "-set_serial", "0x5eed",
		"-days", "30", "-sha256", "-extfile", filepath.Join(dir, "leaf.ext"), "-out", leafOut)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl x509 -req: %v\n%s", err, out)
	}
}
