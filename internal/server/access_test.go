package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSessionCookieAndCSRF: a browser session's cookie is __Host-,
// Secure, HttpOnly and SameSite=Strict; its unsafe requests need the
// session's CSRF token; after logout it no longer works.
func TestSessionCookieAndCSRF(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			m := w.users["jane"]
			resp, out := w.postJSON("/api/v1/session", "", map[string]any{"login": m.login, "password": m.password, "code": string(w.code(m).Bytes())})
			w.nextStep()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("login: %d %s", resp.StatusCode, out)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			var c *http.Cookie
			for _, x := range resp.Cookies() {
				if x.Name == SessionCookie {
					c = x
				}
			}
			if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" ||
				!strings.HasPrefix(c.Name, "__Host-") {
				t.Fatalf("session cookie %+v", c)
			}
			w.secrets = append(w.secrets, []byte(c.Value))
			b := w.session("jane")
			cookie := SessionCookie + "=" + b.cookie

			if resp, out := w.request("GET", "/api/v1/me", "", nil, "Cookie", cookie); resp.StatusCode != 200 || !strings.Contains(string(out), `"login": "jane"`) {
				t.Fatalf("me: %d %s", resp.StatusCode, out)
			}
			// Unsafe without the CSRF token, with a wrong one, with
			// another session's: 403, and the session still works.
			for _, tok := range []string{"", "x", b.csrf[:len(b.csrf)-1] + flip(b.csrf[len(b.csrf)-1]), w.session("jane").csrf} {
				resp, out := w.request("DELETE", "/api/v1/session", "", nil, "Cookie", cookie, CSRFHeader, tok)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(problemOf(t, out).Detail, "CSRF") {
					t.Errorf("logout with CSRF token %q: %d %s", tok, resp.StatusCode, out)
				}
			}
			// The right token from another site: refused by the
			// cross-origin check.
			resp, out = w.request("DELETE", "/api/v1/session", "", nil, "Cookie", cookie, CSRFHeader, b.csrf,
				"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(problemOf(t, out).Detail, "cross-origin") {
				t.Errorf("cross-site logout: %d %s", resp.StatusCode, out)
			}
			if resp, _ := w.request("GET", "/api/v1/me", "", nil, "Cookie", cookie); resp.StatusCode != 200 {
				t.Fatalf("the session ended without a valid logout: %d", resp.StatusCode)
			}
			resp, _ = w.request("DELETE", "/api/v1/session", "", nil, "Cookie", cookie, CSRFHeader, b.csrf)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: %d", resp.StatusCode)
			}
			if resp, _ := w.request("GET", "/api/v1/me", "", nil, "Cookie", cookie); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("me after logout: %d", resp.StatusCode)
			}
			w.checkNoLeaks()
		})
	}
}

