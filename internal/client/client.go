// Package client is the CLI's client of the sealkeep service's HTTP API
// (`sealkeep serve`, docs/api.md): requests with the user's API token,
// problem details turned back into errors of the same kind
// (internal/errs), so that a command run with --server exits with the
// code it would have locally, and the credentials file that
// `sealkeep login --server` writes.
//
// A server URL is https, or http on a loopback host only: the client
// never sends a password, code or token in the clear over a network.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
)

// problemBase is the server's problem type prefix (server.ProblemBase).
const problemBase = "https://sealkeep.dev/problems/"

// maxErrorBody bounds the problem details read from an error answer.
const maxErrorBody = 64 << 10

// Options configure a Client.
type Options struct {
	// Roots, if not nil, are the trust anchors of the server's TLS
	// certificate instead of the system's.
	Roots *x509.CertPool
	// Timeout bounds one request without a body to upload or download
	// (default 60 s); uploads and downloads are bounded by their context.
	Timeout time.Duration
}

// Client calls one server with one API token (or none, for public routes
// and sign-in).
type Client struct {
	base    *url.URL
	token   *redact.Secret
	http    *http.Client
	timeout time.Duration
}

// New returns a client of the server at rawURL; token may be nil.
func New(rawURL string, token *redact.Secret, opts Options) (*Client, error) {
	u, err := ParseServerURL(rawURL)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.Roots}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	return &Client{base: u, token: token, timeout: opts.Timeout, http: &http.Client{
		Transport: tr,
		// A redirect would resend the token elsewhere: the API never
		// redirects, so none is followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// ParseServerURL checks a server URL: https, or http on a loopback host;
// no user info, query or fragment. The result has no trailing slash.
func ParseServerURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errs.New(errs.Invalid, fmt.Sprintf("server %q: want https://HOST[:PORT] (or http:// on a loopback address)", rawURL))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errs.New(errs.Invalid, fmt.Sprintf("server %q: a server URL has no user, query or fragment", u.Redacted()))
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, errs.New(errs.Invalid, fmt.Sprintf("server %q: plain http is only for a loopback address; use https", rawURL))
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// Request is one API call.
type Request struct {
	Method, Path string
	// Body is the request body (nil: none) of ContentType.
	Body        io.Reader
	ContentType string
	// Header holds extra headers.
	Header http.Header
	// Stream leaves the answer's body to the caller (a download); without
	// it, Do bounds the call by the client's timeout.
	Stream bool
}

// Do sends req and returns the answer for a status below 400; otherwise
// the server's problem details as a *ProblemError (its kind is the
// problem type's). A server that cannot be reached is errs.Unavailable.
// The caller closes the answer's body.
func (c *Client) Do(ctx context.Context, req Request) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	if !req.Stream && req.Body == nil {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, c.base.String()+req.Path, req.Body)
	if err != nil {
		cancel()
		return nil, errs.With(errs.Invalid, err)
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	}
	hr.Header.Set("Accept", "application/json, application/problem+json, application/pdf")
	if c.token != nil && c.token.Len() > 0 {
		hr.Header.Set("Authorization", "Bearer "+string(c.token.Bytes()))
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named below, once
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, errs.With(errs.Unavailable, fmt.Errorf("server %s: %w", c.base, err))
	}
	if resp.StatusCode >= 400 {
		defer cancel()
		defer resp.Body.Close()
		return nil, problemOf(resp)
	}
	if !req.Stream {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	} else {
		cancel()
	}
	return resp, nil
}

// cancelBody ends a request's timeout when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

// JSON sends in as a JSON body (nil: none) and decodes the answer into out
// (nil: the answer is discarded).
func (c *Client) JSON(ctx context.Context, method, path string, in, out any) error {
	req := Request{Method: method, Path: path}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body, req.ContentType = bytes.NewReader(b), "application/json"
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return errs.With(errs.Unavailable, fmt.Errorf("server %s: %s %s: the answer is not the expected JSON: %w", c.base, method, path, err))
	}
	return nil
}

// ProblemError is an error answer of the server: its problem details.
type ProblemError struct {
	Status    int
	Type      string
	Title     string
	Detail    string
	RequestID string
	// RetryAfter is the answer's Retry-After, if any.
	RetryAfter time.Duration
	kind       errs.Kind
}

// Error is the server's detail (or title) and the request ID, which names
// the request in the server's log.
func (e *ProblemError) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.RequestID != "" {
		return fmt.Sprintf("server: %s (request %s)", msg, e.RequestID)
	}
	return "server: " + msg
}

// Kind is the error kind of the problem type, so that the CLI exits as it
// would for the same error locally.
func (e *ProblemError) Kind() errs.Kind { return e.kind }

// problemOf reads an error answer.
func problemOf(resp *http.Response) *ProblemError {
	pe := &ProblemError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if s := resp.Header.Get("Retry-After"); s != "" {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 {
			pe.RetryAfter = time.Duration(n) * time.Second
		}
	}
	var p struct {
		Type, Title, Detail string
		RequestID           string `json:"request_id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&p); err == nil {
		pe.Type, pe.Title, pe.Detail = p.Type, p.Title, p.Detail
		if p.RequestID != "" {
			pe.RequestID = p.RequestID
		}
	}
	pe.kind = kindOf(pe.Type, resp.StatusCode)
	return pe
}

// kindOf maps a problem type (or, for an answer without one, the status)
// back to its error kind.
func kindOf(typ string, status int) errs.Kind {
	if name, ok := strings.CutPrefix(typ, problemBase); ok {
		for _, k := range errs.Kinds {
			if k.String() == name {
				return k
			}
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		return errs.Unauthenticated
	case status == http.StatusForbidden:
		return errs.Forbidden
	case status == http.StatusNotFound:
		return errs.NotFound
	case status == http.StatusConflict:
		return errs.Conflict
	case status == http.StatusRequestEntityTooLarge:
		return errs.TooLarge
	case status == http.StatusTooManyRequests:
		return errs.TooManyRequests
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return errs.Unavailable
	case status >= 400 && status < 500:
		return errs.Invalid
	}
	return errs.Internal
}
