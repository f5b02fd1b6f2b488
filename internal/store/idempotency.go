package store

import "time"

// IdempotencyKey is a client's Idempotency-Key for one request of one
// user (the server's seal route): the request's fingerprint, whether it
// finished, and what it did. A pending key is held by one attempt (a
// request ID) until it expires; a done key keeps the result for retries
// until it expires. Expired keys are deleted
// ([IdempotencyTx.DeleteExpiredIdempotencyKeys]), so a key is reusable
// after that.
type IdempotencyKey struct {
	UserID string
	Key    string
	// Fingerprint is the SHA-256 of the request (32 bytes): a retry must
	// send the same request.
	Fingerprint []byte
	// Attempt names the request that holds (pending) or completed (done)
	// the key.
	Attempt string
	Done    bool
	// Ref is what the request did, as its caller records it (the seal
	// entry); Result the response body kept for retries. Both are empty
	// while pending.
	Ref       string
	Result    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// IdempotencyReadTx reads idempotency keys.
type IdempotencyReadTx interface {
	// IdempotencyKey returns the key of a user (ErrNotFound if none).
	IdempotencyKey(userID, key string) (IdempotencyKey, error)
}

// IdempotencyTx changes idempotency keys.
type IdempotencyTx interface {
	// PutIdempotencyKey inserts a key: ErrConflict if the user has it
	// (another instance's request too), ErrNotFound if the user does not
	// exist, ErrInvalid for a fingerprint that is not 32 bytes.
	PutIdempotencyKey(IdempotencyKey) error
	// UpdateIdempotencyKey replaces the user's key if it is still held by
	// k.Attempt (ErrNotFound otherwise: it expired and was taken over, or
	// was deleted).
	UpdateIdempotencyKey(k IdempotencyKey) error
	// DeleteIdempotencyKey deletes the user's key if attempt holds it
	// (ErrNotFound otherwise).
	DeleteIdempotencyKey(userID, key, attempt string) error
	// DeleteExpiredIdempotencyKeys deletes every key, of every user,
	// that expired at or before now, and returns how many.
	DeleteExpiredIdempotencyKeys(now time.Time) (int64, error)
}
