package sqlcore

import (
	"sealkeep/internal/audit"
)

// The trail's indexes (migration 0012) are built on an expression of each
// entry's canonical encoding, the authenticated data, not on its details
// or action columns: an insider who edits those columns (as one UPDATE
// can) no longer hides an entry from the lookups that custody and the
// verifier fail closed on (a certificate or key that custody holds, a
// seal's signature or approval, a passkey registered or removed). The expression is the SQL function
// sealkeep_trail_key(canonical, kind), registered with the SQLite driver
// (TrailKey) and written in PL/pgSQL for PostgreSQL, the two kept equal by
// the contract tests.
const (
	// TrailKeyCert selects the thumbprint detail of cert.import and
	// cert.upload entries.
	TrailKeyCert = "cert"
	// TrailKeySPKI selects the spki_sha256 detail of key.generate,
	// key.external, cert.import and cert.upload entries.
	TrailKeySPKI = "spki"
	// TrailKeySealSignature and TrailKeySealIntent select the
	// signature_sha256 and intent_sha256 details of seal entries.
	TrailKeySealSignature = "seal_signature"
	TrailKeySealIntent    = "seal_intent"
	// TrailKeyPasskey selects the credential_id detail of passkey.register
	// and passkey.remove entries.
	TrailKeyPasskey = "passkey"
)

// trailKeyExpr is the indexed expression of kind (a constant).
func trailKeyExpr(kind string) string { return `sealkeep_trail_key(canonical, '` + kind + `')` }

// TrailKey is sealkeep_trail_key: the detail that kind selects of the
// entry whose canonical encoding is canonical (its bytes, as the index
// holds them), or nil when the entry's action is not one kind names, it
// has no such detail, or canonical is not an encoding.
func TrailKey(canonical []byte, kind string) []byte {
	e, err := audit.ParseCanonical(canonical)
	if err != nil {
		return nil
	}
	var key string
	switch a := e.Action; kind {
	case TrailKeyCert:
		if a != audit.ActionCertImport && a != audit.ActionCertUpload {
			return nil
		}
		key = audit.DetailThumbprint
	case TrailKeySPKI:
		if a != audit.ActionKeyGenerate && a != audit.ActionKeyExternal && a != audit.ActionCertImport && a != audit.ActionCertUpload {
			return nil
		}
		key = audit.DetailSPKISHA256
	case TrailKeySealSignature, TrailKeySealIntent:
		if a != audit.ActionSeal {
			return nil
		}
		key = map[string]string{TrailKeySealSignature: audit.DetailSignatureSHA256, TrailKeySealIntent: audit.DetailIntentSHA256}[kind]
	case TrailKeyPasskey:
		if a != audit.ActionPasskeyRegister && a != audit.ActionPasskeyRemove {
			return nil
		}
		key = audit.DetailCredentialID
	default:
		return nil
	}
	v, ok := e.Details[key]
	if !ok {
		return nil
	}
	return []byte(v)
}
