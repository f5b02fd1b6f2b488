package sqlcore

import (
	"encoding/hex"

	"sealkeep/internal/audit"
)

// The actions whose entries record a certificate (their thumbprint detail)
// and a public key (their spki_sha256 detail): the WHERE clauses of the
// partial indexes of migration 0006, which a query must repeat to use them.
const (
	certActions = `action IN ('cert.import', 'cert.upload')`
	spkiActions = `action IN ('key.generate', 'key.external', 'cert.import', 'cert.upload')`
)

func (t *tx) AuditByCertSHA256(sum [32]byte) ([]audit.Entry, error) {
	return t.auditBy(audit.DetailThumbprint, certActions, sum, "certificate")
}

func (t *tx) AuditBySPKISHA256(sum [32]byte) ([]audit.Entry, error) {
	return t.auditBy(audit.DetailSPKISHA256, spkiActions, sum, "public key")
}

// auditBy reads the entries whose details key is the lower-case hex of sum
// among those actions selects, through the index on that expression.
func (t *tx) auditBy(key, actions string, sum [32]byte, what string) ([]audit.Entry, error) {
	q := `SELECT ` + entryCols + ` FROM audit_entries WHERE ` + actions + ` AND ` + t.s.d.Detail(key) + ` = $1 ORDER BY chain, seq`
	rows, err := t.query(q, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, t.fail(err, "audit entries recording %s SHA-256 %x", what, sum)
	}
	return collect(t, rows, scanEntry, "audit entries recording a "+what)
}
