package sqlcore

import (
	"fmt"

	"sealkeep/internal/audit"
)

// AuditSeals finds seal entries by their signature_sha256 detail through
// the partial expression index of migration 0005 (Dialect.SealSignature
// is the indexed expression).
func (t *tx) AuditSeals(signatureSHA256 string) ([]audit.Entry, error) {
	if !validText(signatureSHA256) {
		return nil, nil
	}
	q := `SELECT ` + entryCols + ` FROM audit_entries
		WHERE action = 'seal' AND ` + t.s.d.SealSignature + ` = $1 ORDER BY chain, seq`
	rows, err := t.query(q, signatureSHA256)
	if err != nil {
		return nil, t.fail(err, "seal entries of signature %.64s", signatureSHA256)
	}
	return collect(t, rows, scanEntry, fmt.Sprintf("seal entries of signature %.64s", signatureSHA256))
}
