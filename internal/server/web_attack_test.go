package server

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
)

// TestBrowserRefusals: the negative paths, in the browser. A wrong TOTP
// code keeps the sign-in page and sets no session; a request of the
// signed-in page without its CSRF token, or with another session's, is
// refused and changes nothing; a session cookie of another user does not
// work with the page's token; a preparer finds no way to seal (no tab, a
// 403 page, a 403 from the API); another organization's pages are
// refused; a signed-out browser goes to the sign-in page and back.
func TestBrowserRefusals(t *testing.T) {
	wt := newWebTest(t, Config{})
	w := wt.w

	// A wrong code: the same page, a clear error, no cookie.
	sam := wt.tab("sam")
	sam.open("/signin")
	sam.type_("#login", "sam")
	sam.type_("#password", w.users["sam"].password)
	sam.type_("#code", "123456")
	sam.click("#signin button[type=submit]")
	sam.waitText("#signin .form-error", "Authentication required")
	if p := sam.path(); p != "/signin" {
		t.Errorf("after a wrong code the tab is at %s", p)
	}
	if cs := sam.cookies(); len(cs) != 0 {
		t.Errorf("a wrong code set cookies: %v", cs)
	}
	sam.accessible()
	sam.shot("signin-refused")
	sam.signIn("sam")

	// Without the CSRF token, with a wrong one and with another session's:
	// 403, nothing made.
	before := w.count("acme", audit.ActionIdentityCreate)
	jane := wt.tab("jane")
	jane.signIn("jane")
	jane.open("/orgs/acme")
	janeCSRF := run[string](jane, `document.querySelector('meta[name="csrf-token"]').content`)
	samCSRF := run[string](sam, `document.querySelector('meta[name="csrf-token"]').content`)
	for name, hdr := range map[string]string{"no token": "", "a wrong token": "x" + janeCSRF[1:], "sam's token": samCSRF} {
		if st := jane.fetchStatus("POST", "/api/v1/orgs/acme/identities", hdr, `{"name": "forged"}`); st != http.StatusForbidden {
			t.Errorf("creating an identity with %s: %d, want 403", name, st)
		}
	}
	if st := jane.fetchStatus("POST", "/api/v1/orgs/acme/identities", janeCSRF, `{"name": "Jane's second"}`); st != http.StatusCreated {
		t.Errorf("creating an identity with the page's token: %d", st)
	}
	if n := w.count("acme", audit.ActionIdentityCreate); n != before+1 {
		t.Errorf("%d identities created, want 1 (the one with the right token)", n-before)
	}

	// Another user's session cookie in sam's browser, under sam's page: the
	// page's token is not that session's, so its forms are refused.
	sam.open("/orgs/acme")
	sam.setCookie(SessionCookie, w.session("jane").cookie)
	sam.type_("#id-name", "planted by cookie")
	sam.click("form[data-api$='/identities'] button[type=submit]")
	sam.waitText("form[data-api$='/identities'] .form-error", "CSRF token")
	if n := w.count("acme", audit.ActionIdentityCreate); n != before+1 {
		t.Errorf("a form under another user's cookie created an identity")
	}

	// Sam's own session on jane's identity: no forms to manage it, and the
	// API refuses what the page does not offer.
	sam.signIn("sam")
	sam.open("/orgs/acme/identities/id-jane")
	if n := run[int](sam, `document.querySelectorAll('form[data-api]').length`); n != 0 {
		t.Errorf("sam sees %d forms on jane's identity", n)
	}
	if st := sam.fetchStatus("POST", "/api/v1/orgs/acme/identities/id-jane/versions/1/revoke", run[string](sam, `document.querySelector('meta[name="csrf-token"]').content`), `{"reason": "sabotage"}`); st != http.StatusForbidden {
		t.Errorf("sam revoking jane's version: %d, want 403", st)
	}
	sam.open("/orgs/acme/seal")
	sam.waitText("main", "No identity to seal with")

	// A preparer: no seal tab, a 403 page, a 403 from the API.
	pete := wt.tab("pete")
	pete.signIn("pete")
	pete.open("/orgs/acme")
	if n := run[int](pete, `document.querySelectorAll('a[href="/orgs/acme/seal"]').length`); n != 0 {
		t.Errorf("the preparer is offered the seal page")
	}
	pete.open("/orgs/acme/seal")
	pete.waitText("main", "Forbidden")
	pete.accessible()
	pete.shot("seal-forbidden")
	if st := pete.fetchStatus("POST", sealPath("acme", "id-jane"), run[string](pete, `document.querySelector('meta[name="csrf-token"]')?.content ?? ''`), ""); st != http.StatusForbidden {
		t.Errorf("the preparer's seal request: %d, want 403", st)
	}

	// Another organization: refused pages, and no hint of its identities.
	gus := wt.tab("gus")
	gus.signIn("gus")
	for _, p := range []string{"/orgs/acme", "/orgs/acme/identities/id-jane", "/orgs/acme/audit", "/orgs/acme/seal"} {
		gus.open(p)
		gus.waitText("main", "Forbidden")
	}

	// Signed out: to the sign-in page and back to where it was going.
	anon := wt.tab("anonymous")
	anon.open("/orgs/acme/identities/id-jane")
	anon.waitPath("/signin")
	if p := anon.path(); p != "/signin?next="+url.QueryEscape("/orgs/acme/identities/id-jane") {
		t.Errorf("signed out: at %s", p)
	}
	m := w.users["olive"]
	anon.type_("#login", m.login)
	anon.type_("#password", m.password)
	anon.type_("#code", w.codeOf("olive"))
	w.nextStep()
	anon.click("#signin button[type=submit]")
	anon.waitPath("/orgs/acme/identities/id-jane")
	for _, tb := range []*tab{sam, jane, pete, gus, anon} {
		tb.clean()
	}
	checkNoLeaks(w)
}

