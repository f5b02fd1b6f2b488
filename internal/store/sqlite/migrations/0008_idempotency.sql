-- sealkeep schema 8 (SQLite): Idempotency-Key records of the server's seal
-- route (store.IdempotencyKey). Every statement may run again on a
-- database that has its objects. One row per (user, key): the primary key
-- makes one request of all server instances hold a key. attempt is the
-- request ID holding (pending) or completing (done) it; ref and result are
-- what it did and the response body a retry gets, kept until expires_us.
CREATE TABLE IF NOT EXISTS idempotency_keys (
	user_id     TEXT NOT NULL REFERENCES users (id),
	idem_key    TEXT NOT NULL,
	fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
	attempt     TEXT NOT NULL,
	done        BOOLEAN NOT NULL,
	ref         TEXT NOT NULL,
	result      BLOB NOT NULL,
	created_us  INTEGER NOT NULL,
	expires_us  INTEGER NOT NULL,
	PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_us);
