package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestSafeNext: the sign-in page sends the browser on to a path of this
// server only.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "/orgs",
		"/orgs/acme":                      "/orgs/acme",
		"/orgs/acme/audit?action=seal":    "/orgs/acme/audit?action=seal",
		"//evil.example/x":                "/orgs",
		"///evil.example":                 "/orgs",
		`/\evil.example`:                  "/orgs",
		`\\evil.example`:                  "/orgs",
		"https://evil.example/":           "/orgs",
		"javascript:alert(1)":             "/orgs",
		"/\t/evil.example":                "/orgs",
		"/ /evil.example":                 "/orgs",
		"/orgs\n/x":                       "/orgs",
		"evil.example":                    "/orgs",
		"/api/v1/session":                 "/orgs",
		"/assets/app.js":                  "/orgs",
		"/%2F%2Fevil.example":             "/%2F%2Fevil.example", // a path of this server
		"/" + strings.Repeat("a", 3000):   "/orgs",
		"/orgs?next=https://evil.example": "/orgs?next=https://evil.example",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// inlineHandler finds an inline event handler attribute.
var inlineHandler = regexp.MustCompile(`\son[a-z]+\s*=`)

// TestPageHeaders: every page and asset has the strict CSP, no framing,
// no sniffing, no caching of pages; every API answer has a CSP that runs
// and frames nothing.
func TestPageHeaders(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	b := w.session("jane")
	cookie := []string{"Cookie", SessionCookie + "=" + b.cookie, "Accept", "text/html"}
	for _, rt := range w.srv.Routes() {
		if !rt.Page {
			continue
		}
		path := paramRE.ReplaceAllStringFunc(strings.ReplaceAll(rt.Path, "{$}", ""), func(m string) string {
			return map[string]string{"{org}": "acme", "{identity}": "id-jane", "{version}": "1", "{file...}": "app.js"}[m]
		})
		resp, body := w.page(path, cookie...)
		h := resp.Header
		if resp.StatusCode >= 400 && !strings.Contains(path, "/system/") && !strings.Contains(path, "/members") && !strings.HasSuffix(path, "/audit") {
			t.Errorf("GET %s as jane: %d %s", path, resp.StatusCode, body)
		}
		if h.Get("Content-Security-Policy") != pageCSP || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q, X-Frame-Options %q, nosniff %q", path, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("GET %s: Cache-Control %q, Referrer-Policy %q", path, h.Get("Cache-Control"), h.Get("Referrer-Policy"))
			}
			if s := string(body); strings.Contains(s, " style=") || strings.Contains(s, "<style") || inlineHandler.MatchString(s) ||
				strings.Count(s, "<script") != strings.Count(s, `<script type="module" src="/assets/`) {
				t.Errorf("GET %s: inline script or style in the page", path)
			}
		}
	}
	resp, _ := w.request("GET", "/api/v1/me", "", nil, cookie...)
	if csp := resp.Header.Get("Content-Security-Policy"); csp != apiCSP || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("API answer: CSP %q", csp)
	}
}

// TestPageErrors: a browser signed out is sent to the sign-in page with
// where it was going; a page it may not see is an HTML error page with
// the status; any other client gets problem details.
func TestPageErrors(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	noRedirect := *w.ts.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("GET", w.ts.URL+"/orgs/acme/audit?action=seal", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noRedirect.Do(req)
	w.must(err)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/signin?next=%2Forgs%2Facme%2Faudit%3Faction%3Dseal" {
		t.Errorf("signed out: %d Location %q", resp.StatusCode, loc)
	}
	b := w.session("pete")
	resp, body := w.page("/orgs/acme/seal", "Cookie", SessionCookie+"="+b.cookie, "Accept", "text/html")
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "Forbidden") {
		t.Errorf("the preparer's seal page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, body = w.request("GET", "/orgs/acme/seal", "", nil, "Cookie", SessionCookie+"="+b.cookie)
	if p := problemOf(t, body); resp.StatusCode != http.StatusForbidden || p.Status != http.StatusForbidden {
		t.Errorf("the preparer's seal page without Accept: %d %+v", resp.StatusCode, p)
	}
	resp, _ = w.request("GET", "/assets/../web.go", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an asset outside the assets: %d", resp.StatusCode)
	}
	resp, _ = w.request("GET", "/assets/pdfjs/LICENSE", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an asset of an unserved type: %d", resp.StatusCode)
	}
	w.checkNoLeaks()
}

// page gets path with the headers hdr, without the API checks of w.do
// (a page is not in the OpenAPI document and its errors are HTML).
func (w *world) page(path string, hdr ...string) (*http.Response, []byte) {
	w.t.Helper()
	req, err := http.NewRequest("GET", w.ts.URL+path, nil)
	w.must(err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.ts.Client().Do(req)
	w.must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	w.must(err)
	return resp, b
}
