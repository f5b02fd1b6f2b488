package custody

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/sqlite"
)

// editor runs SQL on a store's database behind its back, as an insider
// with write access would.
type editor func(t *testing.T, queries ...string)

// sqlBackends open a fresh store together with an editor of its database.
var sqlBackends = []struct {
	name string
	open func(t *testing.T) (store.Store, editor)
}{
	{"sqlite", func(t *testing.T) (store.Store, editor) {
		path := filepath.Join(t.TempDir(), "sk.db")
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(t *testing.T, queries ...string) {
			t.Helper()
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			conn, err := db.Conn(context.Background()) // one connection: TEMP tables persist
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, q := range queries {
				if _, err := conn.ExecContext(context.Background(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
	}},
	{"postgres", func(t *testing.T) (store.Store, editor) {
		dsn := freshPostgresDSN(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(t *testing.T, queries ...string) {
			t.Helper()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, q := range queries {
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
	}},
}

// swapVersions swaps the certificates of jane's versions 1 and 2 together
// with their keys, chains and thumbprint columns, so that each row is
// consistent in itself and only the trail tells.
var swapVersions = []string{
	`CREATE TEMP TABLE s AS SELECT version, cert_der, chain_der, public_key, cert_sha256, spki_sha256 FROM cert_versions WHERE identity_id = 'jane'`,
	`UPDATE cert_versions SET cert_der = NULL, cert_sha256 = NULL, public_key = NULL, spki_sha256 = NULL WHERE identity_id = 'jane' AND version IN (1, 2)`,
	`UPDATE cert_versions SET (cert_der, chain_der, public_key, cert_sha256, spki_sha256) =
		(SELECT cert_der, chain_der, public_key, cert_sha256, spki_sha256 FROM s WHERE s.version = 3 - cert_versions.version)
		WHERE identity_id = 'jane' AND version IN (1, 2)`,
}

// TestStateMismatchRefused edits the database in the ways an insider would
// and checks that every operation that would act on the edited state fails
// with ErrStateMismatch, changes nothing and is audited as
// security.state_mismatch (one entry per refusal), on both backends.
func TestStateMismatchRefused(t *testing.T) {
	type op func(t *testing.T, f *fixture, thumb string) error
	ops := map[string]op{
		"activate": func(_ *testing.T, f *fixture, _ string) error {
			_, err := f.svc.Activate(f.ctx, testActor, "jane", 2, "rotation")
			return err
		},
		"revoke": func(_ *testing.T, f *fixture, _ string) error {
			_, err := f.svc.Revoke(f.ctx, testActor, "jane", 2, "compromise")
			return err
		},
		"destroy": func(_ *testing.T, f *fixture, _ string) error {
			_, err := f.svc.Destroy(f.ctx, testActor, "jane", 3)
			return err
		},
		"upload": func(t *testing.T, f *fixture, _ string) error {
			// Refused before the certificate's key is compared.
			cert := pkitest.Issue(t, ca(t), pkitest.LeafTemplate("upload"), pkitest.Key(t, keypolicy.ECDSAP256, "upload").Public())
			_, err := f.svc.UploadCertificate(f.ctx, testActor, "jane", 3, cert.Raw, nil)
			return err
		},
		"generate": func(_ *testing.T, f *fixture, _ string) error {
			_, _, err := f.svc.GenerateKey(f.ctx, testActor, "jane", keypolicy.ECDSAP256, pkix.Name{CommonName: "Jane"})
			return err
		},
		"import": func(t *testing.T, f *fixture, _ string) error {
			c := pkitest.NewChain(t, keypolicy.ECDSAP256, "mismatch import "+t.Name())
			_, err := f.svc.Import(f.ctx, testActor, "jane", bundle(t, c.Leaf.Key, c.Leaf.Cert.Raw, c.Intermediate.Cert.Raw), nil)
			return err
		},
		"sign":      func(t *testing.T, f *fixture, _ string) error { return f.signs(t, "jane", 2) },
		"check key": func(_ *testing.T, f *fixture, _ string) error { return f.svc.CheckKey(f.ctx, testActor, "jane", 2) },
		"rotate DEK": func(_ *testing.T, f *fixture, _ string) error {
			_, err := f.svc.RotateDEK(f.ctx, testActor, "acme")
			return err
		},
		"show identity": func(_ *testing.T, f *fixture, _ string) error {
			info, err := f.svc.CheckedIdentity(f.ctx, testActor, "jane")
			if err != nil && (info.ID != "" || info.Versions != nil) {
				return fmt.Errorf("refused, yet returned %+v", info)
			}
			return err
		},
		"show version": func(_ *testing.T, f *fixture, _ string) error {
			v, err := f.svc.CheckedVersion(f.ctx, testActor, "jane", 2)
			if err != nil && v.Identity != "" {
				return fmt.Errorf("refused, yet returned %+v", v)
			}
			return err
		},
		"verifier lookup": func(_ *testing.T, f *fixture, thumb string) error {
			_, _, err := f.svc.CertificateStatus(f.ctx, testActor, thumb, time.Now())
			return err
		},
		// cert list (Versions) prints nothing from a stored state that the
		// trail contradicts.
		"list": func(_ *testing.T, f *fixture, _ string) error {
			vs, err := f.svc.Versions(f.ctx, testActor, "jane")
			if err != nil && vs != nil {
				return fmt.Errorf("refused, yet returned %+v", vs)
			}
			return err
		},
	}
	all := []string{"activate", "revoke", "destroy", "upload", "generate", "import", "sign", "check key", "rotate DEK", "show identity", "show version", "list", "verifier lookup"}
	for _, tc := range []struct {
		name  string
		edit  []string
		fail  []string // ops that must be refused
		state bool     // CheckState (audit verify) must fail too
		why   string   // in every refusal
	}{
		{"revoked version edited back to active", []string{`UPDATE cert_versions SET status = 'active' WHERE identity_id = 'jane' AND version = 1`},
			all, true, `identity "jane" version 1 is stored as "active", the audit trail says "revoked"`},
		{"certificates swapped with keys and thumbprints", swapVersions, all, true, `identity "jane" version 1 holds certificate`},
		{"certificate swapped alone", []string{`UPDATE cert_versions SET cert_der = (SELECT cert_der FROM cert_versions WHERE identity_id = 'jane' AND version = 2) WHERE identity_id = 'jane' AND version = 1`},
			all, true, "thumbprint columns"},
		{"identity's owner edited", []string{`UPDATE identities SET owner = 'mallory' WHERE id = 'jane'`},
			all, true, `identity "jane" is stored as owned by "mallory", the audit trail says "jane"`},
		{"key_ref edited", []string{`UPDATE cert_versions SET key_ref = 'fake:attacker', key_blob = NULL WHERE identity_id = 'jane' AND version = 2`},
			all, true, `has key reference "fake:attacker", the audit trail recorded "local"`},
		{"key blob removed", []string{`UPDATE cert_versions SET key_blob = NULL WHERE identity_id = 'jane' AND version = 2`},
			all, true, "has lost its key blob"},
		{"version row deleted", []string{`DELETE FROM cert_versions WHERE identity_id = 'jane' AND version = 3`},
			all, true, `the audit trail records identity "jane" version 3 (pending), which is not stored`},
		// A service that already verified the entry keeps deciding from it
		// (TestFoldCache); the next process folds afresh.
		{"trail entry deleted", []string{`DELETE FROM audit_entries WHERE chain = 'acme' AND seq = 4`},
			all, true, "does not verify"},
		{"DEK row deleted", []string{`DELETE FROM deks WHERE org_id = 'acme'`},
			[]string{"generate", "import", "sign", "check key", "rotate DEK"}, false, `data key`},
	} {
		for _, b := range sqlBackends {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				st, edit := b.open(t)
				f := newFixture(t, st, Options{})
				f.orgIdentity(t, "acme", "jane")
				f.ready(t, "jane")
				f.ready(t, "jane")
				f.pending(t, "jane")
				if _, err := f.svc.Activate(f.ctx, testActor, "jane", 1, ""); err != nil {
					t.Fatal(err)
				}
				if _, err := f.svc.Revoke(f.ctx, testActor, "jane", 1, "key compromise"); err != nil {
					t.Fatal(err)
				}
				thumb := storedVersion(f, t, "jane", 2).CertDER
				f.checkConsistent(t)
				edit(t, tc.edit...)
				f.svc = New(st, f.kek, f.opts) // the next command, in a new process
				head := f.head(t, "acme")
				refused := 0
				for _, name := range tc.fail {
					err := ops[name](t, f, thumbprint(thumb))
					if !errors.Is(err, ErrStateMismatch) || !strings.Contains(err.Error(), tc.why) {
						t.Fatalf("%s: got %v, want ErrStateMismatch saying %q", name, err, tc.why)
					}
					refused++
				}
				es := f.entries(t, "acme")
				if got := uint64(len(es)); tc.name != "trail entry deleted" && got != head+uint64(refused) {
					t.Fatalf("%d entries written for %d refusals", got-head, refused)
				}
				for _, e := range es[len(es)-refused:] {
					if e.Action != audit.ActionSecurityStateMismatch || e.Details[audit.DetailError] == "" {
						t.Fatalf("refusal audited as %+v", e)
					}
				}
				if err := f.svc.CheckState(f.ctx, "acme"); (err != nil) != tc.state || (tc.state && !errors.Is(err, ErrStateMismatch)) {
					t.Fatalf("CheckState = %v", err)
				}
			})
		}
	}
}

// TestOneKeyOnePlace: a certificate or key that custody holds, in any org
// and any status, cannot be imported, uploaded or referenced again; the
// refusal names no other tenant's identity and is audited.
func TestOneKeyOnePlace(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "jane")
		f.orgIdentity(t, "beta", "bob")
		c := pkitest.NewChain(t, keypolicy.ECDSAP256, "one place "+t.Name())
		data := bundle(t, c.Leaf.Key, c.Leaf.Cert.Raw, c.Intermediate.Cert.Raw)
		if _, err := f.svc.Import(f.ctx, testActor, "jane", data, nil); err != nil {
			t.Fatal(err)
		}
		renewed := pkitest.Issue(t, c.Intermediate, pkitest.LeafTemplate("one place renewed"), c.Leaf.Key.Public())
		again := bundle(t, c.Leaf.Key, renewed.Raw, c.Intermediate.Cert.Raw)
		refuse := func(stage string) {
			t.Helper()
			for _, tc := range []struct {
				name, identity, want string
				data                 []byte
			}{
				{"the certificate in another org", "bob", "this certificate is already held in custody by another identity", data},
				{"the key under a new certificate in another org", "bob", "this key is already held in custody by another identity", again},
				{"the key under a new certificate in the same identity", "jane", "this key is already held in custody as version 1 of this identity", again},
			} {
				org := map[string]string{"jane": "acme", "bob": "beta"}[tc.identity]
				head := f.head(t, org)
				_, err := f.svc.Import(f.ctx, testActor, tc.identity, tc.data, nil)
				if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s, %s: got %v, want %q", stage, tc.name, err, tc.want)
				}
				if tc.identity == "bob" && (strings.Contains(err.Error(), "jane") || strings.Contains(err.Error(), "acme")) {
					t.Fatalf("%s, %s: the refusal names the other tenant: %v", stage, tc.name, err)
				}
				if e := f.lastEntry(t, org); f.head(t, org) != head+1 || e.Action != audit.ActionSecurityImportRejected ||
					!strings.Contains(e.Details[audit.DetailReason], tc.want) {
					t.Fatalf("%s, %s: not audited once: %+v", stage, tc.name, e)
				}
			}
			if vs, _ := f.svc.Versions(f.ctx, testActor, "bob"); len(vs) != 0 {
				t.Fatalf("%s: a refused import stored %d versions", stage, len(vs))
			}
		}
		refuse("ready")
		if _, err := f.svc.Revoke(f.ctx, testActor, "jane", 1, "key compromise"); err != nil {
			t.Fatal(err)
		}
		refuse("revoked")
		if _, err := f.svc.Destroy(f.ctx, testActor, "jane", 1); err != nil {
			t.Fatal(err)
		}
		refuse("destroyed")

		// An external key referenced twice.
		name := "one-place-" + strings.ReplaceAll(t.Name(), "/", "-")
		f.external(t, "jane", "fake:"+name)
		_, _, err := f.svc.ExternalKey(f.ctx, testActor, "bob", "fake:"+name, pkix.Name{CommonName: "Bob"})
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "this key is already held in custody by another identity") {
			t.Fatalf("external key twice: %v", err)
		}
		f.checkConsistent(t)
	})
}

