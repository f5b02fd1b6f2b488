package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
	"sealkeep/internal/textsafe"
)

// The web application: server-rendered pages (html/template) and the
// small scripts and styles they use, all embedded in the binary, so
// that it works on a network with no way out.
//
// Pages only read: each is a GET route of the table (Page: true) whose
// access is checked like any API route's, and whose handler reads through
// the same custody and account services as the API. Everything a page
// does, it does through the JSON API: its script (web/assets/app.js)
// sends the session cookie and the session's CSRF token (in the page's
// <meta name="csrf-token">) in X-CSRF-Token, so a page holds no business
// logic and cannot do what the API would refuse.
//
// Every page is sent with a strict Content-Security-Policy (scripts,
// styles, images and connections from this origin only, no inline script
// or style, no framing) and Cache-Control: no-store. Text that comes from
// a PDF, a certificate or the audit trail is escaped twice: html/template
// escapes HTML, and textsafe.Escape writes control, bidi and other format
// characters as visible escapes (the scripts do the same for what they
// show from the API).

//go:embed web
var webFiles embed.FS

// pageCSP is the Content-Security-Policy of every page.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; font-src 'self'; " +
	"connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// apiCSP is the Content-Security-Policy of every other answer (JSON, PEM,
// PDF): nothing runs, nothing frames it.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

// securityHeaders sets the headers every answer carries; a page replaces
// the Content-Security-Policy with pageCSP.
func securityHeaders(h http.Header, r *http.Request) {
	h.Set("Content-Security-Policy", apiCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// pageHeaders are the headers of a page.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// webRoutes are the pages and their assets.
func (s *Server) webRoutes() []Route {
	page := func(p string, a Access, op auth.Op, h func(http.ResponseWriter, *http.Request) error) Route {
		return Route{Method: "GET", Path: p, Access: a, Op: op, Page: true, Handler: h}
	}
	seal := page("/orgs/{org}/seal", Authorized, auth.OpSeal, s.sealPage)
	// The seal page offers the caller's own identities only: may the
	// caller seal with an identity of their own in this org?
	seal.Own = true
	return []Route{
		page("/{$}", Public, "", s.homePage),
		page("/assets/{file...}", Public, "", s.asset),
		page("/signin", Public, "", s.signinPage),
		page("/activate", Public, "", s.activatePage),
		page("/verify", Public, "", s.verifyPage),
		page("/account", Authenticated, "", s.accountPage),
		page("/orgs", Authenticated, "", s.orgsPage),
		page("/orgs/{org}", Authorized, auth.OpIdentityRead, s.orgPage),
		page("/orgs/{org}/members", Authorized, auth.OpMembersRead, s.membersPage),
		page("/orgs/{org}/identities/{identity}", Authorized, auth.OpIdentityRead, s.identityPage),
		page("/orgs/{org}/identities/{identity}/versions/{version}", Authorized, auth.OpIdentityRead, s.versionPage),
		seal,
		page("/orgs/{org}/audit", Authorized, auth.OpAuditRead, s.auditPage),
		page("/system/audit", Authorized, auth.OpSystemAudit, s.auditPage),
	}
}

// ---- rendering

// pages are the parsed templates, by page name: each page's file with
// the layout.
var pages = sync.OnceValue(func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"short": shortHex,
		"join":  strings.Join,
	}
	names, err := fs.Glob(webFiles, "web/templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t := template.Must(template.New(base).Funcs(funcs).ParseFS(webFiles, "web/templates/layout.html", n))
		out[strings.TrimSuffix(base, ".html")] = t
	}
	return out
})

// shortHex abbreviates a long hex string (a hash) for a table cell; the
// whole value stays in the element's title and the detail views.
func shortHex(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:12] + "…" + s[len(s)-4:]
}

// view is what every page's layout needs.
type view struct {
	// Title names the page (the <title> and its heading).
	Title string
	// Page is the page's name: <body data-page>, for its script.
	Page string
	// User is the signed-in caller, if any.
	User *viewer
	// CSRF is the session's CSRF token, for the page's API calls.
	CSRF string
	// Org is the organization the page is about, with the caller's tabs.
	Org *orgTabs
	// P is the page's own data.
	P any
}

// viewer is the signed-in caller as the layout shows it.
type viewer struct {
	Login    string
	Operator bool
	// NoTOTP: the account has no second factor yet (a banner says so).
	NoTOTP bool
}

// orgTabs is an organization and the tabs its pages show the caller.
type orgTabs struct {
	ID, Name, Role string
	// Tab is the page's tab.
	Tab                         string
	Members, Seal, Audit, Admin bool
}

