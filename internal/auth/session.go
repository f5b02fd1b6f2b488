package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// Tokens are 256 random bits, written as a prefix that says what they are
// ("sks_" a browser session, "skt_" an API token, so that secret scanners
// and people recognise them) and 43 characters of unpadded base64url. The
// store keeps only SHA-256 of the whole token and finds a credential by
// that hash: the index lookup can only leak timing about a hash of a
// 256-bit random value, which gives no way to a token, and the hash read
// back is compared again in constant time.
const (
	sessionPrefix = "sks_"
	tokenPrefix   = "skt_"
	tokenBytes    = 32
)

// tokenLastUsedEvery is how stale an API token's last-used time may get
// before a use writes it again.
const tokenLastUsedEvery = time.Minute

// newToken returns a fresh token with prefix, and its hash.
func newToken(prefix string) (*redact.Secret, []byte) {
	var raw [tokenBytes]byte
	_, _ = rand.Read(raw[:])
	tok := make([]byte, len(prefix), len(prefix)+base64.RawURLEncoding.EncodedLen(tokenBytes))
	copy(tok, prefix)
	tok = base64.RawURLEncoding.AppendEncode(tok, raw[:])
	clear(raw[:])
	return redact.NewSecret(tok), digest(tok)
}

// LoginRequest is a sign-in attempt: a login and password, and a TOTP
// code or a recovery code (Code) for an account with TOTP. Client is the
// client's IP address, for the per-address limit ("" for none).
type LoginRequest struct {
	Login    string
	Password *redact.Secret
	Code     *redact.Secret
	Client   string
}

// Principal is an authenticated caller.
type Principal struct {
	User     store.User
	MFA      bool           // authenticated with a second factor
	Session  *store.Session // set for a browser session
	APIToken *store.APIToken
}

// Login checks a sign-in and starts a browser session; it returns the
// session and its token (to set as a cookie). See [Service.LoginAPIToken]
// for the rules.
func (s *Service) Login(ctx context.Context, req LoginRequest) (store.Session, *redact.Secret, error) {
	var sess store.Session
	tok, hash := newToken(sessionPrefix)
	err := s.login(ctx, req, func(tx store.Tx, u store.User, mfa bool) error {
		csrf := make([]byte, 32)
		_, _ = rand.Read(csrf)
		now := s.now()
		sess = store.Session{TokenHash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.ttl), CSRF: csrf, MFA: mfa}
		return tx.PutSession(sess)
	})
	if err != nil {
		tok.Zero()
		return store.Session{}, nil, err
	}
	return sess, tok, nil
}

// LoginAPIToken checks a sign-in and issues an API token named name (for
// the CLI) that expires after ttl (0: never). Audited as token.create.
//
// The rules of both logins: a locked account or client address is refused
// before anything is checked ([*LockedError]); an unknown login costs the
// same argon2id work as a known one and fails the same way
// (ErrUnauthenticated); a wrong password, code or recovery code counts a
// failure on the account and the address; an account with confirmed TOTP
// needs a code (ErrMFARequired when none was sent), whose time step is
// recorded so that it is never accepted again; a password hash with
// outdated parameters is replaced.
func (s *Service) LoginAPIToken(ctx context.Context, req LoginRequest, name string, ttl time.Duration) (store.APIToken, *redact.Secret, error) {
	if err := checkTokenName(name); err != nil {
		return store.APIToken{}, nil, err
	}
	var t store.APIToken
	tok, hash := newToken(tokenPrefix)
	err := s.login(ctx, req, func(tx store.Tx, u store.User, mfa bool) error {
		now := s.now()
		t = store.APIToken{ID: newID("t-"), TokenHash: hash, UserID: u.ID, Name: name, CreatedAt: now}
		if ttl > 0 {
			t.ExpiresAt = now.Add(ttl)
		}
		if err := tx.PutAPIToken(t); err != nil {
			return err
		}
		_, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(u.ID), audit.ActionTokenCreate, audit.Subject{},
			map[string]string{audit.DetailUser: u.ID, audit.DetailToken: t.ID, "name": name, "mfa": fmt.Sprint(mfa)}))
		return err
	})
	if err != nil {
		tok.Zero()
		return store.APIToken{}, nil, err
	}
	return t, tok, nil
}

func checkTokenName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: a token name is 1 to 64 bytes", ErrInvalidInput)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("%w: a token name is printable text", ErrInvalidInput)
		}
	}
	return nil
}

