package server

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"

	_ "sealkeep/internal/signer/fake"
)

// custodyCall is one call of every custody route on sam's identity (or a
// new identity), with a body that is well formed where it matters and
// changes nothing (each allowed call is refused after authorization, by
// its input or the version's state).
type custodyCall struct {
	route      Route
	path, ct   string
	body       []byte
	manage     bool
	createsOwn bool
}

// custodyCalls returns a call of each custody route, on identity in org
// acme's path.
func (w *world) custodyCalls(identity string) []custodyCall {
	var out []custodyCall
	for _, rt := range w.srv.custodyRoutes() {
		p := strings.NewReplacer("{org}", "acme", "{identity}", identity, "{version}", "1").Replace(rt.Path)
		c := custodyCall{route: rt, path: p, ct: "application/json", body: []byte(`{}`), manage: rt.Op == "identity.manage", createsOwn: rt.Own}
		switch {
		case rt.Method == "GET", strings.HasSuffix(rt.Path, "/destroy"):
			c.ct, c.body = "", nil
		case strings.HasSuffix(rt.Path, "/certificate"):
			c.ct, c.body = "application/pem-certificate-chain", []byte("not a certificate")
		case strings.HasSuffix(rt.Path, "/imports"):
			f := form(w.t, 0, "file", "not a key file")
			c.ct, c.body = f.ct, f.body
		case rt.Own:
			c.body = []byte(`{"name": ""}`)
		}
		out = append(out, c)
	}
	if len(out) != 14 {
		w.t.Fatalf("%d custody routes, want 14", len(out))
	}
	return out
}

// callCustody sends c with bearer.
func (w *world) callCustody(c custodyCall, bearer string) (*http.Response, []byte) {
	w.t.Helper()
	if c.body == nil {
		return w.request(c.route.Method, c.path, bearer, nil)
	}
	return w.send(c.route.Method, c.path, bearer, c.ct, c.body)
}

// TestCustodyAccess enumerates every custody route with every kind of
// caller and asserts the exact allow/deny answer: everyone in the org
// reads; only the identity's owner (a sealer) changes it; any sealer
// creates an identity of their own; the owner, preparer, auditor and
// operator change nothing; another org's member is 403 and another org's
// identity through this org's path 404; no credentials 401. A refused call
// writes no audit entry.
func TestCustodyAccess(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			toks := map[string]string{"": ""}
			for _, l := range []string{"sam", "jane", "olive", "pete", "audrey", "operator", "gus"} {
				toks[l] = w.token(l)
			}
			heads := func() [3]int {
				return [3]int{len(w.entries("acme")), len(w.entries("globex")), len(w.entries(audit.SystemChain))}
			}
			allowed := func(status int) bool { return status != 401 && status != 403 }
			for _, c := range w.custodyCalls("id-sam") {
				for login, tok := range toks {
					var want string
					switch {
					case login == "":
						want = "401"
					case login == "operator" || login == "gus":
						want = "403"
					case c.createsOwn:
						want = map[bool]string{true: "allowed", false: "403"}[login == "sam" || login == "jane"]
					case c.manage:
						want = map[bool]string{true: "allowed", false: "403"}[login == "sam"]
					default:
						want = "allowed"
					}
					before := heads()
					resp, out := w.callCustody(c, tok)
					ok := allowed(resp.StatusCode)
					if want != "allowed" {
						ok = strconv.Itoa(resp.StatusCode) == want
						if after := heads(); after != before {
							t.Errorf("%s as %q was refused and wrote audit entries: %v -> %v", c.route.Pattern(), login, before, after)
						}
					}
					if !ok {
						t.Errorf("%s as %q: %d, want %s: %s", c.route.Pattern(), login, resp.StatusCode, want, out)
					}
				}
			}
			// Another org's identity through acme's path: 404 for a caller
			// whose role allows the route (never a hint that it exists),
			// 403 for one whose role does not.
			for _, c := range w.custodyCalls("id-gus") {
				if !strings.Contains(c.route.Path, "{identity}") {
					continue
				}
				notSealer := map[bool]int{true: 403, false: 404}[c.manage]
				for login, status := range map[string]int{"jane": 404, "olive": notSealer, "audrey": notSealer, "pete": notSealer} {
					before := heads()
					resp, out := w.callCustody(c, toks[login])
					if after := heads(); after != before {
						t.Errorf("%s on id-gus as %s wrote audit entries: %v -> %v", c.route.Pattern(), login, before, after)
					}
					if resp.StatusCode != status {
						t.Errorf("%s on id-gus as %s: %d, want %d: %s", c.route.Pattern(), login, resp.StatusCode, status, out)
					}
				}
				// Through globex's own path, acme's sealer is no member.
				c.path = strings.Replace(c.path, "/orgs/acme/", "/orgs/globex/", 1)
				if resp, out := w.callCustody(c, toks["jane"]); resp.StatusCode != 403 {
					t.Errorf("%s on globex as jane: %d: %s", c.route.Pattern(), resp.StatusCode, out)
				}
			}
			// An identity created by jane is jane's, whatever the body says.
			resp, out := w.send("POST", identities, toks["jane"], "application/json", []byte(`{"name": "Jane again", "owner": "`+w.users["sam"].id+`"}`))
			want(t, "create with an owner member", resp, out, 422)
			resp, out = w.postJSON(identities, toks["jane"], map[string]any{"name": "Jane Doe, P.E. 2"})
			want(t, "jane creates", resp, out, 201)
			if id := decode[identityJSON](t, out); id.Owner != w.users["jane"].id || !strings.HasPrefix(id.ID, "idt-") {
				t.Errorf("created identity %+v", id)
			}
			// IDs are chosen by custody: asking for one (such as another
			// org's, to learn whether it exists) is refused as input.
			resp, out = w.postJSON(identities, toks["sam"], map[string]any{"id": "id-gus", "name": "Sam"})
			want(t, "an ID of the caller's choosing", resp, out, 422)
			// sam activates with jane's code: a wrong code for sam.
			resp, out = w.postJSON(versionPath("id-jane", 1)+"/activate", toks["sam"], map[string]any{"code": string(w.code(w.users["jane"]).Bytes())})
			want(t, "sam on jane's identity", resp, out, 403)
			w.consistent()
			w.checkNoLeaks()
		})
	}
}

