package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/store"
)

// Callers of the authorization matrix. The path of every route names org
// acme and identity id-jane (jane's own; sam is another sealer of acme).
const (
	anonymous      = "anonymous"
	expiredSession = "expired session"
	revokedToken   = "revoked token"
)

// everyone is every caller of the matrix: the two without valid
// credentials, then each account of the world.
var everyone = []string{anonymous, expiredSession, revokedToken,
	"operator", "olive", "jane", "sam", "pete", "audrey", "gina", "gus"}

// anyUser is every signed-in account.
var anyUser = []string{"operator", "olive", "jane", "sam", "pete", "audrey", "gina", "gus"}

// matrix is who may call each route, written out by hand from DESIGN.md
// and the roles table of docs/api.md, not computed from auth.Allowed: the
// test is that the server's access checks give exactly this. Every
// route must be here.
var matrix = map[string][]string{
	"GET /healthz":                  everyone,
	"GET /readyz":                   everyone,
	"GET /metrics":                  everyone,
	"GET /api/v1/openapi.json":      everyone,
	"POST /api/v1/verify":           everyone,
	"POST /api/v1/session":          everyone,
	"POST /api/v1/tokens":           everyone,
	"DELETE /api/v1/session":        anyUser,
	"GET /api/v1/tokens":            anyUser,
	"DELETE /api/v1/tokens/{token}": anyUser,
	"GET /api/v1/me":                anyUser,
	// The audit trail: acme's owner and auditor; the system chain, the
	// operator.
	"GET /api/v1/orgs/{org}/audit/entries":             {"olive", "audrey"},
	"GET /api/v1/orgs/{org}/audit/entries/{seq}":       {"olive", "audrey"},
	"GET /api/v1/orgs/{org}/audit/entries/{seq}/proof": {"olive", "audrey"},
	"GET /api/v1/orgs/{org}/audit/export":              {"olive", "audrey"},
	"GET /api/v1/orgs/{org}/audit/verify":              {"olive", "audrey"},
	"GET /api/v1/orgs/{org}/audit/checkpoint":          {"olive", "audrey"},
	"GET /api/v1/system/audit/entries":                 {"operator"},
	"GET /api/v1/system/audit/entries/{seq}":           {"operator"},
	"GET /api/v1/system/audit/entries/{seq}/proof":     {"operator"},
	"GET /api/v1/system/audit/export":                  {"operator"},
	"GET /api/v1/system/audit/verify":                  {"operator"},
	"GET /api/v1/system/audit/checkpoint":              {"operator"},
	// Accounts: the caller's own MFA and password; activation with an
	// invitation needs no login.
	"POST /api/v1/me/totp":           anyUser,
	"POST /api/v1/me/totp/confirm":   anyUser,
	"POST /api/v1/me/totp/reset":     anyUser,
	"POST /api/v1/me/recovery-codes": anyUser,
	"POST /api/v1/me/password":       anyUser,
	"POST /api/v1/activation":        everyone,
	// Organizations: the operator creates them and their first owner (of
	// acme too, as far as access goes: acme having an owner, the handler
	// refuses); only acme's owner manages its members, and its owner and
	// auditor read them.
	"GET /api/v1/orgs":                                   anyUser,
	"POST /api/v1/orgs":                                  {"operator"},
	"POST /api/v1/orgs/{org}/first-owner":                {"operator"},
	"POST /api/v1/orgs/{org}/first-owner/invitation":     {"operator"},
	"GET /api/v1/orgs/{org}/members":                     {"olive", "audrey"},
	"POST /api/v1/orgs/{org}/members":                    {"olive"},
	"PUT /api/v1/orgs/{org}/members/{login}":             {"olive"},
	"DELETE /api/v1/orgs/{org}/members/{login}":          {"olive"},
	"POST /api/v1/orgs/{org}/members/{login}/invitation": {"olive"},
	// Sealing with id-jane: jane only (her own identity, as a sealer).
	"POST /api/v1/orgs/{org}/identities/{identity}/seal": {"jane"},
	// Identities and versions: every member of acme reads; a sealer
	// creates an identity of their own; only jane changes id-jane.
	"GET /api/v1/orgs/{org}/identities":                                           acmeMembers,
	"POST /api/v1/orgs/{org}/identities":                                          {"jane", "sam"},
	"GET /api/v1/orgs/{org}/identities/{identity}":                                acmeMembers,
	"GET /api/v1/orgs/{org}/identities/{identity}/versions":                       acmeMembers,
	"POST /api/v1/orgs/{org}/identities/{identity}/versions":                      {"jane"},
	"POST /api/v1/orgs/{org}/identities/{identity}/imports":                       {"jane"},
	"POST /api/v1/orgs/{org}/identities/{identity}/external-keys":                 {"jane"},
	"GET /api/v1/orgs/{org}/identities/{identity}/versions/{version}":             acmeMembers,
	"GET /api/v1/orgs/{org}/identities/{identity}/versions/{version}/csr":         acmeMembers,
	"GET /api/v1/orgs/{org}/identities/{identity}/versions/{version}/certificate": acmeMembers,
	"PUT /api/v1/orgs/{org}/identities/{identity}/versions/{version}/certificate": {"jane"},
	"POST /api/v1/orgs/{org}/identities/{identity}/versions/{version}/activate":   {"jane"},
	"POST /api/v1/orgs/{org}/identities/{identity}/versions/{version}/revoke":     {"jane"},
	// Rotation approval: acme's owner reads and sets the policy, lists the
	// pending requests, approves and declines them.
	"GET /api/v1/orgs/{org}/policy":                                            {"olive"},
	"PUT /api/v1/orgs/{org}/policy":                                            {"olive"},
	"GET /api/v1/orgs/{org}/activation-requests":                               {"olive"},
	"POST /api/v1/orgs/{org}/identities/{identity}/versions/{version}/approve": {"olive"},
	"POST /api/v1/orgs/{org}/identities/{identity}/versions/{version}/decline": {"olive"},
	"POST /api/v1/orgs/{org}/identities/{identity}/versions/{version}/destroy": {"jane"},
	// Passkeys: one's own account; a passkey approval of a seal with
	// id-jane: jane only, as sealing.
	"POST /api/v1/me/passkeys/registration":                      anyUser,
	"POST /api/v1/me/passkeys":                                   anyUser,
	"GET /api/v1/me/passkeys":                                    anyUser,
	"DELETE /api/v1/me/passkeys/{credential}":                    anyUser,
	"POST /api/v1/orgs/{org}/identities/{identity}/seal/passkey": {"jane"},
}

