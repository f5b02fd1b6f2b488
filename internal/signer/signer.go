// Package signer is the custody layer's view of a signing key: a
// [crypto.Signer] chosen by a key URI.
//
// Everything above custody (CMS, PDF, the service) sees only a
// [crypto.Signer] and a certificate chain. Providers live in their own
// packages (signer/local, signer/awskms, signer/pkcs11, ...) and register an
// [Opener] for their URI scheme in an init function; this package imports no
// SDK.
//
// # Rules for providers
//
//   - Public does no I/O: the public key is loaded when the signer is built.
//   - Every call that may do I/O takes the caller's context; providers add no
//     hidden timeouts of their own.
//   - Secrets (PINs, credentials) never appear in a URI that is stored, in an
//     error, or in a log line. Errors name the scheme and the key, never a
//     secret-bearing query value.
//   - Optional capabilities are small interfaces found by type assertion
//     ([KeyCreator], [ContextSigner]).
package signer

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"unicode"

	"sealkeep/internal/errs"
)

// Sentinel errors. Providers wrap them with %w so that callers (and the HTTP
// layer) can map them with errors.Is.
var (
	// ErrInvalidURI means a key URI could not be parsed or names an unknown scheme.
	ErrInvalidURI = errs.New(errs.Invalid, "invalid key URI")
	// ErrAccessDenied means the customer's KMS or HSM refused the operation:
	// access denied, key disabled, key pending deletion, grant removed, PIN
	// locked. It is never retried and never falls back to another key.
	ErrAccessDenied = errs.New(errs.Forbidden, "key provider refused the operation")
	// ErrUnavailable means a transient failure (throttling, timeout, token
	// gone) that outlasted the caller's deadline; the operation may be
	// retried later.
	ErrUnavailable = errs.New(errs.Unavailable, "key provider unavailable")
	// ErrKeyNotFound means the URI names no key the provider knows.
	ErrKeyNotFound = errs.New(errs.NotFound, "key not found")
	// ErrUnsupported means the key or operation is outside what the provider
	// or the key policy supports.
	ErrUnsupported = errs.New(errs.Invalid, "unsupported key or operation")
	// ErrBadSignature means a provider returned a signature that does not
	// verify under the key's public key; it is never embedded anywhere.
	ErrBadSignature = errs.New(errs.Verification, "provider returned a signature that does not verify")
)

// Opener builds a signer for a parsed key URI. It loads the public key before
// it returns, so that Public on the result does no I/O.
type Opener func(ctx context.Context, uri *URI) (crypto.Signer, error)

// ContextSigner is implemented by signers that do I/O: SignContext bounds the
// remote call by ctx. Callers holding a context should prefer it over Sign.
type ContextSigner interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// KeyCreator is implemented by providers that can create a key inside the
// customer's KMS or HSM. Algorithm is one of the key policy names, e.g.
// "RSA-3072" or "ECDSA-P256".
type KeyCreator interface {
	CreateKey(ctx context.Context, uri *URI, algorithm string) (crypto.Signer, error)
}

var (
	mu       sync.RWMutex
	openers  = map[string]Opener{}
	creators = map[string]KeyCreator{}
)

// Register makes a provider available under scheme. It panics if the scheme
// is registered twice, which is a programming error.
func Register(scheme string, open Opener) {
	mu.Lock()
	defer mu.Unlock()
	scheme = strings.ToLower(scheme)
	if _, dup := openers[scheme]; dup {
		panic("signer: scheme registered twice: " + scheme)
	}
	openers[scheme] = open
}

// RegisterCreator records a provider's key-creation capability.
func RegisterCreator(scheme string, c KeyCreator) {
	mu.Lock()
	defer mu.Unlock()
	creators[strings.ToLower(scheme)] = c
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open parses rawURI and builds a signer through the provider registered for
// its scheme.
func Open(ctx context.Context, rawURI string) (crypto.Signer, error) {
	u, err := ParseURI(rawURI)
	if err != nil {
		return nil, err
	}
	mu.RLock()
	open, ok := openers[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: no provider for scheme %q (built-in: %s)", ErrInvalidURI, u.Scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, u)
}

// Create asks the provider for rawURI's scheme to create a new key.
func Create(ctx context.Context, rawURI, algorithm string) (crypto.Signer, error) {
	u, err := ParseURI(rawURI)
	if err != nil {
		return nil, err
	}
	mu.RLock()
	c, ok := creators[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: provider %q cannot create keys", ErrUnsupported, u.Scheme)
	}
	return c.CreateKey(ctx, u, algorithm)
}

// URI is a parsed key URI: "scheme:opaque?query". For pkcs11 (RFC 7512) the
// path attributes are separated by ';' and land in Attrs; for the others,
// Opaque holds everything between the scheme and the query.
type URI struct {
	Scheme string
	Opaque string
	Attrs  map[string]string
	Query  url.Values
}

// secretNames are the normalised names (lower case, without '-', '_' and
// '.') of attributes that carry a secret; secretFragments make any name
// that contains them one. "token" alone is a secret except as a pkcs11 path
// attribute, where RFC 7512 makes it the token's label.
var (
	secretNames = map[string]bool{
		"pin": true, "pinvalue": true, "userpin": true, "sopin": true, "pwd": true,
		"apikey": true, "accesskey": true, "secretkey": true, "privatekey": true, "token": true,
	}
	secretFragments = []string{"password", "passwd", "passphrase", "passcode", "secret", "token", "credential"}
)

// secretName returns the normalised name of attribute k if it carries a
// secret, else "". inPath says k is a ';'-separated path attribute.
func secretName(k, scheme string, inPath bool) string {
	n := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return unicode.ToLower(r)
	}, k)
	if n == "token" && inPath && scheme == "pkcs11" {
		return ""
	}
	if secretNames[n] {
		return n
	}
	for _, f := range secretFragments {
		if strings.Contains(n, f) {
			return n
		}
	}
	return ""
}

