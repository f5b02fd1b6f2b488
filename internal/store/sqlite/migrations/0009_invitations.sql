-- sealkeep schema 9 (SQLite): account invitations (package auth). Every
-- statement may run again on a database that has its objects.
-- A new account has no password anyone knows until its person redeems the
-- one-time invitation token, of which only the SHA-256 is stored; the row
-- is deleted when redeemed, so an account with a row was never activated.
CREATE TABLE IF NOT EXISTS invitations (
	user_id    TEXT PRIMARY KEY REFERENCES users (id),
	token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	created_by TEXT NOT NULL,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL
);
