package sqlcore

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Passkeys and WebAuthn ceremonies (store.WebAuthnReadTx,
// store.WebAuthnTx).

func init() { statements = append(statements, webauthnStatements...) }

const credCols = `cred_id, user_id, name, public_key, sign_count, backup_eligible, backup_state, aaguid,
	attestation, transports, created_us, last_used_us`

func scanCredential(sc scanner) (c store.WebAuthnCredential, err error) {
	var count, created, used int64
	var transports string
	err = sc.Scan(&c.ID, &c.UserID, &c.Name, &c.PublicKey, &count, &c.BackupEligible, &c.BackupState, &c.AAGUID,
		&c.Attestation, &transports, &created, &used)
	if err != nil {
		return c, err
	}
	if count < 0 || count > math.MaxUint32 {
		return c, fmt.Errorf("%w: credential sign count %d out of range", store.ErrCorrupt, count)
	}
	if err := json.Unmarshal([]byte(transports), &c.Transports); err != nil {
		return c, fmt.Errorf("%w: credential transports: %v", store.ErrCorrupt, err)
	}
	c.SignCount, c.CreatedAt, c.LastUsedAt = uint32(count), fromMicros(created), fromOptMicros(used)
	c.PublicKey, c.AAGUID = blob(c.PublicKey, false), blob(c.AAGUID, false)
	return c, nil
}

// validCredentialID reports whether id can name a credential.
func validCredentialID(id []byte) bool { return len(id) >= 1 && len(id) <= store.MaxCredentialIDLen }

func (t *tx) WebAuthnCredential(id []byte) (store.WebAuthnCredential, error) {
	if !validCredentialID(id) {
		return store.WebAuthnCredential{}, fmt.Errorf("store: WebAuthn credential: %w", store.ErrNotFound)
	}
	c, err := scanCredential(t.queryRow(qCredential, id))
	if err != nil {
		return store.WebAuthnCredential{}, t.fail(err, "WebAuthn credential")
	}
	return c, nil
}

func (t *tx) WebAuthnCredentials(userID string) ([]store.WebAuthnCredential, error) {
	if !validText(userID) {
		return nil, nil
	}
	rows, err := t.query(qCredentials, userID)
	if err != nil {
		return nil, t.fail(err, "WebAuthn credentials of %q", userID)
	}
	return collect(t, rows, scanCredential, "WebAuthn credentials")
}

func (t *tx) PutWebAuthnCredential(c store.WebAuthnCredential) error {
	if !validCredentialID(c.ID) {
		return fmt.Errorf("store: WebAuthn credential: %w: the ID must be 1 to %d bytes", store.ErrInvalid, store.MaxCredentialIDLen)
	}
	if err := checkText("WebAuthn credential", append([]string{c.UserID, c.Name, c.Attestation}, c.Transports...)...); err != nil {
		return err
	}
	transports := c.Transports
	if transports == nil {
		transports = []string{}
	}
	tj, err := json.Marshal(transports)
	if err != nil {
		return fmt.Errorf("store: WebAuthn credential: %w: transports", store.ErrInvalid)
	}
	if err := t.exists(qUserExists, "WebAuthn credential's user", c.UserID); err != nil {
		return err
	}
	res, err := t.exec(qPutCredential, c.ID, c.UserID, c.Name, orEmpty(c.PublicKey), int64(c.SignCount), c.BackupEligible,
		c.BackupState, orEmpty(c.AAGUID), c.Attestation, string(tj), micros(c.CreatedAt), optMicros(c.LastUsedAt))
	return t.inserted(res, err, "WebAuthn credential of %q", c.UserID)
}

func (t *tx) UseWebAuthnCredential(id []byte, count uint32, backup bool, at time.Time) error {
	if !validCredentialID(id) {
		return fmt.Errorf("store: WebAuthn credential: %w", store.ErrNotFound)
	}
	res, err := t.exec(qUseCredential, id, int64(count), backup, micros(at))
	if err != nil {
		return t.fail(err, "use WebAuthn credential")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(err, "use WebAuthn credential")
	}
	if n == 1 {
		return nil
	}
	var one int
	if err := t.queryRow(qCredentialExists, id).Scan(&one); err != nil {
		return t.fail(err, "WebAuthn credential")
	}
	return fmt.Errorf("store: WebAuthn credential: the signature counter did not advance to %d: %w", count, store.ErrConflict)
}

func (t *tx) DeleteWebAuthnCredential(userID string, id []byte) error {
	if !validText(userID) || !validCredentialID(id) {
		return fmt.Errorf("store: WebAuthn credential of %q: %w", userID, store.ErrNotFound)
	}
	res, err := t.exec(qDeleteCredential, id, userID)
	return t.changed(res, err, "WebAuthn credential of %q", userID)
}

const ceremonyCols = `id, user_id, kind, session, intent, intent IS NULL, created_us, expires_us`

func scanCeremony(sc scanner) (c store.WebAuthnCeremony, err error) {
	var created, expires int64
	var noIntent bool
	err = sc.Scan(&c.ID, &c.UserID, &c.Kind, &c.Session, &c.Intent, &noIntent, &created, &expires)
	c.Session, c.Intent = blob(c.Session, false), blob(c.Intent, noIntent)
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, err
}

func (t *tx) WebAuthnCeremony(id string) (store.WebAuthnCeremony, error) {
	if !validText(id) {
		return store.WebAuthnCeremony{}, fmt.Errorf("store: WebAuthn ceremony: %w", store.ErrNotFound)
	}
	c, err := scanCeremony(t.queryRow(qCeremony, id))
	if err != nil {
		return store.WebAuthnCeremony{}, t.fail(err, "WebAuthn ceremony")
	}
	return c, nil
}

func (t *tx) PutWebAuthnCeremony(c store.WebAuthnCeremony) error {
	if err := checkText("WebAuthn ceremony", c.ID, c.UserID, c.Kind); err != nil {
		return err
	}
	if err := t.exists(qUserExists, "WebAuthn ceremony's user", c.UserID); err != nil {
		return err
	}
	res, err := t.exec(qPutCeremony, c.ID, c.UserID, c.Kind, orEmpty(c.Session), c.Intent, micros(c.CreatedAt), micros(c.ExpiresAt))
	return t.inserted(res, err, "WebAuthn ceremony of %q", c.UserID)
}

func (t *tx) TakeWebAuthnCeremony(id string) (store.WebAuthnCeremony, error) {
	if !validText(id) {
		return store.WebAuthnCeremony{}, fmt.Errorf("store: WebAuthn ceremony: %w", store.ErrNotFound)
	}
	c, err := scanCeremony(t.queryRow(qTakeCeremony, id))
	if err != nil {
		return store.WebAuthnCeremony{}, t.fail(err, "take WebAuthn ceremony")
	}
	return c, nil
}

func (t *tx) DeleteExpiredWebAuthnCeremonies(now time.Time) (int64, error) {
	res, err := t.exec(qDeleteExpiredCeremonies, micros(now))
	if err != nil {
		return 0, t.fail(err, "delete expired WebAuthn ceremonies")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, t.fail(err, "delete expired WebAuthn ceremonies")
	}
	return n, nil
}

func (t *tx) AuditByCredentialID(credentialID string) ([]audit.Entry, error) {
	if !validText(credentialID) {
		return nil, nil
	}
	// Through the index on the entries' canonical encoding (migration
	// 0012, see TrailKey).
	q := `SELECT ` + entryCols + ` FROM audit_entries WHERE ` + trailKeyExpr(TrailKeyPasskey) + ` = $1 ORDER BY chain, seq`
	rows, err := t.query(q, []byte(credentialID))
	if err != nil {
		return nil, t.fail(err, "audit entries of a passkey")
	}
	return collect(t, rows, scanEntry, "audit entries of a passkey")
}

const (
	qCredential       = `SELECT ` + credCols + ` FROM webauthn_credentials WHERE cred_id = $1`
	qCredentialExists = `SELECT 1 FROM webauthn_credentials WHERE cred_id = $1`
	qCredentials      = `SELECT ` + credCols + ` FROM webauthn_credentials WHERE user_id = $1 ORDER BY cred_id`
	qPutCredential    = `INSERT INTO webauthn_credentials (` + credCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`
	// qUseCredential advances the counter only: a count not above the
	// stored one changes nothing, unless both are 0.
	qUseCredential = `UPDATE webauthn_credentials SET sign_count = $2, backup_state = $3, last_used_us = $4
		WHERE cred_id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`
	qDeleteCredential        = `DELETE FROM webauthn_credentials WHERE cred_id = $1 AND user_id = $2`
	qCeremony                = `SELECT ` + ceremonyCols + ` FROM webauthn_ceremonies WHERE id = $1`
	qPutCeremony             = `INSERT INTO webauthn_ceremonies (id, user_id, kind, session, intent, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`
	qTakeCeremony            = `DELETE FROM webauthn_ceremonies WHERE id = $1 RETURNING ` + ceremonyCols
	qDeleteExpiredCeremonies = `DELETE FROM webauthn_ceremonies WHERE expires_us <= $1`
)

var webauthnStatements = []string{qCredential, qCredentialExists, qCredentials, qPutCredential, qUseCredential,
	qDeleteCredential, qCeremony, qPutCeremony, qTakeCeremony, qDeleteExpiredCeremonies}
