package storetest

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// streamVerify reads chain with AuditEntries into audit.Verifier, as audit
// verify does, and returns the report (a read error in Report.Err) and
// the entries read.
func streamVerify(t testing.TB, s store.Store, chain string) (audit.Report, []audit.Entry) {
	t.Helper()
	v := audit.NewVerifier(chain)
	var got []audit.Entry
	err := s.View(t.Context(), func(tx store.ReadTx) error {
		return tx.AuditEntries(chain, 1, func(e audit.Entry) error {
			got = append(got, e)
			return v.Add(e)
		})
	})
	rep := v.Report()
	if rep.Err == nil && err != nil && rep.Break == nil {
		rep.Err = err
	}
	return rep, got
}

// testCanonicalEdits: entries are read from their canonical encoding, whose
// SHA-256 the verifier recomputes; an insider who edits one column but not
// the other is caught, whichever side was edited: the encoding alone
// (with or without a matching hash), or one of the columns queries select
// entries by (seq, action, details: the trail and seal indexes). The other
// columns are a copy for SQL users that sealkeep never reads: editing one
// changes nothing sealkeep shows or decides.
func testCanonicalEdits(t *testing.T, b Backend) {
	if b.Blob == nil {
		t.Skip("the backend gives no Blob literal")
	}
	const thumb = "aa00000000000000000000000000000000000000000000000000000000000000"
	setup := func(t *testing.T) (store.Store, string, []audit.Entry) {
		s, dsn := fresh(t, b)
		update(t, s, func(tx store.Tx) error {
			for i := 1; i <= 5; i++ {
				e := event("org-k", "writer", i)
				if i == 3 {
					e.Action, e.Details = audit.ActionCertImport, map[string]string{audit.DetailThumbprint: thumb, "reason": `a "quoted" é`}
				}
				if _, err := tx.AppendAudit(e); err != nil {
					return err
				}
			}
			return nil
		})
		return s, dsn, verifyChain(t, s, "org-k")
	}
	// recanon is the encoding of entry 3 changed by f.
	recanon := func(e audit.Entry, f func(*audit.Entry)) audit.Entry {
		f(&e)
		e.Hash = e.ComputeHash()
		return e
	}
	where := ` WHERE chain = 'org-k' AND seq = 3`
	for _, tc := range []struct {
		name string
		sql  func(e3 audit.Entry) string
	}{
		{"details column", func(audit.Entry) string {
			return `UPDATE audit_entries SET details = '{"reason":"x","thumbprint":"bb"}'` + where
		}},
		{"thumbprint detail column (hides the certificate from the trail index)", func(audit.Entry) string {
			return `UPDATE audit_entries SET details = REPLACE(details, 'aa00', 'cc00')` + where
		}},
		{"details column cleared", func(audit.Entry) string { return `UPDATE audit_entries SET details = NULL` + where }},
		{"action column", func(audit.Entry) string { return `UPDATE audit_entries SET action = 'seal'` + where }},
		{"seq column of the last entry", func(audit.Entry) string {
			return `UPDATE audit_entries SET seq = 9 WHERE chain = 'org-k' AND seq = 5`
		}},
		{"encoding alone", func(e3 audit.Entry) string {
			e := recanon(e3, func(e *audit.Entry) { e.Actor.ID = "mallory" })
			return `UPDATE audit_entries SET canonical = ` + b.Blob(e.Canonical()) + where
		}},
		{"encoding and hash", func(e3 audit.Entry) string {
			e := recanon(e3, func(e *audit.Entry) { e.Actor.ID = "mallory" })
			return `UPDATE audit_entries SET canonical = ` + b.Blob(e.Canonical()) + `, hash = ` + b.Blob(e.Hash[:]) + where
		}},
		{"encoding of other details, with its hash and the details column", func(e3 audit.Entry) string {
			e := recanon(e3, func(e *audit.Entry) { e.Details = map[string]string{"thumbprint": "cc"} })
			return `UPDATE audit_entries SET canonical = ` + b.Blob(e.Canonical()) + `, hash = ` + b.Blob(e.Hash[:]) +
				`, details = '{"thumbprint":"cc"}'` + where
		}},
		{"encoding truncated", func(e3 audit.Entry) string {
			c := e3.Canonical()
			return `UPDATE audit_entries SET canonical = ` + b.Blob(c[:len(c)-1]) + where
		}},
		{"encoding removed", func(audit.Entry) string { return `UPDATE audit_entries SET canonical = NULL` + where }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dsn, es := setup(t)
			b.Exec(t, dsn, tc.sql(es[2]))
			rep, _ := streamVerify(t, s, "org-k")
			if rep.OK() {
				t.Fatal("the edit verifies")
			}
			if rep.Break != nil && rep.Break.Seq > 3 && tc.name != "seq column of the last entry" {
				t.Errorf("break at seq %d, want at most 3: %v", rep.Break.Seq, rep.Break)
			}
			if rep.Break == nil && !strings.Contains(rep.Err.Error(), "malformed") {
				t.Errorf("read error %v, want a malformed entry", rep.Err)
			}
			// An edit of the columns hides nothing from the trail's
			// index, which is built on the encoding.
			if strings.Contains(tc.name, "column") && !strings.HasPrefix(tc.name, "seq") && !strings.HasPrefix(tc.name, "encoding") {
				view(t, s, func(tx store.ReadTx) error {
					found, err := tx.AuditByCertSHA256(mustSum(t, thumb))
					if err != nil || len(found) != 1 || found[0].Seq != 3 {
						t.Errorf("AuditByCertSHA256 after the edit = %+v, %v; want entry 3", found, err)
					}
					return nil
				})
			}
		})
	}

	t.Run("readable columns are not a source", func(t *testing.T) {
		s, dsn, es := setup(t)
		b.Exec(t, dsn, `UPDATE audit_entries SET actor_id = 'mallory', time_us = 0, subject_org = 'x', subject_identity = 'y', subject_version = 9, prev_hash = `+
			b.Blob(make([]byte, 32))+where)
		rep, got := streamVerify(t, s, "org-k")
		if !rep.OK() || !reflect.DeepEqual(got, es) {
			t.Fatalf("after editing columns sealkeep does not read: %v\n%+v\nwant %+v", rep.Error(), got[2], es[2])
		}
		view(t, s, func(tx store.ReadTx) error {
			found, err := tx.AuditByCertSHA256(mustSum(t, thumb))
			if err != nil || len(found) != 1 || !reflect.DeepEqual(found[0], es[2]) {
				t.Errorf("AuditByCertSHA256 = %+v, %v; want entry 3 as written", found, err)
			}
			head, err := tx.AuditHead("org-k")
			if err != nil || !reflect.DeepEqual(head, es[4]) {
				t.Errorf("AuditHead = %+v, %v", head, err)
			}
			return nil
		})
	})

	t.Run("details column reformatted", func(t *testing.T) {
		s, dsn, es := setup(t)
		// The same object in another JSON form: the same entry, and the
		// index still finds it.
		b.Exec(t, dsn, `UPDATE audit_entries SET details = '{ "thumbprint" : "`+thumb+`", "reason":"a \"quoted\" \u00e9" }'`+where)
		rep, got := streamVerify(t, s, "org-k")
		if !rep.OK() || !reflect.DeepEqual(got, es) {
			t.Fatalf("reformatted details: %v", rep.Error())
		}
		view(t, s, func(tx store.ReadTx) error {
			found, err := tx.AuditByCertSHA256(mustSum(t, thumb))
			if err != nil || len(found) != 1 {
				t.Errorf("AuditByCertSHA256 = %d entries, %v", len(found), err)
			}
			return nil
		})
	})
}

