-- sealkeep schema 1 (PostgreSQL). Times are UTC microseconds since the Unix
-- epoch. Nullable blobs keep nil (NULL) apart from empty (zero length).
-- Text columns use the "C" collation, so that lists order by bytes as on
-- SQLite.
CREATE TABLE orgs (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT COLLATE "C" NOT NULL,
	created_us BIGINT NOT NULL
);

CREATE TABLE identities (
	id         TEXT COLLATE "C" PRIMARY KEY,
	org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
	owner      TEXT COLLATE "C" NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	created_us BIGINT NOT NULL
);
CREATE INDEX identities_by_org ON identities (org_id, id);

-- chain_der: a format byte (1), then a uvarint length and the DER bytes of
-- each certificate; NULL for no chain.
CREATE TABLE cert_versions (
	identity_id TEXT COLLATE "C" NOT NULL REFERENCES identities (id),
	version     BIGINT NOT NULL,
	status      TEXT COLLATE "C" NOT NULL,
	key_ref     TEXT COLLATE "C" NOT NULL,
	key_blob    BYTEA,
	public_key  BYTEA,
	csr         BYTEA,
	cert_der    BYTEA,
	chain_der   BYTEA,
	created_us  BIGINT NOT NULL,
	updated_us  BIGINT NOT NULL,
	PRIMARY KEY (identity_id, version)
);

CREATE TABLE deks (
	org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
	version     BIGINT NOT NULL,
	kek_version BIGINT NOT NULL,
	wrapped     BYTEA,
	encryptions BIGINT NOT NULL,
	created_us  BIGINT NOT NULL,
	PRIMARY KEY (org_id, version)
);

-- One row per chain: the last seq and hash. Appenders lock it.
CREATE TABLE audit_heads (
	chain TEXT COLLATE "C" PRIMARY KEY,
	seq   BIGINT NOT NULL,
	hash  BYTEA NOT NULL,
	CHECK (seq >= 0 AND length(hash) = 32)
);

-- details: canonical JSON object (sorted keys), NULL when nil.
CREATE TABLE audit_entries (
	chain            TEXT COLLATE "C" NOT NULL,
	seq              BIGINT NOT NULL,
	time_us          BIGINT NOT NULL,
	actor_kind       TEXT COLLATE "C" NOT NULL,
	actor_id         TEXT COLLATE "C" NOT NULL,
	action           TEXT COLLATE "C" NOT NULL,
	subject_org      TEXT COLLATE "C" NOT NULL,
	subject_identity TEXT COLLATE "C" NOT NULL,
	subject_version  BIGINT NOT NULL,
	details          TEXT COLLATE "C",
	prev_hash        BYTEA NOT NULL,
	hash             BYTEA NOT NULL,
	PRIMARY KEY (chain, seq),
	CHECK (seq >= 1 AND length(prev_hash) = 32 AND length(hash) = 32)
);
