package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/idempotency"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/passkey"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// cheapHash keeps the API tests' argon2id work small; the auth package
// tests the real parameters.
var cheapHash = auth.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// The WebAuthn relying party of a world's passkey service, and the origin
// its pages (the software authenticator) claim.
const (
	testRPID   = "sealkeep.test"
	testOrigin = "https://sealkeep.test"
)

// testClock is a settable clock shared by the account and custody
// services of a world, so that tests can move to the next TOTP step.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// member is an account of a world: its login, password, user ID and, for
// an account with TOTP, its secret.
type member struct {
	login, password, id string
	totp                string
}

// world is a server over a real store with accounts in every role:
//
//   - op: the platform operator;
//   - acme: owner olive, sealer jane (identity id-jane, an active ECDSA
//     P-256 version whose certificate is from ca), sealer sam (identity
//     id-sam, no version), preparer pete, auditor audrey;
//   - globex: owner gina, sealer gus (identity id-gus, active).
//
// Every member but the operator has TOTP. Secrets that pass through are
// registered in secrets for the leak scans.
type world struct {
	*api
	t       *testing.T
	ctx     context.Context
	st      store.Store
	clk     *testClock
	auth    *auth.Service
	custody *custody.Service
	kek     envelope.KEK
	ca      *pkitest.Cert
	users   map[string]*member
	thumb   map[string][32]byte // identity -> its active version's certificate SHA-256
	secrets [][]byte
}

// newWorld builds a world on st; cfg's Auth, Keys and Clock are replaced
// (and Idempotency set if nil).
func newWorld(t *testing.T, st store.Store, cfg Config) *world {
	t.Helper()
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	kek := keyring(t)
	w := &world{t: t, ctx: context.Background(), st: st, clk: clk, kek: kek, users: map[string]*member{}, thumb: map[string][32]byte{}}
	w.auth = auth.New(st, kek, auth.Options{Clock: clk.now, Password: cheapHash})
	w.custody = custody.New(st, kek, custody.Options{Clock: clk.now})
	cfg.Auth, cfg.Keys, cfg.Clock = w.auth, w.custody, clk.now
	if cfg.Passkeys == nil {
		pk, err := passkey.New(st, passkey.Config{RPID: testRPID, Origins: []string{testOrigin}, Clock: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Passkeys = pk
	}
	if cfg.Idempotency == nil {
		cfg.Idempotency = idempotency.New(st, idempotency.Options{Clock: clk.now})
	}
	w.api = newAPI(t, cfg)
	w.ca = pkitest.Root(t, "server test CA")

	op, err := w.auth.Setup(w.ctx, "operator", w.secret("operator password 1"))
	w.must(err)
	w.users["operator"] = &member{login: "operator", password: "operator password 1", id: op.ID}
	opActor := audit.Actor{Kind: audit.ActorUser, ID: op.ID}
	for _, org := range []struct{ id, owner string }{{"acme", "olive"}, {"globex", "gina"}} {
		_, err := w.custody.CreateOrg(w.ctx, opActor, org.id, strings.ToUpper(org.id[:1])+org.id[1:])
		w.must(err)
		m := w.newUser(op.ID, org.owner)
		w.must(w.auth.SetMember(w.ctx, op.ID, org.id, m.id, auth.RoleOwner))
	}
	for _, m := range []struct {
		org, login string
		role       auth.Role
	}{
		{"acme", "jane", auth.RoleSealer}, {"acme", "sam", auth.RoleSealer}, {"acme", "pete", auth.RolePreparer},
		{"acme", "audrey", auth.RoleAuditor}, {"globex", "gus", auth.RoleSealer},
	} {
		owner := w.users[map[string]string{"acme": "olive", "globex": "gina"}[m.org]]
		u := w.newUser(owner.id, m.login)
		w.must(w.auth.SetMember(w.ctx, owner.id, m.org, u.id, m.role))
	}
	for _, u := range w.users {
		if u.login != "operator" {
			w.enrol(u)
		}
	}
	w.identity("acme", "jane", "id-jane", true)
	w.identity("acme", "sam", "id-sam", false)
	w.identity("globex", "gus", "id-gus", true)
	return w
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// secret registers s for the leak scans and returns it as a Secret.
func (w *world) secret(s string) *redact.Secret {
	w.secrets = append(w.secrets, []byte(s))
	return redact.NewSecret([]byte(s))
}

// newUser creates an account with a password derived from its login.
func (w *world) newUser(actorID, login string) *member {
	w.t.Helper()
	pw := login + " password 12345"
	u, err := w.auth.CreateUser(w.ctx, actorID, login, w.secret(pw))
	w.must(err)
	m := &member{login: login, password: pw, id: u.ID}
	w.users[login] = m
	return m
}

// enrol enrols and confirms TOTP for m.
func (w *world) enrol(m *member) {
	w.t.Helper()
	e, err := w.auth.BeginTOTP(w.ctx, m.id)
	w.must(err)
	w.secrets = append(w.secrets, append([]byte(nil), e.URI.Bytes()...))
	u, err := url.Parse(string(e.URI.Bytes()))
	w.must(err)
	m.totp = u.Query().Get("secret")
	w.secret(m.totp)
	codes, err := w.auth.ConfirmTOTP(w.ctx, m.id, w.code(m), "")
	w.must(err)
	for _, c := range codes {
		w.secrets = append(w.secrets, append([]byte(nil), c.Bytes()...))
	}
	w.clk.add(auth.TOTPPeriod * time.Second)
}

// code is m's TOTP code at the world's time. A code is accepted once: call
// w.nextStep before the next one of the same user.
func (w *world) code(m *member) *redact.Secret {
	w.t.Helper()
	c, err := totp.GenerateCode(m.totp, w.clk.now())
	w.must(err)
	return w.secret(c)
}

// nextStep moves the world's clock to the next TOTP step.
func (w *world) nextStep() { w.clk.add(auth.TOTPPeriod * time.Second) }

// identity creates identity id in org for its owner login; active gives it
// an active ECDSA P-256 version certified by the world's CA.
func (w *world) identity(org, login, id string, active bool) {
	w.t.Helper()
	m := w.users[login]
	actor := audit.Actor{Kind: audit.ActorUser, ID: m.id}
	_, err := w.custody.CreateIdentity(w.ctx, actor, custody.IdentitySpec{ID: id, Org: org, Owner: m.id, Name: login + ", P.E. 12345"})
	w.must(err)
	if !active {
		return
	}
	v, _, err := w.custody.GenerateKey(w.ctx, actor, id, keypolicy.ECDSAP256, pkix.Name{CommonName: login})
	w.must(err)
	var pub crypto.PublicKey
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		sv, err := tx.Version(id, v.Version)
		if err != nil {
			return err
		}
		pub, err = x509.ParsePKIXPublicKey(sv.PublicKey)
		return err
	}))
	leaf := pkitest.Issue(w.t, w.ca, pkitest.LeafTemplate(login), pub)
	_, err = w.custody.UploadCertificate(w.ctx, actor, id, v.Version, leaf.Raw, [][]byte{w.ca.Cert.Raw})
	w.must(err)
	_, err = w.custody.Activate(w.ctx, actor, id, v.Version, "first")
	w.must(err)
	w.thumb[id] = sha256.Sum256(leaf.Raw)
}

