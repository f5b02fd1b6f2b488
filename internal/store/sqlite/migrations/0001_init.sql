-- sealkeep schema 1 (SQLite). Times are UTC microseconds since the Unix
-- epoch. Nullable blobs keep nil (NULL) apart from empty (zero length).
CREATE TABLE orgs (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_us INTEGER NOT NULL
);

CREATE TABLE identities (
	id         TEXT PRIMARY KEY,
	org_id     TEXT NOT NULL REFERENCES orgs (id),
	owner      TEXT NOT NULL,
	name       TEXT NOT NULL,
	created_us INTEGER NOT NULL
);
CREATE INDEX identities_by_org ON identities (org_id, id);

-- chain_der: a format byte (1), then a uvarint length and the DER bytes of
-- each certificate; NULL for no chain.
CREATE TABLE cert_versions (
	identity_id TEXT NOT NULL REFERENCES identities (id),
	version     INTEGER NOT NULL,
	status      TEXT NOT NULL,
	key_ref     TEXT NOT NULL,
	key_blob    BLOB,
	public_key  BLOB,
	csr         BLOB,
	cert_der    BLOB,
	chain_der   BLOB,
	created_us  INTEGER NOT NULL,
	updated_us  INTEGER NOT NULL,
	PRIMARY KEY (identity_id, version)
) WITHOUT ROWID;

CREATE TABLE deks (
	org_id      TEXT NOT NULL REFERENCES orgs (id),
	version     INTEGER NOT NULL,
	kek_version INTEGER NOT NULL,
	wrapped     BLOB,
	encryptions INTEGER NOT NULL,
	created_us  INTEGER NOT NULL,
	PRIMARY KEY (org_id, version)
) WITHOUT ROWID;

-- One row per chain: the last seq and hash. Appenders lock it.
CREATE TABLE audit_heads (
	chain TEXT PRIMARY KEY,
	seq   INTEGER NOT NULL,
	hash  BLOB NOT NULL,
	CHECK (seq >= 0 AND length(hash) = 32)
);

-- details: canonical JSON object (sorted keys), NULL when nil.
CREATE TABLE audit_entries (
	chain            TEXT NOT NULL,
	seq              INTEGER NOT NULL,
	time_us          INTEGER NOT NULL,
	actor_kind       TEXT NOT NULL,
	actor_id         TEXT NOT NULL,
	action           TEXT NOT NULL,
	subject_org      TEXT NOT NULL,
	subject_identity TEXT NOT NULL,
	subject_version  INTEGER NOT NULL,
	details          TEXT,
	prev_hash        BLOB NOT NULL,
	hash             BLOB NOT NULL,
	PRIMARY KEY (chain, seq),
	CHECK (seq >= 1 AND length(prev_hash) = 32 AND length(hash) = 32)
) WITHOUT ROWID;
