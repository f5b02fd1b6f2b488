package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"sealkeep/internal/auth"
	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
)

// Access levels beyond Public.
//
// A route's access is checked before its handler runs, from the
// credentials of the request:
//
//   - an API token in "Authorization: Bearer TOKEN" (the CLI), or
//   - a browser session in the [SessionCookie] cookie, which on every
//     method but GET, HEAD and OPTIONS must come with the session's CSRF
//     token ([auth.CSRFToken]) in the [CSRFHeader] header.
//
// A request that sends an Authorization header is judged by it alone,
// even if it also carries a cookie. Every unsafe request, with or without
// credentials, must also pass Go's cross-origin protection
// ([http.CrossOriginProtection]: Sec-Fetch-Site and Origin), so that a
// browser on another site cannot post anything, a login included.
//
// Missing, unknown, expired or revoked credentials are 401 (with
// WWW-Authenticate); credentials whose user the route does not allow are
// 403. The handler finds the caller with [principal].
const (
	// Authenticated routes need a signed-in user and act on that user's
	// own account only (sessions, tokens, password, MFA).
	Authenticated Access = "authenticated"
	// Authorized routes need a signed-in user whose role allows the
	// route's Op (auth.Allowed) in the organization of the path's {org}
	// (none for a path without it: only the operator has a role there).
	// A path with {identity} names an identity of that org (404
	// otherwise), and the Op is judged with whether the caller owns it:
	// sealing and key management are for the identity's owner only. A
	// route marked Own creates what the caller will own (an identity),
	// and its Op is judged as on the caller's own.
	Authorized Access = "authorized"
)

// SessionCookie is the name of the browser session cookie. The __Host-
// prefix makes browsers refuse it unless it is Secure, has Path=/ and no
// Domain, so no other host or path can plant or read it.
const SessionCookie = "__Host-sealkeep-session"

// CSRFHeader carries a browser session's CSRF token on unsafe requests.
const CSRFHeader = "X-CSRF-Token"

// errNoAuth answers a route that needs credentials when the server has no
// account service.
var errNoAuth = errs.New(errs.Unavailable, "this server has no account service")

// crossOrigin refuses unsafe requests that a browser marks as coming from
// another origin.
var crossOrigin = http.NewCrossOriginProtection()

// principalKey is the context key of the authenticated caller.
type principalKey struct{}

// principal returns the caller that the route's access check
// authenticated; Public routes have none (ok false).
func principal(r *http.Request) (auth.Principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(auth.Principal)
	return p, ok
}

// checkAccess authenticates and authorizes a request for rt and returns
// it with the principal in its context.
func (s *Server) checkAccess(r *http.Request, rt Route) (*http.Request, error) {
	if !safeMethod(r.Method) {
		if err := crossOrigin.Check(r); err != nil {
			return nil, errs.New(errs.Forbidden, "cross-origin request refused")
		}
	}
	if rt.Access == Public {
		return r, nil
	}
	if s.cfg.Auth == nil {
		return nil, errNoAuth
	}
	p, err := s.authenticate(r)
	if err != nil {
		return nil, err
	}
	stateOf(r.Context()).user = p.User.ID
	switch {
	case rt.Access == Authorized && rt.Own:
		err := s.cfg.Auth.Authorize(r.Context(), p.User.ID, rt.Op, auth.Resource{Org: r.PathValue("org"), Owner: p.User.ID})
		if err != nil {
			return nil, err
		}
	case rt.Access == Authorized:
		err := s.cfg.Auth.AuthorizePath(r.Context(), p.User.ID, rt.Op, r.PathValue("org"), r.PathValue("identity"))
		if err != nil {
			return nil, err
		}
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), nil
}

// authenticate finds the caller of r by its bearer token or session
// cookie; a session's unsafe request must carry its CSRF token.
func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	var tok *redact.Secret
	session := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || value == "" {
			return auth.Principal{}, fmt.Errorf("%w: the Authorization header must be \"Bearer TOKEN\"", auth.ErrUnauthenticated)
		}
		tok = redact.NewSecret([]byte(strings.TrimSpace(value)))
	} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		tok, session = redact.NewSecret([]byte(c.Value)), true
	} else {
		return auth.Principal{}, fmt.Errorf("%w: sign in first (an API token or a session)", auth.ErrUnauthenticated)
	}
	defer tok.Zero()
	p, err := s.cfg.Auth.Authenticate(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, err
	}
	if session != (p.Session != nil) {
		// An API token in a cookie or a session token as a bearer: each
		// is accepted only where its protections apply.
		return auth.Principal{}, auth.ErrUnauthenticated
	}
	if session && !safeMethod(r.Method) && !auth.CheckCSRF(*p.Session, r.Header.Get(CSRFHeader)) {
		return auth.Principal{}, errs.New(errs.Forbidden, "the request's CSRF token is missing or wrong (send the session's token in "+CSRFHeader+")")
	}
	return p, nil
}

// safeMethod reports whether m changes nothing (RFC 9110, section 9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// setSessionCookie sets the browser session cookie: Secure, HttpOnly,
// SameSite=Strict, Path=/, expiring with the session. Browsers treat
// http://localhost as secure, so it also works on the loopback plain-HTTP
// listener.
func setSessionCookie(w http.ResponseWriter, tok *redact.Secret, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: string(tok.Bytes()), Path: "/", Expires: expires,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// clearSessionCookie removes the browser session cookie.
func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}
