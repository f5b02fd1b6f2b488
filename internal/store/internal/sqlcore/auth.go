package sqlcore

import (
	"fmt"
	"time"

	"sealkeep/internal/store"
)

// Accounts, memberships and MFA state (store.AuthReadTx, store.AuthTx).
// Optional times (disabled, confirmed, used, revoked, locked, expires) are
// stored as 0 when zero, so that SQL comparisons with a time need no NULL.

func init() { statements = append(statements, authStatements...) }

func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromOptMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// scanner is what Row and Rows have in common.
type scanner = interface{ Scan(...any) error }

// ---- users

const userCols = `id, login, password_hash, operator, created_us, disabled_us`

func scanUser(sc scanner) (u store.User, err error) {
	var created, disabled int64
	err = sc.Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Operator, &created, &disabled)
	u.CreatedAt, u.DisabledAt = fromMicros(created), fromOptMicros(disabled)
	return u, err
}

func (t *tx) User(id string) (store.User, error) {
	if !validText(id) {
		return store.User{}, fmt.Errorf("store: user %q: %w", id, store.ErrNotFound)
	}
	u, err := scanUser(t.queryRow(qUser, id))
	if err != nil {
		return store.User{}, t.fail(err, "user %q", id)
	}
	return u, nil
}

func (t *tx) UserByLogin(login string) (store.User, error) {
	if !validText(login) {
		return store.User{}, fmt.Errorf("store: user with login %q: %w", login, store.ErrNotFound)
	}
	u, err := scanUser(t.queryRow(qUserByLogin, login))
	if err != nil {
		return store.User{}, t.fail(err, "user with login %q", login)
	}
	return u, nil
}

func (t *tx) Users() ([]store.User, error) {
	rows, err := t.query(qUsers)
	if err != nil {
		return nil, t.fail(err, "list users")
	}
	return collect(t, rows, scanUser, "list users")
}

func (t *tx) PutUser(u store.User) error {
	if err := checkText("user", u.ID, u.Login, u.PasswordHash); err != nil {
		return err
	}
	res, err := t.exec(qPutUser, u.ID, u.Login, u.PasswordHash, u.Operator, micros(u.CreatedAt), optMicros(u.DisabledAt))
	return t.inserted(res, err, "user %q", u.ID)
}

func (t *tx) UpdateUser(u store.User) error {
	if err := checkText("user", u.ID, u.Login, u.PasswordHash); err != nil {
		return err
	}
	if err := t.exists(qUserExists, "user", u.ID); err != nil {
		return err
	}
	// A login taken by another user is a conflict, found before the
	// UPDATE so that no unique violation aborts the transaction.
	if other, err := t.UserByLogin(u.Login); err == nil && other.ID != u.ID {
		return fmt.Errorf("store: user %q: login taken: %w", u.ID, store.ErrConflict)
	} else if err != nil && t.poison != nil {
		return err
	}
	res, err := t.exec(qUpdateUser, u.ID, u.Login, u.PasswordHash, u.Operator, micros(u.CreatedAt), optMicros(u.DisabledAt))
	return t.changed(res, err, "user %q", u.ID)
}

