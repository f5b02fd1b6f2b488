-- sealkeep schema 5 (PostgreSQL): seal receipts. A verifier finds the seal
-- entry of a signature by the SHA-256 of its signature value, the
-- signature_sha256 detail of a seal entry; this partial index on that
-- expression makes the lookup a probe. It is an index, not a copy: the
-- entry found is the hash-chained entry itself. (IF NOT EXISTS: a step
-- that runs again on a database it already reached changes nothing.)
CREATE INDEX IF NOT EXISTS audit_seals_by_signature ON audit_entries (((details::jsonb) ->> 'signature_sha256'))
	WHERE action = 'seal';
-- The approval a seal used, by the intent's SHA-256: an approval seals once.
CREATE INDEX IF NOT EXISTS audit_seals_by_intent ON audit_entries (((details::jsonb) ->> 'intent_sha256'))
	WHERE action = 'seal';