// insiderStore opens a store of kind ("sqlite" or "postgres") and returns
// it with a function that runs SQL on its database directly, as an
// insider with write access would.
func insiderStore(t *testing.T, kind string) (store.Store, func(query string)) {
	t.Helper()
	ctx := context.Background()
	if kind == "postgres" {
		dsn := pgtest.Fresh(t)
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return st, func(q string) { pgtest.Exec(t, dsn, q) }
	}
	path := filepath.Join(t.TempDir(), "sealkeep.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return st, func(q string) {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCustodyTrailDecides: an insider who edits the database cannot make
// the API act on the edit. A revoked version set back to active in the
// database, or sam's identity given to jane, is refused by every custody
// route that acts on it or shows it (verification failed, naming the
// difference) and audited as security.state_mismatch; restored, the
// trail's state is served again.
func TestCustodyTrailDecides(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st, edit := insiderStore(t, kind)
			w := newWorld(t, st, Config{})
			jane, sam := w.token("jane"), w.token("sam")
			resp, out := w.postJSON(versionPath("id-jane", 1)+"/revoke", jane, map[string]any{"reason": "key compromise"})
			want(t, "revoke", resp, out, 200)
			resp, out = w.postJSON(identities+"/id-jane/versions", jane, map[string]any{"algorithm": "ECDSA-P256", "subject": map[string]string{"common_name": "Jane"}})
			want(t, "generate", resp, out, 201)
			leaf := w.opensslSign(decode[newVersionJSON](t, out).CSR)
			resp, out = w.send("PUT", versionPath("id-jane", 2)+"/certificate", jane, "application/pem-certificate-chain", pemChain(leaf))
			want(t, "upload", resp, out, 200)

			edit(`UPDATE cert_versions SET status = 'active' WHERE identity_id = 'id-jane' AND version = 1`)
			mismatches := w.count("acme", audit.ActionSecurityStateMismatch)
			why := `identity "id-jane" version 1 is stored as "active", the audit trail says "revoked"`
			for what, c := range map[string]func() (*http.Response, []byte){
				"show identity": func() (*http.Response, []byte) { return w.request("GET", identities+"/id-jane", jane, nil) },
				"list versions": func() (*http.Response, []byte) { return w.request("GET", identities+"/id-jane/versions", jane, nil) },
				"show version":  func() (*http.Response, []byte) { return w.request("GET", versionPath("id-jane", 2), jane, nil) },
				"CSR":           func() (*http.Response, []byte) { return w.request("GET", versionPath("id-jane", 2)+"/csr", jane, nil) },
				"certificate": func() (*http.Response, []byte) {
					return w.request("GET", versionPath("id-jane", 2)+"/certificate", jane, nil)
				},
				"activate": func() (*http.Response, []byte) {
					defer w.nextStep()
					return w.postJSON(versionPath("id-jane", 2)+"/activate", jane, map[string]any{"code": string(w.code(w.users["jane"]).Bytes()), "reason": "after the compromise"})
				},
				"revoke": func() (*http.Response, []byte) {
					return w.postJSON(versionPath("id-jane", 1)+"/revoke", jane, map[string]any{"reason": "again"})
				},
				"destroy": func() (*http.Response, []byte) {
					return w.request("POST", versionPath("id-jane", 1)+"/destroy", jane, nil)
				},
				"generate": func() (*http.Response, []byte) {
					return w.postJSON(identities+"/id-jane/versions", jane, map[string]any{"subject": map[string]string{"common_name": "J"}})
				},
			} {
				resp, out := c()
				p := problemOf(t, out)
				if resp.StatusCode != 500 || p.Type != ProblemBase+"verification-failed" || !strings.Contains(p.Detail, why) {
					t.Errorf("%s on the edited state: %d %+v", what, resp.StatusCode, p)
				}
			}
			if n := w.count("acme", audit.ActionSecurityStateMismatch); n != mismatches+9 {
				t.Errorf("%d refusals audited, want 9", n-mismatches)
			}
			if n := w.count("acme", audit.ActionVersionRotate) + w.count("acme", audit.ActionVersionActivate); n != 1 {
				t.Errorf("%d activations in the trail, want the world's first only", n)
			}

			// Restored, the trail decides: version 2 is activated, not
			// rotated (no version is active).
			edit(`UPDATE cert_versions SET status = 'revoked' WHERE identity_id = 'id-jane' AND version = 1`)
			resp, out = w.postJSON(versionPath("id-jane", 2)+"/activate", jane, map[string]any{"code": string(w.code(w.users["jane"]).Bytes())})
			want(t, "activate after the restore", resp, out, 200)
			w.nextStep()
			if es := w.entries("acme"); es[len(es)-1].Action != audit.ActionVersionActivate {
				t.Errorf("after the restore: %s", es[len(es)-1].Action)
			}

			// The trail does not hold the CSR: one for another key put in
			// its place is refused by its signature.
			resp, out = w.postJSON(identities+"/id-sam/versions", sam, map[string]any{"algorithm": "ECDSA-P256", "subject": map[string]string{"common_name": "Sam"}})
			want(t, "sam generates", resp, out, 201)
			edit(`UPDATE cert_versions SET csr = (SELECT csr FROM cert_versions WHERE identity_id = 'id-sam' AND version = 1) WHERE identity_id = 'id-jane' AND version = 2`)
			resp, out = w.request("GET", versionPath("id-jane", 2)+"/csr", jane, nil)
			if p := problemOf(t, out); resp.StatusCode != 500 || !strings.Contains(p.Detail, "not signed by the version's key") {
				t.Errorf("a swapped CSR: %d %+v", resp.StatusCode, p)
			}

			// sam's identity made jane's in the database: the path check
			// reads the row and lets jane through, custody refuses.
			edit(`UPDATE identities SET owner = '` + w.users["jane"].id + `' WHERE id = 'id-sam'`)
			why = `identity "id-sam" is stored as owned by "` + w.users["jane"].id + `", the audit trail says "` + w.users["sam"].id + `"`
			for what, c := range map[string]func() (*http.Response, []byte){
				"generate": func() (*http.Response, []byte) {
					return w.postJSON(identities+"/id-sam/versions", jane, map[string]any{"algorithm": "ECDSA-P256", "subject": map[string]string{"common_name": "J"}})
				},
				"import": func() (*http.Response, []byte) {
					f := form(t, 0, "file", string(demo(t, "demo-signer.p12")), "passphrase", strings.TrimSpace(string(demo(t, "demo-passphrase.txt"))))
					return w.send("POST", identities+"/id-sam/imports", jane, f.ct, f.body)
				},
				"show": func() (*http.Response, []byte) { return w.request("GET", identities+"/id-sam", jane, nil) },
			} {
				resp, out := c()
				p := problemOf(t, out)
				if resp.StatusCode != 500 || !strings.Contains(p.Detail, why) {
					t.Errorf("%s on an identity given away in the database: %d %+v", what, resp.StatusCode, p)
				}
			}
			// The real owner is refused too until the row is restored.
			resp, out = w.request("GET", identities+"/id-sam", sam, nil)
			want(t, "sam while his identity is jane's", resp, out, 500)
			edit(`UPDATE identities SET owner = '` + w.users["sam"].id + `' WHERE id = 'id-sam'`)
			var versions []custody.VersionInfo
			resp, out = w.request("GET", identities+"/id-sam/versions", sam, nil)
			want(t, "sam after the restore", resp, out, 200)
			if versions = decode[map[string][]custody.VersionInfo](t, out)["versions"]; len(versions) != 1 {
				t.Errorf("sam has %d versions, want his own one only: %+v", len(versions), versions)
			}
			w.consistent()
			w.checkNoLeaks()
		})
	}
}

