package auth_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/intent"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
)

// cheap are argon2id parameters that keep the service tests fast; the
// password tests run the defaults.
var cheap = auth.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuf is a log sink safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// fixture is an auth service and a custody service over one store, with a
// test clock, a log capture and a list of every error and secret seen, so
// that leak checks can scan one for the other.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	st      store.Store
	kek     *envelope.Keyring
	clk     *clock
	logs    *syncBuf
	svc     *auth.Service
	custody *custody.Service
	mu      sync.Mutex
	errs    []error
	secrets [][]byte
	thumb   [32]byte // SHA-256 of jane's certificate (world)
}

// t0 is the start of the current TOTP step: the test clock starts there
// (the test CA's certificates are valid from a little before now).
var t0 = time.Unix(time.Now().Unix()/auth.TOTPPeriod*auth.TOTPPeriod, 0).UTC()

// logOpts logs everything but the time, whose nanoseconds would match a
// 6-digit code by chance now and then.
var logOpts = &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}}

func newFixture(t testing.TB, st store.Store, opts auth.Options) *fixture {
	t.Helper()
	kek, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "kek.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureKEK(t, st, kek, opts)
}

func newFixtureKEK(t testing.TB, st store.Store, kek *envelope.Keyring, opts auth.Options) *fixture {
	f := &fixture{t: t, ctx: context.Background(), st: st, kek: kek, clk: &clock{t: t0}, logs: &syncBuf{}}
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(f.logs, logOpts)))
	if opts.Password == (auth.PasswordParams{}) {
		opts.Password = cheap
	}
	opts.Clock, opts.Logger = f.clk.now, logger
	f.svc = auth.New(st, kek, opts)
	f.custody = custody.New(st, kek, custody.Options{Clock: f.clk.now, Logger: logger})
	t.Cleanup(f.checkNoLeaks)
	return f
}

// sibling is a second instance: its own Store handle on the same
// database, its own services, the same clock and KEK.
func (f *fixture) sibling(st store.Store) *fixture {
	g := &fixture{t: f.t, ctx: f.ctx, st: st, kek: f.kek, clk: f.clk, logs: f.logs, thumb: f.thumb}
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(g.logs, logOpts)))
	g.svc = auth.New(st, f.kek, auth.Options{Clock: f.clk.now, Logger: logger, Password: cheap})
	g.custody = custody.New(st, f.kek, custody.Options{Clock: f.clk.now, Logger: logger})
	f.t.Cleanup(func() {
		f.mu.Lock()
		f.errs = append(f.errs, g.errs...)
		f.secrets = append(f.secrets, g.secrets...)
		f.mu.Unlock()
	})
	return g
}

// secret registers a secret for the leak scan and returns it as a Secret.
func (f *fixture) secret(s string) *redact.Secret {
	f.mu.Lock()
	f.secrets = append(f.secrets, []byte(s))
	f.mu.Unlock()
	return redact.NewSecret([]byte(s))
}

// seen registers the secret bytes of x for the leak scan.
func (f *fixture) seen(x *redact.Secret) *redact.Secret {
	f.mu.Lock()
	f.secrets = append(f.secrets, bytes.Clone(x.Bytes()))
	f.mu.Unlock()
	return x
}

// err records err for the leak scan and returns it.
func (f *fixture) err(err error) error {
	if err != nil {
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
	}
	return err
}

// checkNoLeaks fails the test if a secret leaked (see leaks).
func (f *fixture) checkNoLeaks() {
	for _, l := range f.leaks() {
		f.t.Error(l)
	}
}

// leaks scans every error (its text, %v, %+v and %#v) and every log line
// for every secret the test handled, and describes each one found.
func (f *fixture) leaks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hay bytes.Buffer
	for _, err := range f.errs {
		fmt.Fprintf(&hay, "%s\n%v\n%+v\n%#v\n", err.Error(), err, err, err)
	}
	hay.Write(f.logs.Bytes())
	// The audit trail is exported and shown: it must hold no secret either.
	f.mu.Unlock()
	_ = f.st.View(f.ctx, func(tx store.ReadTx) error {
		chains, err := tx.AuditChains()
		for _, c := range chains {
			err = errors.Join(err, tx.AuditEntries(c, 1, func(e audit.Entry) error {
				// The chain's own hashes are left out: as hex they would
				// match a 6-digit code by chance now and then.
				e.Hash, e.PrevHash = audit.Hash{}, audit.Hash{}
				fmt.Fprintf(&hay, "%+v\n", e)
				return nil
			}))
		}
		return err
	})
	f.mu.Lock()
	var out []string
	for _, s := range f.secrets {
		if form, found := redact.ScanForSecret(hay.Bytes(), s); found {
			out = append(out, fmt.Sprintf("a secret (%d bytes) leaked into errors or logs as %s", len(s), form))
		}
	}
	return out
}

func openSQLite(t testing.TB) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t *testing.T, dsn string) store.Store {
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eachBackend runs f on SQLite and PostgreSQL.
func eachBackend(t *testing.T, f func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, openPostgres(t, pgtest.Fresh(t))) })
}

// must fails the test on err.
func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(f.err(err))
	}
}

// wantErr fails unless err wraps target.
func (f *fixture) wantErr(what string, err, target error) {
	f.t.Helper()
	f.err(err)
	if !errors.Is(err, target) {
		f.t.Errorf("%s: got %v, want %v", what, err, target)
	}
}

