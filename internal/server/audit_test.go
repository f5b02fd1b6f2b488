package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/benchdata"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
	"sealkeep/internal/translog"
)

// editableStores opens a fresh store of each kind with a function that
// runs SQL on its database behind sealkeep's back: the insider of the
// audit tests.
func editableStores(t *testing.T) map[string]func(t *testing.T) (store.Store, func(query string)) {
	return map[string]func(t *testing.T) (store.Store, func(string)){
		"sqlite": func(t *testing.T) (store.Store, func(string)) {
			path := filepath.Join(t.TempDir(), "sealkeep.db")
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return st, func(q string) {
				t.Helper()
				db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		},
		"postgres": func(t *testing.T) (store.Store, func(string)) {
			dsn := pgtest.Fresh(t)
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			return st, func(q string) { t.Helper(); pgtest.Exec(t, dsn, q) }
		},
	}
}

// auditWorld is a world whose store publishes signed checkpoints, as the
// store of `sealkeep serve` does; it returns the publisher too.
func auditWorld(t *testing.T, raw store.Store) (*world, *translog.Publisher) {
	t.Helper()
	key, err := audit.GenerateCheckpointKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := translog.NewPublisher(raw, key, translog.Dir(t.TempDir()), translog.Options{})
	t.Cleanup(func() { pub.Close() })
	return newWorld(t, pub, Config{}), pub
}

// auditPaths are the audit routes of one prefix, with seq 1.
func auditPaths(w *world, prefix string) []string {
	var out []string
	for _, rt := range w.srv.Routes() {
		if p, ok := strings.CutPrefix(rt.Path, prefix); ok && strings.HasPrefix(p, "/audit") {
			out = append(out, strings.ReplaceAll(rt.Path, "{seq}", "1"))
		}
	}
	return out
}

// TestAuditAccess: an org's trail is for its owners and auditors; the
// system chain for the operator; sealers, preparers, the operator, other
// orgs' members and anyone guessing an org's ID (existing or not, in any
// spelling) get 403 on every audit route, the same answer whether the org
// exists or not; no credentials is 401.
func TestAuditAccess(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w, _ := auditWorld(t, open(t))
			tok := map[string]string{}
			for _, login := range []string{"operator", "olive", "jane", "sam", "pete", "audrey", "gina", "gus"} {
				tok[login] = w.token(login)
			}
			org := auditPaths(w, "/api/v1/orgs/{org}")
			sys := auditPaths(w, "/api/v1/system")
			if len(org) != 6 || len(sys) != 6 {
				t.Fatalf("audit routes: %q %q", org, sys)
			}
			at := func(paths []string, id string) []string {
				var out []string
				for _, p := range paths {
					out = append(out, strings.ReplaceAll(p, "{org}", id))
				}
				return out
			}
			check := func(paths []string, login string, want int) {
				t.Helper()
				for _, p := range paths {
					resp, out := w.request("GET", p, tok[login], nil)
					if resp.StatusCode != want {
						t.Errorf("%s GET %s: %d, want %d: %s", login, p, resp.StatusCode, want, out)
					}
					if want == 403 && !strings.Contains(problemOf(t, out).Detail, "not allowed") {
						t.Errorf("%s GET %s: %s", login, p, out)
					}
				}
			}
			for _, login := range []string{"olive", "audrey"} {
				check(at(org, "acme"), login, 200)
				check(sys, login, 403)
				check(at(org, "globex"), login, 403)
			}
			check(at(org, "globex"), "gina", 200)
			for _, login := range []string{"jane", "sam", "pete", "operator", "gina", "gus"} {
				check(at(org, "acme"), login, 403)
			}
			check(sys, "operator", 200)
			for _, login := range []string{"jane", "pete", "gina", "gus"} {
				check(sys, login, 403)
			}
			// Guessed org IDs: none, another spelling, the system chain by
			// the org path, an encoded slash. Each is 403 like an existing
			// org of someone else's, for everyone (the operator included).
			for _, id := range []string{"nope", "ACME", "acme%20", "system", "ac%2Fme", "acme%00"} {
				for _, login := range []string{"audrey", "operator", "gina"} {
					check(at(org, id), login, 403)
				}
			}
			_, outA := w.request("GET", "/api/v1/orgs/nope/audit/entries", tok["gina"], nil)
			_, outB := w.request("GET", "/api/v1/orgs/acme/audit/entries", tok["gina"], nil)
			pa, pb := problemOf(t, outA), problemOf(t, outB)
			if pa.Type != pb.Type || pa.Status != pb.Status || strings.ReplaceAll(pa.Detail, "nope", "acme") != pb.Detail {
				t.Errorf("an unknown org answers differently from another's: %+v %+v", pa, pb)
			}
			// A path that climbs out of acme's prefix is the route it
			// names once cleaned (the mux redirects there), judged as that
			// route; an encoded one names an org nobody belongs to.
			for _, p := range []string{"/api/v1/orgs/acme/../../system/audit/verify", "/api/v1/orgs/acme/audit/../../globex/audit/verify",
				"/api/v1/orgs/acme%2F..%2F..%2Fsystem/audit/verify", "/api/v1/orgs/acme/audit/../../system/audit/export"} {
				req, err := http.NewRequest("GET", w.ts.URL+p, nil)
				w.must(err)
				req.URL.Opaque = p // sent as written, not cleaned by the client
				req.Header.Set("Authorization", "Bearer "+tok["olive"])
				resp, out := w.do(req, nil)
				if resp.StatusCode != 404 && resp.StatusCode != 403 {
					t.Errorf("GET %s as olive: %d %s", p, resp.StatusCode, out)
				}
			}
			// No credentials; a browser session reads with GET, no CSRF
			// token needed.
			for _, p := range at(org, "acme") {
				if resp, _ := w.request("GET", p, "", nil); resp.StatusCode != 401 {
					t.Errorf("GET %s without credentials: %d", p, resp.StatusCode)
				}
			}
			b := w.session("audrey")
			if resp, out := w.request("GET", "/api/v1/orgs/acme/audit/verify", "", nil, "Cookie", SessionCookie+"="+b.cookie); resp.StatusCode != 200 {
				t.Errorf("verify with a session: %d %s", resp.StatusCode, out)
			}
			// The routes only read: other methods are 405.
			if resp, _ := w.request("POST", "/api/v1/orgs/acme/audit/verify", tok["audrey"], nil); resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST verify: %d", resp.StatusCode)
			}
			w.checkNoLeaks()
		})
	}
}

