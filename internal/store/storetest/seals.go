package storetest

import (
	"reflect"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// testAuditSeals: AuditSeals finds exactly the seal entries whose
// signature_sha256 detail is the one asked for, in every chain, as stored,
// ordered by chain and seq; other actions carrying the same detail, other
// signatures and malformed keys find nothing. The lookup is served by the
// index of migration 0005 (dropping it must succeed), and still answers
// the same without it.
func testAuditSeals(t *testing.T, b Backend) {
	s, dsn := fresh(t, b)
	sigA, sigB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	seal := func(chain, sig string) audit.Entry {
		d := map[string]string{"field": "Signature1"}
		if sig != "" {
			d[audit.DetailSignatureSHA256] = sig
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
				got, err := tx.AuditSeals(sig)
				if err != nil {
					t.Errorf("%s: AuditSeals(%.8q): %v", when, sig, err)
					continue
				}
				if len(got) != len(w) || (len(w) > 0 && !reflect.DeepEqual(got, w)) {
					t.Errorf("%s: AuditSeals(%.8q) =\n%+v\nwant\n%+v", when, sig, got, w)
				}
			}
			return nil
		})
	}
	check("indexed")
	b.Exec(t, dsn, `DROP INDEX audit_seals_by_signature`)
	check("without the index")
}
