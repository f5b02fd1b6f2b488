package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// testTrailIndex: AuditByCertSHA256 and AuditBySPKISHA256 find the entries
// that record a certificate or key, in every chain, ordered by chain and
// seq, and only those: other actions carrying the same detail, another
// hash, or the hash in upper case are not found. Deleting the version rows
// leaves the lookups unchanged: they read the entries themselves.
func testTrailIndex(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	certA, certB := sha256.Sum256([]byte("cert a")), sha256.Sum256([]byte("cert b"))
	keyA, keyB := sha256.Sum256([]byte("key a")), sha256.Sum256([]byte("key b"))
	hx := func(sum [32]byte) string { return hex.EncodeToString(sum[:]) }
	type rec struct {
		chain  string
		action audit.Action
		d      map[string]string
	}
	recs := []rec{
		{"org-b", audit.ActionKeyGenerate, map[string]string{audit.DetailSPKISHA256: hx(keyA)}},                                   // b/1
		{"org-b", audit.ActionCertUpload, map[string]string{audit.DetailThumbprint: hx(certA), audit.DetailSPKISHA256: hx(keyA)}}, // b/2
		{"org-b", audit.ActionVersionRevoke, map[string]string{audit.DetailThumbprint: hx(certA)}},                                // b/3: not a recording action
		{"org-a", audit.ActionCertImport, map[string]string{audit.DetailThumbprint: hx(certA), audit.DetailSPKISHA256: hx(keyB)}}, // a/1
		{"org-a", audit.ActionSecurityImportRejected, map[string]string{audit.DetailThumbprint: hx(certB)}},                       // a/2: not recording
		{"org-a", audit.ActionCertImport, map[string]string{audit.DetailThumbprint: strings.ToUpper(hx(certB))}},                  // a/3: not lower-case hex
		{"org-a", audit.ActionKeyExternal, map[string]string{audit.DetailSPKISHA256: hx(keyB)}},                                   // a/4
		{"org-a", audit.ActionSeal, map[string]string{audit.DetailSPKISHA256: hx(keyA), audit.DetailThumbprint: hx(certA)}},       // a/5
		{"org-a", audit.ActionSeal, nil}, // a/6: no details
	}
	update(t, s, func(tx store.Tx) error {
		for i, r := range recs {
			if _, err := tx.AppendAudit(audit.Entry{Chain: r.chain, Actor: audit.Actor{Kind: "system", ID: "t"}, Action: r.action,
				Subject: audit.Subject{Org: r.chain, Identity: "id", Version: i + 1}, Details: r.d}); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(label string) {
		t.Helper()
		view(t, s, func(tx store.ReadTx) error {
			for _, c := range []struct {
				name string
				find func([32]byte) ([]audit.Entry, error)
				sum  [32]byte
				want string
			}{
				{"cert a", tx.AuditByCertSHA256, certA, "org-a/1 org-b/2"},
				{"cert b", tx.AuditByCertSHA256, certB, ""},
				{"key a", tx.AuditBySPKISHA256, keyA, "org-b/1 org-b/2"},
				{"key b", tx.AuditBySPKISHA256, keyB, "org-a/1 org-a/4"},
				{"cert a as a key", tx.AuditBySPKISHA256, certA, ""},
				{"key a as a certificate", tx.AuditByCertSHA256, keyA, ""},
			} {
				es, err := c.find(c.sum)
				if err != nil {
					t.Fatalf("%s: %s: %v", label, c.name, err)
				}
				var got []string
				for _, e := range es {
					if e.Hash != e.ComputeHash() || len(e.Details) == 0 {
						t.Errorf("%s: %s: entry %s/%d does not read back whole", label, c.name, e.Chain, e.Seq)
					}
					got = append(got, fmt.Sprintf("%s/%d", e.Chain, e.Seq))
				}
				if g := strings.Join(got, " "); g != c.want {
					t.Errorf("%s: %s: found %q, want %q", label, c.name, g, c.want)
				}
			}
			return nil
		})
	}
	check("entries only")
	// Version rows holding the same certificates, then deleted: the
	// lookups read the entries, not the rows.
	update(t, s, func(tx store.Tx) error {
		for _, o := range []string{"org-a", "org-b"} {
			if err := tx.PutOrg(store.Org{ID: o}); err != nil {
				return err
			}
		}
		if err := tx.PutIdentity(store.Identity{ID: "id", OrgID: "org-a"}); err != nil {
			return err
		}
		return tx.PutVersion(store.Version{IdentityID: "id", Version: 1, Status: "ready", KeyRef: "local", PublicKey: []byte("key b"), CertDER: []byte("cert a")})
	})
	check("with a version row")
	b.Exec(t, dsn, `DELETE FROM cert_versions`)
	check("version rows deleted")
}
