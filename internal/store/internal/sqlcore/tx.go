package sqlcore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// auditBatch is how many audit entries AuditEntries reads per query.
const auditBatch = 1000

// tx implements store.Tx (and so store.ReadTx).
type tx struct {
	ctx    context.Context
	sqlTx  *sql.Tx
	s      *Store
	stmts  map[string]*sql.Stmt  // the store's statements bound to sqlTx
	poison error                 // first database failure; Update will not commit
	trees  map[string]*treeState // Merkle trees extended by this transaction
	// readConn is the connection of a View (nil in Update): its snapshot
	// cannot change.
	readConn *sql.Conn
}

// stmt returns the prepared statement of query bound to the transaction,
// or nil if the store has none.
func (t *tx) stmt(query string) *sql.Stmt {
	if st := t.stmts[query]; st != nil {
		return st
	}
	st := t.s.stmts[query]
	if st == nil {
		return nil
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	st = t.sqlTx.StmtContext(t.ctx, st)
	t.stmts[query] = st
	return st
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if st := t.stmt(query); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.sqlTx.ExecContext(t.ctx, query, args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(query); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.sqlTx.QueryContext(t.ctx, query, args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.sqlTx.QueryRowContext(t.ctx, query, args...)
}

// validText reports whether s can be stored and read back exactly.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func checkText(what string, vals ...string) error {
	for _, v := range vals {
		if !validText(v) {
			return fmt.Errorf("store: %s: %w: text must be UTF-8 without NUL", what, store.ErrInvalid)
		}
	}
	return nil
}

func micros(t time.Time) int64      { return t.UnixMicro() }
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// blob restores a nullable blob read with its "IS NULL" flag.
func blob(b []byte, isNull bool) []byte {
	switch {
	case isNull:
		return nil
	case b == nil:
		return []byte{}
	}
	return b
}

// ---- orgs

const orgCols = `id, name, created_us`

func scanOrg(sc interface{ Scan(...any) error }) (o store.Org, err error) {
	var us int64
	err = sc.Scan(&o.ID, &o.Name, &us)
	o.CreatedAt = fromMicros(us)
	return o, err
}

func (t *tx) Org(id string) (store.Org, error) {
	if !validText(id) {
		return store.Org{}, fmt.Errorf("store: org %q: %w", id, store.ErrNotFound)
	}
	o, err := scanOrg(t.queryRow(qOrg, id))
	if err != nil {
		return store.Org{}, t.fail(err, "org %q", id)
	}
	return o, nil
}

func (t *tx) Orgs() ([]store.Org, error) {
	rows, err := t.query(qOrgs)
	if err != nil {
		return nil, t.fail(err, "list orgs")
	}
	return collect(t, rows, scanOrg, "list orgs")
}

func (t *tx) PutOrg(o store.Org) error {
	if err := checkText("org", o.ID, o.Name); err != nil {
		return err
	}
	res, err := t.exec(qPutOrg,
		o.ID, o.Name, micros(o.CreatedAt))
	return t.inserted(res, err, "org %q", o.ID)
}

// inserted turns the result of an INSERT ... ON CONFLICT DO NOTHING into
// ErrConflict when no row was inserted.
func (t *tx) inserted(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return t.fail(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(err, format, args...)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), store.ErrConflict)
	}
	return nil
}

// exists returns ErrNotFound unless query (SELECT 1 ...) finds a row.
func (t *tx) exists(query, what, id string) error {
	var one int
	if err := t.queryRow(query, id).Scan(&one); err != nil {
		return t.fail(err, "%s %q", what, id)
	}
	return nil
}

// ---- identities

const identityCols = `id, org_id, owner, name, created_us`

func scanIdentity(sc interface{ Scan(...any) error }) (i store.Identity, err error) {
	var us int64
	err = sc.Scan(&i.ID, &i.OrgID, &i.Owner, &i.Name, &us)
	i.CreatedAt = fromMicros(us)
	return i, err
}

func (t *tx) Identity(id string) (store.Identity, error) {
	if !validText(id) {
		return store.Identity{}, fmt.Errorf("store: identity %q: %w", id, store.ErrNotFound)
	}
	i, err := scanIdentity(t.queryRow(qIdentity, id))
	if err != nil {
		return store.Identity{}, t.fail(err, "identity %q", id)
	}
	return i, nil
}

