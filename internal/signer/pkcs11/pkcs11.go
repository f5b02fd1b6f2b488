//go:build pkcs11

package pkcs11

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"

	"sealkeep/internal/fileperm"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/redact"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

func init() {
	signer.Register(Scheme, func(ctx context.Context, u *signer.URI) (crypto.Signer, error) {
		return Open(ctx, u)
	})
	signer.RegisterCreator(Scheme, creator{})
}

// location is what a key URI says about where a key lives.
type location struct {
	module    string
	token     string
	pinSource string
	object    string
	id        []byte
}

func parseLocation(u *signer.URI) (location, error) {
	bad := func(format string, a ...any) (location, error) {
		return location{}, fmt.Errorf("%w: pkcs11 URI: "+format, append([]any{signer.ErrInvalidURI}, a...)...)
	}
	for k, v := range u.Attrs {
		switch k {
		case "token", "object", "id":
		case "type":
			if v != "private" {
				return bad("type=%q: only private keys sign", v)
			}
		case "slot-id", "slot-description", "slot-manufacturer":
			return bad("select the token by label (token=...), not by slot: slot numbers change when devices are re-plugged")
		default:
			return bad("unsupported attribute %q (supported: token, object, id, type)", k)
		}
	}
	for k := range u.Query {
		if k != "module-path" && k != "pin-source" {
			return bad("unsupported query attribute %q (supported: module-path, pin-source)", k)
		}
	}
	loc := location{
		module:    u.Query.Get("module-path"),
		token:     u.Attrs["token"],
		pinSource: u.Query.Get("pin-source"),
		object:    u.Attrs["object"],
		id:        []byte(u.Attrs["id"]),
	}
	switch {
	case loc.token == "":
		return bad("token=LABEL is required")
	case loc.module == "" || !filepath.IsAbs(loc.module):
		return bad("module-path must be the absolute path of the PKCS#11 library")
	case loc.pinSource == "":
		return bad("pin-source=file:/path or pin-source=env:NAME is required")
	}
	if allow := os.Getenv("SEALKEEP_PKCS11_MODULES"); allow != "" && !slices.Contains(filepath.SplitList(allow), loc.module) {
		return bad("module-path %s is not listed in SEALKEEP_PKCS11_MODULES", loc.module)
	}
	if _, err := pinReader(loc.pinSource); err != nil {
		return location{}, err
	}
	return loc, nil
}

// ref is the key URI, safe to store and log: it names the PIN's source,
// never the PIN.
func (l location) ref() string {
	attrs := []string{"token=" + escape(l.token)}
	if l.object != "" {
		attrs = append(attrs, "object="+escape(l.object))
	}
	if len(l.id) > 0 {
		attrs = append(attrs, "id="+escape(string(l.id)))
	}
	q := url.Values{"module-path": {l.module}, "pin-source": {l.pinSource}}
	return Scheme + ":" + strings.Join(attrs, ";") + "?" + q.Encode()
}

func escape(s string) string { return strings.ReplaceAll(url.PathEscape(s), ";", "%3B") }

// maxPINFile bounds the PIN file: a PIN is a few dozen bytes, and a larger
// file is a misconfiguration, not something to read into memory.
const maxPINFile = 4096

// readPINFile reads at most maxPINFile bytes of the PIN file.
func readPINFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := redact.ReadSecret(f, maxPINFile)
	if err != nil {
		return nil, err
	}
	if len(b) > maxPINFile {
		clear(b)
		return nil, fmt.Errorf("the file is larger than %d bytes; it should hold only the PIN", maxPINFile)
	}
	return b, nil
}

// pinReader checks a pin-source and returns the function that reads it.
func pinReader(src string) (func() (string, error), error) {
	switch {
	case strings.HasPrefix(src, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(src, "file:"), "//")
		if !filepath.IsAbs(path) {
			return nil, fmt.Errorf("%w: pkcs11 pin-source file must be an absolute path", signer.ErrInvalidURI)
		}
		return func() (string, error) {
			if fi, err := os.Stat(path); err == nil {
				if err := fileperm.Private(path, fi.Mode()); err != nil {
					return "", fmt.Errorf("%w: the PIN file named by pin-source: %w", signer.ErrAccessDenied, err)
				}
			}
			b, err := readPINFile(path)
			if err != nil {
				// The error names the file, never its content.
				return "", fmt.Errorf("%w: reading the PIN file named by pin-source: %v", signer.ErrAccessDenied, err)
			}
			defer clear(b)
			pin, _, _ := strings.Cut(string(b), "\n")
			return strings.TrimSuffix(pin, "\r"), nil
		}, nil
	case strings.HasPrefix(src, "env:"):
		name := strings.TrimPrefix(src, "env:")
		if name == "" {
			return nil, fmt.Errorf("%w: pkcs11 pin-source env: names no variable", signer.ErrInvalidURI)
		}
		return func() (string, error) {
			pin, ok := os.LookupEnv(name)
			if !ok {
				return "", fmt.Errorf("%w: the PIN variable %s named by pin-source is not set", signer.ErrAccessDenied, name)
			}
			return pin, nil
		}, nil
	}
	return nil, fmt.Errorf("%w: pkcs11 pin-source must be file:/path or env:NAME", signer.ErrInvalidURI)
}