// changed turns the result of an UPDATE or DELETE into ErrNotFound when
// no row changed.
func (t *tx) changed(res interface{ RowsAffected() (int64, error) }, err error, format string, args ...any) error {
	if err != nil {
		return t.fail(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(err, format, args...)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
	}
	return nil
}

// ---- memberships

const memberCols = `org_id, user_id, role, created_us`

func scanMember(sc scanner) (m store.Membership, err error) {
	var us int64
	err = sc.Scan(&m.OrgID, &m.UserID, &m.Role, &us)
	m.CreatedAt = fromMicros(us)
	return m, err
}

func (t *tx) Membership(orgID, userID string) (store.Membership, error) {
	if !validText(orgID) || !validText(userID) {
		return store.Membership{}, fmt.Errorf("store: membership %q/%q: %w", orgID, userID, store.ErrNotFound)
	}
	m, err := scanMember(t.queryRow(qMember, orgID, userID))
	if err != nil {
		return store.Membership{}, t.fail(err, "membership %q/%q", orgID, userID)
	}
	return m, nil
}

func (t *tx) Memberships(orgID string) ([]store.Membership, error) {
	if !validText(orgID) {
		return nil, nil
	}
	rows, err := t.query(qMembers, orgID)
	if err != nil {
		return nil, t.fail(err, "list members of %q", orgID)
	}
	return collect(t, rows, scanMember, "list members")
}

func (t *tx) UserMemberships(userID string) ([]store.Membership, error) {
	if !validText(userID) {
		return nil, nil
	}
	rows, err := t.query(qUserMembers, userID)
	if err != nil {
		return nil, t.fail(err, "list memberships of %q", userID)
	}
	return collect(t, rows, scanMember, "list memberships")
}

func (t *tx) PutMembership(m store.Membership) error {
	if err := checkText("membership", m.OrgID, m.UserID, m.Role); err != nil {
		return err
	}
	switch m.Role {
	case "owner", "sealer", "preparer", "auditor":
	default:
		return fmt.Errorf("store: membership %q/%q: %w: unknown role", m.OrgID, m.UserID, store.ErrInvalid)
	}
	if err := t.exists(qOrgExists, "membership's org", m.OrgID); err != nil {
		return err
	}
	if err := t.exists(qUserExists, "membership's user", m.UserID); err != nil {
		return err
	}
	if _, err := t.exec(qPutMember, m.OrgID, m.UserID, m.Role, micros(m.CreatedAt)); err != nil {
		return t.fail(err, "put membership %q/%q", m.OrgID, m.UserID)
	}
	return nil
}

func (t *tx) DeleteMembership(orgID, userID string) error {
	if !validText(orgID) || !validText(userID) {
		return fmt.Errorf("store: membership %q/%q: %w", orgID, userID, store.ErrNotFound)
	}
	res, err := t.exec(qDeleteMember, orgID, userID)
	return t.changed(res, err, "membership %q/%q", orgID, userID)
}

// ---- TOTP

func (t *tx) TOTP(userID string) (store.TOTPEnrolment, error) {
	if !validText(userID) {
		return store.TOTPEnrolment{}, fmt.Errorf("store: TOTP of %q: %w", userID, store.ErrNotFound)
	}
	var (
		e                  store.TOTPEnrolment
		created, confirmed int64
	)
	err := t.queryRow(qTOTP, userID).Scan(&e.UserID, &e.Secret, &created, &confirmed)
	if err != nil {
		return store.TOTPEnrolment{}, t.fail(err, "TOTP of %q", userID)
	}
	e.Secret = blob(e.Secret, false)
	e.CreatedAt, e.ConfirmedAt = fromMicros(created), fromOptMicros(confirmed)
	return e, nil
}

func (t *tx) PutTOTP(e store.TOTPEnrolment) error {
	if err := checkText("TOTP enrolment", e.UserID); err != nil {
		return err
	}
	if e.Secret == nil {
		return fmt.Errorf("store: TOTP of %q: %w: no secret", e.UserID, store.ErrInvalid)
	}
	if err := t.exists(qUserExists, "TOTP enrolment's user", e.UserID); err != nil {
		return err
	}
	if _, err := t.exec(qPutTOTP, e.UserID, e.Secret, micros(e.CreatedAt), optMicros(e.ConfirmedAt)); err != nil {
		return t.fail(err, "put TOTP of %q", e.UserID)
	}
	return nil
}

func (t *tx) DeleteTOTP(userID string) error {
	if !validText(userID) {
		return fmt.Errorf("store: TOTP of %q: %w", userID, store.ErrNotFound)
	}
	res, err := t.exec(qDeleteTOTP, userID)
	return t.changed(res, err, "TOTP of %q", userID)
}

func (t *tx) LastTOTPStep(userID string) (store.TOTPUse, error) {
	if !validText(userID) {
		return store.TOTPUse{}, fmt.Errorf("store: TOTP steps of %q: %w", userID, store.ErrNotFound)
	}
	var (
		u  store.TOTPUse
		us int64
	)
	if err := t.queryRow(qLastTOTPStep, userID).Scan(&u.UserID, &u.Step, &us, &u.Purpose); err != nil {
		return store.TOTPUse{}, t.fail(err, "TOTP steps of %q", userID)
	}
	u.UsedAt = fromMicros(us)
	return u, nil
}

func (t *tx) UseTOTPStep(u store.TOTPUse) error {
	if err := checkText("TOTP step", u.UserID, u.Purpose); err != nil {
		return err
	}
	if err := t.exists(qUserExists, "TOTP step's user", u.UserID); err != nil {
		return err
	}
	res, err := t.exec(qUseTOTPStep, u.UserID, u.Step, micros(u.UsedAt), u.Purpose)
	return t.inserted(res, err, "TOTP step %d of %q", u.Step, u.UserID)
}

// ---- recovery codes

func (t *tx) RecoveryCodes(userID string) ([]store.RecoveryCode, error) {
	if !validText(userID) {
		return nil, nil
	}
	rows, err := t.query(qRecoveryCodes, userID)
	if err != nil {
		return nil, t.fail(err, "recovery codes of %q", userID)
	}
	return collect(t, rows, func(sc scanner) (c store.RecoveryCode, err error) {
		var created, used int64
		err = sc.Scan(&c.Hash, &created, &used)
		c.CreatedAt, c.UsedAt = fromMicros(created), fromOptMicros(used)
		return c, err
	}, "recovery codes")
}

func (t *tx) PutRecoveryCodes(userID string, codes []store.RecoveryCode) error {
	if err := checkText("recovery codes", userID); err != nil {
		return err
	}
	if err := t.exists(qUserExists, "recovery codes' user", userID); err != nil {
		return err
	}
	if _, err := t.exec(qDeleteRecoveryCodes, userID); err != nil {
		return t.fail(err, "replace recovery codes of %q", userID)
	}
	for _, c := range codes {
		if len(c.Hash) != 32 {
			return fmt.Errorf("store: recovery code of %q: %w: hash of %d bytes, want 32", userID, store.ErrInvalid, len(c.Hash))
		}
		res, err := t.exec(qPutRecoveryCode, userID, c.Hash, micros(c.CreatedAt), optMicros(c.UsedAt))
		if err := t.inserted(res, err, "recovery code of %q", userID); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) UseRecoveryCode(userID string, hash []byte, at time.Time) error {
	if !validText(userID) {
		return fmt.Errorf("store: recovery code of %q: %w", userID, store.ErrNotFound)
	}
	if at.IsZero() {
		return fmt.Errorf("store: recovery code of %q: %w: zero time", userID, store.ErrInvalid)
	}
	res, err := t.exec(qUseRecoveryCode, userID, hash, micros(at))
	return t.changed(res, err, "unused recovery code of %q", userID)
}

// ---- sessions

const sessionCols = `token_hash, user_id, created_us, expires_us, csrf, mfa`

func scanSession(sc scanner) (s store.Session, err error) {
	var created, expires int64
	err = sc.Scan(&s.TokenHash, &s.UserID, &created, &expires, &s.CSRF, &s.MFA)
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	s.CSRF = blob(s.CSRF, false)
	return s, err
}

func (t *tx) Session(tokenHash []byte) (store.Session, error) {
	s, err := scanSession(t.queryRow(qSession, tokenHash))
	if err != nil {
		return store.Session{}, t.fail(err, "session")
	}
	return s, nil
}

func (t *tx) Sessions(userID string) ([]store.Session, error) {
	if !validText(userID) {
		return nil, nil
	}
	rows, err := t.query(qSessions, userID)
	if err != nil {
		return nil, t.fail(err, "sessions of %q", userID)
	}
	return collect(t, rows, scanSession, "sessions")
}

func (t *tx) PutSession(s store.Session) error {
	if err := checkText("session", s.UserID); err != nil {
		return err
	}
	if len(s.TokenHash) != 32 || s.CSRF == nil {
		return fmt.Errorf("store: session of %q: %w: want a 32-byte token hash and a CSRF secret", s.UserID, store.ErrInvalid)
	}
	if err := t.exists(qUserExists, "session's user", s.UserID); err != nil {
		return err
	}
	res, err := t.exec(qPutSession, s.TokenHash, s.UserID, micros(s.CreatedAt), micros(s.ExpiresAt), s.CSRF, s.MFA)
	return t.inserted(res, err, "session of %q", s.UserID)
}

func (t *tx) DeleteSession(tokenHash []byte) error {
	res, err := t.exec(qDeleteSession, tokenHash)
	return t.changed(res, err, "session")
}

func (t *tx) DeleteSessions(userID string) error {
	if !validText(userID) {
		return nil
	}
	if _, err := t.exec(qDeleteSessions, userID); err != nil {
		return t.fail(err, "delete sessions of %q", userID)
	}
	return nil
}

// ---- API tokens

const tokenCols = `id, token_hash, user_id, name, created_us, expires_us, last_used_us, revoked_us`

func scanToken(sc scanner) (k store.APIToken, err error) {
	var created, expires, used, revoked int64
	err = sc.Scan(&k.ID, &k.TokenHash, &k.UserID, &k.Name, &created, &expires, &used, &revoked)
	k.CreatedAt, k.ExpiresAt = fromMicros(created), fromOptMicros(expires)
	k.LastUsedAt, k.RevokedAt = fromOptMicros(used), fromOptMicros(revoked)
	return k, err
}

func (t *tx) APIToken(tokenHash []byte) (store.APIToken, error) {
	k, err := scanToken(t.queryRow(qToken, tokenHash))
	if err != nil {
		return store.APIToken{}, t.fail(err, "API token")
	}
	return k, nil
}

func (t *tx) APITokens(userID string) ([]store.APIToken, error) {
	if !validText(userID) {
		return nil, nil
	}
	rows, err := t.query(qTokens, userID)
	if err != nil {
		return nil, t.fail(err, "API tokens of %q", userID)
	}
	return collect(t, rows, scanToken, "API tokens")
}

func (t *tx) PutAPIToken(k store.APIToken) error {
	if err := checkText("API token", k.ID, k.UserID, k.Name); err != nil {
		return err
	}
	if len(k.TokenHash) != 32 {
		return fmt.Errorf("store: API token %q: %w: want a 32-byte token hash", k.ID, store.ErrInvalid)
	}
	if err := t.exists(qUserExists, "API token's user", k.UserID); err != nil {
		return err
	}
	// Another token with this hash is a conflict, found before the upsert
	// so that no unique violation aborts the transaction.
	if other, err := t.APIToken(k.TokenHash); err == nil && other.ID != k.ID {
		return fmt.Errorf("store: API token %q: %w: token hash in use", k.ID, store.ErrConflict)
	} else if err != nil && t.poison != nil {
		return err
	}
	if _, err := t.exec(qPutToken, k.ID, k.TokenHash, k.UserID, k.Name, micros(k.CreatedAt),
		optMicros(k.ExpiresAt), optMicros(k.LastUsedAt), optMicros(k.RevokedAt)); err != nil {
		return t.fail(err, "put API token %q", k.ID)
	}
	return nil
}

// ---- invitations

const invitationCols = `user_id, token_hash, created_by, created_us, expires_us`

func scanInvitation(sc scanner) (i store.Invitation, err error) {
	var created, expires int64
	err = sc.Scan(&i.UserID, &i.TokenHash, &i.CreatedBy, &created, &expires)
	i.CreatedAt, i.ExpiresAt = fromMicros(created), fromMicros(expires)
	return i, err
}

func (t *tx) Invitation(tokenHash []byte) (store.Invitation, error) {
	i, err := scanInvitation(t.queryRow(qInvitation, tokenHash))
	if err != nil {
		return store.Invitation{}, t.fail(err, "invitation")
	}
	return i, nil
}

func (t *tx) UserInvitation(userID string) (store.Invitation, error) {
	if !validText(userID) {
		return store.Invitation{}, fmt.Errorf("store: invitation of %q: %w", userID, store.ErrNotFound)
	}
	i, err := scanInvitation(t.queryRow(qUserInvitation, userID))
	if err != nil {
		return store.Invitation{}, t.fail(err, "invitation of %q", userID)
	}
	return i, nil
}

func (t *tx) PutInvitation(i store.Invitation) error {
	if err := checkText("invitation", i.UserID, i.CreatedBy); err != nil {
		return err
	}
	if len(i.TokenHash) != 32 {
		return fmt.Errorf("store: invitation of %q: %w: want a 32-byte token hash", i.UserID, store.ErrInvalid)
	}
	if err := t.exists(qUserExists, "invitation's user", i.UserID); err != nil {
		return err
	}
	// Another user's invitation with this hash is a conflict, found before
	// the upsert so that no unique violation aborts the transaction.
	if other, err := t.Invitation(i.TokenHash); err == nil && other.UserID != i.UserID {
		return fmt.Errorf("store: invitation of %q: %w: token hash in use", i.UserID, store.ErrConflict)
	} else if err != nil && t.poison != nil {
		return err
	}
	if _, err := t.exec(qPutInvitation, i.UserID, i.TokenHash, i.CreatedBy, micros(i.CreatedAt), micros(i.ExpiresAt)); err != nil {
		return t.fail(err, "put invitation of %q", i.UserID)
	}
	return nil
}

func (t *tx) DeleteInvitation(userID string) error {
	if !validText(userID) {
		return fmt.Errorf("store: invitation of %q: %w", userID, store.ErrNotFound)
	}
	res, err := t.exec(qDeleteInvitation, userID)
	return t.changed(res, err, "invitation of %q", userID)
}

// ---- failure counters

func scanLimit(sc scanner) (l store.Limit, err error) {
	var since, until int64
	err = sc.Scan(&l.Key, &l.Failures, &since, &until)
	l.Since, l.LockedUntil = fromMicros(since), fromOptMicros(until)
	return l, err
}

func (t *tx) Limit(key string) (store.Limit, error) {
	if !validText(key) {
		return store.Limit{}, fmt.Errorf("store: limit %q: %w", key, store.ErrNotFound)
	}
	l, err := scanLimit(t.queryRow(qLimit, key))
	if err != nil {
		return store.Limit{}, t.fail(err, "limit %q", key)
	}
	return l, nil
}

func (t *tx) CountFailure(key string, now, resetBefore time.Time) (store.Limit, error) {
	if err := checkText("limit", key); err != nil {
		return store.Limit{}, err
	}
	l, err := scanLimit(t.queryRow(qCountFailure, key, micros(now), micros(resetBefore)))
	if err != nil {
		return store.Limit{}, t.fail(err, "count failure %q", key)
	}
	return l, nil
}

func (t *tx) LockLimit(key string, until, now time.Time) (bool, error) {
	if !validText(key) {
		return false, fmt.Errorf("store: limit %q: %w", key, store.ErrNotFound)
	}
	if err := t.exists(qLimitExists, "limit", key); err != nil {
		return false, err
	}
	res, err := t.exec(qLockLimit, key, micros(until), micros(now))
	if err != nil {
		return false, t.fail(err, "lock %q", key)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, t.fail(err, "lock %q", key)
	}
	return n == 1, nil
}

func (t *tx) DeleteLimit(key string) error {
	if !validText(key) {
		return nil
	}
	if _, err := t.exec(qDeleteLimit, key); err != nil {
		return t.fail(err, "delete limit %q", key)
	}
	return nil
}

// ---- system data keys (store.SystemDEKOrg), routed by the DEK methods

const systemDEKCols = `'` + store.SystemDEKOrg + `', version, kek_version, wrapped, wrapped IS NULL, encryptions, created_us`

// isSystemDEK reports whether org names the platform's own data keys.
func isSystemDEK(org string) bool { return org == store.SystemDEKOrg }

var (
	qUser        = `SELECT ` + userCols + ` FROM users WHERE id = $1`
	qUserByLogin = `SELECT ` + userCols + ` FROM users WHERE login = $1`
	qUsers       = `SELECT ` + userCols + ` FROM users ORDER BY id`
	qUserExists  = `SELECT 1 FROM users WHERE id = $1`
	qPutUser     = `INSERT INTO users (` + userCols + `) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`
	qUpdateUser  = `UPDATE users SET login = $2, password_hash = $3, operator = $4, created_us = $5, disabled_us = $6 WHERE id = $1`

	qMember       = `SELECT ` + memberCols + ` FROM memberships WHERE org_id = $1 AND user_id = $2`
	qMembers      = `SELECT ` + memberCols + ` FROM memberships WHERE org_id = $1 ORDER BY user_id`
	qUserMembers  = `SELECT ` + memberCols + ` FROM memberships WHERE user_id = $1 ORDER BY org_id`
	qPutMember    = `INSERT INTO memberships (` + memberCols + `) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role, created_us = excluded.created_us`
	qDeleteMember = `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`

	qTOTP         = `SELECT user_id, secret, created_us, confirmed_us FROM totp_enrolments WHERE user_id = $1`
	qPutTOTP      = `INSERT INTO totp_enrolments (user_id, secret, created_us, confirmed_us) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_us = excluded.created_us, confirmed_us = excluded.confirmed_us`
	qDeleteTOTP   = `DELETE FROM totp_enrolments WHERE user_id = $1`
	qLastTOTPStep = `SELECT user_id, step, used_us, purpose FROM totp_used WHERE user_id = $1 ORDER BY step DESC LIMIT 1`
	qUseTOTPStep  = `INSERT INTO totp_used (user_id, step, used_us, purpose) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`

	qRecoveryCodes       = `SELECT hash, created_us, used_us FROM recovery_codes WHERE user_id = $1 ORDER BY hash`
	qDeleteRecoveryCodes = `DELETE FROM recovery_codes WHERE user_id = $1`
	qPutRecoveryCode     = `INSERT INTO recovery_codes (user_id, hash, created_us, used_us) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	qUseRecoveryCode     = `UPDATE recovery_codes SET used_us = $3 WHERE user_id = $1 AND hash = $2 AND used_us = 0`

	qSession        = `SELECT ` + sessionCols + ` FROM sessions WHERE token_hash = $1`
	qSessions       = `SELECT ` + sessionCols + ` FROM sessions WHERE user_id = $1 ORDER BY token_hash`
	qPutSession     = `INSERT INTO sessions (` + sessionCols + `) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`
	qDeleteSession  = `DELETE FROM sessions WHERE token_hash = $1`
	qDeleteSessions = `DELETE FROM sessions WHERE user_id = $1`

	qToken    = `SELECT ` + tokenCols + ` FROM api_tokens WHERE token_hash = $1`
	qTokens   = `SELECT ` + tokenCols + ` FROM api_tokens WHERE user_id = $1 ORDER BY id`
	qPutToken = `INSERT INTO api_tokens (` + tokenCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, user_id = excluded.user_id, name = excluded.name,
		created_us = excluded.created_us, expires_us = excluded.expires_us, last_used_us = excluded.last_used_us, revoked_us = excluded.revoked_us`

	qInvitation     = `SELECT ` + invitationCols + ` FROM invitations WHERE token_hash = $1`
	qUserInvitation = `SELECT ` + invitationCols + ` FROM invitations WHERE user_id = $1`
	qPutInvitation  = `INSERT INTO invitations (` + invitationCols + `) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created_by = excluded.created_by,
		created_us = excluded.created_us, expires_us = excluded.expires_us`
	qDeleteInvitation = `DELETE FROM invitations WHERE user_id = $1`

	qLimit        = `SELECT limit_key, failures, since_us, locked_until_us FROM auth_limits WHERE limit_key = $1`
	qLimitExists  = `SELECT 1 FROM auth_limits WHERE limit_key = $1`
	qCountFailure = `INSERT INTO auth_limits (limit_key, failures, since_us, locked_until_us) VALUES ($1, 1, $2, 0)
		ON CONFLICT (limit_key) DO UPDATE SET
		failures = CASE WHEN auth_limits.since_us < $3 THEN 1 ELSE auth_limits.failures + 1 END,
		since_us = CASE WHEN auth_limits.since_us < $3 THEN excluded.since_us ELSE auth_limits.since_us END
		RETURNING limit_key, failures, since_us, locked_until_us`
	qLockLimit   = `UPDATE auth_limits SET locked_until_us = $2 WHERE limit_key = $1 AND locked_until_us <= $3`
	qDeleteLimit = `DELETE FROM auth_limits WHERE limit_key = $1`

	qSystemDEK    = `SELECT ` + systemDEKCols + ` FROM system_deks WHERE version = $1`
	qSystemDEKs   = `SELECT ` + systemDEKCols + ` FROM system_deks ORDER BY version`
	qPutSystemDEK = `INSERT INTO system_deks (version, kek_version, wrapped, encryptions, created_us)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (version) DO UPDATE SET
		kek_version = excluded.kek_version, wrapped = excluded.wrapped,
		encryptions = excluded.encryptions, created_us = excluded.created_us`
)

var authStatements = []string{
	qUser, qUserByLogin, qUsers, qUserExists, qPutUser, qUpdateUser,
	qMember, qMembers, qUserMembers, qPutMember, qDeleteMember,
	qTOTP, qPutTOTP, qDeleteTOTP, qLastTOTPStep, qUseTOTPStep,
	qRecoveryCodes, qDeleteRecoveryCodes, qPutRecoveryCode, qUseRecoveryCode,
	qSession, qSessions, qPutSession, qDeleteSession, qDeleteSessions,
	qToken, qTokens, qPutToken,
	qInvitation, qUserInvitation, qPutInvitation, qDeleteInvitation,
	qLimit, qLimitExists, qCountFailure, qLockLimit, qDeleteLimit,
	qSystemDEK, qSystemDEKs, qPutSystemDEK,
}