// TestBrowserAttacks: another site can neither frame the pages
// (clickjacking) nor make a signed-in browser act (cross-site request
// forgery, by a form or a script), and the sign-in page sends the browser
// to no other host afterwards (open redirect).
func TestBrowserAttacks(t *testing.T) {
	wt := newWebTest(t, Config{})
	w := wt.w
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		target := wt.base + "/api/v1/orgs/acme/identities"
		rw.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/frame":
			fmt.Fprintf(rw, `<!doctype html><title>evil</title><iframe id="f" src="%s/orgs/acme"></iframe>`, wt.base)
		case "/csrf":
			// A form posted as text/plain whose body is JSON, and a script's
			// fetch with the browser's cookies.
			fmt.Fprintf(rw, `<!doctype html><title>evil</title>
<form id="f" method="POST" action="%s" enctype="text/plain"><input name='{"name":"csrf form","x":"' value='"}'></form>
<script>
fetch(%q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: '{"name":"csrf fetch"}'})
  .finally(() => document.getElementById("f").submit());
</script>`, target, target)
		}
	}))
	t.Cleanup(evil.Close)

	jane := wt.tab("jane")
	jane.signIn("jane")
	before := w.count("acme", audit.ActionIdentityCreate)

	// Clickjacking: the framed page is refused by the browser.
	jane.do("open the framing page", chromedp.Navigate(evil.URL+"/frame"))
	if err := jane.until(`document.readyState === 'complete'`); err != nil {
		t.Fatal(err)
	}
	// The browser says why: the page's frame-ancestors directive.
	refused := false
	for deadline := time.Now().Add(stepTimeout); !refused && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		jane.mu.Lock()
		refused = slices.ContainsFunc(jane.problems, func(p string) bool { return strings.Contains(p, "frame-ancestors") })
		jane.mu.Unlock()
	}
	if !refused {
		t.Errorf("the browser did not refuse to frame the page (frame-ancestors): %q", jane.problems)
	}
	if ok := run[bool](jane, `(() => { try { return document.getElementById('f').contentDocument?.body?.innerText?.includes('Acme') ?? false; } catch { return false; } })()`); ok {
		t.Errorf("the framing page reads the framed page")
	}

	// CSRF from another site: the form and the fetch change nothing.
	jane.do("open the forging page", chromedp.Navigate(evil.URL+"/csrf"))
	if err := jane.until(`location.pathname.startsWith('/api/') || document.body?.innerText?.includes('Forbidden') || false`); err != nil {
		t.Fatalf("the forged form was not posted: %v", err)
	}
	if n := w.count("acme", audit.ActionIdentityCreate); n != before {
		t.Errorf("a cross-site request created %d identities", n-before)
	}
	jane.problemsSeen() // the evil pages' own console noise is not ours

	// Open redirect: next names another host in every spelling.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`, "/%2F%2Fevil.example", "javascript:alert(1)", "/api/v1/me"} {
		anon := wt.tab("anonymous")
		anon.open("/signin?next=" + url.QueryEscape(next))
		m := w.users["olive"]
		anon.type_("#login", m.login)
		anon.type_("#password", m.password)
		anon.type_("#code", w.codeOf("olive"))
		w.nextStep()
		anon.click("#signin button[type=submit]")
		if err := anon.until(`location.pathname !== '/signin' && document.readyState === 'complete'`); err != nil {
			t.Fatalf("next=%q: the sign-in did not leave the page: %v", next, err)
		}
		if u := run[string](anon, "location.origin"); u != wt.base {
			t.Errorf("next=%q: the browser went to %s", next, run[string](anon, "location.href"))
		}
	}
	checkNoLeaks(w)
}