// TestCustodyExternalKeys: external keys through the API only for the
// schemes the operator enabled, never pkcs11 or an endpoint override; an
// enabled one (the test provider) registers a pending version whose CSR
// the provider signed, and goes through upload and activation; a URI
// holding a secret is refused without echoing it.
func TestCustodyExternalKeys(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{ExternalKeySchemes: []string{"fake", "pkcs11"}})
	tok := w.token("sam")
	path := identities + "/id-sam/external-keys"
	subject := map[string]string{"common_name": "Sam Smith"}
	for uri, status := range map[string]int{
		"pkcs11:token=t;object=o?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/shadow": 403,
		"awskms:alias/sam?region=eu-west-1":            403, // not enabled
		"fake:sam-1?endpoint=https://attacker.example": 403,
		"fake:sam-1?pin-value=hunter2-secret":          422,
		"not a uri":                                    422,
	} {
		resp, out := w.postJSON(path, tok, map[string]any{"key_uri": uri, "subject": subject})
		if resp.StatusCode != status || strings.Contains(string(out), "hunter2-secret") {
			t.Errorf("%s: %d, want %d: %s", uri, resp.StatusCode, status, out)
		}
	}
	off := newWorld(t, stores(t)["sqlite"](t), Config{})
	resp, out := off.postJSON(path, off.token("sam"), map[string]any{"key_uri": "fake:sam-2", "subject": subject})
	want(t, "a server with no external schemes", resp, out, 403)

	resp, out = w.postJSON(path, tok, map[string]any{"key_uri": "fake:sam-1?alg=ECDSA-P256", "subject": subject})
	want(t, "register", resp, out, 201)
	nv := decode[newVersionJSON](t, out)
	if nv.Version.Status != "pending" || !strings.HasPrefix(nv.Version.KeyRef, "fake:") || nv.Version.KeyPresent {
		t.Fatalf("registered %+v", nv.Version)
	}
	leaf := w.opensslSign(nv.CSR)
	resp, out = w.send("PUT", versionPath("id-sam", 1)+"/certificate", tok, "application/pem-certificate-chain", pemChain(leaf, w.ca.Cert.Raw))
	want(t, "upload", resp, out, 200)
	resp, out = w.postJSON(versionPath("id-sam", 1)+"/activate", tok, map[string]any{"code": string(w.code(w.users["sam"]).Bytes())})
	want(t, "activate", resp, out, 200)
	w.consistent()
	w.checkNoLeaks()
}