// getJSON GETs path with the bearer token and decodes a 200 answer into v;
// it returns the status and the body.
func (w *world) getJSON(path, bearer string, v any) (int, []byte) {
	w.t.Helper()
	resp, out := w.request("GET", path, bearer, nil)
	if resp.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			w.t.Fatalf("GET %s: %v\n%s", path, err, out)
		}
	}
	return resp.StatusCode, out
}

// fill appends n entries to an org's chain in one transaction: refused
// imports, which the status fold passes over, each with details of
// detailBytes bytes, at the world's time.
func fill(t *testing.T, w *world, org string, n, detailBytes int) {
	t.Helper()
	err := w.st.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			d := map[string]string{audit.DetailReason: fmt.Sprintf("filler %d", i)}
			for k := 0; k*audit.MaxDetailValueLen < detailBytes && k < audit.MaxDetails-1; k++ {
				d[fmt.Sprintf("pad%02d", k)] = strings.Repeat("x", min(audit.MaxDetailValueLen, detailBytes-k*audit.MaxDetailValueLen))
			}
			e := audit.Entry{Chain: org, Time: w.clk.now(), Actor: audit.Actor{Kind: audit.ActorSystem}, Action: audit.ActionSecurityImportRejected,
				Subject: audit.Subject{Org: org, Identity: "id-jane"}, Details: d}
			if _, err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exportLocal is the chain as `sealkeep audit export` writes it (one
// transaction of the custody service): the oracle of the API's answers.
func (w *world) exportLocal(chain string) []byte {
	w.t.Helper()
	var b bytes.Buffer
	if _, err := w.custody.ExportChain(w.ctx, chain, &b); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}

// jsonlOf is entries as JSON Lines.
func jsonlOf(t *testing.T, entries []audit.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := audit.WriteJSONL(&b, audit.Walk(func(fn func(audit.Entry) error) error {
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAuditEntries: paging through a chain gives exactly the export of
// the chain, page after page; one entry by its seq; a page stops early
// past its byte budget; out-of-range, malformed, unknown and repeated
// parameters are 422 and huge limits are refused, never served.
func TestAuditEntries(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			fill(t, w, "acme", 20, 10)
			tok := w.token("audrey")
			want := w.exportLocal("acme")
			var all []audit.Entry
			after, pages := uint64(0), 0
			for {
				var page entriesPage
				if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries?after=%d&limit=7", after), tok, &page); st != 200 {
					t.Fatalf("page after %d: %d %s", after, st, out)
				}
				pages++
				if page.Chain != "acme" || len(page.Entries) > 7 || (page.NextAfter != nil && len(page.Entries) != 7) {
					t.Fatalf("page after %d: %+v", after, page)
				}
				all = append(all, page.Entries...)
				if page.NextAfter == nil {
					break
				}
				after = *page.NextAfter
			}
			if got := jsonlOf(t, all); !bytes.Equal(got, want) {
				t.Fatalf("the pages are not the chain:\n%s\nwant\n%s", got, want)
			}
			n := uint64(len(all))
			if n < 30 || pages != int(n+6)/7 {
				t.Fatalf("%d entries in %d pages", n, pages)
			}
			// The default page, and the end of the chain.
			var page entriesPage
			w.getJSON("/api/v1/orgs/acme/audit/entries", tok, &page)
			if len(page.Entries) != int(n) || page.NextAfter != nil {
				t.Fatalf("default page: %d entries, next %v", len(page.Entries), page.NextAfter)
			}
			for _, a := range []uint64{n, n + 1, 1<<63 - 1} {
				page = entriesPage{}
				if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries?after=%d&limit=1000", a), tok, &page); st != 200 || len(page.Entries) != 0 || page.NextAfter != nil ||
					!strings.Contains(string(out), `"entries": []`) {
					t.Fatalf("after %d: %d %s", a, st, out)
				}
			}
			// One entry.
			for _, i := range []int{0, 5, int(n) - 1} {
				var e audit.Entry
				if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries/%d", i+1), tok, &e); st != 200 || !bytes.Equal(jsonlOf(t, []audit.Entry{e}), jsonlOf(t, all[i:i+1])) {
					t.Fatalf("entry %d: %d %s", i+1, st, out)
				}
			}
			if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries/%d", n+1), tok, nil); st != 404 {
				t.Errorf("entry past the head: %d %s", st, out)
			}
			// Refused parameters.
			for _, q := range []string{
				"/entries?limit=0", "/entries?limit=1001", "/entries?limit=-1", "/entries?limit=abc", "/entries?limit=1e3",
				"/entries?limit=", "/entries?limit=99999999999999999999999", "/entries?limit=4294967297", "/entries?limit=%2B5",
				"/entries?after=-1", "/entries?after=9223372036854775808", "/entries?after=0x10", "/entries?after=1.5",
				"/entries?offset=5", "/entries?limit=1&limit=2", "/entries?after=%zz", "/entries?Limit=5",
				"/entries/0", "/entries/-1", "/entries/abc", "/entries/1.0", "/entries/9223372036854775808", "/entries/1?x=1",
				"/entries/0/proof", "/entries/abc/proof",
				"/export?limit=5", "/export?after=-1", "/verify?chain=globex", "/verify?all=1", "/checkpoint?x=1",
			} {
				resp, out := w.request("GET", "/api/v1/orgs/acme/audit"+q, tok, nil)
				if resp.StatusCode != 422 || problemOf(t, out).Type != ProblemBase+"invalid-input" {
					t.Errorf("GET %s: %d %s", q, resp.StatusCode, out)
				}
				if strings.Contains(string(out), "zz") || strings.Contains(string(out), "99999999999") || strings.Contains(string(out), "offset") {
					t.Errorf("GET %s: the problem quotes the query: %s", q, out)
				}
			}
			// Text a terminal would interpret: exact in every answer,
			// written as \u escapes in the JSON ones (never raw), and in
			// the export as audit export writes it.
			hostile := "\x1b[2J\u202eVALID\u200b"
			w.must(w.st.Update(w.ctx, func(tx store.Tx) error {
				_, err := tx.AppendAudit(audit.Entry{Chain: "acme", Time: w.clk.now(), Actor: audit.Actor{Kind: audit.ActorUser, ID: w.users["olive"].id},
					Action: audit.ActionSecurityImportRejected, Subject: audit.Subject{Org: "acme", Identity: "id-jane"},
					Details: map[string]string{audit.DetailReason: hostile}})
				return err
			}))
			n++
			var e audit.Entry
			st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries/%d", n), tok, &e)
			if st != 200 || e.Details[audit.DetailReason] != hostile || bytes.ContainsAny(out, "\x1b\u202e\u200b") {
				t.Fatalf("hostile entry: %d %q", st, out)
			}
			_, out = w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries?after=%d", n-1), tok, nil)
			if bytes.ContainsAny(out, "\x1b\u202e\u200b") || !bytes.Contains(out, []byte(`\u001b[2J\u202eVALID\u200b`)) {
				t.Fatalf("hostile page: %q", out)
			}
			if resp, out := w.request("GET", fmt.Sprintf("/api/v1/orgs/acme/audit/export?after=%d", n-1), tok, nil); resp.StatusCode != 200 ||
				!bytes.Equal(out, bytes.TrimPrefix(w.exportLocal("acme"), jsonlOf(t, all))) {
				t.Fatalf("hostile export: %q", out)
			}

			// A page stops past its byte budget (about 1 MiB): entries of
			// about 120 KiB each.
			fill(t, w, "acme", 12, 120<<10)
			var big []audit.Entry
			after, pages = n, 0
			for {
				page = entriesPage{}
				if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries?after=%d&limit=1000", after), tok, &page); st != 200 {
					t.Fatalf("big page: %d %.200s", st, out)
				}
				pages++
				big = append(big, page.Entries...)
				if page.NextAfter == nil {
					break
				}
				after = *page.NextAfter
			}
			if len(big) != 12 || pages < 2 || big[0].Seq != n+1 {
				t.Fatalf("12 big entries came in %d pages, %d entries", pages, len(big))
			}
			w.checkNoLeaks()
		})
	}
}