// render answers a page: the layout around the page's template, with
// every string of v escaped by textsafe.Escape first.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) error {
	t, ok := pages()[name]
	if !ok {
		return fmt.Errorf("web: no page template %q", name)
	}
	v.Page = name
	if v.User == nil {
		s.signedIn(r, &v)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", textsafe.EscapeAll(v)); err != nil {
		return fmt.Errorf("web: rendering %s: %w", name, err)
	}
	pageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
	return nil
}

// signedIn fills v's caller from the request's principal, or for a
// public page from its session cookie, if it has a valid one.
func (s *Server) signedIn(r *http.Request, v *view) {
	p, ok := principal(r)
	if !ok && s.cfg.Auth != nil {
		if _, err := r.Cookie(SessionCookie); err == nil {
			p, err = s.authenticate(r)
			ok = err == nil
		}
	}
	if !ok {
		return
	}
	v.User = &viewer{Login: p.User.Login, Operator: p.User.Operator}
	if has, err := s.cfg.Auth.HasTOTP(r.Context(), p.User.ID); err == nil && !has {
		v.User.NoTOTP = true
	}
	if p.Session != nil {
		v.CSRF = auth.CSRFToken(*p.Session)
	}
}

// pageError answers a page's error: an HTML page with the problem's
// status, title and detail for a browser (a request that accepts
// text/html), except a 401, which sends it to the sign-in page and back;
// problem details for any other client.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if !acceptsHTML(r) {
		writeError(w, r, err)
		return
	}
	p := ProblemFor(err, "")
	st := stateOf(r.Context())
	st.err = err
	if p.Status == http.StatusUnauthorized {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	p.RequestID = st.id
	if rerr := s.render(w, r, p.Status, "error", view{Title: p.Title, P: p}); rerr != nil {
		writeError(w, r, errors.Join(err, rerr))
	}
}

// acceptsHTML reports whether the request's Accept header names
// text/html, as a browser's navigation does.
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/html" {
			return true
		}
	}
	return false
}

// safeNext is where the sign-in page sends the browser afterwards: a
// path of this server ("/..."), never another host ("//host", "/\host",
// a scheme), else /orgs.
func safeNext(next string) string {
	const home = "/orgs"
	if !strings.HasPrefix(next, "/") || len(next) > 2048 || strings.ContainsFunc(next, func(r rune) bool {
		return r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r)
	}) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(u.Path, "/api/") || strings.HasPrefix(u.Path, "/assets/") {
		return home
	}
	return next
}

// ---- assets

// assetTypes are the media types of the embedded assets, by extension;
// a file of another extension is not served.
var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
	".svg": "image/svg+xml", ".png": "image/png", ".pfb": "application/octet-stream", ".ttf": "font/ttf",
	".txt": "text/plain; charset=utf-8",
}

// assetTags are the ETags of the assets (SHA-256 prefixes), by path.
var assetTags sync.Map

// asset serves an embedded file of web/assets with an ETag; the browser
// revalidates it (Cache-Control: no-cache), so a new binary's assets
// are used at once.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	ct, ok := assetTypes[path.Ext(name)]
	if !ok || !fs.ValidPath(name) {
		return errs.New(errs.NotFound, "no such asset")
	}
	b, err := webFiles.ReadFile("web/assets/" + name)
	if err != nil {
		return errs.New(errs.NotFound, "no such asset")
	}
	tag, ok := assetTags.Load(name)
	if !ok {
		sum := sha256.Sum256(b)
		tag, _ = assetTags.LoadOrStore(name, `"`+hex.EncodeToString(sum[:12])+`"`)
	}
	h := w.Header()
	// A worker (pdf.js's) runs under the policy its script is served with.
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", tag.(string))
	if r.Header.Get("If-None-Match") == tag.(string) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	return nil
}

// ---- public pages

// homePage sends the browser to its organizations (or, signed out, on to
// the sign-in page).
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/orgs", http.StatusSeeOther)
	return nil
}

// signinView is the sign-in page.
type signinView struct {
	Next  string
	Login string
	// NoOperator: first-run setup was never done on this server.
	NoOperator bool
	// NoAuth: the server has no account service at all.
	NoAuth bool
}