func (t *tx) Identities(orgID string) ([]store.Identity, error) {
	if !validText(orgID) {
		return nil, nil
	}
	rows, err := t.query(qIdentities, orgID)
	if err != nil {
		return nil, t.fail(err, "list identities of org %q", orgID)
	}
	return collect(t, rows, scanIdentity, "list identities")
}

func (t *tx) PutIdentity(i store.Identity) error {
	if err := checkText("identity", i.ID, i.OrgID, i.Owner, i.Name); err != nil {
		return err
	}
	if err := t.exists(qOrgExists, "identity's org", i.OrgID); err != nil {
		return err
	}
	res, err := t.exec(qPutIdentity,
		i.ID, i.OrgID, i.Owner, i.Name, micros(i.CreatedAt))
	return t.inserted(res, err, "identity %q", i.ID)
}

// ---- certificate versions

const versionCols = `identity_id, version, status, key_ref,
	key_blob, key_blob IS NULL, public_key, public_key IS NULL, csr, csr IS NULL,
	cert_der, cert_der IS NULL, chain_der, created_us, updated_us, cert_sha256, spki_sha256`

func scanVersion(sc interface{ Scan(...any) error }) (v store.Version, err error) {
	var (
		keyNull, pubNull, csrNull, certNull bool
		chain, certSum, spkiSum             []byte
		created, updated                    int64
	)
	if err = sc.Scan(&v.IdentityID, &v.Version, &v.Status, &v.KeyRef,
		&v.KeyBlob, &keyNull, &v.PublicKey, &pubNull, &v.CSR, &csrNull,
		&v.CertDER, &certNull, &chain, &created, &updated, &certSum, &spkiSum); err != nil {
		return v, err
	}
	v.KeyBlob = blob(v.KeyBlob, keyNull)
	v.PublicKey = blob(v.PublicKey, pubNull)
	v.CSR = blob(v.CSR, csrNull)
	v.CertDER = blob(v.CertDER, certNull)
	v.CreatedAt, v.UpdatedAt = fromMicros(created), fromMicros(updated)
	if !bytes.Equal(certSum, thumbprint(v.CertDER)) || !bytes.Equal(spkiSum, thumbprint(v.PublicKey)) {
		return v, fmt.Errorf("store: version %q/%d: %w: its thumbprint columns are not the SHA-256 of its certificate and public key",
			v.IdentityID, v.Version, store.ErrCorrupt)
	}
	v.ChainDER, err = DecodeChain(chain)
	return v, err
}