// verifyReport GETs the verification of path's chain (200 whatever the
// verdict).
func (w *world) verifyReport(path, bearer string) audit.ChainReport {
	w.t.Helper()
	var rep audit.ChainReport
	if st, out := w.getJSON(path+"/verify", bearer, &rep); st != 200 {
		w.t.Fatalf("GET %s/verify: %d %s", path, st, out)
	}
	return rep
}

// TestAuditVerifyTampering: an insider edits the database behind
// sealkeep's back; the API's verify reports each edit at the position the
// CLI names (200, "ok": false), another org's chain still verifies, and a
// proof is refused for the edited entry while the others still verify.
func TestAuditVerifyTampering(t *testing.T) {
	at := func(seq uint64) func(uint64) uint64 { return func(uint64) uint64 { return seq } }
	head := func(w *world) uint64 {
		var page entriesPage
		w.getJSON("/api/v1/orgs/acme/audit/entries?limit=1000", w.token("olive"), &page)
		return page.Entries[len(page.Entries)-1].Seq
	}
	for _, tc := range []struct {
		name string
		edit func(exec func(string), last uint64)
		// problem and seq are the break expected, given the chain's last
		// seq; why, for a break-less failure, a part of the error.
		problem string
		seq     func(last uint64) uint64
		why     string
	}{
		{name: "detail edited", problem: "edited", seq: at(3), edit: func(exec func(string), _ uint64) {
			exec(`UPDATE audit_entries SET details = '{"role":"owner","user":"u-someone-else"}' WHERE chain = 'acme' AND seq = 3`)
		}},
		{name: "entry deleted", problem: "deleted", seq: at(4), edit: func(exec func(string), _ uint64) {
			exec(`DELETE FROM audit_entries WHERE chain = 'acme' AND seq = 4`)
		}},
		{name: "tail cut and head row rewritten", problem: "truncated", seq: func(last uint64) uint64 { return last }, edit: func(exec func(string), last uint64) {
			exec(fmt.Sprintf(`DELETE FROM audit_entries WHERE chain = 'acme' AND seq = %d`, last))
			exec(fmt.Sprintf(`UPDATE audit_heads SET seq = %d, hash = (SELECT hash FROM audit_entries WHERE chain = 'acme' AND seq = %d) WHERE chain = 'acme'`, last-1, last-1))
		}},
		{name: "head row deleted", problem: "head", seq: func(last uint64) uint64 { return last + 1 }, edit: func(exec func(string), _ uint64) {
			exec(`DELETE FROM audit_heads WHERE chain = 'acme'`)
		}},
		{name: "stored status edited", seq: at(0), why: "differs from the audit trail", edit: func(exec func(string), _ uint64) {
			exec(`UPDATE cert_versions SET status = 'revoked' WHERE identity_id = 'id-jane'`)
		}},
	} {
		for name, open := range editableStores(t) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				st, exec := open(t)
				w, pub := auditWorld(t, st)
				olive, audrey, gina := w.token("olive"), w.token("audrey"), w.token("gina")
				last := head(w)
				rep := w.verifyReport("/api/v1/orgs/acme/audit", audrey)
				if !rep.OK || rep.Entries != last || rep.HeadSeq != last || rep.Problem != "" || rep.Error != "" {
					t.Fatalf("before the edit: %+v", rep)
				}
				pub.Flush()
				tc.edit(exec, last)
				want := tc.seq(last)
				for _, tok := range []string{olive, audrey} {
					rep := w.verifyReport("/api/v1/orgs/acme/audit", tok)
					if rep.OK || rep.Chain != "acme" || rep.Problem != tc.problem || rep.BrokenSeq != want || !strings.Contains(rep.Error, tc.why) || rep.Error == "" {
						t.Fatalf("after the edit: %+v, want %s at %d (%q)", rep, tc.problem, want, tc.why)
					}
					if (tc.problem == "edited" || tc.problem == "deleted") && rep.HeadSeq != want-1 {
						t.Fatalf("after the edit: head %d, want %d", rep.HeadSeq, want-1)
					}
				}
				// The oracle: the custody service's own verification.
				local, err := w.custody.VerifyChain(w.ctx, "acme", nil, nil, nil)
				if b := local.Break; (b == nil) != (tc.problem == "") || (b != nil && (string(b.Problem) != tc.problem || b.Seq != want)) || (b == nil && err == nil) {
					t.Fatalf("custody.VerifyChain: %+v %v", local.Break, err)
				}
				if rep := w.verifyReport("/api/v1/orgs/globex/audit", gina); !rep.OK {
					t.Fatalf("globex after acme's edit: %+v", rep)
				}
				if tc.name == "detail edited" {
					// No proof of the edited entry; the entries before it
					// still prove offline.
					resp, out := w.request("GET", "/api/v1/orgs/acme/audit/entries/3/proof", audrey, nil)
					if p := problemOf(t, out); resp.StatusCode != 500 || p.Type != ProblemBase+"verification-failed" || !strings.Contains(p.Detail, "not the hash of its fields") {
						t.Fatalf("proof of the edited entry: %d %s", resp.StatusCode, out)
					}
					var p translog.InclusionProof
					if st, out := w.getJSON("/api/v1/orgs/acme/audit/entries/2/proof", audrey, &p); st != 200 || p.Verify(verifierKey(t, pub, "acme")) != nil {
						t.Fatalf("proof of entry 2: %d %s", st, out)
					}
				}
				w.checkNoLeaks()
			})
		}
	}
}

