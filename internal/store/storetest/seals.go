package storetest

import (
	"reflect"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// testAuditSeals: AuditSeals finds exactly the seal entries whose
// signature_sha256 (or intent_sha256) detail is the one asked for, in
// every chain, as stored, ordered by chain and seq; other actions carrying
// the same detail, other values and malformed values find nothing; other
// detail keys are refused. The lookups are served by the indexes of
// migration 0012 on the entries' canonical encoding (dropping them must
// succeed), and answer the same without them.
func testAuditSeals(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	sigA, sigB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	seal := func(chain, sig string) audit.Entry {
		d := map[string]string{"field": "Signature1"}
		if sig != "" {
			d[audit.DetailSignatureSHA256] = sig
			d[audit.DetailIntentSHA256] = "intent-" + sig
		}
		return audit.Entry{Chain: chain, Time: t0, Actor: audit.Actor{Kind: "user", ID: "jane"}, Action: audit.ActionSeal,
			Subject: audit.Subject{Org: chain, Identity: "jane-pe", Version: 1}, Details: d}
	}
	notSeal := seal("org-b", sigA)
	notSeal.Action = audit.ActionVersionActivate
	var appended []audit.Entry
	update(t, s, func(tx store.Tx) error {
		appended = appended[:0]
		for _, e := range []audit.Entry{seal("org-b", sigA), seal("org-a", sigB), notSeal, seal("org-a", ""), seal("org-a", sigA), seal("org-b", sigA)} {
			got, err := tx.AppendAudit(e)
			if err != nil {
				return err
			}
			appended = append(appended, got)
		}
		return nil
	})
	want := map[string][]audit.Entry{
		sigA:                    {appended[4], appended[0], appended[5]}, // org-a/3, org-b/1, org-b/3
		sigB:                    {appended[1]},
		strings.Repeat("c", 64): nil,
		strings.ToUpper(sigA):   nil, // hex digests are lower-case; no case folding
		"":                      nil,
		"a\x00":                 nil,
	}
	check := func(when string) {
		t.Helper()
		view(t, s, func(tx store.ReadTx) error {
			for sig, w := range want {
				for key, value := range map[string]string{audit.DetailSignatureSHA256: sig, audit.DetailIntentSHA256: "intent-" + sig} {
					if sig == "" || sig == "a\x00" {
						value = sig
					}
					got, err := tx.AuditSeals(key, value)
					if err != nil {
						t.Errorf("%s: AuditSeals(%s, %.8q): %v", when, key, value, err)
						continue
					}
					if len(got) != len(w) || (len(w) > 0 && !reflect.DeepEqual(got, w)) {
						t.Errorf("%s: AuditSeals(%s, %.8q) =\n%+v\nwant\n%+v", when, key, value, got, w)
					}
				}
			}
			_, err := tx.AuditSeals("field", "Signature1")
			wantErr(t, "AuditSeals by an unindexed detail", err, store.ErrInvalid)
			return nil
		})
	}
	check("indexed")
	b.Exec(t, dsn, `DROP INDEX audit_trail_by_seal_signature`)
	b.Exec(t, dsn, `DROP INDEX audit_trail_by_seal_intent`)
	check("without the index")
}
