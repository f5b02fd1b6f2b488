// Package store is sealkeep's persistence: one interface, two
// implementations (store/sqlite, the embedded default, and store/postgres)
// that pass the same contract tests (store/storetest).
//
// Every state change happens inside [Store.Update] together with the audit
// entry that records it: if the entry cannot be written, the change does not
// happen. Each append also extends the chain's RFC 6962 Merkle tree
// ([audit.Tree]), whose stored hashes serve inclusion and consistency
// proofs ([ReadTx.AuditTreeHashes]). [Tx.AppendAudit] serialises appends per chain, across goroutines
// and across processes, so each chain stays linear.
//
// # Opening
//
// Package store/open dispatches a DSN to a backend: "postgres://" and
// "postgresql://" URLs to PostgreSQL, "sqlite:PATH" or a plain file path to
// SQLite. Each backend applies its embedded schema migrations when opened and
// refuses a database whose schema is newer than the binary
// ([ErrSchemaTooNew]).
//
// # Transactions
//
// [Store.Update] may run fn more than once: when the database reports a
// serialisation failure, a deadlock or a busy lock, the transaction is
// rolled back and fn is called again after a short, bounded backoff. fn must
// therefore have no effects outside tx (no network calls, no signing, no
// channel sends) and must not call Update or View itself.
//
// A read-modify-write transaction should call [Tx.LockChain] on the chain it
// will append to before it reads: on PostgreSQL, Update runs at READ
// COMMITTED, and the chain lock is what makes the reads that follow current
// and keeps a concurrent writer of the same organization out until commit.
// On SQLite every Update holds the database write lock, so LockChain only
// documents intent there.
//
// A Tx method that fails with anything other than [ErrNotFound],
// [ErrConflict] or [ErrInvalid] poisons the transaction: Update then rolls
// back even if fn returns nil (fail closed).
//
// # Accounts
//
// [AuthReadTx] and [AuthTx] (part of ReadTx and Tx) keep package auth's
// users, memberships, TOTP enrolments, accepted TOTP steps, recovery codes,
// sessions, API tokens and failure counters. Nothing secret is stored in
// the clear: credentials are found by their SHA-256 and TOTP secrets are
// sealed. Accepted TOTP steps and failure counters are shared by every
// instance: [AuthTx.UseTOTPStep] inserts a unique (user, step) row and
// [AuthTx.CountFailure] counts in one atomic statement. The platform's own
// data keys ([SystemDEKOrg]) go through the DEK methods beside the org
// DEKs, so that KEK rotation re-wraps them too.
//
// # Idempotency keys
//
// [IdempotencyReadTx] and [IdempotencyTx] keep the server's
// Idempotency-Key records, unique per (user, key) across instances, with
// the result a retry gets back for a bounded time.
//
// # Passkeys
//
// [WebAuthnReadTx] and [WebAuthnTx] keep package passkey's credentials
// (a cache of the trail's passkey.register entries) and the state of
// WebAuthn ceremonies between their begin and finish, shared by every
// instance: [WebAuthnTx.TakeWebAuthnCeremony] deletes a ceremony as it
// reads it, so one request finishes it, and
// [WebAuthnTx.UseWebAuthnCredential] advances a signature counter in one
// conditional statement, so a counter never goes back.
//
// # Values
//
// Times are stored as UTC microseconds and read back in UTC. Byte slices
// round-trip exactly, nil and empty kept apart; the elements of
// [Version.ChainDER] read back non-nil. Strings must be valid UTF-8 without
// NUL bytes ([ErrInvalid] otherwise). Lists are ordered by primary key.
//
// # Thumbprints
//
// Each version row also holds the SHA-256 of its certificate and of its
// public key, written by [Tx.PutVersion] and checked on every read (a row
// whose hashes do not match its contents reads as [ErrCorrupt]). They are
// unique across all organizations, so a certificate or key is held by at
// most one version, and [ReadTx.VersionByCertSHA256] and
// [ReadTx.VersionBySPKISHA256] find it by index.
package store

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"sealkeep/internal/audit"
	"sealkeep/internal/errs"
)

