package storetest

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"sealkeep/internal/store"
)

// thumbprintFixture stores two orgs with one identity each and these
// versions: a/1 with a certificate, b/1 with another, b/2 pending (a key,
// no certificate) and b/3 with neither.
func thumbprintFixture(t *testing.T, s store.Store, chain [][]byte) map[string]store.Version {
	t.Helper()
	other := testChain(t)
	vs := map[string]store.Version{
		"a/1": {IdentityID: "id-a", Version: 1, Status: "ready", KeyRef: "local", PublicKey: []byte("spki-a1"), CertDER: chain[0], CreatedAt: t0},
		"b/1": {IdentityID: "id-b", Version: 1, Status: "ready", KeyRef: "local", PublicKey: []byte("spki-b1"), CertDER: other[0], CreatedAt: t0},
		"b/2": {IdentityID: "id-b", Version: 2, Status: "pending", KeyRef: "local", PublicKey: []byte("spki-b2"), CreatedAt: t0},
		"b/3": {IdentityID: "id-b", Version: 3, Status: "pending", KeyRef: "local", CertDER: []byte{}, PublicKey: []byte{}, CreatedAt: t0},
	}
	update(t, s, func(tx store.Tx) error {
		for _, o := range []string{"a", "b"} {
			if err := tx.PutOrg(store.Org{ID: "org-" + o}); err != nil {
				return err
			}
			if err := tx.PutIdentity(store.Identity{ID: "id-" + o, OrgID: "org-" + o}); err != nil {
				return err
			}
		}
		for _, k := range []string{"a/1", "b/1", "b/2", "b/3"} {
			if err := tx.PutVersion(vs[k]); err != nil {
				return err
			}
		}
		return nil
	})
	return vs
}

// checkLookups finds every version of the fixture by its thumbprints, and
// nothing by an unknown one.
func checkLookups(t *testing.T, s store.Store, vs map[string]store.Version) {
	t.Helper()
	view(t, s, func(tx store.ReadTx) error {
		for _, k := range []string{"a/1", "b/1"} {
			got, err := tx.VersionByCertSHA256(sha256.Sum256(vs[k].CertDER))
			if err != nil || got.IdentityID != vs[k].IdentityID || got.Version != vs[k].Version {
				t.Errorf("VersionByCertSHA256(%s) = %s/%d, %v", k, got.IdentityID, got.Version, err)
			}
		}
		for _, k := range []string{"a/1", "b/1", "b/2"} {
			got, err := tx.VersionBySPKISHA256(sha256.Sum256(vs[k].PublicKey))
			if err != nil || got.IdentityID != vs[k].IdentityID || got.Version != vs[k].Version {
				t.Errorf("VersionBySPKISHA256(%s) = %s/%d, %v", k, got.IdentityID, got.Version, err)
			}
		}
		// Empty certificates and keys have no thumbprint.
		_, err := tx.VersionByCertSHA256(sha256.Sum256(nil))
		wantErr(t, "certificate of SHA-256(\"\")", err, store.ErrNotFound)
		_, err = tx.VersionBySPKISHA256(sha256.Sum256([]byte("spki-none")))
		wantErr(t, "unknown public key", err, store.ErrNotFound)
		return nil
	})
}

