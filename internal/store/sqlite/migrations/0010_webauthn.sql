-- sealkeep schema 10 (SQLite): passkeys (package passkey). Every statement
-- may run again on a database that has its objects.
-- webauthn_credentials is a cache of the trail's passkey.register entries:
-- one row per credential ID, of any user; sign_count only moves forward
-- (store.WebAuthnTx.UseWebAuthnCredential). transports is a JSON array.
CREATE TABLE IF NOT EXISTS webauthn_credentials (
	cred_id         BLOB PRIMARY KEY CHECK (length(cred_id) BETWEEN 1 AND 1023),
	user_id         TEXT NOT NULL REFERENCES users (id),
	name            TEXT NOT NULL,
	public_key      BLOB NOT NULL,
	sign_count      INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
	backup_eligible BOOLEAN NOT NULL,
	backup_state    BOOLEAN NOT NULL,
	aaguid          BLOB NOT NULL,
	attestation     TEXT NOT NULL,
	transports      TEXT NOT NULL,
	created_us      INTEGER NOT NULL,
	last_used_us    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webauthn_credentials_by_user ON webauthn_credentials (user_id, cred_id);
-- A ceremony between its begin and finish, shared by every instance and
-- deleted as it is finished (single use); intent is NULL for a
-- registration.
CREATE TABLE IF NOT EXISTS webauthn_ceremonies (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	kind       TEXT NOT NULL,
	session    BLOB NOT NULL,
	intent     BLOB,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webauthn_ceremonies_by_expiry ON webauthn_ceremonies (expires_us);
-- The trail's own index of passkeys: the passkey.register and
-- passkey.remove entries by their credential_id detail, so that a
-- credential row is checked against the trail before it is used
-- (store.WebAuthnReadTx.AuditByCredentialID).
CREATE INDEX IF NOT EXISTS audit_entries_by_credential_id ON audit_entries (json_extract(details, '$.credential_id'))
	WHERE action IN ('passkey.register', 'passkey.remove');
