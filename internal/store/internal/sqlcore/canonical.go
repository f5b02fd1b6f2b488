package sqlcore

import (
	"context"
	"database/sql"
	"fmt"

	"sealkeep/internal/audit"
)

// canonicalMigration names the migration that adds audit_entries.canonical
// (each entry's audit.Entry.AppendCanonical encoding); addCanonical adds
// the column where the migration's SQL cannot (SQLite has no ADD COLUMN IF
// NOT EXISTS) and fills it in for the entries that lack it, right after
// the step's SQL (migration 0012 indexes it).
const canonicalMigration = "_audit_canonical.sql"

// addCanonical adds audit_entries.canonical if it is missing (the
// PostgreSQL migration adds it itself: ADD COLUMN IF NOT EXISTS) and
// back-fills it for every entry without one, from that entry's own
// columns. Nothing else changes: the stored hash stays, so an entry edited
// before the upgrade still fails verification afterwards (its encoding,
// taken from the edited columns, does not hash to it). An entry whose
// columns do not form an entry (a malformed hash or details) is left
// without an encoding, so reading it fails as it did before.
func addCanonical(ctx context.Context, tx *sql.Tx) error {
	has, err := hasColumn(ctx, tx, "audit_entries", "canonical")
	if err != nil {
		return err
	}
	if !has {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_entries ADD COLUMN canonical BLOB`); err != nil {
			return err
		}
	}
	put, err := tx.PrepareContext(ctx, `UPDATE audit_entries SET canonical = $3 WHERE chain = $1 AND seq = $2`)
	if err != nil {
		return err
	}
	defer put.Close()
	chain, seq := "", int64(0)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT chain, seq, time_us, actor_kind, actor_id, action,
			subject_org, subject_identity, subject_version, details, prev_hash FROM audit_entries
			WHERE canonical IS NULL AND (chain > $1 OR (chain = $1 AND seq > $2)) ORDER BY chain, seq LIMIT $3`,
			chain, seq, auditBatch)
		if err != nil {
			return err
		}
		type fill struct {
			chain string
			seq   int64
			canon []byte
		}
		var fills []fill
		n := 0
		for rows.Next() {
			var (
				e       audit.Entry
				us, ver int64
				details sql.NullString
				prev    []byte
			)
			if err := rows.Scan(&e.Chain, &seq, &us, &e.Actor.Kind, &e.Actor.ID, &e.Action,
				&e.Subject.Org, &e.Subject.Identity, &ver, &details, &prev); err != nil {
				rows.Close()
				return err
			}
			chain, n = e.Chain, n+1
			e.Seq, e.Time, e.Subject.Version = uint64(seq), fromMicros(us), int(ver)
			if details.Valid {
				if e.Details, err = decodeDetails(details.String); err != nil {
					continue
				}
			}
			if seq < 1 || len(prev) != len(e.PrevHash) {
				continue
			}
			copy(e.PrevHash[:], prev)
			fills = append(fills, fill{e.Chain, seq, e.Canonical()})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range fills {
			if _, err := put.ExecContext(ctx, f.chain, f.seq, f.canon); err != nil {
				return fmt.Errorf("audit entry %q/%d: %w", f.chain, f.seq, err)
			}
		}
		if n < auditBatch {
			return nil
		}
	}
}

// hasColumn reports whether table has column, by selecting it inside a
// savepoint (a failed statement aborts a PostgreSQL transaction).
func hasColumn(ctx context.Context, tx *sql.Tx, table, column string) (bool, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT sealkeep_probe`); err != nil {
		return false, err
	}
	_, probeErr := tx.ExecContext(ctx, `SELECT `+column+` FROM `+table+` WHERE 1 = 0`)
	if probeErr != nil {
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT sealkeep_probe`); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT sealkeep_probe`); err != nil {
		return false, err
	}
	return probeErr == nil, nil
}
