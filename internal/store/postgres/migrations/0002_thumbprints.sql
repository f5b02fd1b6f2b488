-- sealkeep schema 2 (PostgreSQL): one certificate, one key, one place.
-- cert_sha256 and spki_sha256 are the SHA-256 of cert_der and public_key
-- (the SubjectPublicKeyInfo DER), NULL when those are NULL or empty. The
-- store writes them with every version and checks them on every read. The
-- unique indexes keep a certificate and a public key in at most one version
-- across all organizations, and serve the lookups by thumbprint. Existing
-- rows are backfilled here; a database that already holds one certificate
-- or key in two versions cannot be migrated: the index build fails naming
-- the column (see docs/custody-trail.md).
ALTER TABLE cert_versions
	ADD COLUMN cert_sha256 BYTEA CHECK (cert_sha256 IS NULL OR length(cert_sha256) = 32),
	ADD COLUMN spki_sha256 BYTEA CHECK (spki_sha256 IS NULL OR length(spki_sha256) = 32);
UPDATE cert_versions SET
	cert_sha256 = CASE WHEN length(cert_der) > 0 THEN sha256(cert_der) END,
	spki_sha256 = CASE WHEN length(public_key) > 0 THEN sha256(public_key) END;
CREATE UNIQUE INDEX cert_versions_by_cert_sha256 ON cert_versions (cert_sha256);
CREATE UNIQUE INDEX cert_versions_by_spki_sha256 ON cert_versions (spki_sha256);