// signinPage is the sign-in form: login, password and TOTP code. A
// server without an operator explains first-run setup, which is done on
// the host (`sealkeep setup`), never through the network.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := signinView{Next: safeNext(q.Get("next")), Login: q.Get("login"), NoAuth: s.cfg.Auth == nil}
	if s.cfg.Auth != nil {
		has, err := s.cfg.Auth.HasOperator(r.Context())
		if err != nil {
			return err
		}
		v.NoOperator = !has
	}
	return s.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", P: v})
}

// activatePage redeems an invitation; the token comes in the link's
// fragment (/activate#ski_...), which the browser never sends.
func (s *Server) activatePage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "activate", view{Title: "Activate your account"})
}

// verifyView is the verify page.
type verifyView struct {
	MaxUpload int64
}

// verifyPage is the public verification page.
func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "verify", view{Title: "Verify a sealed PDF", P: verifyView{MaxUpload: s.cfg.MaxUpload}})
}

// ---- the caller's account

// accountView is the account page.
type accountView struct {
	Login    string
	Operator bool
	HasTOTP  bool
	Tokens   []tokenJSON
	// PasskeysOn: the server has a passkey (WebAuthn) service; Passkeys
	// are the caller's.
	PasskeysOn bool
	Passkeys   []passkeyJSON
}

// accountPage is the caller's own account: TOTP enrolment and reset,
// recovery codes, password, API tokens.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	has, err := s.cfg.Auth.HasTOTP(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	ts, err := s.cfg.Auth.APITokens(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	v := accountView{Login: p.User.Login, Operator: p.User.Operator, HasTOTP: has, PasskeysOn: s.cfg.Passkeys != nil}
	for _, t := range ts {
		v.Tokens = append(v.Tokens, tokenOf(t))
	}
	if v.Passkeys, err = s.passkeysOf(r.Context(), p.User.ID); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "account", view{Title: "Your account", P: v})
}

// passkeysOf lists the user's passkeys (none on a server without the
// passkey service).
func (s *Server) passkeysOf(ctx context.Context, userID string) ([]passkeyJSON, error) {
	if s.cfg.Passkeys == nil {
		return nil, nil
	}
	cs, err := s.cfg.Passkeys.Credentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]passkeyJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, passkeyOf(c))
	}
	return out, nil
}

// ---- organizations

// orgsView is the organizations page.
type orgsView struct {
	Orgs     []orgItemJSON
	Operator bool
}

// orgsPage lists the caller's organizations; the operator creates them
// and their first owners here.
func (s *Server) orgsPage(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	orgs, err := s.orgsOf(r.Context(), p)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "orgs", view{Title: "Organizations", P: orgsView{Orgs: orgs, Operator: p.User.Operator}})
}

// orgTabsOf is the path's org with the tabs the caller's role opens.
func (s *Server) orgTabsOf(r *http.Request, tab string) (*orgTabs, auth.Role, error) {
	p, _ := principal(r)
	org := r.PathValue("org")
	role, err := s.cfg.Auth.Role(r.Context(), p.User.ID, org)
	if err != nil {
		return nil, "", err
	}
	orgs, err := s.cfg.Keys.Orgs(r.Context())
	if err != nil {
		return nil, "", err
	}
	t := &orgTabs{ID: org, Name: org, Role: string(role), Tab: tab,
		Members: auth.Allowed(role, auth.OpMembersRead, false), Seal: auth.Allowed(role, auth.OpSeal, true),
		Audit: auth.Allowed(role, auth.OpAuditRead, false)}
	if i := slices.IndexFunc(orgs, func(o store.Org) bool { return o.ID == org }); i >= 0 {
		t.Name = orgs[i].Name
	}
	return t, role, nil
}

// identityItem is an identity in the org page's list. (Fields of a view
// are named, never embedded with an unexported type: textsafe.EscapeAll
// reaches only exported fields.)
type identityItem struct {
	Identity identityJSON
	Yours    bool
}

// orgView is an organization's page: its identities.
type orgView struct {
	Identities []identityItem
	// Create: the caller may create an identity of their own.
	Create bool
}

// orgPage lists the org's identities; a sealer creates one here.
func (s *Server) orgPage(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	tabs, role, err := s.orgTabsOf(r, "identities")
	if err != nil {
		return err
	}
	ids, err := s.cfg.Keys.Identities(r.Context(), tabs.ID)
	if err != nil {
		return err
	}
	v := orgView{Create: auth.Allowed(role, auth.OpIdentityManage, true)}
	for _, id := range ids {
		v.Identities = append(v.Identities, identityItem{Identity: identityOf(id), Yours: id.Owner == p.User.ID})
	}
	return s.render(w, r, http.StatusOK, "org", view{Title: tabs.Name, Org: tabs, P: v})
}

