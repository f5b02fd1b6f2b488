-- sealkeep schema 8 (PostgreSQL): Idempotency-Key records of the server's
-- seal route (store.IdempotencyKey). Every statement may run again on a
-- database that has its objects. One row per (user, key): the primary key
-- makes one request of all server instances hold a key. attempt is the
-- request ID holding (pending) or completing (done) it; ref and result are
-- what it did and the response body a retry gets, kept until expires_us.
CREATE TABLE IF NOT EXISTS idempotency_keys (
	user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
	idem_key    TEXT COLLATE "C" NOT NULL,
	fingerprint BYTEA NOT NULL CHECK (length(fingerprint) = 32),
	attempt     TEXT COLLATE "C" NOT NULL,
	done        BOOLEAN NOT NULL,
	ref         TEXT COLLATE "C" NOT NULL,
	result      BYTEA NOT NULL,
	created_us  BIGINT NOT NULL,
	expires_us  BIGINT NOT NULL,
	PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_us);
