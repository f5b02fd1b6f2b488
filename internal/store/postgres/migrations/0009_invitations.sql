-- sealkeep schema 9 (PostgreSQL): account invitations (package auth).
-- Every statement may run again on a database that has its objects.
-- A new account has no password anyone knows until its person redeems the
-- one-time invitation token, of which only the SHA-256 is stored; the row
-- is deleted when redeemed, so an account with a row was never activated.
CREATE TABLE IF NOT EXISTS invitations (
	user_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id),
	token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	created_by TEXT COLLATE "C" NOT NULL,
	created_us BIGINT NOT NULL,
	expires_us BIGINT NOT NULL
);