// membersView is the members page.
type membersView struct {
	Members []memberJSON
	Manage  bool
	Roles   []string
}

// membersPage lists the org's members; an owner adds, changes and
// removes them here.
func (s *Server) membersPage(w http.ResponseWriter, r *http.Request) error {
	tabs, role, err := s.orgTabsOf(r, "members")
	if err != nil {
		return err
	}
	ms, err := s.cfg.Auth.Members(r.Context(), tabs.ID)
	if err != nil {
		return err
	}
	v := membersView{Manage: auth.Allowed(role, auth.OpMembersManage, false),
		Roles: []string{string(auth.RoleOwner), string(auth.RoleSealer), string(auth.RolePreparer), string(auth.RoleAuditor)}}
	for _, m := range ms {
		v.Members = append(v.Members, memberOf(m))
	}
	return s.render(w, r, http.StatusOK, "members", view{Title: "Members of " + tabs.Name, Org: tabs, P: v})
}

// ---- identities and versions

// versionItem is a version as the identity page lists it, with what its
// owner may do with it now.
type versionItem struct {
	custody.VersionInfo
	CanUpload, CanActivate, CanRevoke, CanDestroy bool
}

// identityView is an identity's page.
type identityView struct {
	Identity identityJSON
	Versions []versionItem
	// Manage: the caller owns the identity and may manage its keys.
	Manage bool
	// Active is the active version's number, 0 if none.
	Active     int
	Algorithms []string
	Default    string
	// External: the server accepts external keys of these schemes.
	External []string
}

// identityPage shows an identity and its versions (checked against the
// trail); its owner manages keys and certificates here.
func (s *Server) identityPage(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	tabs, role, err := s.orgTabsOf(r, "identities")
	if err != nil {
		return err
	}
	info, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), r.PathValue("identity"))
	if err != nil {
		return err
	}
	own := info.Identity.Owner == p.User.ID
	v := identityView{Identity: identityOf(info.Identity), Manage: own && auth.Allowed(role, auth.OpIdentityManage, true),
		Algorithms: keypolicy.Algorithms(), Default: keypolicy.Default, External: s.cfg.ExternalKeySchemes}
	for _, vi := range slices.Backward(info.Versions) {
		st := audit.Status(vi.Status)
		it := versionItem{VersionInfo: vi}
		it.CanUpload = st == audit.StatusPending
		it.CanActivate = st == audit.StatusReady || st == audit.StatusSuperseded
		it.CanRevoke = st == audit.StatusActive || st == audit.StatusReady || st == audit.StatusSuperseded || st == audit.StatusPending
		it.CanDestroy = vi.KeyPresent && st != audit.StatusActive
		if st == audit.StatusActive {
			v.Active = vi.Version
		}
		v.Versions = append(v.Versions, it)
	}
	return s.render(w, r, http.StatusOK, "identity", view{Title: info.Identity.Name, Org: tabs, P: v})
}

// versionView is a version's page: its certificate and its history.
type versionView struct {
	Identity identityJSON
	Version  custody.VersionInfo
}

// versionPage shows a version and its history from the trail.
func (s *Server) versionPage(w http.ResponseWriter, r *http.Request) error {
	tabs, _, err := s.orgTabsOf(r, "identities")
	if err != nil {
		return err
	}
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	info, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), r.PathValue("identity"))
	if err != nil {
		return err
	}
	vi, err := s.cfg.Keys.CheckedVersion(r.Context(), actorOf(r), r.PathValue("identity"), n)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "version", view{Title: fmt.Sprintf("%s, version %d", info.Identity.Name, n), Org: tabs,
		P: versionView{Identity: identityOf(info.Identity), Version: vi}})
}

// ---- sealing

// sealIdentity is one of the caller's identities that can seal.
type sealIdentity struct {
	ID, Name, Subject, Thumbprint string
	Version                       int
	NotAfter                      *time.Time
}

// sealView is the seal page.
type sealView struct {
	Identities []sealIdentity
	Selected   string
	MaxUpload  int64
	// Level is the seal's PAdES level.
	Level string
	// Passkey: the caller has a passkey that can approve the seal.
	Passkey bool
}

