package custody

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/sqlite"
)

// tamperables open a fresh store of each backend with a function that runs
// SQL on the same database, as an insider with write access could.
var tamperables = []struct {
	name string
	open func(t *testing.T) (store.Store, func(query string))
}{
	{"sqlite", func(t *testing.T) (store.Store, func(string)) {
		path := filepath.Join(t.TempDir(), "sk.db")
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(query string) {
			t.Helper()
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(query); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
	}},
	{"postgres", func(t *testing.T) (store.Store, func(string)) {
		dsn := freshPostgresDSN(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(query string) {
			t.Helper()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, query); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
	}},
}

// TestVerifyChainTampered: chains deleted or replaced by an insider are
// listed and reported, and the service does not write into them.
func TestVerifyChainTampered(t *testing.T) {
	for _, b := range tamperables {
		t.Run(b.name, func(t *testing.T) { testVerifyChainTampered(t, b.open) })
	}
}

func testVerifyChainTampered(t *testing.T, open func(*testing.T) (store.Store, func(string))) {
	st, exec := open(t)
	f := newFixture(t, st, Options{})
	f.orgIdentity(t, "acme", "jane")
	f.orgIdentity(t, "beta", "joe")
	f.orgIdentity(t, "gone", "max")

	verify := func(chain string) audit.Report {
		t.Helper()
		rep, err := f.svc.VerifyChain(f.ctx, chain, nil, nil, nil)
		if err != nil {
			t.Fatalf("VerifyChain(%s): %v", chain, err)
		}
		return rep
	}
	for _, c := range []string{"acme", "beta", "gone", audit.SystemChain} {
		if rep := verify(c); !rep.OK() {
			t.Fatalf("untouched chain %s: %v", c, rep.Error())
		}
	}

	// beta replaced by a fresh chain, correctly linked and with an agreeing
	// head record, that does not begin with org.create (written through
	// the store directly, as a tool with the database could).
	exec(`DELETE FROM audit_entries WHERE chain = 'beta'`)
	exec(`DELETE FROM audit_heads WHERE chain = 'beta'`)
	exec(`DELETE FROM audit_trees WHERE chain = 'beta'`)
	exec(`DELETE FROM audit_tree_hashes WHERE chain = 'beta'`)
	if err := st.Update(f.ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(f.svc.entry("beta", testActor, audit.ActionIdentityCreate, audit.Subject{Org: "beta", Identity: "joe"}, nil))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if rep := verify("beta"); rep.OK() || rep.Break.Problem != audit.ProblemDeleted || rep.Break.Seq != 1 {
		t.Errorf("replaced chain: %+v", rep.Break)
	}

	// gone: every row deleted but the system chain's org.create.
	for _, q := range []string{
		`DELETE FROM audit_entries WHERE chain = 'gone'`, `DELETE FROM audit_heads WHERE chain = 'gone'`,
		`DELETE FROM cert_versions WHERE identity_id = 'max'`, `DELETE FROM identities WHERE org_id = 'gone'`,
		`DELETE FROM deks WHERE org_id = 'gone'`, `DELETE FROM orgs WHERE id = 'gone'`,
	} {
		exec(q)
	}
	chains, err := f.svc.Chains(f.ctx)
	if err != nil || !slices.Equal(chains, []string{"acme", "beta", "gone", audit.SystemChain}) {
		t.Errorf("Chains = %q, %v", chains, err)
	}
	if rep := verify("gone"); rep.OK() || rep.Break.Problem != audit.ProblemTruncated || rep.Break.Seq != 1 {
		t.Errorf("deleted chain: %+v", rep.Break)
	}

	// acme emptied with its org row kept: the service does not start a new
	// chain, and rolls back what the refused call did.
	exec(`DELETE FROM audit_entries WHERE chain = 'acme'`)
	exec(`DELETE FROM audit_heads WHERE chain = 'acme'`)
	_, err = f.svc.CreateIdentity(f.ctx, testActor, IdentitySpec{ID: "eve", Org: "acme", Owner: "eve", Name: "Eve"})
	var brk *audit.Break
	if !errors.As(err, &brk) || brk.Chain != "acme" || brk.Seq != 1 {
		t.Errorf("CreateIdentity on an emptied chain: %v", err)
	}
	if _, err := f.svc.CheckedIdentity(f.ctx, testActor, "eve"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused identity was stored: %v", err)
	}
	if rep := verify("acme"); rep.OK() || rep.Break.Problem != audit.ProblemTruncated || rep.Read != 0 {
		t.Errorf("emptied chain after the refused append: %+v (read %d)", rep.Break, rep.Read)
	}
	// Creating an org still starts its chain.
	if _, err := f.svc.CreateOrg(f.ctx, testActor, "new", ""); err != nil {
		t.Fatal(err)
	}
	if rep := verify("new"); !rep.OK() || rep.Head.Seq != 2 {
		t.Errorf("new org: %+v", rep)
	}
	if rep := verify(audit.SystemChain); !rep.OK() {
		t.Fatalf("system chain: %v", rep.Error())
	}

	// The system chain's tail (org.create of "new") cut, its head record
	// rewritten to match: the org it created is still stored.
	exec(`DELETE FROM audit_entries WHERE chain = 'system' AND seq = 4`)
	exec(`UPDATE audit_heads SET seq = 3, hash = (SELECT hash FROM audit_entries WHERE chain = 'system' AND seq = 3) WHERE chain = 'system'`)
	if rep := verify(audit.SystemChain); rep.OK() || rep.Break.Problem != audit.ProblemTruncated || rep.Break.Seq != 4 ||
		!strings.Contains(rep.Break.Reason, `org "new" exists`) {
		t.Errorf("cut system chain: %+v", rep.Break)
	}
}