// token is one logged-in connection to a token, shared by the signers that
// use it.
type token struct {
	module, label, pinSource string

	mu  sync.Mutex
	c   *crypto11.Context
	gen uint64 // incremented on every reconnection
}

var (
	tokensMu sync.Mutex
	tokens   = map[string]*token{}
)

func tokenFor(l location) *token {
	key := l.module + "\x00" + l.token + "\x00" + l.pinSource
	tokensMu.Lock()
	defer tokensMu.Unlock()
	t, ok := tokens[key]
	if !ok {
		t = &token{module: l.module, label: l.token, pinSource: l.pinSource}
		tokens[key] = t
	}
	return t
}

// context returns the token connection, connecting (and logging in) if needed.
func (t *token) context() (*crypto11.Context, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != nil {
		return t.c, t.gen, nil
	}
	read, err := pinReader(t.pinSource)
	if err != nil {
		return nil, 0, err
	}
	pin, err := read()
	if err != nil {
		return nil, 0, err
	}
	if pin == "" {
		return nil, 0, fmt.Errorf("%w: pkcs11 token %q: the PIN from pin-source is empty", signer.ErrAccessDenied, t.label)
	}
	cfg := &crypto11.Config{Path: t.module, TokenLabel: t.label, Pin: pin}
	c, err := crypto11.Configure(cfg)
	cfg.Pin = "" // crypto11 needs the PIN only to log in
	if err != nil {
		return nil, 0, t.mapError("connecting to", err)
	}
	t.c = c
	t.gen++
	return t.c, t.gen, nil
}

// generation returns the current connection generation.
func (t *token) generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// reset drops the connection of generation gen, so that the next call
// reconnects; a connection made since by another caller is kept.
func (t *token) reset(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != nil && t.gen == gen {
		c := t.c
		t.c = nil
		// Close waits for sessions in use; a dead token fails them fast.
		_ = c.Close()
	}
}

// CloseAll ends every token connection (sessions are closed, which logs
// out); signers reconnect on their next use. The service calls it when it
// shuts down.
func CloseAll() {
	tokensMu.Lock()
	all := make([]*token, 0, len(tokens))
	for _, t := range tokens {
		all = append(all, t)
	}
	tokensMu.Unlock()
	for _, t := range all {
		t.mu.Lock()
		gen := t.gen
		t.mu.Unlock()
		t.reset(gen)
	}
}

// reconnectable are the PKCS#11 return values after which a new session (or
// a new login) may succeed: the device went away and came back, the session
// was closed, handles went stale.
var reconnectable = []p11.Error{
	p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_OBJECT_HANDLE_INVALID,
	p11.CKR_KEY_HANDLE_INVALID, p11.CKR_DEVICE_REMOVED, p11.CKR_DEVICE_ERROR, p11.CKR_TOKEN_NOT_PRESENT,
	p11.CKR_TOKEN_NOT_RECOGNIZED, p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_CRYPTOKI_NOT_INITIALIZED,
	p11.CKR_SLOT_ID_INVALID, p11.CKR_GENERAL_ERROR, p11.CKR_DEVICE_MEMORY,
}

func isReconnectable(err error) bool {
	var pe p11.Error
	if errors.As(err, &pe) {
		return slices.Contains(reconnectable, pe)
	}
	// crypto11 reports a closed context and a vanished token with plain errors.
	msg := err.Error()
	return strings.Contains(msg, "closed Context") || strings.Contains(msg, "could not find PKCS#11 token")
}

// unavailableWait is what a client is told to wait when the token is absent.
const unavailableWait = 30 * time.Second