// sealPage is where a sealer seals a PDF with one of their own active
// identities: upload, page 1 and an optional visible seal, the review of
// what the code approves, the approval and the download.
func (s *Server) sealPage(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	tabs, _, err := s.orgTabsOf(r, "seal")
	if err != nil {
		return err
	}
	ids, err := s.cfg.Keys.Identities(r.Context(), tabs.ID)
	if err != nil {
		return err
	}
	keys, err := s.passkeysOf(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	v := sealView{Selected: r.URL.Query().Get("identity"), MaxUpload: s.cfg.MaxUpload, Level: audit.LevelBB, Passkey: len(keys) > 0}
	for _, id := range ids {
		if id.Owner != p.User.ID {
			continue
		}
		info, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), id.ID)
		if err != nil {
			return err
		}
		for _, vi := range info.Versions {
			if audit.Status(vi.Status) == audit.StatusActive {
				v.Identities = append(v.Identities, sealIdentity{ID: id.ID, Name: id.Name, Subject: vi.Subject,
					Thumbprint: vi.Thumbprint, Version: vi.Version, NotAfter: vi.NotAfter})
			}
		}
	}
	return s.render(w, r, http.StatusOK, "seal", view{Title: "Seal a PDF", Org: tabs, P: v})
}

// ---- the audit viewer

// auditScan bounds the entries one audit page reads looking for matches
// of its filters; auditShown bounds the entries it shows.
const (
	auditScan  = 5000
	auditShown = 100
)

// auditRow is an entry as the audit viewer shows it.
type auditRow struct {
	audit.Entry
	ActorLogin string
	Details    []detailRow
}

// detailRow is one detail of an entry.
type detailRow struct{ Key, Value string }

// auditView is the audit viewer.
type auditView struct {
	Chain string
	// API is the prefix of the chain's API routes.
	API     string
	Entries []auditRow
	// Filters, as given.
	Action, Actor, Identity string
	After                   uint64
	// Next, when not 0, is the after of the next page.
	Next uint64
	// Scanned is how many entries were read; Capped says the scan stopped
	// at its bound before the end of the chain.
	Scanned uint64
	Capped  bool
	Actions []string
	Verify  bool
}

// auditPage shows a chain's entries from ?after, filtered by ?action,
// ?actor (a login or user ID) and ?identity; the chain is verified,
// exported and proven through the audit API routes.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "after", "action", "actor", "identity")
	if err != nil {
		return err
	}
	after, err := uintParam(q, "after", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	chain := chainOf(r)
	v := auditView{Chain: chain, After: after, Action: q.Get("action"), Actor: q.Get("actor"), Identity: q.Get("identity"), Verify: true}
	var tabs *orgTabs
	title := "System audit trail"
	if chain == audit.SystemChain {
		v.API = "/api/v1/system/audit"
	} else {
		var role auth.Role
		if tabs, role, err = s.orgTabsOf(r, "audit"); err != nil {
			return err
		}
		v.API = "/api/v1/orgs/" + url.PathEscape(chain) + "/audit"
		v.Verify = auth.Allowed(role, auth.OpAuditVerify, false)
		title = "Audit trail of " + tabs.Name
	}
	logins := map[string]string{}
	login := func(ctx context.Context, id string) string {
		if l, ok := logins[id]; ok {
			return l
		}
		l := ""
		if u, err := s.cfg.Auth.User(ctx, id); err == nil {
			l = u.Login
		}
		logins[id] = l
		return l
	}
	actions := map[string]bool{}
	actor := strings.ToLower(v.Actor)
	cur, end := after, false
	for !end && len(v.Entries) < auditShown && v.Scanned < auditScan {
		page, more, err := s.cfg.Keys.Entries(r.Context(), chain, cur, exportPage)
		if err != nil {
			return err
		}
		read := 0
		for _, e := range page {
			if len(v.Entries) == auditShown || v.Scanned == auditScan {
				break
			}
			read++
			v.Scanned++
			cur = e.Seq
			actions[string(e.Action)] = true
			row := auditRow{Entry: exported(e)}
			if e.Actor.Kind == audit.ActorUser {
				row.ActorLogin = login(r.Context(), e.Actor.ID)
			}
			if (v.Action != "" && string(e.Action) != v.Action) || (v.Identity != "" && e.Subject.Identity != v.Identity) ||
				(actor != "" && actor != e.Actor.ID && actor != row.ActorLogin) {
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(e.Details)) {
				row.Details = append(row.Details, detailRow{Key: k, Value: e.Details[k]})
			}
			v.Entries = append(v.Entries, row)
		}
		end = !more && read == len(page)
	}
	if !end {
		v.Next, v.Capped = cur, len(v.Entries) < auditShown
	}
	v.Actions = slices.Sorted(maps.Keys(actions))
	return s.render(w, r, http.StatusOK, "audit", view{Title: title, Org: tabs, P: v})
}
