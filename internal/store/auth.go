package store

import "time"

// SystemDEKOrg is the OrgID of the platform's own data keys (for secrets
// that belong to no organization, such as users' TOTP secrets). It is the
// name of the system audit chain, which no organization may take. Its
// keys are kept apart from org DEKs, need no org row, and are read,
// written and listed ([ReadTx.AllDEKs]) through the same DEK methods, so
// that KEK rotation re-wraps them with the rest.
const SystemDEKOrg = "system"

// AuthReadTx reads accounts, memberships and MFA state (package auth).
// Lookups of a missing row return [ErrNotFound].
type AuthReadTx interface {
	User(id string) (User, error)
	UserByLogin(login string) (User, error)
	Users() ([]User, error)
	Membership(orgID, userID string) (Membership, error)
	Memberships(orgID string) ([]Membership, error)      // of an org, by user ID
	UserMemberships(userID string) ([]Membership, error) // of a user, by org ID
	TOTP(userID string) (TOTPEnrolment, error)
	// LastTOTPStep returns the highest TOTP time step accepted for a user.
	LastTOTPStep(userID string) (TOTPUse, error)
	RecoveryCodes(userID string) ([]RecoveryCode, error)
	// Session and APIToken look a credential up by the SHA-256 of its
	// token.
	Session(tokenHash []byte) (Session, error)
	Sessions(userID string) ([]Session, error)
	APIToken(tokenHash []byte) (APIToken, error)
	APITokens(userID string) ([]APIToken, error)
	// Invitation looks an account invitation up by the SHA-256 of its
	// token; UserInvitation finds a user's.
	Invitation(tokenHash []byte) (Invitation, error)
	UserInvitation(userID string) (Invitation, error)
	Limit(key string) (Limit, error)
}

// AuthTx changes accounts, memberships and MFA state.
type AuthTx interface {
	// PutUser inserts a user; ErrConflict if the ID or the login is taken.
	PutUser(User) error
	// UpdateUser replaces the user with u.ID (ErrNotFound if none;
	// ErrConflict if the new login is taken).
	UpdateUser(u User) error
	// PutMembership inserts or replaces a membership; the org and the user
	// must exist (ErrNotFound).
	PutMembership(Membership) error
	DeleteMembership(orgID, userID string) error // ErrNotFound if none
	// PutTOTP inserts or replaces a user's enrolment.
	PutTOTP(TOTPEnrolment) error
	DeleteTOTP(userID string) error // ErrNotFound if none
	// UseTOTPStep records that a time step was accepted for a user:
	// ErrConflict if it already was, by any instance.
	UseTOTPStep(TOTPUse) error
	// PutRecoveryCodes replaces every recovery code of a user.
	PutRecoveryCodes(userID string, codes []RecoveryCode) error
	// UseRecoveryCode marks the unused code with hash as used at at;
	// ErrNotFound if the user has no such unused code.
	UseRecoveryCode(userID string, hash []byte, at time.Time) error
	PutSession(Session) error             // insert; ErrConflict if the hash exists
	DeleteSession(tokenHash []byte) error // ErrNotFound if none
	DeleteSessions(userID string) error   // every session of a user
	// PutAPIToken inserts or replaces the token with t.ID; ErrConflict if
	// another token has the same hash.
	PutAPIToken(t APIToken) error
	// PutInvitation inserts or replaces the invitation of i.UserID (a
	// user has at most one); ErrConflict if another user's has the same
	// hash, ErrNotFound if the user does not exist.
	PutInvitation(i Invitation) error
	DeleteInvitation(userID string) error // ErrNotFound if none
	// CountFailure adds a failure to the counter key in one atomic
	// statement and returns the counter: a counter whose window began
	// before resetBefore restarts at 1 from now.
	CountFailure(key string, now, resetBefore time.Time) (Limit, error)
	// LockLimit sets the counter's lock to until if it is not locked at
	// now, and reports whether it did (so that one instance audits the
	// lockout). ErrNotFound if the counter does not exist.
	LockLimit(key string, until, now time.Time) (bool, error)
	DeleteLimit(key string) error // no error if none
}

// User is an account. PasswordHash is an argon2id PHC string; DisabledAt
// is zero for an enabled account.
type User struct {
	ID           string
	Login        string
	PasswordHash string
	Operator     bool // the platform operator: creates orgs and their first owner, nothing else
	CreatedAt    time.Time
	DisabledAt   time.Time
}

// Membership gives a user a role in an org: "owner", "sealer",
// "preparer" or "auditor".
type Membership struct {
	OrgID     string
	UserID    string
	Role      string
	CreatedAt time.Time
}

// TOTPEnrolment is a user's TOTP secret, sealed (never in the clear);
// ConfirmedAt is zero until the user proved it with a first code.
type TOTPEnrolment struct {
	UserID      string
	Secret      []byte
	CreatedAt   time.Time
	ConfirmedAt time.Time
}

// TOTPUse records an accepted TOTP time step and what it approved.
type TOTPUse struct {
	UserID  string
	Step    int64
	UsedAt  time.Time
	Purpose string // "login", "confirm", or "intent:<hex SHA-256 of the seal intent>"
}

// RecoveryCode is the SHA-256 of a single-use recovery code.
type RecoveryCode struct {
	Hash      []byte
	CreatedAt time.Time
	UsedAt    time.Time // zero while unused
}

// Session is a browser session, found by the SHA-256 of its token.
type Session struct {
	TokenHash []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	CSRF      []byte // per-session secret of the CSRF tokens
	MFA       bool   // the login included a second factor
}

// APIToken is a bearer token of a user for the CLI, found by the SHA-256
// of its token. ExpiresAt zero means no expiry; RevokedAt zero means not
// revoked.
type APIToken struct {
	ID         string
	TokenHash  []byte
	UserID     string
	Name       string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// Invitation is the one-time token that lets a new account's person set
// its first password, found by the SHA-256 of its token. An account that
// has one has never been activated (activation deletes it).
type Invitation struct {
	UserID    string
	TokenHash []byte
	CreatedBy string // the user ID of who issued it
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Limit is a failure counter: Failures since Since, and a lock until
// LockedUntil (zero when never locked).
type Limit struct {
	Key         string
	Failures    int64
	Since       time.Time
	LockedUntil time.Time
}