// thumbprint is the value of a cert_sha256 or spki_sha256 column: the
// SHA-256 of b, or nil (NULL) when b is empty.
func thumbprint(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

func (t *tx) Version(identityID string, version int) (store.Version, error) {
	if !validText(identityID) {
		return store.Version{}, fmt.Errorf("store: version %q/%d: %w", identityID, version, store.ErrNotFound)
	}
	v, err := scanVersion(t.queryRow(qVersion, identityID, version))
	if err != nil {
		return store.Version{}, t.fail(err, "version %q/%d", identityID, version)
	}
	return v, nil
}

func (t *tx) VersionByCertSHA256(sum [32]byte) (store.Version, error) {
	return t.versionBy(qVersionByCert, sum, "certificate")
}

func (t *tx) VersionBySPKISHA256(sum [32]byte) (store.Version, error) {
	return t.versionBy(qVersionBySPKI, sum, "public key")
}

// versionBy reads the version that query finds by a thumbprint column.
func (t *tx) versionBy(query string, sum [32]byte, what string) (store.Version, error) {
	v, err := scanVersion(t.queryRow(query, sum[:]))
	if err != nil {
		return store.Version{}, t.fail(err, "version by %s SHA-256 %x", what, sum)
	}
	return v, nil
}

func (t *tx) Versions(identityID string) ([]store.Version, error) {
	if !validText(identityID) {
		return nil, nil
	}
	rows, err := t.query(qVersions, identityID)
	if err != nil {
		return nil, t.fail(err, "list versions of %q", identityID)
	}
	return collect(t, rows, scanVersion, "list versions")
}

func (t *tx) PutVersion(v store.Version) error {
	if err := checkText("version", v.IdentityID, v.Status, v.KeyRef); err != nil {
		return err
	}
	if err := t.exists(qIdentityExists, "version's identity", v.IdentityID); err != nil {
		return err
	}
	_, err := t.exec(qPutVersion,
		v.IdentityID, v.Version, v.Status, v.KeyRef, v.KeyBlob, v.PublicKey, v.CSR, v.CertDER,
		EncodeChain(v.ChainDER), micros(v.CreatedAt), micros(v.UpdatedAt), thumbprint(v.CertDER), thumbprint(v.PublicKey))
	if err != nil {
		return t.fail(err, "put version %q/%d", v.IdentityID, v.Version)
	}
	return nil
}

// ---- data keys

const dekCols = `org_id, version, kek_version, wrapped, wrapped IS NULL, encryptions, created_us`

func scanDEK(sc interface{ Scan(...any) error }) (k store.WrappedDEK, err error) {
	var (
		null     bool
		enc, us  int64
		ver, kek int64
	)
	if err = sc.Scan(&k.OrgID, &ver, &kek, &k.Wrapped, &null, &enc, &us); err != nil {
		return k, err
	}
	if ver < 0 || ver > math.MaxUint32 || kek < 0 || kek > math.MaxUint32 || enc < 0 {
		return k, fmt.Errorf("stored data key of %q out of range", k.OrgID)
	}
	k.Version, k.KEKVersion, k.Encryptions = uint32(ver), uint32(kek), uint64(enc)
	k.Wrapped = blob(k.Wrapped, null)
	k.CreatedAt = fromMicros(us)
	return k, nil
}

func (t *tx) DEK(orgID string, version uint32) (store.WrappedDEK, error) {
	if !validText(orgID) {
		return store.WrappedDEK{}, fmt.Errorf("store: data key %q/%d: %w", orgID, version, store.ErrNotFound)
	}
	q, args := qDEK, []any{orgID, int64(version)}
	if isSystemDEK(orgID) {
		q, args = qSystemDEK, args[1:]
	}
	k, err := scanDEK(t.queryRow(q, args...))
	if err != nil {
		return store.WrappedDEK{}, t.fail(err, "data key %q/%d", orgID, version)
	}
	return k, nil
}

func (t *tx) DEKs(orgID string) ([]store.WrappedDEK, error) {
	if !validText(orgID) {
		return nil, nil
	}
	q, args := qDEKs, []any{orgID}
	if isSystemDEK(orgID) {
		q, args = qSystemDEKs, nil
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, t.fail(err, "list data keys of %q", orgID)
	}
	return collect(t, rows, scanDEK, "list data keys")
}

func (t *tx) AllDEKs() ([]store.WrappedDEK, error) {
	rows, err := t.query(qAllDEKs)
	if err != nil {
		return nil, t.fail(err, "list data keys")
	}
	return collect(t, rows, scanDEK, "list data keys")
}

func (t *tx) PutDEK(k store.WrappedDEK) error {
	if err := checkText("data key", k.OrgID); err != nil {
		return err
	}
	if k.Encryptions > math.MaxInt64 {
		return fmt.Errorf("store: data key %q/%d: %w: encryption count out of range", k.OrgID, k.Version, store.ErrInvalid)
	}
	q, args := qPutDEK, []any{k.OrgID, int64(k.Version), int64(k.KEKVersion), k.Wrapped, int64(k.Encryptions), micros(k.CreatedAt)}
	if isSystemDEK(k.OrgID) {
		q, args = qPutSystemDEK, args[1:]
	} else if err := t.exists(qOrgExists, "data key's org", k.OrgID); err != nil {
		return err
	}
	_, err := t.exec(q, args...)
	if err != nil {
		return t.fail(err, "put data key %q/%d", k.OrgID, k.Version)
	}
	return nil
}

// ---- audit

// appendCols are the columns AppendAudit writes: every field of the entry
// in a column of its own (for SQL users and the indexes), and its
// canonical encoding (audit.Entry.AppendCanonical).
const appendCols = `chain, seq, time_us, actor_kind, actor_id, action,
	subject_org, subject_identity, subject_version, details, prev_hash, hash, canonical`

// entryCols are the columns an entry is read from (see entryRow.entry).
const entryCols = `chain, ` + streamCols

func scanEntry(sc interface{ Scan(...any) error }) (e audit.Entry, err error) {
	var (
		r             entryRow
		canon, hash   []byte // sql.Row.Scan refuses sql.RawBytes
		chain, action string
	)
	if err = sc.Scan(&chain, &r.seq, &canon, &hash, &action, &r.details); err != nil {
		return e, err
	}
	r.canon, r.hash, r.action = canon, hash, action
	return r.entry(chain)
}

// streamCols are the columns AuditEntries reads: entryCols but the chain,
// which the query fixes.
const streamCols = `seq, canonical, hash, action, details`

// entryRow holds the columns of one audit row that an entry is read from:
// its canonical encoding, its hash, and the columns that queries find
// entries by (the chain, which the caller passes, seq, action and
// details). Blobs are scanned as sql.RawBytes (no copy); integers as
// int64, which database/sql assigns without reflection.
type entryRow struct {
	seq     int64
	canon   sql.RawBytes
	hash    sql.RawBytes
	action  string
	details sql.NullString
}

// dest returns the scan destinations of streamCols.
func (r *entryRow) dest() []any {
	return []any{&r.seq, &r.canon, &r.hash, &r.action, &r.details}
}

// entry decodes the row of chain. The canonical encoding is the only
// source of the entry's fields, and the hash is the stored one, which a
// verifier compares with SHA-256 of that encoding. The columns that
// queries select and order entries by (chain, seq, action, details: the
// keyset pagination and the indexes of the trail and of seals) are
// compared with it: one that disagrees replaces the encoding's value, so
// that the entry no longer hashes to its stored hash and verification
// reports it as edited, exactly as an edit of the encoding itself. (The
// other columns are a copy for SQL users; sealkeep never reads them.)
func (r *entryRow) entry(chain string) (audit.Entry, error) {
	if r.canon == nil || len(r.hash) != len(audit.Hash{}) || r.seq < 1 {
		return audit.Entry{}, fmt.Errorf("audit entry %q/%d is malformed", chain, r.seq)
	}
	e, err := audit.ParseCanonical(r.canon)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("audit entry %q/%d is malformed: %w", chain, r.seq, err)
	}
	copy(e.Hash[:], r.hash)
	e.Chain, e.Seq = chain, uint64(r.seq)
	if string(e.Action) != r.action {
		e.Action = audit.Action(r.action)
	}
	switch {
	case !r.details.Valid:
		if len(e.Details) > 0 {
			e.Details = nil
		}
	case len(e.Details) == 0 && r.details.String == "{}":
		e.Details = map[string]string{}
	case detailsEqual(r.details.String, e.Details):
	default:
		col, err := decodeDetails(r.details.String)
		if err != nil {
			return audit.Entry{}, fmt.Errorf("audit entry %q/%d: %w", chain, r.seq, err)
		}
		if e.Details == nil || !maps.Equal(col, e.Details) {
			e.Details = col
		}
	}
	return e, nil
}