const (
	opPassword    = "operator password 1"
	ownerPassword = "owner password 22"
	janePassword  = "jane password 333"
)

// world is the operator, an org "acme" with its owner, and a sealer jane.
type world struct {
	op, owner, jane store.User
}

func (f *fixture) world() world {
	f.t.Helper()
	var w world
	var err error
	w.op, err = f.svc.Setup(f.ctx, "operator", f.secret(opPassword))
	f.must(err)
	_, err = f.custody.CreateOrg(f.ctx, audit.Actor{Kind: audit.ActorUser, ID: w.op.ID}, "acme", "Acme Engineering")
	f.must(err)
	w.owner, err = f.svc.CreateUser(f.ctx, w.op.ID, "olive", f.secret(ownerPassword))
	f.must(err)
	f.must(f.svc.SetMember(f.ctx, w.op.ID, "acme", w.owner.ID, auth.RoleOwner))
	w.jane, err = f.svc.CreateUser(f.ctx, w.owner.ID, "Jane", f.secret(janePassword))
	f.must(err)
	f.must(f.svc.SetMember(f.ctx, w.owner.ID, "acme", w.jane.ID, auth.RoleSealer))
	// Jane's signing identity with an active ECDSA P-256 version, made
	// through custody with a certificate from a test CA.
	actor := audit.Actor{Kind: audit.ActorUser, ID: w.jane.ID}
	_, err = f.custody.CreateIdentity(f.ctx, actor, custody.IdentitySpec{ID: "id-jane", Org: "acme", Owner: w.jane.ID, Name: "Jane Doe, P.E. 12345, Texas"})
	f.must(err)
	v, _, err := f.custody.GenerateKey(f.ctx, actor, "id-jane", keypolicy.ECDSAP256, pkix.Name{CommonName: "Jane Doe"})
	f.must(err)
	var pub crypto.PublicKey
	f.must(f.st.View(f.ctx, func(tx store.ReadTx) error {
		sv, err := tx.Version("id-jane", v.Version)
		if err != nil {
			return err
		}
		pub, err = x509.ParsePKIXPublicKey(sv.PublicKey)
		return err
	}))
	root := pkitest.Root(f.t, "auth test CA")
	leaf := pkitest.Issue(f.t, root, pkitest.LeafTemplate("Jane Doe"), pub)
	_, err = f.custody.UploadCertificate(f.ctx, actor, "id-jane", v.Version, leaf.Raw, [][]byte{root.Cert.Raw})
	f.must(err)
	_, err = f.custody.Activate(f.ctx, actor, "id-jane", v.Version, "first")
	f.must(err)
	f.thumb = sha256.Sum256(leaf.Raw)
	return w
}

// enrol enrols and confirms TOTP for user and returns the base32 secret
// and the recovery codes.
func (f *fixture) enrol(user string) (string, []*redact.Secret) {
	f.t.Helper()
	e, err := f.svc.BeginTOTP(f.ctx, user)
	f.must(err)
	f.seen(e.URI)
	f.seen(e.QRPNG)
	u, err := url.Parse(string(e.URI.Bytes()))
	f.must(err)
	secret := u.Query().Get("secret")
	f.secret(secret)
	codes, err := f.svc.ConfirmTOTP(f.ctx, user, f.code(secret), "")
	f.must(err)
	for _, c := range codes {
		f.seen(c)
	}
	return secret, codes
}

// code returns the current TOTP code of secret, registered for the scan.
func (f *fixture) code(secret string) *redact.Secret {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.clk.now())
	if err != nil {
		f.t.Fatal(err)
	}
	return f.secret(c)
}

// nextStep moves the clock to the next TOTP step.
func (f *fixture) nextStep() { f.clk.add(auth.TOTPPeriod * time.Second) }

// intentFor returns a fresh intent of user in acme.
func (f *fixture) intentFor(user, doc string) intent.Intent {
	f.t.Helper()
	in, err := intent.New("acme", user, "id-jane", 1, f.thumb, sha256.Sum256([]byte(doc)),
		map[string]string{"pades": "B-B"}, f.clk.now(), 2*time.Minute)
	f.must(err)
	return in
}

// verifyChains checks every chain with the production verifier, and
// that the stored accounts are the trail's.
func (f *fixture) verifyChains() {
	f.t.Helper()
	f.must(f.svc.CheckAccounts(f.ctx))
	chains, err := f.custody.Chains(f.ctx)
	f.must(err)
	for _, c := range chains {
		rep, err := f.custody.VerifyChain(f.ctx, c, nil, nil, nil)
		f.must(err)
		if !rep.OK() {
			f.t.Errorf("chain %s: %v", c, rep.Error())
		}
	}
}

// entries returns the actions of a chain's entries.
func (f *fixture) actions(chain string) []audit.Action {
	f.t.Helper()
	var out []audit.Action
	f.must(f.st.View(f.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(chain, 1, func(e audit.Entry) error {
			out = append(out, e.Action)
			return nil
		})
	}))
	return out
}

// count returns how many entries of chain have action.
func (f *fixture) count(chain string, a audit.Action) int {
	n := 0
	for _, x := range f.actions(chain) {
		if x == a {
			n++
		}
	}
	return n
}

func hexString(b []byte) string { return fmt.Sprintf("%x", b) }

// sqlExec runs raw SQL on the SQLite database at path, outside the
// store, as an insider editing the database would.
func sqlExec(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatal(err)
	}
}