// acmeMembers is every member of acme, whatever the role.
var acmeMembers = []string{"olive", "jane", "sam", "pete", "audrey"}

// pathParam is the value of each path parameter in the matrix requests.
var pathParam = map[string]string{"org": "acme", "identity": "id-jane", "credential": "AAAA"}

var paramRE = regexp.MustCompile(`\{([a-z_]+)\.{0,3}\}`)

// TestAuthorizationMatrix calls every route of the server as every
// caller: a caller the matrix does not allow must be refused (401 without
// valid credentials, 403 or 404 otherwise) over real HTTP, and by the
// route's access check; a caller it allows must pass the access check (its
// request is not sent, so that nothing changes).
func TestAuthorizationMatrix(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			creds := map[string][]string{anonymous: nil}
			for _, u := range anyUser {
				creds[u] = []string{"Authorization", "Bearer " + w.token(u)}
			}
			// A revoked token of olive, and an expired session of jane (a
			// session lasts 12 hours, a token 30 days).
			olive := w.users["olive"].id
			before, err := w.auth.APITokens(w.ctx, olive)
			w.must(err)
			tok := w.token("olive")
			after, err := w.auth.APITokens(w.ctx, olive)
			w.must(err)
			for _, x := range after {
				if !slices.ContainsFunc(before, func(y store.APIToken) bool { return y.ID == x.ID }) {
					w.must(w.auth.RevokeAPIToken(w.ctx, olive, x.ID))
				}
			}
			creds[revokedToken] = []string{"Authorization", "Bearer " + tok}
			b := w.session("jane")
			creds[expiredSession] = []string{"Cookie", SessionCookie + "=" + b.cookie, CSRFHeader, b.csrf}
			w.clk.add(13 * time.Hour)
			for _, c := range []string{"olive", revokedToken, expiredSession} {
				want := map[string]int{"olive": 200}[c]
				if resp, _ := w.request("GET", "/api/v1/me", "", nil, creds[c]...); (want == 200) != (resp.StatusCode == 200) {
					t.Fatalf("%s: GET /api/v1/me %d", c, resp.StatusCode)
				}
			}
			var routes []string
			for _, rt := range w.srv.Routes() {
				routes = append(routes, rt.Pattern())
				allowed, ok := matrix[rt.Pattern()]
				if !ok {
					t.Errorf("route %s is not in the authorization matrix: add who may call it", rt.Pattern())
					continue
				}
				path := paramRE.ReplaceAllStringFunc(rt.Path, func(m string) string {
					p := paramRE.FindStringSubmatch(m)[1]
					if v, ok := pathParam[p]; ok {
						return v
					}
					return "x"
				})
				for _, caller := range everyone {
					if slices.Contains(allowed, caller) {
						if err := w.access(rt, path, creds[caller]); err != nil {
							t.Errorf("%s as %s: refused by the access check: %v", rt.Pattern(), caller, err)
						}
						continue
					}
					resp, out := w.request(rt.Method, path, "", nil, creds[caller]...)
					want := []int{http.StatusForbidden, http.StatusNotFound}
					if caller == anonymous || caller == expiredSession || caller == revokedToken {
						want = []int{http.StatusUnauthorized}
					}
					if !slices.Contains(want, resp.StatusCode) {
						t.Errorf("%s %s as %s: %d, want one of %v: %s", rt.Method, path, caller, resp.StatusCode, want, out)
					}
					if err := w.access(rt, path, creds[caller]); err == nil {
						t.Errorf("%s as %s: allowed by the access check", rt.Pattern(), caller)
					}
				}
			}
			for p := range matrix {
				if !slices.Contains(routes, p) {
					t.Errorf("the matrix names %s, which is not a route", p)
				}
			}
			w.checkNoLeaks()
		})
	}
}

// access runs the route's access check on a request for path with the
// credential headers hdr, without its handler.
func (w *world) access(rt Route, path string, hdr []string) error {
	r := httptest.NewRequestWithContext(context.WithValue(context.Background(), stateKey{}, &reqState{}), rt.Method, path, strings.NewReader(""))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	for _, m := range paramRE.FindAllStringSubmatch(rt.Path, -1) {
		v, ok := pathParam[m[1]]
		if !ok {
			v = "x"
		}
		r.SetPathValue(m[1], v)
	}
	_, err := w.srv.checkAccess(r, rt)
	return err
}