// TestOneKeyOnePlaceConcurrent imports one bundle into two orgs at once
// (different chain locks): exactly one import wins, on both backends.
func TestOneKeyOnePlaceConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		ids := []string{"a1", "b1", "c1", "d1"}
		for i, id := range ids {
			f.orgIdentity(t, "org"+string(rune('a'+i)), id)
		}
		c := pkitest.NewChain(t, keypolicy.ECDSAP256, "race "+t.Name())
		data := bundle(t, c.Leaf.Key, c.Leaf.Cert.Raw, c.Intermediate.Cert.Raw)
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() { _, errs[i] = f.svc.Import(f.ctx, testActor, id, data, nil) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "already held in custody"):
				t.Fatalf("import into %s: %v", ids[i], err)
			}
		}
		if won != 1 {
			t.Fatalf("%d imports of one certificate succeeded", won)
		}
		f.checkConsistent(t)
	})
}

// TestCertificateStatus: the verifier's lookup finds a version by its
// certificate's thumbprint, with its status then and now and the
// revocation time at full precision; an unknown certificate is not found.
func TestCertificateStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "jane")
		v := f.ready(t, "jane")
		if _, err := f.svc.Activate(f.ctx, testActor, "jane", 1, ""); err != nil {
			t.Fatal(err)
		}
		active := f.lastEntry(t, "acme").Time
		if _, err := f.svc.Revoke(f.ctx, testActor, "jane", 1, "key compromise"); err != nil {
			t.Fatal(err)
		}
		revoke := f.lastEntry(t, "acme")
		want, err := time.Parse(time.RFC3339Nano, revoke.Details[audit.DetailRevokedAt])
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at      time.Time
			status  audit.Status
			comment string
		}{
			{active, audit.StatusActive, "while active"},
			{want.Add(-time.Microsecond), audit.StatusActive, "one microsecond before the revocation"},
			{want, audit.StatusRevoked, "at the revocation"},
			{want.Add(time.Microsecond), audit.StatusRevoked, "one microsecond after"},
		} {
			cs, found, err := f.svc.CertificateStatus(f.ctx, testActor, v.Thumbprint, tc.at)
			if err != nil || !found {
				t.Fatalf("%s: %v %v", tc.comment, found, err)
			}
			if cs.Org != "acme" || cs.Identity != "jane" || cs.Version != 1 || cs.At != tc.status || cs.Current != audit.StatusRevoked ||
				!cs.RevokedAt.Equal(want) || cs.RevokeReason != "key compromise" {
				t.Fatalf("%s: %+v", tc.comment, cs)
			}
		}
		other := pkitest.NewChain(t, keypolicy.ECDSAP256, "not in custody")
		if _, found, err := f.svc.CertificateStatus(f.ctx, testActor, thumbprint(other.Leaf.Cert.Raw), time.Now()); found || err != nil {
			t.Fatalf("a certificate not in custody: %v %v", found, err)
		}
		if _, _, err := f.svc.CertificateStatus(f.ctx, testActor, "not hex", time.Now()); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("malformed thumbprint: %v", err)
		}
	})
}

