package passkey_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/intent"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/passkey"
	"sealkeep/internal/passkey/passkeytest"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
)

const (
	rpID   = "sealkeep.example"
	origin = "https://sealkeep.example"
)

// backend is a fresh store, raw SQL on it (the insider) and a second
// handle on the same database (another server instance).
type backend struct {
	name string
	open func(t *testing.T) (st store.Store, exec func(query string), reopen func() store.Store)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (store.Store, func(string), func() store.Store) {
		path := filepath.Join(t.TempDir(), "sk.db")
		open := func() store.Store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		return open(), func(q string) {
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("exec %s: %v", q, err)
			}
		}, open
	}},
	{"postgres", func(t *testing.T) (store.Store, func(string), func() store.Store) {
		dsn := pgtest.Fresh(t)
		open := func() store.Store {
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		return open(), func(q string) { pgtest.Exec(t, dsn, q) }, open
	}},
}

// each runs f on every backend.
func each(t *testing.T, f func(t *testing.T, w *world)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, newWorld(t, b)) })
	}
}

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
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is org acme with two sealers, jane (identity id-jane, an active
// version) and sam (id-sam, active too), on a real store, with the
// passkey service over it.
type world struct {
	ctx     context.Context
	st      store.Store
	exec    func(string)
	reopen  func() store.Store
	clk     *clock
	auth    *auth.Service
	custody *custody.Service
	pk      *passkey.Service
	jane    store.User
	sam     store.User
	thumb   map[string][32]byte
}

var cheap = auth.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func newWorld(t *testing.T, b backend) *world {
	t.Helper()
	st, exec, reopen := b.open(t)
	kek, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "kek.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ctx: context.Background(), st: st, exec: exec, reopen: reopen, clk: &clock{t: time.Now().UTC().Truncate(time.Second)},
		thumb: map[string][32]byte{}}
	w.auth = auth.New(st, kek, auth.Options{Clock: w.clk.now, Password: cheap})
	w.custody = custody.New(st, kek, custody.Options{Clock: w.clk.now})
	w.pk = w.service(t, st, passkey.Config{})
	pw := func(s string) *redact.Secret { return redact.NewSecret([]byte(s)) }
	op, err := w.auth.Setup(w.ctx, "operator", pw("operator password 1"))
	must(t, err)
	_, err = w.custody.CreateOrg(w.ctx, audit.Actor{Kind: audit.ActorUser, ID: op.ID}, "acme", "Acme")
	must(t, err)
	olive, err := w.auth.CreateUser(w.ctx, op.ID, "olive", pw("olive password 22"))
	must(t, err)
	must(t, w.auth.SetMember(w.ctx, op.ID, "acme", olive.ID, auth.RoleOwner))
	ca := pkitest.Root(t, "passkey test CA")
	for _, u := range []struct {
		login, identity string
		dst             *store.User
	}{{"jane", "id-jane", &w.jane}, {"sam", "id-sam", &w.sam}} {
		*u.dst, err = w.auth.CreateUser(w.ctx, olive.ID, u.login, pw(u.login+" password 333"))
		must(t, err)
		must(t, w.auth.SetMember(w.ctx, olive.ID, "acme", u.dst.ID, auth.RoleSealer))
		actor := audit.Actor{Kind: audit.ActorUser, ID: u.dst.ID}
		_, err = w.custody.CreateIdentity(w.ctx, actor, custody.IdentitySpec{ID: u.identity, Org: "acme", Owner: u.dst.ID, Name: u.login})
		must(t, err)
		v, _, err := w.custody.GenerateKey(w.ctx, actor, u.identity, keypolicy.ECDSAP256, pkix.Name{CommonName: u.login})
		must(t, err)
		var pub crypto.PublicKey
		must(t, st.View(w.ctx, func(tx store.ReadTx) error {
			sv, err := tx.Version(u.identity, v.Version)
			if err != nil {
				return err
			}
			pub, err = x509.ParsePKIXPublicKey(sv.PublicKey)
			return err
		}))
		leaf := pkitest.Issue(t, ca, pkitest.LeafTemplate(u.login), pub)
		_, err = w.custody.UploadCertificate(w.ctx, actor, u.identity, v.Version, leaf.Raw, [][]byte{ca.Cert.Raw})
		must(t, err)
		_, err = w.custody.Activate(w.ctx, actor, u.identity, v.Version, "first")
		must(t, err)
		w.thumb[u.identity] = sha256.Sum256(leaf.Raw)
	}
	return w
}

// service is a passkey service for rpID and origin over st on the
// world's clock, with cfg's other settings.
func (w *world) service(t *testing.T, st store.Store, cfg passkey.Config) *passkey.Service {
	t.Helper()
	cfg.RPID, cfg.Origins, cfg.Clock = rpID, []string{origin}, w.clk.now
	s, err := passkey.New(st, cfg)
	must(t, err)
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// js is v as JSON.
func js(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// register registers a new credential of a on u through svc and returns
// it.
func (w *world) register(t *testing.T, svc *passkey.Service, u store.User, a *passkeytest.Authenticator, name string) passkey.NewCredential {
	t.Helper()
	b, err := svc.BeginRegistration(w.ctx, u.ID)
	must(t, err)
	resp, err := a.Create(js(t, b.Options))
	must(t, err)
	n, err := svc.CheckRegistration(w.ctx, u.ID, b.Ceremony, name, resp)
	must(t, err)
	must(t, svc.CommitRegistration(w.ctx, n, nil))
	return n
}

// intent is u's intent of sealing a document (its SHA-256 from doc) with
// identity's active version 1.
func (w *world) intent(t *testing.T, u store.User, identity, doc string) intent.Intent {
	t.Helper()
	in, err := intent.New("acme", u.ID, identity, 1, w.thumb[identity], sha256.Sum256([]byte(doc)),
		map[string]string{"field": "Signature1", "pades_level": audit.LevelBB}, w.clk.now(), 2*time.Minute)
	must(t, err)
	return in
}

// approve runs a seal ceremony for in answered by a, and returns the
// checked assertion (or the error).
func (w *world) approve(t *testing.T, svc *passkey.Service, in intent.Intent, a *passkeytest.Authenticator) (passkey.Assertion, error) {
	t.Helper()
	b, err := svc.BeginSeal(w.ctx, in)
	must(t, err)
	resp, err := a.Get(js(t, b.Options))
	must(t, err)
	return svc.CheckAssertion(w.ctx, in.User, b.Ceremony, resp)
}

// commit commits an assertion in a transaction of its own, as the seal
// entry's transaction would.
func (w *world) commit(svc *passkey.Service, st store.Store, a passkey.Assertion) error {
	err := st.Update(w.ctx, func(tx store.Tx) error { return svc.CommitAssertion(tx, a) })
	if err != nil {
		return svc.AssertionFailed(w.ctx, a, err)
	}
	return nil
}

// system returns the system chain's entries of action.
func (w *world) system(t *testing.T, action audit.Action) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	must(t, w.st.View(w.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == action {
				out = append(out, e)
			}
			return nil
		})
	}))
	return out
}

// registry folds the system chain's passkeys, as audit verify does.
func (w *world) registry(t *testing.T) *audit.Passkeys {
	t.Helper()
	p := new(audit.Passkeys)
	must(t, w.st.View(w.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(audit.SystemChain, 1, p.Apply)
	}))
	return p
}