// hasUserinfo reports whether s holds a URL whose authority carries user
// information ("https://user:password@host").
func hasUserinfo(s string) bool {
	for {
		_, rest, ok := strings.Cut(s, "://")
		if !ok {
			return false
		}
		authority, _, _ := strings.Cut(rest, "/")
		if strings.ContainsRune(authority, '@') {
			return true
		}
		s = rest
	}
}

// ParseURI parses a key URI. It refuses URIs that carry a secret: an
// attribute, in the path or the query, whose name names one in any spelling
// (pin-value, PIN-VALUE, pin%2Dvalue, pin_value, client_secret, password,
// ...), or user information in an embedded URL. Secrets come from files or
// the environment. Errors never echo the URI or an attribute value.
func ParseURI(raw string) (*URI, error) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: missing scheme (want scheme:...)", ErrInvalidURI)
	}
	for _, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '+') {
			return nil, fmt.Errorf("%w: malformed scheme", ErrInvalidURI)
		}
	}
	u := &URI{Scheme: strings.ToLower(scheme)}
	if strings.ContainsRune(rest, '#') {
		return nil, fmt.Errorf("%w: %s URI has a fragment ('#'); key URIs have none", ErrInvalidURI, u.Scheme)
	}
	path, query, _ := strings.Cut(rest, "?")
	attrs, err := parseAttrs(u.Scheme, path)
	if err != nil {
		return nil, err
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed query in %s URI", ErrInvalidURI, u.Scheme)
	}
	for k, vs := range q {
		if n := secretName(k, u.Scheme, false); n != "" {
			return nil, secretErr(u.Scheme, n)
		}
		for _, v := range vs {
			if hasUserinfo(v) {
				return nil, secretErr(u.Scheme, "user information in a URL")
			}
		}
	}
	if hasUserinfo(path) {
		return nil, secretErr(u.Scheme, "user information in a URL")
	}
	u.Opaque, u.Attrs, u.Query = path, attrs, q
	return u, nil
}

// parseAttrs reads the ';'-separated name=value attributes of a URI path
// (RFC 7512). Names are case-insensitive; each may appear once.
func parseAttrs(scheme, path string) (map[string]string, error) {
	attrs := map[string]string{}
	for _, part := range strings.Split(path, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		dk, kerr := url.PathUnescape(k)
		dv, verr := url.PathUnescape(v)
		if kerr != nil || verr != nil {
			return nil, fmt.Errorf("%w: malformed percent-encoding in a path attribute of a %s URI", ErrInvalidURI, scheme)
		}
		dk = strings.ToLower(dk)
		if n := secretName(dk, scheme, true); n != "" {
			return nil, secretErr(scheme, n)
		}
		if _, dup := attrs[dk]; dup {
			return nil, fmt.Errorf("%w: %s URI repeats attribute %q", ErrInvalidURI, scheme, dk)
		}
		attrs[dk] = dv
	}
	return attrs, nil
}

func secretErr(scheme, what string) error {
	return fmt.Errorf("%w: %s URI carries a secret (%s); give secrets through a file or the environment, never in the URI", ErrInvalidURI, scheme, what)
}

// Value returns attribute k from the path attributes, else from the query.
func (u *URI) Value(k string) string {
	if v, ok := u.Attrs[k]; ok {
		return v
	}
	return u.Query.Get(k)
}

// String returns the URI in a form safe to store and log.
func (u *URI) String() string {
	s := u.Scheme + ":" + u.Opaque
	if len(u.Query) > 0 {
		s += "?" + u.Query.Encode()
	}
	return s
}

// SignContext signs through s, using SignContext when s supports it.
func SignContext(ctx context.Context, s crypto.Signer, rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if cs, ok := s.(ContextSigner); ok {
		return cs.SignContext(ctx, digest, opts)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Sign(rand, digest, opts)
}
