-- sealkeep schema 12 (SQLite): the trail's indexes on the canonical encoding.
-- The lookups that custody and the verifier fail closed on (a certificate
-- or public key that custody holds: the thumbprint and spki_sha256 details
-- of cert.import, cert.upload, key.generate and key.external; a seal's
-- signature and approval: the signature_sha256 and intent_sha256 details of
-- seal entries; a passkey: the credential_id detail of passkey.register and
-- passkey.remove) go through these expression indexes of each entry's
-- canonical encoding, the hash-chained data, instead of the indexes of
-- schemas 5, 6 and 10 on the details and action columns: editing those columns
-- no longer hides an entry from them. sealkeep_trail_key is a deterministic
-- function that sealkeep registers with the driver (sqlcore.TrailKey).
-- (IF [NOT] EXISTS: running the step again changes nothing.)
DROP INDEX IF EXISTS audit_entries_by_cert_sha256;
DROP INDEX IF EXISTS audit_entries_by_spki_sha256;
DROP INDEX IF EXISTS audit_seals_by_signature;
DROP INDEX IF EXISTS audit_seals_by_intent;
DROP INDEX IF EXISTS audit_entries_by_credential_id;
CREATE INDEX IF NOT EXISTS audit_trail_by_cert ON audit_entries (sealkeep_trail_key(canonical, 'cert'))
	WHERE sealkeep_trail_key(canonical, 'cert') IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_trail_by_spki ON audit_entries (sealkeep_trail_key(canonical, 'spki'))
	WHERE sealkeep_trail_key(canonical, 'spki') IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_trail_by_seal_signature ON audit_entries (sealkeep_trail_key(canonical, 'seal_signature'))
	WHERE sealkeep_trail_key(canonical, 'seal_signature') IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_trail_by_seal_intent ON audit_entries (sealkeep_trail_key(canonical, 'seal_intent'))
	WHERE sealkeep_trail_key(canonical, 'seal_intent') IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_trail_by_passkey ON audit_entries (sealkeep_trail_key(canonical, 'passkey'))
	WHERE sealkeep_trail_key(canonical, 'passkey') IS NOT NULL;