// hostile is text an attacker puts in a PDF, a certificate or a name:
// HTML that runs script if it is ever parsed as HTML, a bidi override
// that reverses what follows, and an escape sequence.
const hostile = `<img src=x onerror="window.__xss=1"></script><script>window.__xss=2</script>` + "\u202e" + `fdp.exe` + "\x1b[2J"

// TestBrowserHostileText: text from a PDF (its signature's name, reason,
// location, the file name), a certificate (its subject) and the audit
// trail (an identity's name, a reason) is shown as text on the verify
// page, the identity pages, the seal page and the audit viewer: no markup
// of it is parsed, no script of it runs, and its bidi override and escape
// sequence are shown as escapes.
func TestBrowserHostileText(t *testing.T) {
	wt := newWebTest(t, Config{})
	w := wt.w

	// jane's identity named with hostile text, whose certificate's subject
	// is hostile too; a seal whose name, reason and location are.
	jm := w.users["jane"]
	actor := audit.Actor{Kind: audit.ActorUser, ID: jm.id}
	_, err := w.custody.CreateIdentity(w.ctx, actor, custody.IdentitySpec{ID: "id-evil", Org: "acme", Owner: jm.id, Name: "Evil " + hostile})
	w.must(err)
	v, _, err := w.custody.GenerateKey(w.ctx, actor, "id-evil", keypolicy.ECDSAP256, pkix.Name{CommonName: "evil"})
	w.must(err)
	var pub crypto.PublicKey
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		sv, err := tx.Version("id-evil", v.Version)
		if err == nil {
			pub, err = x509.ParsePKIXPublicKey(sv.PublicKey)
		}
		return err
	}))
	tmpl := pkitest.LeafTemplate("evil")
	tmpl.Subject = pkix.Name{CommonName: hostile, Organization: []string{hostile}}
	leaf := pkitest.Issue(t, w.ca, tmpl, pub)
	_, err = w.custody.UploadCertificate(w.ctx, actor, "id-evil", v.Version, leaf.Raw, [][]byte{w.ca.Cert.Raw})
	w.must(err)
	_, err = w.custody.Activate(w.ctx, actor, "id-evil", v.Version, hostile)
	w.must(err)
	resp, sealed := w.sealReq(sealPath("acme", "id-evil"), w.token("jane"), sealParts{file: document(t),
		options: map[string]any{"name": hostile, "reason": hostile, "location": hostile}, code: w.codeOf("jane")})
	w.nextStep()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("seal: %d %s", resp.StatusCode, sealed)
	}
	file := filepath.Join(t.TempDir(), `<img src=x onerror="window.__xss=3">.pdf`)
	w.must(os.WriteFile(file, sealed, 0o600))

	anyone := wt.tab("anyone")
	anyone.open("/verify")
	anyone.upload("#file", file)
	anyone.waitText("#report-signatures", "Signature 1")
	anyone.harmless(3)
	anyone.accessible()

	jane := wt.tab("jane")
	jane.signIn("jane")
	for _, p := range []string{"/orgs/acme", "/orgs/acme/identities/id-evil", "/orgs/acme/identities/id-evil/versions/1"} {
		jane.open(p)
		jane.harmless(1)
	}
	jane.open("/orgs/acme/seal?identity=id-evil")
	jane.upload("#file", reportPDF)
	jane.waitText("#r-subject", "CN=")
	jane.harmless(1)

	olive := wt.tab("olive")
	olive.signIn("olive")
	olive.open("/orgs/acme/audit?identity=id-evil")
	olive.waitText("table.entries", "id-evil")
	olive.harmless(2)
	olive.accessible()
	for _, tb := range []*tab{anyone, jane, olive} {
		tb.clean()
	}
}