// mapError turns a crypto11 or PKCS#11 error during op into one wrapping the
// signer sentinels. Neither crypto11's errors nor ours ever contain the PIN.
func (t *token) mapError(op string, err error) error {
	var pe p11.Error
	if errors.As(err, &pe) {
		switch pe {
		case p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE:
			return fmt.Errorf("%w: pkcs11 token %q refused the PIN from %s (wrong PIN; more failures may lock the token): %v", signer.ErrAccessDenied, t.label, t.pinSource, pe)
		case p11.CKR_PIN_LOCKED:
			return fmt.Errorf("%w: pkcs11 token %q: the user PIN is locked; the token's security officer must reset it: %v", signer.ErrAccessDenied, t.label, pe)
		case p11.CKR_PIN_EXPIRED:
			return fmt.Errorf("%w: pkcs11 token %q: the user PIN has expired: %v", signer.ErrAccessDenied, t.label, pe)
		case p11.CKR_MECHANISM_INVALID, p11.CKR_MECHANISM_PARAM_INVALID, p11.CKR_KEY_TYPE_INCONSISTENT, p11.CKR_KEY_FUNCTION_NOT_PERMITTED, p11.CKR_DATA_LEN_RANGE:
			return fmt.Errorf("%w: pkcs11 token %q cannot %s: %v", signer.ErrUnsupported, t.label, op, pe)
		}
	}
	if isReconnectable(err) {
		return &retry.UnavailableError{Attempts: 1, After: unavailableWait,
			Err: fmt.Errorf("pkcs11 token %q (module %s) is not available for %s (removed, or not plugged in?): %w", t.label, t.module, op, err)}
	}
	if strings.Contains(err.Error(), "failed to create module context") {
		return fmt.Errorf("%w: pkcs11 module %s cannot be loaded: %v", signer.ErrUnavailable, t.module, err)
	}
	return fmt.Errorf("pkcs11 token %q: %s: %w", t.label, op, err)
}

// Signer is a [crypto.Signer] whose private key stays in a PKCS#11 token.
type Signer struct {
	t   *token
	loc location
	ref string
	pub crypto.PublicKey

	mu  sync.Mutex
	gen uint64
	key crypto11.Signer
}

var _ signer.ContextSigner = (*Signer)(nil)

// Open connects to the token named by u (logging in with the PIN from its
// pin-source), finds the key and checks its public key against the key
// policy.
func Open(ctx context.Context, u *signer.URI) (*Signer, error) {
	loc, err := parseLocation(u)
	if err != nil {
		return nil, err
	}
	if loc.object == "" && len(loc.id) == 0 {
		return nil, fmt.Errorf("%w: pkcs11 URI names no key (object=LABEL or id=...)", signer.ErrInvalidURI)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Signer{t: tokenFor(loc), loc: loc, ref: loc.ref()}
	var key crypto11.Signer
	for attempt := 0; ; attempt++ {
		var gen uint64
		key, gen, err = s.find()
		if err == nil || attempt == 1 || !isReconnectable(err) {
			break
		}
		s.t.reset(gen)
	}
	if err != nil {
		return nil, err
	}
	s.pub = key.Public()
	if _, err := keypolicy.CheckPublicKey(s.pub); err != nil {
		return nil, fmt.Errorf("%w: pkcs11 key %s: %w", signer.ErrUnsupported, s.ref, err)
	}
	return s, nil
}

// find returns the key on the current connection and that connection's
// generation, connecting and looking the key up again after a reconnection.
// A caller whose use of the key fails resets that generation, never a newer
// one that another caller has just made.
func (s *Signer) find() (crypto11.Signer, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, gen, err := s.t.context()
	if err != nil {
		return nil, s.t.generation(), err
	}
	if s.key != nil && s.gen == gen {
		return s.key, gen, nil
	}
	s.gen = gen
	var label []byte
	if s.loc.object != "" {
		label = []byte(s.loc.object)
	}
	keys, err := c.FindKeyPairs(s.loc.id, label)
	if err != nil {
		return nil, gen, s.t.mapError("finding key "+s.ref, err)
	}
	switch {
	case len(keys) == 0:
		return nil, gen, fmt.Errorf("%w: pkcs11 token %q holds no key pair (private and public key with a CKA_ID) matching %s", signer.ErrKeyNotFound, s.loc.token, s.ref)
	case len(keys) > 1:
		return nil, gen, fmt.Errorf("%w: pkcs11 token %q holds %d keys matching %s; name one by id=", signer.ErrInvalidURI, s.loc.token, len(keys), s.ref)
	}
	if s.pub != nil && !keypolicy.PublicKeysEqual(s.pub, keys[0].Public()) {
		return nil, gen, fmt.Errorf("%w: pkcs11 key %s now has a different public key; refusing to sign with it", signer.ErrKeyNotFound, s.ref)
	}
	s.key = keys[0]
	return s.key, gen, nil
}

// Public returns the public key read when the signer was built.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Provider names the provider for audit entries.
func (s *Signer) Provider() string { return Scheme }

// KeyRef is the key's URI, safe to store and log (it holds no PIN).
func (s *Signer) KeyRef() string { return s.ref }

// Sign signs digest on the token; see [Signer.SignContext].
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest on the token (PKCS#1 v1.5 or PSS for RSA, ECDSA),
// reconnecting once after a session or device error, and verifies the
// signature before returning it. ctx is checked before the call: a PKCS#11
// call cannot be interrupted.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if h := opts.HashFunc(); (h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512) || len(digest) != h.Size() {
		return nil, fmt.Errorf("%w: pkcs11 signs a SHA-256, SHA-384 or SHA-512 digest of the matching length", signer.ErrUnsupported)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: pkcs11 key %s: %w", signer.ErrUnavailable, s.ref, err)
		}
		key, gen, err := s.find()
		var sig []byte
		if err == nil {
			sig, err = key.Sign(rand.Reader, digest, opts)
			if err != nil {
				err = s.t.mapError("signing with key "+s.ref, err)
			}
		}
		if err == nil {
			if err := signer.VerifySignature(s.pub, digest, sig, opts); err != nil {
				return nil, fmt.Errorf("pkcs11 key %s: %w", s.ref, err)
			}
			return sig, nil
		}
		if attempt == 1 || !isReconnectable(err) {
			return nil, err
		}
		s.t.reset(gen)
	}
}

