package server

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/audit"
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