// harmless checks that the page ran none of the hostile text's script,
// made none of its elements, and shows it (at least n times) as text with
// its bidi override and escape sequence as visible escapes.
func (tb *tab) harmless(n int) {
	tb.t.Helper()
	if ran := run[bool](tb, `window.__xss !== undefined`); ran {
		tb.t.Errorf("%s: %s ran the hostile text's script", tb.name, tb.path())
	}
	if imgs := run[int](tb, `document.querySelectorAll('img[src="x"], script:not([src])').length`); imgs != 0 {
		tb.t.Errorf("%s: %s made %d elements of the hostile text", tb.name, tb.path(), imgs)
	}
	text := run[string](tb, `document.body.innerText`)
	if got := strings.Count(text, `<img src=x onerror=`); got < n {
		tb.t.Errorf("%s: %s shows the hostile text %d times, want %d or more:\n%s", tb.name, tb.path(), got, n, text)
	}
	if strings.ContainsAny(text, "\u202e\x1b") {
		tb.t.Errorf("%s: %s shows a raw bidi override or escape character", tb.name, tb.path())
	}
	if !strings.Contains(text, `\u202e`) {
		tb.t.Errorf("%s: %s does not show the bidi override as \\u202e", tb.name, tb.path())
	}
}

// fetchStatus sends a request from the page (its cookies), with the CSRF
// header if csrf is not "", and returns the status.
func (tb *tab) fetchStatus(method, path, csrf, body string) int {
	tb.t.Helper()
	hdr := `{"Content-Type": "application/json"}`
	if csrf != "" {
		hdr = fmt.Sprintf(`{"Content-Type": "application/json", "X-CSRF-Token": %q}`, csrf)
	}
	b := "undefined"
	if body != "" {
		b = fmt.Sprintf("%q", body)
	}
	return run[int](tb, fmt.Sprintf(`fetch(%q, {method: %q, headers: %s, body: %s}).then(r => r.status)`, path, method, hdr, b))
}

// cookies returns the names of the tab's cookies for the server.
func (tb *tab) cookies() []string {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.wt.base}})
	mustOK(tb.t, err)
	var names []string
	for _, c := range res.Cookies {
		names = append(names, c.Name)
	}
	return names
}

// setCookie replaces a cookie of the server in the tab's browser.
func (tb *tab) setCookie(name, value string) {
	tb.t.Helper()
	_, err := chromedp.Call(tb.ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: tb.wt.base + "/",
		Path: "/", Secure: new(true), HTTPOnly: new(true), SameSite: network.CookieSameSiteStrict})
	mustOK(tb.t, err)
}

// problemsSeen forgets the script errors and CSP reports seen so far (of
// pages that are not the application's).
func (tb *tab) problemsSeen() {
	tb.mu.Lock()
	tb.problems = nil
	tb.mu.Unlock()
}
