package sqlcore

import (
	"fmt"
	"time"

	"sealkeep/internal/store"
)

// Idempotency keys (store.IdempotencyReadTx, store.IdempotencyTx).

func init() { statements = append(statements, idemStatements...) }

func (t *tx) IdempotencyKey(userID, key string) (store.IdempotencyKey, error) {
	if !validText(userID) || !validText(key) {
		return store.IdempotencyKey{}, fmt.Errorf("store: idempotency key: %w", store.ErrNotFound)
	}
	var k store.IdempotencyKey
	var created, expires int64
	err := t.queryRow(qIdemKey, userID, key).Scan(&k.UserID, &k.Key, &k.Fingerprint, &k.Attempt, &k.Done, &k.Ref, &k.Result, &created, &expires)
	if err != nil {
		return store.IdempotencyKey{}, t.fail(err, "idempotency key of %q", userID)
	}
	k.CreatedAt, k.ExpiresAt = fromMicros(created), fromMicros(expires)
	if k.Result == nil {
		k.Result = []byte{}
	}
	return k, nil
}

func checkIdem(k store.IdempotencyKey) error {
	if err := checkText("idempotency key", k.UserID, k.Key, k.Attempt, k.Ref); err != nil {
		return err
	}
	if len(k.Fingerprint) != 32 {
		return fmt.Errorf("store: idempotency key: %w: the fingerprint must be 32 bytes", store.ErrInvalid)
	}
	return nil
}

func (t *tx) PutIdempotencyKey(k store.IdempotencyKey) error {
	if err := checkIdem(k); err != nil {
		return err
	}
	if err := t.exists(qUserExists, "idempotency key's user", k.UserID); err != nil {
		return err
	}
	res, err := t.exec(qPutIdemKey, k.UserID, k.Key, k.Fingerprint, k.Attempt, k.Done, k.Ref, orEmpty(k.Result),
		micros(k.CreatedAt), micros(k.ExpiresAt))
	return t.inserted(res, err, "idempotency key of %q", k.UserID)
}

func (t *tx) UpdateIdempotencyKey(k store.IdempotencyKey) error {
	if err := checkIdem(k); err != nil {
		return err
	}
	res, err := t.exec(qUpdateIdemKey, k.UserID, k.Key, k.Fingerprint, k.Attempt, k.Done, k.Ref, orEmpty(k.Result),
		micros(k.CreatedAt), micros(k.ExpiresAt))
	return t.changed(res, err, "idempotency key of %q held by %q", k.UserID, k.Attempt)
}

func (t *tx) DeleteIdempotencyKey(userID, key, attempt string) error {
	if err := checkText("idempotency key", userID, key, attempt); err != nil {
		return err
	}
	res, err := t.exec(qDeleteIdemKey, userID, key, attempt)
	return t.changed(res, err, "idempotency key of %q held by %q", userID, attempt)
}

func (t *tx) DeleteExpiredIdempotencyKeys(now time.Time) (int64, error) {
	res, err := t.exec(qDeleteExpiredIdemKeys, micros(now))
	if err != nil {
		return 0, t.fail(err, "delete expired idempotency keys")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, t.fail(err, "delete expired idempotency keys")
	}
	return n, nil
}

// orEmpty stores nil as an empty blob (the column is NOT NULL).
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const (
	idemCols       = `user_id, idem_key, fingerprint, attempt, done, ref, result, created_us, expires_us`
	qIdemKey       = `SELECT ` + idemCols + ` FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2`
	qPutIdemKey    = `INSERT INTO idempotency_keys (` + idemCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`
	qUpdateIdemKey = `UPDATE idempotency_keys SET fingerprint = $3, done = $5, ref = $6, result = $7, created_us = $8, expires_us = $9
		WHERE user_id = $1 AND idem_key = $2 AND attempt = $4`
	qDeleteIdemKey         = `DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND attempt = $3`
	qDeleteExpiredIdemKeys = `DELETE FROM idempotency_keys WHERE expires_us <= $1`
)

var idemStatements = []string{qIdemKey, qPutIdemKey, qUpdateIdemKey, qDeleteIdemKey, qDeleteExpiredIdemKeys}
