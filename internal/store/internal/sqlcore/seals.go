package sqlcore

import (
	"fmt"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// AuditSeals finds seal entries by their signature_sha256 or
// intent_sha256 detail through the indexes on that expression of their
// canonical encoding (migration 0012, see TrailKey).
func (t *tx) AuditSeals(key, value string) ([]audit.Entry, error) {
	if key != audit.DetailSignatureSHA256 && key != audit.DetailIntentSHA256 {
		return nil, fmt.Errorf("store: seal entries by %.64q: only %s and %s are indexed: %w", key, audit.DetailSignatureSHA256, audit.DetailIntentSHA256, store.ErrInvalid)
	}
	if !validText(value) {
		return nil, nil
	}
	kind := TrailKeySealSignature
	if key == audit.DetailIntentSHA256 {
		kind = TrailKeySealIntent
	}
	q := `SELECT ` + entryCols + ` FROM audit_entries WHERE ` + trailKeyExpr(kind) + ` = $1 ORDER BY chain, seq`
	what := fmt.Sprintf("seal entries by %s %.64s", key, value)
	rows, err := t.query(q, []byte(value))
	if err != nil {
		return nil, t.fail(err, "%s", what)
	}
	return collect(t, rows, scanEntry, what)
}
