package sqlcore

import (
	"encoding/hex"

	"sealkeep/internal/audit"
)

func (t *tx) AuditByCertSHA256(sum [32]byte) ([]audit.Entry, error) {
	return t.auditBy(TrailKeyCert, sum, "certificate")
}

func (t *tx) AuditBySPKISHA256(sum [32]byte) ([]audit.Entry, error) {
	return t.auditBy(TrailKeySPKI, sum, "public key")
}

// auditBy reads the entries whose detail that kind selects is the
// lower-case hex of sum, through the index on that expression of their
// canonical encoding (see TrailKey).
func (t *tx) auditBy(kind string, sum [32]byte, what string) ([]audit.Entry, error) {
	q := `SELECT ` + entryCols + ` FROM audit_entries WHERE ` + trailKeyExpr(kind) + ` = $1 ORDER BY chain, seq`
	rows, err := t.query(q, []byte(hex.EncodeToString(sum[:])))
	if err != nil {
		return nil, t.fail(err, "audit entries recording %s SHA-256 %x", what, sum)
	}
	return collect(t, rows, scanEntry, "audit entries recording a "+what)
}
