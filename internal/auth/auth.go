package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"sealkeep/internal/errs"
	"strings"
	"sync"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// Errors. Every error of this package wraps one of them; none holds a
// password, a code or a token.
var (
	ErrNotFound  = store.ErrNotFound
	ErrConflict  = store.ErrConflict
	ErrForbidden = errs.New(errs.Forbidden, "forbidden")
	// ErrInvalidInput reports a malformed login, password, code or request.
	ErrInvalidInput = errs.New(errs.Invalid, "invalid input")
	// ErrUnauthenticated reports wrong credentials, an unknown, expired or
	// revoked session or token, or a disabled account, without saying
	// which.
	ErrUnauthenticated = errs.New(errs.Unauthenticated, "authentication failed")
	// ErrMFARequired reports a correct password for an account with TOTP
	// when no code was sent.
	ErrMFARequired = errs.New(errs.Unauthenticated, "a TOTP code is required")
	// ErrReplay reports a TOTP code whose time step was already accepted
	// (this code or a later one); it also wraps ErrUnauthenticated.
	ErrReplay = errs.New(errs.Unauthenticated, "the TOTP code was already used")
	// ErrLocked reports a failure counter over its limit; the error is a
	// [*LockedError] that says until when.
	ErrLocked = errs.New(errs.TooManyRequests, "too many failed attempts")
)

// LockedError is a refusal while an account or a client address is locked
// out.
type LockedError struct {
	Until time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v: try again after %s", ErrLocked, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap returns [ErrLocked].
func (e *LockedError) Unwrap() error { return ErrLocked }

// errReplay is ErrReplay and ErrUnauthenticated.
var errReplay = fmt.Errorf("%w: %w", ErrUnauthenticated, ErrReplay)

// Options tune a [Service]. The zero value is valid.
type Options struct {
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives logs; it should be a redacting handler (default:
	// discard). Nothing secret is logged.
	Logger *slog.Logger
	// Password is the argon2id cost of new hashes (default
	// DefaultPasswordParams). A stored hash with other parameters is
	// replaced at the next successful login.
	Password PasswordParams
	// MaxConcurrentHashes bounds the argon2id computations running at
	// once in this process, and so their memory (default GOMAXPROCS, at
	// most 8: 64 MiB each at the default cost). More would only queue
	// for the CPU while holding their memory.
	MaxConcurrentHashes int
	// SessionTTL is how long a browser session lasts (default 12 hours).
	SessionTTL time.Duration
	// Issuer names the service in authenticator apps (default "sealkeep").
	Issuer string
	// Limits are the lockout rules (default DefaultLimits).
	Limits Limits
	// InvitationTTL is how long a new account's invitation can be
	// redeemed (default DefaultInvitationTTL).
	InvitationTTL time.Duration
	// DEKCache, when set, keeps the unwrapped system data key for its
	// bounded lifetime, so that a KMS-held KEK is not called on every
	// step-up (custody's cache may be shared: keys are per org).
	DEKCache *envelope.DEKCache
}

// Service is the accounts, roles and MFA API. It is safe for concurrent
// use, and several Services (server instances) may share one store.
type Service struct {
	st        store.Store
	kek       envelope.KEK
	clock     func() time.Time
	log       *slog.Logger
	params    PasswordParams
	hashSem   chan struct{}
	ttl       time.Duration
	issuer    string
	limits    Limits
	inviteTTL time.Duration
	dekCache  *envelope.DEKCache
	dummyMu   sync.Mutex
	dummy     string // a hash to verify against for unknown logins
	dummyFor  PasswordParams
}

// New returns a service over st; kek wraps the system data key that seals
// TOTP secrets.
func New(st store.Store, kek envelope.KEK, opts Options) *Service {
	s := &Service{st: st, kek: kek, clock: opts.Clock, log: opts.Logger, params: opts.Password,
		ttl: opts.SessionTTL, issuer: opts.Issuer, limits: opts.Limits, inviteTTL: opts.InvitationTTL, dekCache: opts.DEKCache}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.params == (PasswordParams{}) {
		s.params = DefaultPasswordParams
	}
	n := opts.MaxConcurrentHashes
	if n <= 0 {
		n = min(runtime.GOMAXPROCS(0), 8)
	}
	s.hashSem = make(chan struct{}, n)
	if s.ttl <= 0 {
		s.ttl = 12 * time.Hour
	}
	if s.issuer == "" {
		s.issuer = "sealkeep"
	}
	if s.inviteTTL <= 0 {
		s.inviteTTL = DefaultInvitationTTL
	}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits
	}
	return s
}

// now returns the current time as the store keeps it.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// hashing runs f while holding one of the MaxConcurrentHashes slots.
func (s *Service) hashing(ctx context.Context, f func()) error {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSem }()
	f()
	return nil
}

// dummyHash returns a hash of a random password under the current
// parameters, so that a login for an unknown user costs what a real one
// does.
func (s *Service) dummyHash() string {
	s.dummyMu.Lock()
	defer s.dummyMu.Unlock()
	if s.dummy == "" || s.dummyFor != s.params {
		pw := redact.NewSecret([]byte(rand.Text()))
		s.dummy, _ = HashPassword(pw, s.params)
		s.dummyFor = s.params
		pw.Zero()
	}
	return s.dummy
}

// entry builds an audit entry for chain.
func (s *Service) entry(chain string, actor audit.Actor, a audit.Action, subj audit.Subject, details map[string]string) audit.Entry {
	return audit.Entry{Chain: chain, Time: s.now(), Actor: actor, Action: a, Subject: subj, Details: details}
}

// userActor is the audit actor of a user.
func userActor(id string) audit.Actor { return audit.Actor{Kind: audit.ActorUser, ID: id} }

// loginPattern is the form of a login name (compared after lower-casing
// ASCII): it names accounts in audit details and in rate-limit keys.
var loginPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,63}$`)

// normLogin lower-cases a login and checks its form. The error does not
// quote it: users type passwords into login fields.
func normLogin(login string) (string, error) {
	l := strings.ToLower(login)
	if !loginPattern.MatchString(l) {
		return "", fmt.Errorf("%w: a login is 1 to 64 characters: letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit", ErrInvalidInput)
	}
	return l, nil
}

// newID returns prefix and 16 random base32 characters (80 bits).
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// digest is SHA-256.
func digest(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
