-- sealkeep schema 4 (SQLite): accounts, roles and MFA (package auth). Every
-- statement may run again on a database that has its objects.
-- Secrets are never stored in the clear: passwords as argon2id PHC strings,
-- session and API tokens and recovery codes as their SHA-256, TOTP secrets
-- sealed under the system data key (system_deks). A time of 0 means "not
-- set" (never disabled, not confirmed, never used, not revoked).
CREATE TABLE IF NOT EXISTS users (
	id            TEXT PRIMARY KEY,
	login         TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	operator      BOOLEAN NOT NULL,
	created_us    INTEGER NOT NULL,
	disabled_us   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS memberships (
	org_id     TEXT NOT NULL REFERENCES orgs (id),
	user_id    TEXT NOT NULL REFERENCES users (id),
	role       TEXT NOT NULL CHECK (role IN ('owner', 'sealer', 'preparer', 'auditor')),
	created_us INTEGER NOT NULL,
	PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships (user_id, org_id);

-- secret: the TOTP secret sealed by package auth under a system data key.
CREATE TABLE IF NOT EXISTS totp_enrolments (
	user_id      TEXT PRIMARY KEY REFERENCES users (id),
	secret       BLOB NOT NULL,
	created_us   INTEGER NOT NULL,
	confirmed_us INTEGER NOT NULL
);

-- One row per accepted TOTP time step: the primary key makes acceptance
-- of a step happen once, whichever server instance asks.
CREATE TABLE IF NOT EXISTS totp_used (
	user_id TEXT NOT NULL REFERENCES users (id),
	step    INTEGER NOT NULL,
	used_us INTEGER NOT NULL,
	purpose TEXT NOT NULL,
	PRIMARY KEY (user_id, step)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS recovery_codes (
	user_id    TEXT NOT NULL REFERENCES users (id),
	hash       BLOB NOT NULL CHECK (length(hash) = 32),
	created_us INTEGER NOT NULL,
	used_us    INTEGER NOT NULL,
	PRIMARY KEY (user_id, hash)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sessions (
	token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
	user_id    TEXT NOT NULL REFERENCES users (id),
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL,
	csrf       BLOB NOT NULL,
	mfa        BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, token_hash);

CREATE TABLE IF NOT EXISTS api_tokens (
	id           TEXT PRIMARY KEY,
	token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	user_id      TEXT NOT NULL REFERENCES users (id),
	name         TEXT NOT NULL,
	created_us   INTEGER NOT NULL,
	expires_us   INTEGER NOT NULL,
	last_used_us INTEGER NOT NULL,
	revoked_us   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS api_tokens_by_user ON api_tokens (user_id, id);

-- Failure counters of login and MFA attempts, per account and per client
-- address (limit_key "account:..." or "addr:..."), shared by every instance.
CREATE TABLE IF NOT EXISTS auth_limits (
	limit_key       TEXT PRIMARY KEY,
	failures        INTEGER NOT NULL,
	since_us        INTEGER NOT NULL,
	locked_until_us INTEGER NOT NULL
);

-- Data keys of the platform itself (org "system"), wrapped by the KEK like
-- org DEKs and listed with them, so that KEK rotation re-wraps them too.
CREATE TABLE IF NOT EXISTS system_deks (
	version     INTEGER PRIMARY KEY,
	kek_version INTEGER NOT NULL,
	wrapped     BLOB,
	encryptions INTEGER NOT NULL,
	created_us  INTEGER NOT NULL
);