func (t *tx) AuditHead(chain string) (audit.Entry, error) {
	if !validText(chain) {
		return audit.Entry{}, fmt.Errorf("store: audit chain %q: %w", chain, store.ErrNotFound)
	}
	e, err := scanEntry(t.queryRow(qAuditHead, chain))
	if err != nil {
		return audit.Entry{}, t.fail(err, "audit chain %q", chain)
	}
	return e, nil
}

// AuditEntries reads the chain auditBatch entries at a time (keyset
// pagination on the primary key), so memory stays bounded, and calls fn
// between queries, so fn may use the transaction. In a read-only
// transaction of a dialect with ConcurrentReads, see auditEntriesAhead.
func (t *tx) AuditEntries(chain string, fromSeq uint64, fn func(audit.Entry) error) error {
	if !validText(chain) {
		return nil
	}
	next := max(fromSeq, 1)
	if next > math.MaxInt64 {
		return nil
	}
	if t.readConn != nil && t.s.d.ConcurrentReads {
		return t.auditEntriesAhead(chain, next, fn)
	}
	var buf []audit.Entry
	for {
		var err error
		buf, err = readAuditBatch(t.query, chain, next, auditBatch, buf[:0])
		if err != nil {
			return t.fail(err, "read audit chain %q", chain)
		}
		for _, e := range buf {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(buf) < auditBatch {
			return nil
		}
		next = buf[len(buf)-1].Seq + 1
	}
}

// AuditPage reads at most limit entries from fromSeq on with one query.
func (t *tx) AuditPage(chain string, fromSeq uint64, limit int) ([]audit.Entry, error) {
	if limit < 1 || limit > store.MaxAuditPage {
		return nil, fmt.Errorf("store: a page of audit chain %q holds 1 to %d entries, not %d: %w", chain, store.MaxAuditPage, limit, store.ErrInvalid)
	}
	next := max(fromSeq, 1)
	if !validText(chain) || next > math.MaxInt64 {
		return nil, nil
	}
	buf, err := readAuditBatch(t.query, chain, next, limit, nil)
	if err != nil {
		return nil, t.fail(err, "read audit chain %q", chain)
	}
	return buf, nil
}

// auditEntriesAhead is AuditEntries with the reading done ahead: a
// goroutine runs one query over the rest of the chain on a statement of
// its own, through the driver (readAuditRows), and hands over its rows a
// batch at a time to a second goroutine, which decodes them, while fn
// runs here on the entries of the batch before: reading, decoding and
// verifying share the cores. The snapshot of a read-only transaction
// cannot change, so fn sees exactly the entries, in the order, that
// reading one batch after the other would give; it may still use the
// transaction (the driver serialises the connection's calls). Every read
// has finished when it returns.
func (t *tx) auditEntriesAhead(chain string, next uint64, fn func(audit.Entry) error) error {
	type batch struct {
		rows []entryRow
		err  error
	}
	var (
		ahead = make(chan batch, 1)
		free  = make(chan []entryRow, 3) // batch buffers for reuse
		stop  = make(chan struct{})
	)
	go func() {
		defer close(ahead)
		err := readAuditRows(t.ctx, t.readConn, chain, next, func(rows []entryRow) ([]entryRow, bool) {
			select {
			case ahead <- batch{rows: rows}:
			case <-stop:
				return nil, false
			}
			select {
			case buf := <-free:
				return buf[:0], true
			default:
				return make([]entryRow, 0, auditBatch), true
			}
		})
		if err != nil {
			select {
			case ahead <- batch{err: err}:
			case <-stop:
			}
		}
	}()
	// The decoder turns rows into entries between the reader and fn, so
	// that the three stages share the cores.
	type decoded struct {
		entries []audit.Entry
		err     error
	}
	var (
		out       = make(chan decoded, 1)
		freeEntry = make(chan []audit.Entry, 3)
	)
	go func() {
		defer close(out)
		for b := range ahead {
			d := decoded{err: b.err}
			if b.err == nil {
				select {
				case d.entries = <-freeEntry:
				default:
					d.entries = make([]audit.Entry, 0, auditBatch)
				}
				for i := range b.rows {
					e, err := b.rows[i].entry(chain)
					if err != nil {
						d.err = err
						break
					}
					d.entries = append(d.entries, e)
				}
				select {
				case free <- b.rows:
				default:
				}
			}
			select {
			case out <- d:
			case <-stop:
				return
			}
			if d.err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range out { // wait for the decoder to finish
		}
		for range ahead { // and the reader
		}
	}()
	for d := range out {
		for _, e := range d.entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if d.err != nil {
			return t.fail(d.err, "read audit chain %q", chain)
		}
		select {
		case freeEntry <- d.entries[:0]:
		default:
		}
	}
	return nil
}

// readAuditRows reads chain from seq next on through the driver
// connection of conn, in one query on a statement of its own, converting
// values with driverValues, and passes the rows to emit auditBatch at a
// time (the last batch may be shorter or empty); emit returns the buffer
// for the next batch, or false to stop. The connection is held
// (sql.Conn.Raw) only while a batch is read, never while emit runs, so
// that the transaction can be used meanwhile: the statement stays open
// between batches, as SQLite allows beside other statements.
func readAuditRows(ctx context.Context, conn *sql.Conn, chain string, next uint64, emit func([]entryRow) ([]entryRow, bool)) (err error) {
	var (
		st   driver.Stmt
		rows driver.Rows
		vals []driver.Value
	)
	defer func() {
		if st == nil {
			return
		}
		cerr := conn.Raw(func(any) error {
			if rows != nil {
				rows.Close()
			}
			return st.Close()
		})
		if err == nil {
			err = cerr
		}
	}()
	if err := conn.Raw(func(dc any) error {
		c, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("the driver cannot prepare with a context")
		}
		var err error
		if st, err = c.PrepareContext(ctx, qAuditEntries); err != nil {
			return err
		}
		q, ok := st.(driver.StmtQueryContext)
		if !ok {
			return errors.New("the driver cannot query with a context")
		}
		rows, err = q.QueryContext(ctx, []driver.NamedValue{
			{Ordinal: 1, Value: chain}, {Ordinal: 2, Value: int64(next)}, {Ordinal: 3, Value: int64(math.MaxInt64)}})
		if err == nil {
			vals = make([]driver.Value, len(rows.Columns()))
		}
		return err
	}); err != nil {
		return err
	}
	buf := make([]entryRow, 0, auditBatch)
	for {
		done := false
		if err := conn.Raw(func(any) error {
			for len(buf) < auditBatch {
				if err := rows.Next(vals); err == io.EOF {
					done = true
					return nil
				} else if err != nil {
					return err
				}
				buf = buf[:len(buf)+1]
				if err := buf[len(buf)-1].driverValues(vals); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		var ok bool
		if buf, ok = emit(buf); !ok || done {
			return nil
		}
	}
}

// driverValues sets r from the driver values of streamCols, converting
// them as sql.Rows.Scan converts them into the destinations of dest.
func (r *entryRow) driverValues(v []driver.Value) (err error) {
	if len(v) != 5 {
		return fmt.Errorf("audit query returned %d columns", len(v))
	}
	if r.seq, err = driverInt(v[0]); err != nil {
		return err
	}
	var ok bool
	if r.action, ok = driverText(v[3]); !ok {
		return fmt.Errorf("audit action: unsupported value %T", v[3])
	}
	r.details = sql.NullString{}
	if v[4] != nil {
		if r.details.String, ok = driverText(v[4]); !ok {
			return fmt.Errorf("audit details: unsupported value %T", v[4])
		}
		r.details.Valid = true
	}
	for i, p := range [...]*sql.RawBytes{&r.canon, &r.hash} {
		switch x := v[1+i].(type) {
		case []byte:
			*p = x
		case nil:
			*p = nil
		default:
			s, ok := driverText(x)
			if !ok {
				return fmt.Errorf("audit blob: unsupported value %T", x)
			}
			*p = append((*p)[:0], s...)
		}
	}
	return nil
}

// driverText converts a driver value as Scan does into a string.
func driverText(v driver.Value) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// driverInt converts a driver value as Scan does into an int64.
func driverInt(v driver.Value) (int64, error) {
	if x, ok := v.(int64); ok {
		return x, nil
	}
	s, ok := driverText(v)
	if !ok {
		return 0, fmt.Errorf("converting %T to int64: unsupported", v)
	}
	return strconv.ParseInt(s, 10, 64)
}

// readAuditBatch appends to buf up to limit entries of chain from seq next
// on, read with query(qAuditEntries, ...).
func readAuditBatch(query func(string, ...any) (*sql.Rows, error), chain string, next uint64, limit int, buf []audit.Entry) ([]audit.Entry, error) {
	rows, err := query(qAuditEntries, chain, int64(next), limit)
	if err != nil {
		return buf, err
	}
	defer rows.Close()
	var r entryRow
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return buf, err
		}
		e, err := r.entry(chain)
		if err != nil {
			return buf, err
		}
		buf = append(buf, e)
	}
	return buf, rows.Err()
}

func (t *tx) AuditHeadRecord(chain string) (audit.Head, error) {
	if !validText(chain) {
		return audit.Head{}, fmt.Errorf("store: head of audit chain %q: %w", chain, store.ErrNotFound)
	}
	h, err := scanHead(t.queryRow(qHeadRecord, chain))
	if err != nil {
		return audit.Head{}, t.fail(err, "head of audit chain %q", chain)
	}
	return h, nil
}

// scanHead reads a seq and a hash.
func scanHead(sc interface{ Scan(...any) error }) (audit.Head, error) {
	var (
		seq int64
		h   []byte
	)
	if err := sc.Scan(&seq, &h); err != nil {
		return audit.Head{}, err
	}
	var head audit.Head
	if len(h) != len(head.Hash) || seq < 0 {
		return head, fmt.Errorf("malformed head")
	}
	head.Seq = uint64(seq)
	copy(head.Hash[:], h)
	return head, nil
}

func (t *tx) AuditChains() ([]string, error) {
	rows, err := t.query(qAuditChains)
	if err != nil {
		return nil, t.fail(err, "list audit chains")
	}
	return collect(t, rows, func(sc interface{ Scan(...any) error }) (c string, err error) {
		return c, sc.Scan(&c)
	}, "list audit chains")
}

// lockHead creates the head row of chain if needed, locks it and returns
// it, with the seq and hash of the chain's last entry as the same
// statement read them (see checkHead).
func (t *tx) lockHead(chain string) (head, last audit.Head, err error) {
	if chain == "" {
		return head, last, fmt.Errorf("store: audit chain name is empty: %w", store.ErrInvalid)
	}
	if err := checkText("audit chain", chain); err != nil {
		return head, last, err
	}
	// The no-op DO UPDATE locks an existing row, as SELECT ... FOR UPDATE
	// would, and returns its latest committed version, in one round trip.
	var (
		h, lastHash []byte
		seq         int64
		lastSeq     sql.NullInt64
	)
	if err := t.queryRow(qLockHead, chain, head.Hash[:]).Scan(&seq, &h, &lastSeq, &lastHash); err != nil {
		return head, last, t.fail(err, "lock head of audit chain %q", chain)
	}
	if len(h) != len(head.Hash) || seq < 0 || lastSeq.Valid && (len(lastHash) != len(last.Hash) || lastSeq.Int64 < 1) {
		return head, last, t.fail(errors.New("malformed head"), "lock head of audit chain %q", chain)
	}
	head.Seq, last.Seq = uint64(seq), uint64(lastSeq.Int64)
	copy(head.Hash[:], h)
	copy(last.Hash[:], lastHash)
	return head, last, nil
}

// checkHead compares the locked head of chain with its last entry and
// fails closed on a disagreement. last is what the locking statement read:
// on PostgreSQL at READ COMMITTED, that statement's snapshot predates a
// wait for the lock, so it may miss an append committed meanwhile; a
// disagreement is therefore confirmed by a statement of its own, which
// runs with the lock held and sees every committed append.
func (t *tx) checkHead(chain string, head, last audit.Head) error {
	if audit.CheckHead(chain, &head, last) == nil {
		return nil
	}
	last, err := scanHead(t.queryRow(qLastEntry, chain))
	if errors.Is(err, sql.ErrNoRows) {
		last, err = audit.Head{}, nil
	}
	if err != nil {
		return t.fail(err, "last entry of audit chain %q", chain)
	}
	if b := audit.CheckHead(chain, &head, last); b != nil {
		err := fmt.Errorf("store: append to audit chain %q refused, the chain was tampered with: %w", chain, b)
		if t.poison == nil {
			t.poison = err
		}
		return err
	}
	return nil
}

func (t *tx) LockChain(chain string) error {
	_, _, err := t.lockHead(chain)
	return err
}

func (t *tx) AppendAudit(e audit.Entry) (audit.Entry, error) {
	if err := checkText("audit entry", e.Chain, e.Actor.Kind, e.Actor.ID, string(e.Action),
		e.Subject.Org, e.Subject.Identity); err != nil {
		return audit.Entry{}, err
	}
	for k, v := range e.Details {
		if err := checkText("audit entry details", k, v); err != nil {
			return audit.Entry{}, err
		}
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Details = maps.Clone(e.Details)
	probe := e
	probe.Seq = 1 // any valid seq: the real one needs the lock
	if err := probe.Validate(); err != nil {
		return audit.Entry{}, fmt.Errorf("store: append to audit chain %q: %w: %w", e.Chain, store.ErrInvalid, err)
	}
	head, last, err := t.lockHead(e.Chain)
	if err != nil {
		return audit.Entry{}, err
	}
	if err := t.checkHead(e.Chain, head, last); err != nil {
		return audit.Entry{}, err
	}
	ts, err := t.chainTree(e.Chain, head)
	if err != nil {
		return audit.Entry{}, err
	}
	e.Seq, e.PrevHash = head.Seq+1, head.Hash
	canon := e.Canonical()
	e.Hash = sha256.Sum256(canon)
	var details any // NULL for nil
	if e.Details != nil {
		details = encodeDetails(e.Details)
	}
	if _, err := t.exec(qAppend,
		e.Chain, int64(e.Seq), micros(e.Time), e.Actor.Kind, e.Actor.ID, string(e.Action),
		e.Subject.Org, e.Subject.Identity, e.Subject.Version, details, e.PrevHash[:], e.Hash[:], canon); err != nil {
		return audit.Entry{}, t.fail(err, "append to audit chain %q", e.Chain)
	}
	if _, err := t.exec(qMoveHead,
		e.Chain, int64(e.Seq), e.Hash[:]); err != nil {
		return audit.Entry{}, t.fail(err, "move head of audit chain %q", e.Chain)
	}
	if err := t.appendTree(ts, e); err != nil {
		return audit.Entry{}, err
	}
	return e, nil
}

// collect scans every row and closes rows.
func collect[T any](t *tx, rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error), what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, t.fail(err, "%s", what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(err, "%s", what)
	}
	return out, nil
}

// The statements of a transaction, prepared once per store.
var (
	qOrg            = `SELECT ` + orgCols + ` FROM orgs WHERE id = $1`
	qOrgs           = `SELECT ` + orgCols + ` FROM orgs ORDER BY id`
	qPutOrg         = `INSERT INTO orgs (` + orgCols + `) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`
	qOrgExists      = `SELECT 1 FROM orgs WHERE id = $1`
	qIdentity       = `SELECT ` + identityCols + ` FROM identities WHERE id = $1`
	qIdentities     = `SELECT ` + identityCols + ` FROM identities WHERE org_id = $1 ORDER BY id`
	qPutIdentity    = `INSERT INTO identities (` + identityCols + `) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`
	qIdentityExists = `SELECT 1 FROM identities WHERE id = $1`
	qVersion        = `SELECT ` + versionCols + ` FROM cert_versions WHERE identity_id = $1 AND version = $2`
	qVersions       = `SELECT ` + versionCols + ` FROM cert_versions WHERE identity_id = $1 ORDER BY version`
	qVersionByCert  = `SELECT ` + versionCols + ` FROM cert_versions WHERE cert_sha256 = $1`
	qVersionBySPKI  = `SELECT ` + versionCols + ` FROM cert_versions WHERE spki_sha256 = $1`
	qPutVersion     = `INSERT INTO cert_versions
		(identity_id, version, status, key_ref, key_blob, public_key, csr, cert_der, chain_der, created_us, updated_us,
		cert_sha256, spki_sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (identity_id, version) DO UPDATE SET
		status = excluded.status, key_ref = excluded.key_ref, key_blob = excluded.key_blob,
		public_key = excluded.public_key, csr = excluded.csr, cert_der = excluded.cert_der,
		chain_der = excluded.chain_der, created_us = excluded.created_us, updated_us = excluded.updated_us,
		cert_sha256 = excluded.cert_sha256, spki_sha256 = excluded.spki_sha256`
	qDEK     = `SELECT ` + dekCols + ` FROM deks WHERE org_id = $1 AND version = $2`
	qDEKs    = `SELECT ` + dekCols + ` FROM deks WHERE org_id = $1 ORDER BY version`
	qAllDEKs = `SELECT ` + dekCols + ` FROM deks UNION ALL SELECT ` + systemDEKCols + ` FROM system_deks ORDER BY 1, 2`
	qPutDEK  = `INSERT INTO deks (org_id, version, kek_version, wrapped, encryptions, created_us)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (org_id, version) DO UPDATE SET
		kek_version = excluded.kek_version, wrapped = excluded.wrapped,
		encryptions = excluded.encryptions, created_us = excluded.created_us`
	qAuditHead    = `SELECT ` + entryCols + ` FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1`
	qAuditEntries = `SELECT ` + streamCols + ` FROM audit_entries
			WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3`
	// qAuditChains reads the distinct chains of audit_entries by a loose
	// index scan (one index probe per chain, not a pass over every entry).
	qAuditChains = `WITH RECURSIVE e (chain) AS (
			SELECT MIN(chain) FROM audit_entries
			UNION ALL
			SELECT (SELECT MIN(a.chain) FROM audit_entries a WHERE a.chain > e.chain) FROM e WHERE e.chain IS NOT NULL)
		SELECT chain FROM e WHERE chain IS NOT NULL
		UNION SELECT id FROM orgs
		UNION SELECT chain FROM audit_heads WHERE seq > 0
		ORDER BY 1`
	qHeadRecord = `SELECT seq, hash FROM audit_heads WHERE chain = $1`
	qLastEntry  = `SELECT seq, hash FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1`
	qLockHead   = `INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 0, $2)
		ON CONFLICT (chain) DO UPDATE SET chain = excluded.chain RETURNING seq, hash,
		(SELECT e.seq FROM audit_entries e WHERE e.chain = $1 ORDER BY e.seq DESC LIMIT 1),
		(SELECT e.hash FROM audit_entries e WHERE e.chain = $1 ORDER BY e.seq DESC LIMIT 1)`
	qAppend = `INSERT INTO audit_entries (` + appendCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	qMoveHead = `UPDATE audit_heads SET seq = $2, hash = $3 WHERE chain = $1`
)

// statements lists every query a transaction runs.
var statements = append([]string{
	qOrg,
	qOrgs,
	qPutOrg,
	qOrgExists,
	qIdentity,
	qIdentities,
	qPutIdentity,
	qIdentityExists,
	qVersion,
	qVersions,
	qVersionByCert,
	qVersionBySPKI,
	qPutVersion,
	qDEK,
	qDEKs,
	qAllDEKs,
	qPutDEK,
	qAuditHead,
	qAuditEntries,
	qAuditChains,
	qHeadRecord,
	qLastEntry,
	qLockHead,
	qAppend,
	qMoveHead,
	qTree,
	qPutTree,
	qTreeHash,
}, qPutTreeHashes...)