// TestCredentials: API tokens as bearers only, sessions as cookies only;
// bad, revoked and expired credentials are 401 with WWW-Authenticate and
// one message that does not say which.
func TestCredentials(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	tok := w.token("jane")
	b := w.session("jane")
	for _, c := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"bearer token", []string{"Authorization", "Bearer " + tok}, 200},
		{"lower-case scheme", []string{"Authorization", "bearer " + tok}, 200},
		{"session cookie", []string{"Cookie", SessionCookie + "=" + b.cookie}, 200},
		{"none", nil, 401},
		{"basic", []string{"Authorization", "Basic amFuZTpwdw=="}, 401},
		{"empty bearer", []string{"Authorization", "Bearer "}, 401},
		{"token with a flipped character", []string{"Authorization", "Bearer " + tok[:len(tok)-1] + flip(tok[len(tok)-1])}, 401},
		{"session token as bearer", []string{"Authorization", "Bearer " + b.cookie}, 401},
		{"API token as cookie", []string{"Cookie", SessionCookie + "=" + tok}, 401},
		{"bearer wins over the cookie", []string{"Authorization", "Bearer nope", "Cookie", SessionCookie + "=" + b.cookie}, 401},
	} {
		resp, out := w.request("GET", "/api/v1/me", "", nil, c.hdr...)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, resp.StatusCode, c.want, out)
		}
		if c.want == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="sealkeep"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A revoked token.
	toks, err := w.auth.APITokens(w.ctx, w.users["jane"].id)
	w.must(err)
	w.must(w.auth.RevokeAPIToken(w.ctx, w.users["jane"].id, toks[0].ID))
	if resp, _ := w.request("GET", "/api/v1/me", tok, nil); resp.StatusCode != 401 {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}
	// An expired session (12 hours by default).
	w.clk.add(12*time.Hour + time.Second)
	if resp, _ := w.request("GET", "/api/v1/me", "", nil, "Cookie", SessionCookie+"="+b.cookie); resp.StatusCode != 401 {
		t.Errorf("expired session: %d", resp.StatusCode)
	}
	w.checkNoLeaks()
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestLoginFailures: a wrong password and an unknown login get the same
// answer; a TOTP account needs its code; a used code is refused; too many
// failures lock the account (429); every failure is counted by reason.
func TestLoginFailures(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	jane := w.users["jane"]
	send := func(body map[string]any) (int, Problem) {
		t.Helper()
		resp, out := w.postJSON("/api/v1/tokens", "", body)
		if resp.StatusCode < 400 {
			t.Fatalf("%v: %d", body["login"], resp.StatusCode)
		}
		return resp.StatusCode, problemOf(t, out)
	}
	s1, wrong := send(map[string]any{"login": "jane", "password": "not the password", "name": "x"})
	s2, unknown := send(map[string]any{"login": "nobody", "password": "not the password", "name": "x"})
	if s1 != 401 || s2 != 401 || wrong.Detail != unknown.Detail || wrong.Type != unknown.Type {
		t.Errorf("wrong password %d %q, unknown login %d %q", s1, wrong.Detail, s2, unknown.Detail)
	}
	if s, p := send(map[string]any{"login": "jane", "password": jane.password, "name": "x"}); s != 401 || !strings.Contains(p.Detail, "TOTP") {
		t.Errorf("no code: %d %q", s, p.Detail)
	}
	code := string(w.code(jane).Bytes())
	resp, out := w.postJSON("/api/v1/tokens", "", map[string]any{"login": "jane", "password": jane.password, "code": code, "name": "x"})
	if resp.StatusCode != 201 {
		t.Fatalf("login: %d %s", resp.StatusCode, out)
	}
	if s, p := send(map[string]any{"login": "jane", "password": jane.password, "code": code, "name": "x"}); s != 401 || !strings.Contains(p.Detail, "already used") {
		t.Errorf("replayed code: %d %q", s, p.Detail)
	}
	var locked bool
	for range 20 {
		if s, p := send(map[string]any{"login": "pete", "password": "guess", "name": "x"}); s == 429 {
			locked = strings.Contains(p.Detail, "try again after")
			break
		}
	}
	if !locked {
		t.Fatal("20 wrong passwords did not lock the account")
	}
	// Locked even with the right password.
	pete := w.users["pete"]
	if s, _ := send(map[string]any{"login": "pete", "password": pete.password, "code": string(w.code(pete).Bytes()), "name": "x"}); s != 429 {
		t.Errorf("locked account with the right password: %d", s)
	}
	_, metrics := w.get("/metrics")
	for _, want := range []string{`sealkeep_login_failures_total{reason="password"}`, `sealkeep_login_failures_total{reason="totp"}`,
		`sealkeep_login_failures_total{reason="locked"}`, `sealkeep_rate_limit_rejections_total{limit="login"}`} {
		i := strings.Index(string(metrics), want+" ")
		if i < 0 || strings.HasPrefix(string(metrics[i+len(want)+1:]), "0\n") {
			t.Errorf("metric %s not counted", want)
		}
	}
	w.checkNoLeaks()
}

// TestCrossOriginLogin: a login posted by a browser from another site
// is refused before the password is checked.
func TestCrossOriginLogin(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	jane := w.users["jane"]
	resp, out := w.request("POST", "/api/v1/session", "", map[string]any{"login": "jane", "password": jane.password},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site login: %d %s", resp.StatusCode, out)
	}
	// Same origin is fine (then 401 for the missing code).
	resp, _ = w.request("POST", "/api/v1/session", "", map[string]any{"login": "jane", "password": jane.password},
		"Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != 401 {
		t.Fatalf("same-origin login without a code: %d", resp.StatusCode)
	}
}

// TestStrictJSON: unknown members, trailing values, other content types
// and secrets of the wrong type are 422, and no error quotes a password.
func TestStrictJSON(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	for _, c := range []struct{ ct, body string }{
		{"application/json", `{"login":"jane","password":"secret-pw-123","extra":1}`},
		{"application/json", `{"login":"jane","password":"secret-pw-123"} {}`},
		{"text/plain", `{"login":"jane","password":"secret-pw-123"}`},
		{"application/json", `{"login":"jane","password":12345678901}`},
		{"application/json", `{"login":"jane","password":"secret-pw-123"`},
		{"application/json", ``},
	} {
		resp, out := w.post("/api/v1/session", c.ct, []byte(c.body))
		if resp.StatusCode != 422 || strings.Contains(string(out), "secret-pw-123") || strings.Contains(string(out), "12345678901") {
			t.Errorf("%s %s: %d %s", c.ct, c.body, resp.StatusCode, out)
		}
	}
	if strings.Contains(w.log.String(), "secret-pw-123") {
		t.Error("the log holds a password")
	}
}