// token signs login in through POST /api/v1/tokens (with a TOTP code if
// it has TOTP) and returns the bearer token.
func (w *world) token(login string) string {
	w.t.Helper()
	m := w.users[login]
	body := map[string]any{"login": m.login, "password": m.password, "name": "test"}
	if m.totp != "" {
		body["code"] = string(w.code(m).Bytes())
		defer w.nextStep()
	}
	resp, out := w.postJSON("/api/v1/tokens", "", body)
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("token for %s: %d %s", login, resp.StatusCode, out)
	}
	var tok tokenJSON
	w.must(json.Unmarshal(out, &tok))
	w.secrets = append(w.secrets, []byte(tok.Token))
	return tok.Token
}

// browser is a signed-in browser session: its cookie and CSRF token.
type browser struct {
	cookie, csrf string
}

// session signs login in through POST /api/v1/session.
func (w *world) session(login string) browser {
	w.t.Helper()
	m := w.users[login]
	body := map[string]any{"login": m.login, "password": m.password}
	if m.totp != "" {
		body["code"] = string(w.code(m).Bytes())
		defer w.nextStep()
	}
	resp, out := w.postJSON("/api/v1/session", "", body)
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("session for %s: %d %s", login, resp.StatusCode, out)
	}
	var s sessionJSON
	w.must(json.Unmarshal(out, &s))
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			w.secrets = append(w.secrets, []byte(c.Value))
			return browser{cookie: c.Value, csrf: s.CSRFToken}
		}
	}
	w.t.Fatalf("no session cookie for %s", login)
	return browser{}
}

// request sends method path with body as JSON (nil: no body) and the
// bearer token (if not "").
func (w *world) request(method, path, bearer string, body any, hdr ...string) (*http.Response, []byte) {
	w.t.Helper()
	var b []byte
	if body != nil {
		var err error
		b, err = json.Marshal(body)
		w.must(err)
	}
	req, err := http.NewRequest(method, w.ts.URL+path, strings.NewReader(string(b)))
	w.must(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return w.do(req, b)
}

// postJSON posts body as JSON with the bearer token (if not "").
func (w *world) postJSON(path, bearer string, body any) (*http.Response, []byte) {
	w.t.Helper()
	return w.request("POST", path, bearer, body)
}

// checkNoLeaks scans the server log for every secret the world saw.
//
// A short secret (a six-digit TOTP code) turns up by chance inside longer
// numbers and hex strings (durations, request IDs): it counts only as a
// token of its own, not inside a run of letters, digits and dots.
func (w *world) checkNoLeaks() {
	w.t.Helper()
	log := []byte(w.log.String())
	for _, s := range w.secrets {
		if len(s) < shortSecret {
			if standsAlone(log, s) {
				w.t.Errorf("the server log holds a code")
			}
			continue
		}
		if form, found := redact.ScanForSecret(log, s); found {
			w.t.Errorf("the server log holds a secret (%s)", form)
		}
	}
}

// shortSecret is the length below which a secret is only looked for as a
// token of its own.
const shortSecret = 10

// standsAlone reports whether s occurs in b with no letter, digit or dot
// on either side.
func standsAlone(b, s []byte) bool {
	inWord := func(c byte) bool {
		return c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], s)
		if j < 0 {
			return false
		}
		at := i + j
		end := at + len(s)
		if (at == 0 || !inWord(b[at-1])) && (end == len(b) || !inWord(b[end])) {
			return true
		}
		i = at + 1
	}
}