// verifierKey is chain's note verifier key (sealkeep audit log-key).
func verifierKey(t *testing.T, pub *translog.Publisher, chain string) string {
	t.Helper()
	k, err := translog.VerifierKey(pub.Public(), chain)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAuditSystemChain: the operator verifies the system chain and is
// told when an entry of it is deleted; an org's verification is not
// affected; org owners never see it.
func TestAuditSystemChain(t *testing.T) {
	for name, open := range editableStores(t) {
		t.Run(name, func(t *testing.T) {
			st, exec := open(t)
			w, pub := auditWorld(t, st)
			op := w.token("operator")
			rep := w.verifyReport("/api/v1/system/audit", op)
			if !rep.OK || rep.Chain != "system" || rep.Entries < 10 {
				t.Fatalf("system chain: %+v", rep)
			}
			var page entriesPage
			if st, out := w.getJSON("/api/v1/system/audit/entries?limit=1000", op, &page); st != 200 || page.Chain != "system" ||
				!bytes.Equal(jsonlOf(t, page.Entries), w.exportLocal("system")) {
				t.Fatalf("system entries: %d %.300s", st, out)
			}
			resp, body := w.request("GET", "/api/v1/system/audit/export", op, nil)
			if resp.StatusCode != 200 || !bytes.Equal(body, w.exportLocal("system")) {
				t.Fatalf("system export: %d", resp.StatusCode)
			}
			var p translog.InclusionProof
			if st, out := w.getJSON("/api/v1/system/audit/entries/2/proof", op, &p); st != 200 || p.Verify(verifierKey(t, pub, "system")) != nil ||
				p.Verify(verifierKey(t, pub, "acme")) == nil {
				t.Fatalf("system proof: %d %s", st, out)
			}
			pub.Flush()
			exec(`DELETE FROM audit_entries WHERE chain = 'system' AND seq = 2`)
			if rep := w.verifyReport("/api/v1/system/audit", op); rep.OK || rep.Problem != "deleted" || rep.BrokenSeq != 2 {
				t.Fatalf("system chain with entry 2 deleted: %+v", rep)
			}
			if rep := w.verifyReport("/api/v1/orgs/acme/audit", w.token("olive")); !rep.OK {
				t.Fatalf("acme after the system chain's edit: %+v", rep)
			}
		})
	}
}

// TestAuditProofAndCheckpoint: every entry's proof from the API verifies
// with the chain's verifier key alone, against the checkpoint the API
// serves; a proof with its entry or path edited does not; a new entry is
// provable at once; a checkpoint file replaced by another chain's (or
// garbage) is never served.
func TestAuditProofAndCheckpoint(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w, pub := auditWorld(t, open(t))
			tok := w.token("audrey")
			vkey := verifierKey(t, pub, "acme")
			resp, note := w.request("GET", "/api/v1/orgs/acme/audit/checkpoint", tok, nil)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("checkpoint: %d %s", resp.StatusCode, note)
			}
			cp, err := translog.Open(note, vkey)
			if err != nil {
				t.Fatalf("the served checkpoint does not open under the verifier key: %v\n%s", err, note)
			}
			stored, err := pub.Dir().Latest("acme")
			if err != nil || !bytes.Equal(stored, note) {
				t.Fatalf("the served checkpoint is not the newest in the directory: %v", err)
			}
			var page entriesPage
			w.getJSON("/api/v1/orgs/acme/audit/entries?limit=1000", tok, &page)
			if cp.N != int64(len(page.Entries)) {
				t.Fatalf("checkpoint of %d entries, the chain has %d", cp.N, len(page.Entries))
			}
			var p translog.InclusionProof
			for _, e := range page.Entries {
				p = translog.InclusionProof{}
				if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries/%d/proof", e.Seq), tok, &p); st != 200 {
					t.Fatalf("proof of %d: %d %s", e.Seq, st, out)
				}
				if err := p.Verify(vkey); err != nil || p.Checkpoint != string(note) || p.Entry.Hash != e.Hash {
					t.Fatalf("proof of %d: %v", e.Seq, err)
				}
			}
			// Edited proofs fail offline.
			edited := p
			edited.Entry.Details = map[string]string{"reason": "edited"}
			other := p
			other.Path = slices.Clone(p.Path)
			other.Path[0][0] ^= 1
			for what, q := range map[string]translog.InclusionProof{"entry": edited, "path": other} {
				if q.Verify(vkey) == nil {
					t.Errorf("a proof with its %s edited verifies", what)
				}
			}
			if p.Verify(verifierKey(t, pub, "globex")) == nil {
				t.Error("acme's proof verifies under globex's key")
			}
			for seq, want := range map[string]int{fmt.Sprint(cp.N + 1): 404, "0": 422} {
				if resp, out := w.request("GET", "/api/v1/orgs/acme/audit/entries/"+seq+"/proof", tok, nil); resp.StatusCode != want {
					t.Errorf("proof of %s: %d %s", seq, resp.StatusCode, out)
				}
			}
			// A new entry: provable at once, and in the checkpoint.
			fill(t, w, "acme", 1, 10)
			p = translog.InclusionProof{}
			if st, out := w.getJSON(fmt.Sprintf("/api/v1/orgs/acme/audit/entries/%d/proof", cp.N+1), tok, &p); st != 200 || p.Verify(vkey) != nil || p.TreeSize != cp.N+1 {
				t.Fatalf("proof of the new entry: %d %s", st, out)
			}
			_, note = w.request("GET", "/api/v1/orgs/acme/audit/checkpoint", tok, nil)
			if c, err := translog.Open(note, vkey); err != nil || c.N != cp.N+1 {
				t.Fatalf("checkpoint after the append: %v %+v", err, c)
			}
			// The checkpoint directory edited: globex's note, then garbage,
			// in acme's file.
			globex, err := pub.Dir().Latest("globex")
			if err != nil || globex == nil {
				t.Fatal(err)
			}
			for _, b := range [][]byte{globex, []byte("garbage\n")} {
				if err := os.WriteFile(pub.Dir().CheckpointPath("acme"), b, 0o600); err != nil {
					t.Fatal(err)
				}
				resp, out := w.request("GET", "/api/v1/orgs/acme/audit/checkpoint", tok, nil)
				if resp.StatusCode != 500 || problemOf(t, out).Type != ProblemBase+"verification-failed" || bytes.Contains(out, globex) {
					t.Errorf("a replaced checkpoint file: %d %s", resp.StatusCode, out)
				}
				if rep := w.verifyReport("/api/v1/orgs/acme/audit", tok); rep.OK {
					t.Errorf("verify with a replaced checkpoint file: %+v", rep)
				}
			}
			w.checkNoLeaks()
		})
	}
}

