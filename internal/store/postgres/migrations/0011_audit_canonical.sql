-- sealkeep schema 11 (PostgreSQL): audit_entries.canonical, each entry's
-- canonical encoding (audit.Entry.AppendCanonical: every field but the hash,
-- whose SHA-256 the hash is). Entries are read from it alone, so that
-- audit verify reads one value per entry instead of eleven columns; the
-- verifier recomputes every hash from it, and the columns that queries find
-- entries by (chain, seq, action, details) are checked against it on every
-- read. The store fills it in for existing entries, from each entry's own
-- columns, in this migration's transaction (sqlcore.addCanonical).
ALTER TABLE audit_entries ADD COLUMN IF NOT EXISTS canonical BYTEA;