// login checks req and runs issue in the transaction that records the
// TOTP step or spends the recovery code.
func (s *Service) login(ctx context.Context, req LoginRequest, issue func(tx store.Tx, u store.User, mfa bool) error) error {
	if err := checkClient(req.Client); err != nil {
		return err
	}
	login, err := normLogin(req.Login)
	if err != nil {
		return ErrUnauthenticated
	}
	keys := s.limitKeys(login, req.Client)
	if err := s.checkLocked(ctx, keys); err != nil {
		return err
	}
	var (
		u      store.User
		known  bool
		enrol  store.TOTPEnrolment
		hasMFA bool
		row    store.WrappedDEK
	)
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		u, err = tx.UserByLogin(login)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		known = true
		enrol, err = tx.TOTP(u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if hasMFA = !enrol.ConfirmedAt.IsZero(); hasMFA {
			row, err = secretDEK(tx, enrol.Secret)
		}
		return err
	})
	if err != nil {
		// The store's message quotes the login, which may be a password
		// typed into the wrong field.
		return opaqueError{msg: "sign-in: reading the account failed", err: err}
	}
	hash := u.PasswordHash
	if !known {
		hash = s.dummyHash()
	}
	var ok, rehash bool
	var verr error
	if err := s.hashing(ctx, func() { ok, rehash, verr = VerifyPassword(req.Password, hash, s.params) }); err != nil {
		return err
	}
	if verr != nil {
		s.log.ErrorContext(ctx, "stored password hash does not parse", "user", u.ID, "err", verr)
	}
	if !known || !ok || !u.DisabledAt.IsZero() {
		return errors.Join(ErrUnauthenticated, s.countFailure(ctx, keys, u.ID))
	}
	now := s.now()
	var step int64
	recovery := false
	if hasMFA {
		if req.Code.Len() == 0 {
			return ErrMFARequired
		}
		if recovery = isRecoveryCode(req.Code); !recovery {
			secret, err := s.openSecret(ctx, row, u.ID, enrol.Secret)
			if err != nil {
				return err
			}
			var match bool
			step, match = matchTOTP(secret, req.Code, now)
			clear(secret)
			if !match {
				return errors.Join(ErrUnauthenticated, s.countFailure(ctx, keys, u.ID))
			}
		}
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if hasMFA {
			// The enrolment the code was checked against must still be the
			// user's.
			cur, err := tx.TOTP(u.ID)
			if errors.Is(err, store.ErrNotFound) || (err == nil && !bytes.Equal(cur.Secret, enrol.Secret)) {
				return fmt.Errorf("the TOTP enrolment changed meanwhile: %w", ErrConflict)
			} else if err != nil {
				return err
			}
		}
		if hasMFA && recovery {
			if err := s.useRecoveryCode(tx, u.ID, req.Code, now); err != nil {
				return err
			}
		} else if hasMFA {
			if err := consumeStep(tx, u.ID, step, now, "login"); err != nil {
				return err
			}
		}
		if err := s.clearAccount(tx, login); err != nil {
			return err
		}
		return issue(tx, u, hasMFA)
	})
	switch {
	case errors.Is(err, ErrReplay):
		return errors.Join(err, s.recordReplay(ctx, u.ID, "login"), s.countFailure(ctx, keys, u.ID))
	case errors.Is(err, ErrUnauthenticated):
		return errors.Join(err, s.countFailure(ctx, keys, u.ID))
	case err != nil:
		return err
	}
	if rehash {
		s.rehash(ctx, u, req.Password)
	}
	s.log.InfoContext(ctx, "login", "user", u.ID, "mfa", hasMFA)
	return nil
}

// rehash replaces a hash made with other parameters than the current
// ones; a failure is logged, the login stands.
func (s *Service) rehash(ctx context.Context, u store.User, pw *redact.Secret) {
	var hash string
	var err error
	if herr := s.hashing(ctx, func() { hash, err = HashPassword(pw, s.params) }); herr != nil {
		err = herr
	}
	if err == nil {
		err = s.setPasswordHash(ctx, u.ID, u.PasswordHash, hash, "rehash", false)
	}
	if err != nil {
		s.log.WarnContext(ctx, "could not rehash a password", "user", u.ID, "err", err)
	}
}