// countingStore counts the audit entries its transactions read.
type countingStore struct {
	store.Store
	read *atomic.Int64
	// failFrom, if not 0, makes reading entries from that seq on fail.
	failFrom *atomic.Uint64
}

func (c countingStore) View(ctx context.Context, fn func(store.ReadTx) error) error {
	return c.Store.View(ctx, func(tx store.ReadTx) error { return fn(countingTx{tx, c}) })
}

type countingTx struct {
	store.ReadTx
	c countingStore
}

func (t countingTx) AuditPage(chain string, from uint64, limit int) ([]audit.Entry, error) {
	if f := t.c.failFrom.Load(); f != 0 && from >= f {
		return nil, fmt.Errorf("the disk failed")
	}
	page, err := t.ReadTx.AuditPage(chain, from, limit)
	t.c.read.Add(int64(len(page)))
	return page, err
}

// lineWriter counts the lines a handler writes and the most entries the
// server held at once: read from the store and not yet written.
type lineWriter struct {
	http.ResponseWriter
	read         *atomic.Int64
	lines, ahead int64
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.ahead = max(l.ahead, l.read.Load()-l.lines)
	l.lines += int64(bytes.Count(p, []byte{'\n'}))
	return l.ResponseWriter.Write(p)
}

// TestAuditExportStreams: the export of a chain of thousands of entries
// is what `sealkeep audit export` writes, read here streamed line by line
// (each line an AuditEntry of the OpenAPI document, the chain verified as
// it comes); the server never holds more than about a page of entries,
// whatever the chain's length (memory does not grow with the chain), and
// reads each entry from the store about once; a store failing midway cuts
// the transfer instead of ending it cleanly.
func TestAuditExportStreams(t *testing.T) {
	const n = 3000
	schema := loadDoc(t).Components.Schemas["AuditEntry"].Value
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			read := new(atomic.Int64)
			cs := countingStore{Store: open(t), read: read, failFrom: new(atomic.Uint64)}
			w := newWorld(t, cs, Config{})
			fill(t, w, "acme", n, 200)
			tok := w.token("audrey")
			want := w.exportLocal("acme")
			var lw *lineWriter
			ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				read.Store(0)
				lw = &lineWriter{ResponseWriter: rw, read: read}
				w.srv.Handler().ServeHTTP(lw, r)
			}))
			defer ts.Close()
			get := func(path string) *http.Response {
				req, _ := http.NewRequest("GET", ts.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := ts.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			resp := get("/api/v1/orgs/acme/audit/export")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != JSONLType || resp.ContentLength != -1 {
				t.Fatalf("export: %d %q length %d", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength)
			}
			var got bytes.Buffer
			v := audit.NewVerifier("acme")
			lines := 0
			for e, err := range audit.DecodeJSONL(io.TeeReader(resp.Body, &got)) {
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Add(e); err != nil {
					t.Fatal(err)
				}
				var doc any
				b, _ := json.Marshal(e)
				json.Unmarshal(b, &doc)
				if err := schema.VisitJSON(doc); err != nil {
					t.Fatalf("line %d is not an AuditEntry: %v", lines+1, err)
				}
				lines++
			}
			resp.Body.Close()
			if rep := v.Report(); !rep.OK() || lines < n || !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("export: %d lines, report %+v, equal to audit export: %v", lines, rep, bytes.Equal(got.Bytes(), want))
			}
			if lw.ahead > 2*exportPage || lw.ahead > n/5 || lw.lines != int64(lines) {
				t.Fatalf("the server held up to %d entries at once (a page is %d) of %d; wrote %d lines", lw.ahead, exportPage, lines, lw.lines)
			}
			// Each entry is read about once: a page's look-ahead entry again
			// as the next page's first.
			if r := read.Load(); r > int64(lines+lines/exportPage+1) {
				t.Fatalf("%d entries read from the store for an export of %d", r, lines)
			}
			t.Logf("%d entries exported, at most %d held at once, %d read", lines, lw.ahead, read.Load())
			// From an entry on.
			resp = get("/api/v1/orgs/acme/audit/export?after=2000")
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.HasSuffix(want, b) || bytes.Count(b, []byte{'\n'}) != lines-2000 {
				t.Fatalf("export after 2000: %v, %d lines", err, bytes.Count(b, []byte{'\n'}))
			}
			// The store fails after the first page: the client sees a cut
			// transfer, never a clean end.
			cs.failFrom.Store(1000)
			resp = get("/api/v1/orgs/acme/audit/export")
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("export with a failing store: %d, %d bytes, %v", resp.StatusCode, len(b), err)
			}
			if !strings.Contains(w.log.String(), "the disk failed") {
				t.Errorf("the cut export is not logged:\n%s", w.log.String())
			}
			w.checkNoLeaks()
		})
	}
}