func mustSum(t testing.TB, h string) [32]byte {
	var sum [32]byte
	if n, err := hex.Decode(sum[:], []byte(h)); err != nil || n != 32 {
		t.Fatalf("bad test hash %q", h)
	}
	return sum
}

// testCanonicalMigration: migration 0011 adds the canonical column to a
// database that lacks it and fills it in from each entry's own columns,
// before 0012 indexes it; an entry edited before the upgrade still fails
// verification after it, and running the step again changes nothing.
func testCanonicalMigration(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	Fill(t, s, "org-m", 2500, 900) // more than one backfill batch
	Fill(t, s, "org-n", 3, 3)
	before := verifyChain(t, s, "org-m")
	s.Close()
	// A database of schema 6: no indexes on the encoding, no encoding.
	for _, ix := range []string{"cert", "spki", "seal_signature", "seal_intent", "passkey"} {
		b.Exec(t, dsn, `DROP INDEX audit_trail_by_`+ix)
	}
	b.Exec(t, dsn, `ALTER TABLE audit_entries DROP COLUMN canonical`)
	b.Exec(t, dsn, `DELETE FROM schema_migrations WHERE name LIKE '%_audit_canonical.sql' OR name LIKE '%_trail_keys.sql'`)
	// Edited while the column did not exist (an old sealkeep's database).
	b.Exec(t, dsn, `UPDATE audit_entries SET actor_id = 'mallory' WHERE chain = 'org-n' AND seq = 2`)
	s = openStore(t, b, dsn)
	if after := verifyChain(t, s, "org-m"); !reflect.DeepEqual(after, before) {
		t.Fatal("the back-filled chain reads differently")
	}
	rep, _ := streamVerify(t, s, "org-n")
	if rep.OK() || rep.Break.Seq != 2 || rep.Break.Problem != audit.ProblemEdited {
		t.Fatalf("an entry edited before the upgrade: %+v", rep.Break)
	}
	s.Close()
	// Run again over a database that has the column: nothing changes.
	b.Exec(t, dsn, `DELETE FROM schema_migrations WHERE name LIKE '%_audit_canonical.sql'`)
	s = openStore(t, b, dsn)
	if after := verifyChain(t, s, "org-m"); !reflect.DeepEqual(after, before) {
		t.Fatal("the chain reads differently after the step ran again")
	}
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendAudit(event("org-m", "after", 0))
		return err
	})
	if got := verifyChain(t, s, "org-m"); len(got) != 2501 {
		t.Fatalf("%d entries after an append, want 2501", len(got))
	}
}
