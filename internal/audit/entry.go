// Package audit is sealkeep's tamper-evident record: one hash chain per
// organization plus a "system" chain for platform events.
//
// An [Entry] is hashed over a domain-separated canonical encoding of every
// field and the previous entry's hash. The audit trail is the source of
// truth for certificate status.
//
// # Hashing
//
// [Entry.ComputeHash] is SHA-256 over [Entry.Canonical]: the tag
// "sealkeep/audit/v1", then every field except Hash, each variable-length
// field length-prefixed, details in key order, time as UTC unix
// microseconds. [Hash] marshals as lowercase hex.
//
// # Verification
//
// [Verify] (or a [Verifier] fed entry by entry) reads a chain once, in
// constant memory, and returns a [Report] naming the first broken entry and
// the [Problem]: edited, deleted, reordered, inserted, duplicated, time or
// invalid. A bare hash chain cannot see a cut-off tail or a history rewritten
// consistently from some entry on; a signed [Checkpoint] kept elsewhere can:
// [VerifyAgainstCheckpoint] reports those as truncated or rewritten.
//
// A store also keeps a [Head] record per chain (its appenders lock it);
// [CheckHead] compares it with the chain's last entry, and
// [Verifier.ExpectHead] makes verification report a missing record (head),
// a deleted tail (truncated), entries past the record (inserted) or another
// hash (rewritten). That catches an insider who deletes rows without also
// rewriting the head record; one who rewrites both consistently is caught
// only by a checkpoint. [Verifier.ExpectFirst] requires a chain's genesis
// (an organization's chain begins with org.create).
//
// # Merkle tree
//
// Each chain is also an RFC 6962 Merkle tree over its entry hashes: leaf i
// is [LeafHash] of entry i+1. A [Tree] holds its right edge, appends in
// O(log n) and yields the hashes golang.org/x/mod/sumdb/tlog stores for
// proofs; the store keeps both. A [Verifier] builds the tree in the same
// pass ([Report.Tree]) and, given a signed tree head
// ([Verifier.ExpectTree], from a C2SP checkpoint: package translog),
// reports a chain that does not reach it as truncated and one whose tree
// at that size has another root as rewritten.
//
// # Checkpoints
//
// A [Checkpoint] is an Ed25519-signed statement of (chain, seq, head hash,
// time). [MarshalCheckpoint] and [ParseCheckpoint] read and write its small
// text format; [CreateCheckpointKeyFile] and [LoadCheckpointKey] manage the
// signing key, a [CheckpointKey] that never prints its secret.
//
// # Lifecycle
//
// Certificate-version status ([Status]) changes only through [Next], the
// single table of allowed transitions. [Fold] replays a chain through [State],
// which also enforces the identity-wide rules (at most one active version;
// rotation supersedes the active one), and yields every version's status
// and what the trail records of its custody: the certificate's and public
// key's SHA-256, the key reference and the DEK version of its key blob
// ([VersionState]). Stored state is a cache of that fold, checked against
// it before use. [StatusAt] answers what a version's status was at a given
// time.
//
// # Export
//
// [WriteJSONL] writes one JSON object per line; [DecodeJSONL] and
// [ParseEntry] read them back strictly (unknown or duplicate fields, missing
// fields, malformed hashes and oversized input are rejected).
package audit

import "time"

// SystemChain is the chain that records platform events (KEK rotation,
// organization creation).
const SystemChain = "system"

// Action names what an entry records. The set is closed: verification and
// the status fold know every value.
type Action string