// gateStore holds every read of audit entries, while armed, until gate
// is closed; entered receives once per held read.
type gateStore struct {
	store.Store
	armed   *atomic.Bool
	entered chan struct{}
	gate    chan struct{}
}

func (g gateStore) View(ctx context.Context, fn func(store.ReadTx) error) error {
	return g.Store.View(ctx, func(tx store.ReadTx) error { return fn(gateTx{tx, g}) })
}

type gateTx struct {
	store.ReadTx
	g gateStore
}

func (t gateTx) AuditEntries(chain string, from uint64, fn func(audit.Entry) error) error {
	if t.g.armed.Load() {
		t.g.entered <- struct{}{}
		<-t.g.gate
	}
	return t.ReadTx.AuditEntries(chain, from, fn)
}

// TestAuditVerifyBounded: chain verifications run at most MaxVerifies at
// once (one more is 429 with Retry-After, counted), in a pool apart from
// PDF verification, which an auditor's verifications do not starve.
func TestAuditVerifyBounded(t *testing.T) {
	g := gateStore{Store: stores(t)["sqlite"](t), armed: new(atomic.Bool), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	w := newWorld(t, g, Config{MaxVerifies: 1})
	audrey, olive := w.token("audrey"), w.token("olive")
	g.armed.Store(true)
	first := make(chan audit.ChainReport, 1)
	go func() {
		req, _ := http.NewRequest("GET", w.ts.URL+"/api/v1/orgs/acme/audit/verify", nil)
		req.Header.Set("Authorization", "Bearer "+audrey)
		resp, err := w.ts.Client().Do(req)
		var rep audit.ChainReport
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&rep)
			resp.Body.Close()
		}
		first <- rep
	}()
	<-g.entered // the first verification holds the only slot
	resp, out := w.request("GET", "/api/v1/orgs/globex/audit/verify", w.token("gina"), nil)
	if p := problemOf(t, out); resp.StatusCode != 429 || p.Type != ProblemBase+"too-many-requests" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a second chain verification: %d %s Retry-After %q", resp.StatusCode, out, resp.Header.Get("Retry-After"))
	}
	var doc bytes.Buffer
	benchdata.WritePDF(&doc, 16<<10, 1)
	if resp, out := w.post("/api/v1/verify", "application/pdf", doc.Bytes()); resp.StatusCode != 200 {
		t.Fatalf("a PDF verification while a chain is verified: %d %s", resp.StatusCode, out)
	}
	g.armed.Store(false)
	close(g.gate)
	if rep := <-first; !rep.OK || rep.Chain != "acme" {
		t.Fatalf("the first verification: %+v", rep)
	}
	if rep := w.verifyReport("/api/v1/orgs/acme/audit", olive); !rep.OK {
		t.Fatalf("after the first finished: %+v", rep)
	}
	_, metrics := w.get("/metrics")
	if !strings.Contains(string(metrics), `sealkeep_rate_limit_rejections_total{limit="audit_verify"} 1`) {
		t.Error("the refused chain verification is not counted")
	}
}