type creator struct{}

// CreateKey generates a key pair of the given key policy algorithm on the
// token named by u, labelled with u's object (and id, or a random 16-byte
// id). The private key is sensitive, not extractable and can only sign.
func (creator) CreateKey(ctx context.Context, u *signer.URI, algorithm string) (crypto.Signer, error) {
	return Create(ctx, u, algorithm)
}

// Create is [signer.KeyCreator.CreateKey] for PKCS#11 tokens.
func Create(ctx context.Context, u *signer.URI, algorithm string) (*Signer, error) {
	loc, err := parseLocation(u)
	if err != nil {
		return nil, err
	}
	if loc.object == "" {
		return nil, fmt.Errorf("%w: pkcs11 key creation needs object=LABEL", signer.ErrInvalidURI)
	}
	if len(loc.id) == 0 {
		loc.id = make([]byte, 16)
		rand.Read(loc.id)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := tokenFor(loc)
	c, _, err := t.context()
	if err != nil {
		return nil, err
	}
	if existing, err := c.FindKeyPairs(nil, []byte(loc.object)); err != nil {
		return nil, t.mapError("looking for existing keys", err)
	} else if len(existing) > 0 {
		return nil, fmt.Errorf("%w: pkcs11 token %q already holds a key labelled %q", signer.ErrUnsupported, loc.token, loc.object)
	}
	pubAttrs, err := crypto11.NewAttributeSetWithIDAndLabel(loc.id, []byte(loc.object))
	if err != nil {
		return nil, err
	}
	privAttrs := pubAttrs.Copy()
	// A signing key signs; it does not decrypt.
	_ = privAttrs.Set(crypto11.CkaDecrypt, false)
	_ = pubAttrs.Set(crypto11.CkaEncrypt, false)
	switch algorithm {
	case keypolicy.RSA2048, keypolicy.RSA3072, keypolicy.RSA4096:
		bits := map[string]int{keypolicy.RSA2048: 2048, keypolicy.RSA3072: 3072, keypolicy.RSA4096: 4096}[algorithm]
		_, err = c.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, bits)
	case keypolicy.ECDSAP256:
		_, err = c.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, elliptic.P256())
	case keypolicy.ECDSAP384:
		_, err = c.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, elliptic.P384())
	default:
		return nil, fmt.Errorf("%w: pkcs11 cannot create %q keys (RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384)", signer.ErrUnsupported, algorithm)
	}
	if err != nil {
		return nil, t.mapError("generating a "+algorithm+" key", err)
	}
	return Open(ctx, &signer.URI{Scheme: Scheme, Attrs: map[string]string{"token": loc.token, "object": loc.object, "id": string(loc.id)},
		Query: url.Values{"module-path": {loc.module}, "pin-source": {loc.pinSource}}})
}