func testThumbprints(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	chain := testChain(t)
	vs := thumbprintFixture(t, s, chain)
	checkLookups(t, s, vs)

	// A certificate or key another version holds is refused, in any org.
	for name, v := range map[string]store.Version{
		"the same certificate in another org": {IdentityID: "id-b", Version: 4, Status: "ready", KeyRef: "local", PublicKey: []byte("spki-b4"), CertDER: chain[0]},
		"the same key in another org":         {IdentityID: "id-b", Version: 4, Status: "pending", KeyRef: "local", PublicKey: []byte("spki-a1")},
		"the same certificate, same identity": {IdentityID: "id-a", Version: 2, Status: "ready", KeyRef: "local", PublicKey: []byte("spki-a2"), CertDER: chain[0]},
		"an existing version takes a key":     {IdentityID: "id-b", Version: 3, Status: "pending", KeyRef: "local", PublicKey: []byte("spki-b2")},
	} {
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutVersion(v) })
		wantErr(t, name, err, store.ErrConflict)
	}
	// Replacing a version keeps its own thumbprints; a destroyed version
	// still holds its certificate and key.
	d := vs["a/1"]
	d.Status, d.KeyBlob = "destroyed", nil
	update(t, s, func(tx store.Tx) error { return tx.PutVersion(d) })
	err := s.Update(t.Context(), func(tx store.Tx) error {
		return tx.PutVersion(store.Version{IdentityID: "id-b", Version: 4, Status: "ready", KeyRef: "local", PublicKey: []byte("spki-b4"), CertDER: chain[0]})
	})
	wantErr(t, "the certificate of a destroyed version", err, store.ErrConflict)
	checkLookups(t, s, vs)

	// Rows edited outside the store read as corrupt: a thumbprint column
	// cleared (which would hide the version from the lookup), or
	// certificates swapped between versions without their thumbprints.
	for _, edit := range []struct{ name, sql, key string }{
		{"thumbprint cleared", `UPDATE cert_versions SET cert_sha256 = NULL WHERE identity_id = 'id-b' AND version = 1`, "b/1"},
		{"certificate swapped", `UPDATE cert_versions SET cert_der = (SELECT cert_der FROM cert_versions WHERE identity_id = 'id-b' AND version = 1) WHERE identity_id = 'id-a'`, "a/1"},
		{"key swapped", `UPDATE cert_versions SET public_key = (SELECT public_key FROM cert_versions WHERE identity_id = 'id-a') WHERE identity_id = 'id-b' AND version = 2`, "b/2"},
	} {
		b.Exec(t, dsn, edit.sql)
		v := vs[edit.key]
		err := s.View(t.Context(), func(tx store.ReadTx) error {
			_, err := tx.Version(v.IdentityID, v.Version)
			return err
		})
		wantErr(t, edit.name+": Version", err, store.ErrCorrupt)
		err = s.View(t.Context(), func(tx store.ReadTx) error {
			_, err := tx.Versions(v.IdentityID)
			return err
		})
		wantErr(t, edit.name+": Versions", err, store.ErrCorrupt)
	}
}

// downgrade takes a database back to before schema 2: the thumbprint
// columns and their indexes dropped, migration 2 forgotten (later ones stay
// applied; migrate applies a step below the newest that a database lacks).
func downgrade(t *testing.T, b Backend, dsn string) {
	t.Helper()
	for _, q := range []string{
		`DROP INDEX cert_versions_by_cert_sha256`,
		`DROP INDEX cert_versions_by_spki_sha256`,
		`ALTER TABLE cert_versions DROP COLUMN cert_sha256`,
		`ALTER TABLE cert_versions DROP COLUMN spki_sha256`,
		`DELETE FROM schema_migrations WHERE version = 2`,
	} {
		b.Exec(t, dsn, q)
	}
}

// testThumbprintsMigration: migration 2 backfills the thumbprints of the
// versions a schema-1 database holds, and refuses one that holds a
// certificate twice.
func testThumbprintsMigration(t *testing.T, b Backend) {
	dsn := b.Fresh(t)
	s := openStore(t, b, dsn)
	vs := thumbprintFixture(t, s, testChain(t))
	s.Close()
	downgrade(t, b, dsn)
	s = openStore(t, b, dsn)
	checkLookups(t, s, vs)
	s.Close()

	downgrade(t, b, dsn)
	b.Exec(t, dsn, `UPDATE cert_versions SET cert_der = (SELECT cert_der FROM cert_versions WHERE identity_id = 'id-a') WHERE identity_id = 'id-b' AND version = 1`)
	s2, err := b.Open(t.Context(), dsn)
	if err == nil {
		s2.Close()
		t.Fatal("migrated a database that holds one certificate in two versions")
	}
	if errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "cert_sha256") {
		t.Fatalf("duplicate certificate: got %v, want the migration's failure naming cert_sha256", err)
	}
}