// Actions recorded in the trail.
const (
	ActionOrgCreate       Action = "org.create"
	ActionIdentityCreate  Action = "identity.create"
	ActionKeyGenerate     Action = "key.generate"     // local key generated, CSR issued: version pending
	ActionKeyExternal     Action = "key.external"     // external key referenced, CSR issued: version pending
	ActionCertUpload      Action = "cert.upload"      // CA certificate uploaded for a pending version: ready
	ActionCertImport      Action = "cert.import"      // certificate + key imported: ready
	ActionVersionActivate Action = "version.activate" // ready -> active (no version was active)
	ActionVersionRotate   Action = "version.rotate"   // ready -> active, previous active -> superseded
	ActionVersionRevoke   Action = "version.revoke"
	ActionVersionDestroy  Action = "version.destroy"
	ActionSeal            Action = "seal"
	ActionDEKCreate       Action = "dek.create"
	ActionKEKRotate       Action = "kek.rotate"
	ActionKEKRetire       Action = "kek.retire"
	// Security events: failed checks, recorded even though nothing changed.
	ActionSecurityDecryptFailed  Action = "security.decrypt_failed"
	ActionSecurityImportRejected Action = "security.import_rejected"
	ActionSecuritySignFailed     Action = "security.sign_failed"
	// ActionSecurityStateMismatch: stored state (a version's status,
	// certificate, key, key reference or DEK version, or an org's data key)
	// differed from what the trail records, and the action was refused.
	ActionSecurityStateMismatch Action = "security.state_mismatch"
)

// KeyRefLocal is the key reference (the key_ref detail) of a key held
// encrypted in the database; any other reference names an external key.
const KeyRefLocal = "local"

// Actor kinds.
const (
	ActorUser   = "user"   // a user of the service, by user ID
	ActorCLI    = "cli"    // the OS user running the CLI on the data directory
	ActorSystem = "system" // sealkeep itself; the ID may be empty
)

// Actor is who did something. Kind is [ActorUser], [ActorCLI] or
// [ActorSystem]; ID is a stable identifier (a user ID, or the OS user
// running the CLI), required except for the system.
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Subject is what an entry is about. Zero values mean "not applicable".
type Subject struct {
	Org      string `json:"org,omitempty"`
	Identity string `json:"identity,omitempty"`
	Version  int    `json:"version,omitempty"`
}

// Well-known keys of [Entry.Details].
const (
	DetailOldThumbprint  = "old_thumbprint"
	DetailNewThumbprint  = "new_thumbprint"
	DetailThumbprint     = "thumbprint"
	DetailReason         = "reason"
	DetailDocumentDigest = "document_digest"
	DetailRequestID      = "request_id"
	DetailKeyRef         = "key_ref"
	DetailProvider       = "provider"
	DetailError          = "error"
	DetailKEKVersion     = "kek_version"
	DetailDEKVersion     = "dek_version"
	DetailRevokedAt      = "revoked_at"
	DetailLicence        = "licence"
	DetailMFAMethod      = "mfa_method"
	DetailAlgorithm      = "algorithm"
	DetailOldVersion     = "old_version"
	// DetailOwner is the owner of an identity, as identity.create records
	// it (a user ID for identities made through the service).
	DetailOwner = "owner"
	// DetailSPKISHA256 is the SHA-256 (hex) of a version's public key, as
	// SubjectPublicKeyInfo DER, recorded when the version is created and
	// when its certificate is uploaded.
	DetailSPKISHA256 = "spki_sha256"
	// DetailReencrypted is the number of key blobs a DEK rotation
	// re-encrypted under the new DEK (dek.create).
	DetailReencrypted = "reencrypted"
)

// Entry is one link of a chain. Seq starts at 1 and has no gaps; PrevHash of
// entry 1 is all zeros; Hash is [Entry.ComputeHash] of everything else.
type Entry struct {
	// Chain is the organization ID, or [SystemChain]: 1 to 256 bytes of
	// UTF-8, no control characters, no leading or trailing white space.
	Chain    string            `json:"chain"`
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"` // UTC, truncated to microseconds
	Actor    Actor             `json:"actor"`
	Action   Action            `json:"action"`
	Subject  Subject           `json:"subject"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash Hash              `json:"prev_hash"`
	Hash     Hash              `json:"hash"`
}
