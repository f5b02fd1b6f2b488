-- sealkeep schema 12 (PostgreSQL): the trail's indexes on the canonical
-- encoding. The lookups that custody and the verifier fail closed on (a
-- certificate or public key that custody holds: the thumbprint and
-- spki_sha256 details of cert.import, cert.upload, key.generate and
-- key.external; a seal's signature and approval: the signature_sha256 and
-- intent_sha256 details of seal entries; a passkey: the credential_id detail
-- of passkey.register and passkey.remove) go through these expression indexes
-- of each entry's canonical encoding, the hash-chained data, instead of the
-- indexes of schemas 5, 6 and 10 on the details and action columns: editing those
-- columns no longer hides an entry from them. sealkeep_trail_key reads the
-- encoding (audit.Entry.AppendCanonical) as sqlcore.TrailKey does; the
-- contract tests check that both give the same keys.
-- (OR REPLACE, IF [NOT] EXISTS: running the step again changes nothing.)

-- The 4-byte big-endian integer at offset pos (0-based) of c.
CREATE OR REPLACE FUNCTION sealkeep_u32(c bytea, pos bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
	SELECT (get_byte(c, pos::int)::bigint << 24) | (get_byte(c, pos::int + 1)::bigint << 16)
		| (get_byte(c, pos::int + 2)::bigint << 8) | get_byte(c, pos::int + 3)::bigint
$fn$;

-- The detail that kind selects of the entry encoded in c, or NULL.
CREATE OR REPLACE FUNCTION sealkeep_trail_key(c bytea, kind text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
	total bigint := length(c);
	pos   bigint := 0;
	n     bigint;
	cnt   bigint;
	act   bytea;
	k     bytea;
	want  bytea;
	acts  bytea[];
BEGIN
	CASE kind
	WHEN 'cert' THEN want := 'thumbprint'; acts := ARRAY['cert.import', 'cert.upload']::bytea[];
	WHEN 'spki' THEN want := 'spki_sha256'; acts := ARRAY['key.generate', 'key.external', 'cert.import', 'cert.upload']::bytea[];
	WHEN 'seal_signature' THEN want := 'signature_sha256'; acts := ARRAY['seal']::bytea[];
	WHEN 'seal_intent' THEN want := 'intent_sha256'; acts := ARRAY['seal']::bytea[];
	WHEN 'passkey' THEN want := 'credential_id'; acts := ARRAY['passkey.register', 'passkey.remove']::bytea[];
	ELSE RETURN NULL;
	END CASE;
	-- The tag, the chain, (seq and time), the actor's kind and ID, the action.
	FOR i IN 1..5 LOOP
		IF i = 3 THEN pos := pos + 16; END IF;
		IF pos + 4 > total THEN RETURN NULL; END IF;
		n := sealkeep_u32(c, pos);
		IF pos + 4 + n > total THEN RETURN NULL; END IF;
		IF i = 1 AND substring(c from pos::int + 5 for n::int) <> 'sealkeep/audit/v1'::bytea THEN RETURN NULL; END IF;
		IF i = 5 THEN act := substring(c from pos::int + 5 for n::int); END IF;
		pos := pos + 4 + n;
	END LOOP;
	IF NOT (act = ANY (acts)) THEN RETURN NULL; END IF;
	-- The subject's org and identity, (its version), the detail count.
	FOR i IN 1..2 LOOP
		IF pos + 4 > total THEN RETURN NULL; END IF;
		pos := pos + 4 + sealkeep_u32(c, pos);
	END LOOP;
	pos := pos + 8;
	IF pos + 4 > total THEN RETURN NULL; END IF;
	cnt := sealkeep_u32(c, pos);
	pos := pos + 4;
	IF cnt > (total - pos) / 8 THEN RETURN NULL; END IF;
	FOR i IN 1..cnt LOOP
		IF pos + 4 > total THEN RETURN NULL; END IF;
		n := sealkeep_u32(c, pos);
		IF pos + 4 + n > total THEN RETURN NULL; END IF;
		k := substring(c from pos::int + 5 for n::int);
		pos := pos + 4 + n;
		IF pos + 4 > total THEN RETURN NULL; END IF;
		n := sealkeep_u32(c, pos);
		IF pos + 4 + n > total THEN RETURN NULL; END IF;
		IF k = want THEN RETURN substring(c from pos::int + 5 for n::int); END IF;
		pos := pos + 4 + n;
	END LOOP;
	RETURN NULL;
END
$fn$;

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