// Authenticate finds the session or API token of tok: it must exist,
// match in constant time, be unexpired and unrevoked, and belong to an
// enabled user. Anything else is ErrUnauthenticated, without saying which.
func (s *Service) Authenticate(ctx context.Context, tok *redact.Secret) (Principal, error) {
	b := tok.Bytes()
	isSession := bytes.HasPrefix(b, []byte(sessionPrefix))
	if !isSession && !bytes.HasPrefix(b, []byte(tokenPrefix)) {
		return Principal{}, ErrUnauthenticated
	}
	h := digest(b)
	now := s.now()
	var p Principal
	touch := false
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var userID string
		if isSession {
			sess, err := tx.Session(h)
			if err != nil {
				return err
			}
			if subtle.ConstantTimeCompare(sess.TokenHash, h) != 1 || !now.Before(sess.ExpiresAt) {
				return ErrUnauthenticated
			}
			p.Session, p.MFA, userID = &sess, sess.MFA, sess.UserID
		} else {
			t, err := tx.APIToken(h)
			if err != nil {
				return err
			}
			if subtle.ConstantTimeCompare(t.TokenHash, h) != 1 || !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
				return ErrUnauthenticated
			}
			p.APIToken, userID = &t, t.UserID
			touch = now.Sub(t.LastUsedAt) >= tokenLastUsedEvery
			p.MFA = hasTOTP(tx, userID)
		}
		u, err := activeUser(tx, userID)
		p.User = u
		return err
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrUnauthenticated) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	if touch {
		s.touchToken(ctx, p.APIToken.TokenHash, now)
	}
	return p, nil
}

// hasTOTP reports whether the account has confirmed TOTP now, which is
// what an API token's MFA is: a token is only as strong as the account,
// and sealing always needs a fresh step-up anyway.
func hasTOTP(tx store.ReadTx, userID string) bool {
	e, err := tx.TOTP(userID)
	return err == nil && !e.ConfirmedAt.IsZero()
}

// touchToken records a token's use; a failure is logged only.
func (s *Service) touchToken(ctx context.Context, hash []byte, now time.Time) {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		t, err := tx.APIToken(hash)
		if err != nil {
			return err
		}
		t.LastUsedAt = now
		return tx.PutAPIToken(t)
	})
	if err != nil {
		s.log.WarnContext(ctx, "could not record an API token's use", "err", err)
	}
}

// Logout ends the session of tok; an unknown session is ErrUnauthenticated.
func (s *Service) Logout(ctx context.Context, tok *redact.Secret) error {
	if !bytes.HasPrefix(tok.Bytes(), []byte(sessionPrefix)) {
		return ErrUnauthenticated
	}
	h := digest(tok.Bytes())
	err := s.st.Update(ctx, func(tx store.Tx) error { return tx.DeleteSession(h) })
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated
	}
	return err
}

// Sessions lists a user's sessions (their hashes, never tokens).
func (s *Service) Sessions(ctx context.Context, userID string) ([]store.Session, error) {
	var out []store.Session
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = tx.Sessions(userID)
		return err
	})
	return out, err
}

// CSRFToken returns the CSRF token of a session: HMAC-SHA-256 under the
// session's CSRF secret, in base64url. Pages embed it; unsafe requests
// send it back for [CheckCSRF].
func CSRFToken(sess store.Session) string {
	m := hmac.New(sha256.New, sess.CSRF)
	m.Write([]byte("sealkeep/csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports, in constant time, whether token is the session's
// CSRF token.
func CheckCSRF(sess store.Session, token string) bool {
	return len(sess.CSRF) > 0 && subtle.ConstantTimeCompare([]byte(CSRFToken(sess)), []byte(token)) == 1
}

// APITokens lists a user's API tokens.
func (s *Service) APITokens(ctx context.Context, userID string) ([]store.APIToken, error) {
	var out []store.APIToken
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = tx.APITokens(userID)
		return err
	})
	return out, err
}

// RevokeAPIToken revokes one of the user's own API tokens by ID
// (ErrNotFound for another user's or an unknown one). Audited as
// token.revoke.
func (s *Service) RevokeAPIToken(ctx context.Context, userID, tokenID string) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		ts, err := tx.APITokens(userID)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.ID != tokenID {
				continue
			}
			if !t.RevokedAt.IsZero() {
				return nil
			}
			t.RevokedAt = s.now()
			if err := tx.PutAPIToken(t); err != nil {
				return err
			}
			_, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(userID), audit.ActionTokenRevoke, audit.Subject{},
				map[string]string{audit.DetailUser: userID, audit.DetailToken: tokenID}))
			return err
		}
		return fmt.Errorf("API token %q: %w", tokenID, ErrNotFound)
	})
}

// opaqueError keeps an error's chain for errors.Is but not its text.
type opaqueError struct {
	msg string
	err error
}

func (e opaqueError) Error() string { return e.msg }
func (e opaqueError) Unwrap() error { return e.err }
