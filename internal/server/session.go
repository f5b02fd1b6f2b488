package server

import (
	"errors"
	"net/http"
	"time"

	"sealkeep/internal/auth"
	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// sessionRoutes are sign-in and sign-out: a browser session (cookie) or
// an API token for the CLI, and who the caller is.
func (s *Server) sessionRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/session", Access: Public, MaxBody: maxJSONBody, Handler: s.login},
		{Method: "DELETE", Path: "/api/v1/session", Access: Authenticated, Handler: s.logout},
		{Method: "POST", Path: "/api/v1/tokens", Access: Public, MaxBody: maxJSONBody, Handler: s.issueToken},
		{Method: "GET", Path: "/api/v1/tokens", Access: Authenticated, Handler: s.listTokens},
		{Method: "DELETE", Path: "/api/v1/tokens/{token}", Access: Authenticated, Handler: s.revokeToken},
		{Method: "GET", Path: "/api/v1/me", Access: Authenticated, Handler: s.me},
	}
}

// credentials is a sign-in request body.
type credentials struct {
	Login    string        `json:"login"`
	Password redact.Secret `json:"password"`
	// Code is a TOTP code or a recovery code, for an account with TOTP.
	Code redact.Secret `json:"code"`
}

func (c *credentials) zero() { c.Password.Zero(); c.Code.Zero() }

func (c *credentials) request(r *http.Request) auth.LoginRequest {
	req := auth.LoginRequest{Login: c.Login, Password: &c.Password, Client: remoteHost(r.RemoteAddr)}
	if c.Code.Len() > 0 {
		req.Code = &c.Code
	}
	return req
}

// userJSON is a user as the API shows it.
type userJSON struct {
	ID       string `json:"id"`
	Login    string `json:"login"`
	Operator bool   `json:"operator"`
}

func userOf(u store.User) userJSON { return userJSON{ID: u.ID, Login: u.Login, Operator: u.Operator} }

// sessionJSON answers a browser sign-in and GET /api/v1/me.
type sessionJSON struct {
	User userJSON `json:"user"`
	// MFA says whether the sign-in included a second factor (for an API
	// token: whether the account has TOTP).
	MFA bool `json:"mfa"`
	// CSRFToken is the session's token for the X-CSRF-Token header
	// (sessions only).
	CSRFToken string     `json:"csrf_token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// login starts a browser session: the cookie, and the CSRF token its
// unsafe requests must send.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Auth == nil {
		return errNoAuth
	}
	var c credentials
	defer c.zero()
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	sess, tok, err := s.cfg.Auth.Login(r.Context(), c.request(r))
	if err != nil {
		return s.loginFailed(err)
	}
	defer tok.Zero()
	u, err := s.cfg.Auth.User(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	stateOf(r.Context()).user = u.ID
	setSessionCookie(w, tok, sess.ExpiresAt)
	w.Header().Set("Cache-Control", "no-store")
	exp := sess.ExpiresAt.UTC()
	writeJSON(w, "application/json", http.StatusCreated, sessionJSON{User: userOf(u), MFA: sess.MFA, CSRFToken: auth.CSRFToken(sess), ExpiresAt: &exp})
	return nil
}

// loginFailed counts a failed sign-in by reason: "locked" (a lockout,
// also a rate-limit rejection), "totp" (a missing, wrong or replayed
// code) or "password".
func (s *Server) loginFailed(err error) error {
	switch {
	case errors.Is(err, auth.ErrLocked):
		s.metrics.LoginFailures.WithLabelValues("locked").Inc()
		s.metrics.RateLimited.WithLabelValues("login").Inc()
	case errors.Is(err, auth.ErrMFARequired), errors.Is(err, auth.ErrReplay):
		s.metrics.LoginFailures.WithLabelValues("totp").Inc()
	case errs.KindOf(err) == errs.Unauthenticated:
		s.metrics.LoginFailures.WithLabelValues("password").Inc()
	}
	return err
}

// logout ends the caller's browser session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	if p.Session == nil {
		return errs.New(errs.Invalid, "an API token is not a session: revoke it with DELETE /api/v1/tokens/{token}")
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return auth.ErrUnauthenticated
	}
	tok := redact.NewSecret([]byte(c.Value))
	defer tok.Zero()
	if err := s.cfg.Auth.Logout(r.Context(), tok); err != nil {
		return err
	}
	clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenRequest asks for an API token.
type tokenRequest struct {
	credentials
	// Name labels the token in listings ("laptop CLI").
	Name string `json:"name"`
	// TTLSeconds is the token's lifetime; 0 means DefaultTokenTTL.
	TTLSeconds int64 `json:"ttl_seconds"`
}

// DefaultTokenTTL is the lifetime of an API token whose request names
// none; MaxTokenTTL bounds any.
const (
	DefaultTokenTTL = 30 * 24 * time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
)

// tokenJSON is an API token as the API shows it; Token is set only in the
// answer that issues it.
type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Token      string     `json:"token,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func tokenOf(t store.APIToken) tokenJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC(), ExpiresAt: opt(t.ExpiresAt),
		LastUsedAt: opt(t.LastUsedAt), RevokedAt: opt(t.RevokedAt)}
}

// issueToken signs in and issues an API token (the CLI's login). The
// answer is the only place the token ever appears.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Auth == nil {
		return errNoAuth
	}
	var req tokenRequest
	defer req.zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds == 0:
		ttl = DefaultTokenTTL
	case req.TTLSeconds < 0 || ttl > MaxTokenTTL:
		return errs.New(errs.Invalid, "ttl_seconds must be between 1 and 31536000 (a year)")
	}
	t, tok, err := s.cfg.Auth.LoginAPIToken(r.Context(), req.request(r), req.Name, ttl)
	if err != nil {
		return s.loginFailed(err)
	}
	defer tok.Zero()
	stateOf(r.Context()).user = t.UserID
	out := tokenOf(t)
	out.Token = string(tok.Bytes())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, "application/json", http.StatusCreated, out)
	return nil
}

// me says who the caller is.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	out := sessionJSON{User: userOf(p.User), MFA: p.MFA}
	if p.Session != nil {
		exp := p.Session.ExpiresAt.UTC()
		out.CSRFToken, out.ExpiresAt = auth.CSRFToken(*p.Session), &exp
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, "application/json", http.StatusOK, out)
	return nil
}

// listTokens lists the caller's API tokens (never the tokens themselves).
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	ts, err := s.cfg.Auth.APITokens(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenOf(t))
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// revokeToken revokes one of the caller's API tokens by ID; another
// user's token is 404, as an unknown one.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	if err := s.cfg.Auth.RevokeAPIToken(r.Context(), p.User.ID, r.PathValue("token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