// bundle is a PEM file of a PKCS#8 key, its certificate and a chain.
func bundle(t *testing.T, key crypto.Signer, leaf []byte, chain ...[]byte) []byte {
	t.Helper()
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	for _, c := range append([][]byte{leaf}, chain...) {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return out
}

// TestFoldCache: a service keeps the verified fold of a chain and reads
// only what was appended since, by another service (process) too; a chain
// whose tail was cut off or whose last entry changed after it was verified
// is refused.
func TestFoldCache(t *testing.T) {
	for _, b := range sqlBackends {
		t.Run(b.name, func(t *testing.T) {
			st, edit := b.open(t)
			f := newFixture(t, st, Options{})
			f.orgIdentity(t, "acme", "jane")
			v := f.ready(t, "jane")
			if _, err := f.svc.Activate(f.ctx, testActor, "jane", v.Version, ""); err != nil {
				t.Fatal(err)
			}
			sgn, err := f.svc.Signer(f.ctx, testActor, "jane", v.Version)
			if err != nil {
				t.Fatal(err)
			}
			if err := signWith(sgn); err != nil {
				t.Fatal(err)
			}
			// Another instance revokes: the next signature reads that entry.
			other := New(st, f.kek, f.opts)
			if _, err := other.Revoke(f.ctx, testActor, "jane", v.Version, "key compromise"); err != nil {
				t.Fatal(err)
			}
			if err := signWith(sgn); !errors.Is(err, ErrForbidden) {
				t.Fatalf("signature after another instance revoked: %v", err)
			}
			f.ready(t, "jane") // version 2
			warm := func() *Service {
				t.Helper()
				svc := New(st, f.kek, f.opts)
				if err := svc.CheckKey(f.ctx, testActor, "jane", 2); err != nil {
					t.Fatal(err) // its fold now ends with the chain's last entry
				}
				return svc
			}

			// The tail cut off, head row and all (here a security event that
			// changed no version): the chain's stored Merkle tree still has
			// the cut entry, so the next append refuses the chain.
			err = f.st.Update(f.ctx, func(tx store.Tx) error {
				_, err := tx.AppendAudit(f.svc.entry("acme", testActor, audit.ActionSecuritySignFailed,
					audit.Subject{Org: "acme", Identity: "jane", Version: 2}, map[string]string{audit.DetailError: "test"}))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			svc, head := warm(), f.head(t, "acme")
			edit(t, fmt.Sprintf(`DELETE FROM audit_entries WHERE chain = 'acme' AND seq = %d`, head),
				fmt.Sprintf(`UPDATE audit_heads SET seq = %d, hash = (SELECT hash FROM audit_entries WHERE chain = 'acme' AND seq = %d) WHERE chain = 'acme'`, head-1, head-1))
			_, err = svc.Activate(f.ctx, testActor, "jane", 2, "")
			if !errors.Is(err, audit.ErrBroken) || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("tail cut off: %v", err)
			}

			// The last entry's details edited in place (its stored hash kept).
			svc, head = warm(), f.head(t, "acme")
			edit(t, fmt.Sprintf(`UPDATE audit_entries SET details = '{"error":"edited"}' WHERE chain = 'acme' AND seq = %d`, head))
			_, err = svc.Activate(f.ctx, testActor, "jane", 2, "")
			if !errors.Is(err, ErrStateMismatch) || !strings.Contains(err.Error(), "changed after it was verified") {
				t.Fatalf("last entry edited: %v", err)
			}
			if err := New(st, f.kek, f.opts).CheckState(f.ctx, "acme"); !errors.Is(err, ErrStateMismatch) {
				t.Fatalf("a new process: %v", err)
			}
		})
	}
}

// TestCheckVersion: the cross-check of one stored version with the trail's
// record, including what only matters for entries written before the trail
// recorded SPKI hashes (the certificate must still hold the stored key).
func TestCheckVersion(t *testing.T) {
	c := pkitest.NewChain(t, keypolicy.ECDSAP256, "check version")
	pub, err := x509.MarshalPKIXPublicKey(c.Leaf.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := x509.MarshalPKIXPublicKey(pkitest.Key(t, keypolicy.ECDSAP256, "check version other").Public())
	if err != nil {
		t.Fatal(err)
	}
	good := store.Version{IdentityID: "jane", Version: 1, Status: "ready", KeyRef: "fake:k", PublicKey: pub, CertDER: c.Leaf.Cert.Raw}
	rec := audit.VersionState{Identity: "jane", Version: 1, Status: audit.StatusReady, KeyRef: "fake:k",
		CertSHA256: thumbprint(c.Leaf.Cert.Raw), SPKISHA256: thumbprint(pub)}
	if err := checkVersion(good, rec); err != nil {
		t.Fatal(err)
	}
	old := rec
	old.SPKISHA256 = "" // entries from before spki_sha256
	for _, tc := range []struct {
		name string
		v    func(v *store.Version)
		rec  audit.VersionState
		want string
	}{
		{"not in the trail", func(*store.Version) {}, audit.VersionState{}, "never created it"},
		{"status", func(v *store.Version) { v.Status = "active" }, rec, `is stored as "active", the audit trail says "ready"`},
		{"key reference", func(v *store.Version) { v.KeyRef = "fake:other" }, rec, `has key reference "fake:other"`},
		{"certificate", func(v *store.Version) { v.CertDER = c.Intermediate.Cert.Raw }, rec, "holds certificate"},
		{"certificate removed", func(v *store.Version) { v.CertDER = nil }, rec, "holds certificate none"},
		{"public key", func(v *store.Version) { v.PublicKey = otherPub }, rec, "holds public key"},
		{"public key, old entries", func(v *store.Version) { v.PublicKey = otherPub }, old, "a certificate and a public key that do not match"},
		{"external key with a blob", func(v *store.Version) { v.KeyBlob = []byte{1} }, rec, "names an external key but holds a key blob"},
	} {
		v := good
		tc.v(&v)
		if err := checkVersion(v, tc.rec); !errors.Is(err, ErrStateMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrStateMismatch saying %q", tc.name, err, tc.want)
		}
	}
}

// TestStateMismatchUnrecorded: when the security.state_mismatch entry
// cannot be written (here the org's whole chain was deleted, which the
// service refuses to start anew), the refusal still fails closed with
// ErrStateMismatch and says the record failed.
func TestStateMismatchUnrecorded(t *testing.T) {
	for _, b := range sqlBackends {
		t.Run(b.name, func(t *testing.T) {
			st, edit := b.open(t)
			f := newFixture(t, st, Options{})
			f.orgIdentity(t, "acme", "jane")
			f.ready(t, "jane")
			edit(t, `DELETE FROM audit_entries WHERE chain = 'acme'`, `DELETE FROM audit_heads WHERE chain = 'acme'`)
			svc := New(st, f.kek, f.opts)
			_, err := svc.Activate(f.ctx, testActor, "jane", 1, "")
			if !errors.Is(err, ErrStateMismatch) || !strings.Contains(err.Error(), "never created it") ||
				!strings.Contains(err.Error(), "recording security.state_mismatch") {
				t.Fatalf("got %v", err)
			}
			if n := len(f.entries(t, "acme")); n != 0 {
				t.Fatalf("%d entries written to the deleted chain", n)
			}
		})
	}
}

// TestFoldCacheConcurrentSigners: signers of one org share the cached fold
// while another version is added; every signature checks the trail and
// succeeds, and the chain stays consistent (run with -race).
func TestFoldCacheConcurrentSigners(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "jane")
	f.orgIdentity(t, "acme", "john")
	for _, id := range []string{"jane", "john"} {
		v := f.ready(t, id)
		if _, err := f.svc.Activate(f.ctx, testActor, id, v.Version, ""); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 6 {
		wg.Go(func() {
			id := []string{"jane", "john"}[i%2]
			for range 5 {
				if err := f.signs(t, id, 1); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, _, err := f.svc.GenerateKey(f.ctx, testActor, "jane", keypolicy.ECDSAP256, pkix.Name{CommonName: "Jane"}); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.checkConsistent(t)
}