// Errors shared by every implementation.
var (
	ErrNotFound = errs.New(errs.NotFound, "not found")
	ErrConflict = errs.New(errs.Conflict, "already exists or changed concurrently")
	// ErrInvalid reports a value the store cannot keep exactly (a string
	// that is not UTF-8 or holds NUL, a number out of range).
	ErrInvalid = errs.New(errs.Invalid, "invalid value")
	// ErrSchemaTooNew reports a database migrated by a newer sealkeep.
	ErrSchemaTooNew = errs.New(errs.Internal, "database schema is newer than this binary")
	// ErrCorrupt reports a stored row whose values disagree with each
	// other (a version whose thumbprint columns are not the hashes of its
	// certificate and key): the database was edited outside sealkeep.
	ErrCorrupt = errs.New(errs.Verification, "stored data is inconsistent")
)

// MaxAuditPage bounds the entries one [ReadTx.AuditPage] returns.
const MaxAuditPage = 1000

// Store opens transactions.
type Store interface {
	// Update runs fn in one read-write transaction and commits if fn returns
	// nil. Implementations retry serialisation failures by calling fn again,
	// so fn must not have side effects outside tx.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(ReadTx) error) error
	// Close releases the database.
	Close() error
}

// ReadTx reads one consistent snapshot.
type ReadTx interface {
	Org(id string) (Org, error)
	Orgs() ([]Org, error)
	Identity(id string) (Identity, error)
	Identities(orgID string) ([]Identity, error)
	Version(identityID string, version int) (Version, error)
	Versions(identityID string) ([]Version, error)
	// VersionByCertSHA256 returns the version, of any org, whose
	// certificate DER has this SHA-256; VersionBySPKISHA256 the version
	// whose public key (SubjectPublicKeyInfo DER) has it. Both are indexed
	// lookups; at most one version holds a given certificate or key
	// (ErrNotFound if none does).
	VersionByCertSHA256(sum [32]byte) (Version, error)
	VersionBySPKISHA256(sum [32]byte) (Version, error)
	// AuditByCertSHA256 returns the entries, of every chain, that record
	// the certificate whose DER has this SHA-256 (cert.import and
	// cert.upload entries whose thumbprint detail is its lower-case hex);
	// AuditBySPKISHA256 those that record the public key
	// (SubjectPublicKeyInfo DER) with it (key.generate, key.external,
	// cert.import and cert.upload entries, by their spki_sha256 detail).
	// Both are ordered by chain and seq, and are indexed lookups on the
	// entries themselves, not on a copy: a version row deleted or edited
	// leaves them as they were. The entries are as stored; only verifying
	// their chain proves them.
	AuditByCertSHA256(sum [32]byte) ([]audit.Entry, error)
	AuditBySPKISHA256(sum [32]byte) ([]audit.Entry, error)
	// DEK returns one wrapped data key of an org; DEKs lists an org's, oldest
	// first; AllDEKs lists every org's (for KEK rotation).
	DEK(orgID string, version uint32) (WrappedDEK, error)
	DEKs(orgID string) ([]WrappedDEK, error)
	AllDEKs() ([]WrappedDEK, error)
	// AuditHead returns the last entry of a chain (ErrNotFound when empty).
	AuditHead(chain string) (audit.Entry, error)
	// AuditEntries streams a chain in storage order (by seq), starting at
	// fromSeq, without loading it into memory.
	AuditEntries(chain string, fromSeq uint64, fn func(audit.Entry) error) error
	// AuditPage returns at most limit (1 to MaxAuditPage) entries of a
	// chain from fromSeq on, in storage order, read by one query: a page
	// for a reader that pages through a chain in short transactions.
	AuditPage(chain string, fromSeq uint64, limit int) ([]audit.Entry, error)
	// AuditHeadRecord returns the head record of a chain, the seq and hash
	// its appender locks and moves (ErrNotFound when there is none). It
	// must agree with the chain's last entry ([audit.CheckHead]).
	AuditHeadRecord(chain string) (audit.Head, error)
	// AuditChains lists, in byte order, every chain the database knows of:
	// the union of the organizations (each has a chain of its ID), the
	// chains that have entries and the chains that have a head record
	// beyond seq 0. Deleting one kind of row hides no chain.
	AuditChains() ([]string, error)
	AuthReadTx
	IdempotencyReadTx
	WebAuthnReadTx
	// AuditSeals returns the seal entries ([audit.ActionSeal]), of every
	// chain, whose detail key is value, ordered by chain and seq: an
	// indexed lookup of seal receipts by [audit.DetailSignatureSHA256] and
	// of used approvals by [audit.DetailIntentSHA256] (any other key is
	// [ErrInvalid]). The entries are as stored; only verifying their chain
	// proves them.
	AuditSeals(key, value string) ([]audit.Entry, error)
	// AuditTree returns the size and root of a chain's stored Merkle tree
	// ([audit.Tree]; size 0 for an empty or unknown chain). Every append
	// extends it in the same transaction.
	AuditTree(chain string) (tlog.Tree, error)
	// AuditTreeHashes returns stored hashes of a chain's Merkle tree at
	// the given tlog.StoredHashIndex indexes, as a tlog.HashReader does
	// (ErrNotFound for an index not stored).
	AuditTreeHashes(chain string, indexes []int64) ([]tlog.Hash, error)
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx
	PutOrg(Org) error           // insert; ErrConflict if it exists
	PutIdentity(Identity) error // insert; ErrConflict if it exists
	// PutVersion inserts or replaces a certificate version. A certificate
	// or public key that another version holds is refused (ErrConflict).
	PutVersion(Version) error
	// PutDEK inserts or replaces a wrapped data key.
	PutDEK(WrappedDEK) error
	// LockChain locks the head of a chain until the transaction ends, so
	// that no other transaction appends to it meanwhile; see the package
	// documentation.
	LockChain(chain string) error
	// AppendAudit locks the head of e.Chain, checks that the head record
	// agrees with the chain's last entry ([audit.CheckHead]; on a
	// disagreement it appends nothing, poisons the transaction and returns
	// the [*audit.Break], so that a tampered chain is neither extended nor
	// restarted), sets e.Seq (head + 1),
	// e.PrevHash (the head's hash, zero for the first entry), e.Time (UTC,
	// truncated to microseconds; now if zero) and e.Hash
	// ([audit.Entry.ComputeHash]), stores e and returns it. An entry that
	// [audit.Entry.Validate] refuses is not stored ([ErrInvalid]).
	AppendAudit(e audit.Entry) (audit.Entry, error)
	AuthTx
	IdempotencyTx
	WebAuthnTx
	// AuditTreeBase returns the Merkle tree of chain as the transaction
	// found it when it first appended to the chain (under the chain's head
	// lock, before that append), and false if it has not appended to it.
	// It costs no query.
	AuditTreeBase(chain string) (tlog.Tree, bool)
}

// Org is a tenant.
type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Identity is a signing identity of one user in one org.
type Identity struct {
	ID        string
	OrgID     string
	Owner     string // user ID of the sealer who owns it
	Name      string // "Jane Doe, P.E. 12345, Texas"
	CreatedAt time.Time
}

// Version is a certificate version of an identity. Status is a cache of the
// audit fold and must always equal it.
type Version struct {
	IdentityID string
	Version    int
	Status     string // pending, ready, active, superseded, revoked, destroyed
	KeyRef     string // "local" or an external key URI (no secrets)
	KeyBlob    []byte // envelope-encrypted PKCS#8 (local keys); nil once destroyed
	PublicKey  []byte // SubjectPublicKeyInfo DER
	CSR        []byte // PKCS#10 DER, for generated keys
	CertDER    []byte // leaf, byte-for-byte as issued; nil while pending
	ChainDER   [][]byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// WrappedDEK is an org data-encryption key wrapped by one KEK version.
type WrappedDEK struct {
	OrgID       string
	Version     uint32
	KEKVersion  uint32
	Wrapped     []byte
	Encryptions uint64 // random-nonce encryptions made under this DEK
	CreatedAt   time.Time
}
