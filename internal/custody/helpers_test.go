package custody

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/sqlite"
	"sealkeep/internal/testenv"
)

var testActor = audit.Actor{Kind: "cli", ID: "tester"}

// backend opens a fresh, empty store.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func openSQLite(t testing.TB) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// freshPostgresDSN creates a new database on the test server and returns
// its DSN.
func freshPostgresDSN(t testing.TB) string {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "custody_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func openPostgres(t *testing.T) store.Store {
	st, err := postgres.Open(context.Background(), freshPostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var backends = []backend{{"sqlite", func(t *testing.T) store.Store { return openSQLite(t) }}, {"postgres", openPostgres}}

// eachBackend runs f on both backends.
func eachBackend(t *testing.T, f func(t *testing.T, st store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

// fixture is a service over a store with a file keyring.
type fixture struct {
	svc  *Service
	st   store.Store
	kek  *envelope.Keyring
	ctx  context.Context
	opts Options
}

func newFixture(t testing.TB, st store.Store, opts Options) *fixture {
	t.Helper()
	kek, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "kek.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: New(st, kek, opts), st: st, kek: kek, ctx: context.Background(), opts: opts}
}

// orgIdentity creates org and an identity in it.
func (f *fixture) orgIdentity(t testing.TB, org, identity string) {
	t.Helper()
	if _, err := f.svc.Orgs(f.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateOrg(f.ctx, testActor, org, ""); err != nil && !isConflict(err) {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateIdentity(f.ctx, testActor, IdentitySpec{ID: identity, Org: org, Owner: "jane", Name: "Jane Doe, P.E. 12345, Texas"}); err != nil {
		t.Fatal(err)
	}
}

func isConflict(err error) bool { return err != nil && errorsIs(err, ErrConflict) }

// testCA issues leaves for generated keys.
var testCA struct {
	root *pkitest.Cert
}

func ca(t testing.TB) *pkitest.Cert {
	if testCA.root == nil {
		testCA.root = pkitest.Root(t, "custody test CA")
	}
	return testCA.root
}

// pending generates a pending ECDSA-P256 version.
func (f *fixture) pending(t testing.TB, identity string) VersionInfo {
	t.Helper()
	v, csr, err := f.svc.GenerateKey(f.ctx, testActor, identity, keypolicy.ECDSAP256, pkix.Name{CommonName: "Jane Doe"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	return v
}

// issueFor issues a leaf for the pending version's public key.
func (f *fixture) issueFor(t testing.TB, identity string, version int) []byte {
	t.Helper()
	var pub crypto.PublicKey
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		v, err := tx.Version(identity, version)
		if err != nil {
			return err
		}
		pub, err = x509.ParsePKIXPublicKey(v.PublicKey)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkitest.Issue(t, ca(t), pkitest.LeafTemplate(fmt.Sprintf("%s v%d", identity, version)), pub).Raw
}

// ready generates and uploads a version.
func (f *fixture) ready(t testing.TB, identity string) VersionInfo {
	t.Helper()
	p := f.pending(t, identity)
	v, err := f.svc.UploadCertificate(f.ctx, testActor, identity, p.Version, f.issueFor(t, identity, p.Version), [][]byte{ca(t).Cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// head returns a chain's head seq (0 when empty).
func (f *fixture) head(t *testing.T, chain string) uint64 {
	t.Helper()
	var seq uint64
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		e, err := tx.AuditHead(chain)
		if errorsIs(err, store.ErrNotFound) {
			return nil
		}
		seq = e.Seq
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// entries returns a chain's entries.
func (f *fixture) entries(t *testing.T, chain string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	err := f.st.View(f.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(chain, 1, func(e audit.Entry) error { out = append(out, e); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkConsistent verifies every chain and checks stored status == fold.
func (f *fixture) checkConsistent(t *testing.T) {
	t.Helper()
	chains, err := f.svc.Chains(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		rep, err := f.svc.VerifyChain(f.ctx, ch, nil, nil, nil)
		if err != nil || !rep.OK() {
			t.Fatalf("chain %s: %v %v", ch, err, rep.Error())
		}
	}
}

// signs checks that a version's key signs and verifies.
func (f *fixture) signs(t *testing.T, identity string, version int) error {
	t.Helper()
	s, err := f.svc.Signer(f.ctx, testActor, identity, version)
	if err != nil {
		return err
	}
	return signWith(s)
}

func signWith(s crypto.Signer) error {
	digest := sha256.Sum256([]byte("document"))
	_, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	return err
}
