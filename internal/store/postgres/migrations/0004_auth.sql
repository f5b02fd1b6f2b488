-- sealkeep schema 4 (PostgreSQL): accounts, roles and MFA (package auth). Every
-- statement may run again on a database that has its objects.
-- Secrets are never stored in the clear: passwords as argon2id PHC strings,
-- session and API tokens and recovery codes as their SHA-256, TOTP secrets
-- sealed under the system data key (system_deks). A time of 0 means "not
-- set" (never disabled, not confirmed, never used, not revoked).
CREATE TABLE IF NOT EXISTS users (
	id            TEXT COLLATE "C" PRIMARY KEY,
	login         TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash TEXT COLLATE "C" NOT NULL,
	operator      BOOLEAN NOT NULL,
	created_us    BIGINT NOT NULL,
	disabled_us   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS memberships (
	org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
	role       TEXT COLLATE "C" NOT NULL CHECK (role IN ('owner', 'sealer', 'preparer', 'auditor')),
	created_us BIGINT NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships (user_id, org_id);

-- secret: the TOTP secret sealed by package auth under a system data key.
CREATE TABLE IF NOT EXISTS totp_enrolments (
	user_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id),
	secret       BYTEA NOT NULL,
	created_us   BIGINT NOT NULL,
	confirmed_us BIGINT NOT NULL
);

-- One row per accepted TOTP time step: the primary key makes acceptance
-- of a step happen once, whichever server instance asks.
CREATE TABLE IF NOT EXISTS totp_used (
	user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id),
	step    BIGINT NOT NULL,
	used_us BIGINT NOT NULL,
	purpose TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, step)
);

CREATE TABLE IF NOT EXISTS recovery_codes (
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
	hash       BYTEA NOT NULL CHECK (length(hash) = 32),
	created_us BIGINT NOT NULL,
	used_us    BIGINT NOT NULL,
	PRIMARY KEY (user_id, hash)
);

CREATE TABLE IF NOT EXISTS sessions (
	token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
	created_us BIGINT NOT NULL,
	expires_us BIGINT NOT NULL,
	csrf       BYTEA NOT NULL,
	mfa        BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, token_hash);

CREATE TABLE IF NOT EXISTS api_tokens (
	id           TEXT COLLATE "C" PRIMARY KEY,
	token_hash   BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
	name         TEXT COLLATE "C" NOT NULL,
	created_us   BIGINT NOT NULL,
	expires_us   BIGINT NOT NULL,
	last_used_us BIGINT NOT NULL,
	revoked_us   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_tokens_by_user ON api_tokens (user_id, id);

-- Failure counters of login and MFA attempts, per account and per client
-- address (limit_key "account:..." or "addr:..."), shared by every instance.
CREATE TABLE IF NOT EXISTS auth_limits (
	limit_key       TEXT COLLATE "C" PRIMARY KEY,
	failures        BIGINT NOT NULL,
	since_us        BIGINT NOT NULL,
	locked_until_us BIGINT NOT NULL
);

-- Data keys of the platform itself (org "system"), wrapped by the KEK like
-- org DEKs and listed with them, so that KEK rotation re-wraps them too.
CREATE TABLE IF NOT EXISTS system_deks (
	version     BIGINT PRIMARY KEY,
	kek_version BIGINT NOT NULL,
	wrapped     BYTEA,
	encryptions BIGINT NOT NULL,
	created_us  BIGINT NOT NULL
);
