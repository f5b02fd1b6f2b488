-- sealkeep schema 6 (SQLite): the trail's own index of certificates and keys.
-- The verifier's custody lookup and the "one key, one place" check find the
-- entries that recorded a certificate (the thumbprint detail of cert.import
-- and cert.upload) or a public key (the spki_sha256 detail of key.generate,
-- key.external, cert.import and cert.upload) through these partial
-- expression indexes. They are indexes, not copies: the database keeps them
-- equal to the hash-chained entries, and no row of them can be deleted on
-- its own, so a deleted or edited cert_versions row no longer hides a
-- certificate the trail knows (see docs/custody-trail.md).
CREATE INDEX IF NOT EXISTS audit_entries_by_cert_sha256 ON audit_entries (json_extract(details, '$.thumbprint'))
	WHERE action IN ('cert.import', 'cert.upload');
CREATE INDEX IF NOT EXISTS audit_entries_by_spki_sha256 ON audit_entries (json_extract(details, '$.spki_sha256'))
	WHERE action IN ('key.generate', 'key.external', 'cert.import', 'cert.upload');
