package store

import (
	"time"

	"sealkeep/internal/audit"
)

// MaxCredentialIDLen is the longest WebAuthn credential ID the store keeps
// (the WebAuthn limit, 1023 bytes).
const MaxCredentialIDLen = 1023

// WebAuthnCredential is a user's passkey (package passkey): the public
// key of a credential whose private key the user's authenticator holds.
// The row is a cache: the audit trail's passkey.register entry is what
// the key is checked against.
type WebAuthnCredential struct {
	// ID is the credential ID (1 to [MaxCredentialIDLen] bytes), unique
	// across users.
	ID     []byte
	UserID string
	// Name is the user's name for it ("YubiKey 5C", "laptop").
	Name string
	// PublicKey is the credential public key as a COSE_Key.
	PublicKey []byte
	// SignCount is the highest signature counter seen (0 for an
	// authenticator without one).
	SignCount uint32
	// BackupEligible and BackupState are the BE and BS flags of the last
	// ceremony: a credential that may be, and one that is, synced
	// elsewhere.
	BackupEligible, BackupState bool
	// AAGUID names the authenticator model (16 bytes, zero when unknown).
	AAGUID []byte
	// Attestation is the format of the registration's attestation
	// statement ("none", "packed", ...).
	Attestation string
	// Transports are the authenticator's transports ("usb", "internal",
	// ...), hints for the browser.
	Transports []string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
}

// WebAuthnCeremony is the relying party's state between the begin and
// finish of one WebAuthn ceremony, kept in the store so that any server
// instance can finish what another began, once.
type WebAuthnCeremony struct {
	// ID is the handle the client sends back (random).
	ID     string
	UserID string
	// Kind is "register" or "seal".
	Kind string
	// Session is the relying party's ceremony state (the challenge, the
	// credentials allowed, ...), as package passkey encodes it.
	Session []byte
	// Intent is the canonical seal intent a seal ceremony's challenge is
	// the digest of; nil for a registration.
	Intent    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// WebAuthnReadTx reads passkeys and ceremonies. Lookups of a missing row
// return [ErrNotFound].
type WebAuthnReadTx interface {
	// WebAuthnCredential finds a credential by its ID, whoever's it is.
	WebAuthnCredential(id []byte) (WebAuthnCredential, error)
	// WebAuthnCredentials lists a user's credentials, by ID.
	WebAuthnCredentials(userID string) ([]WebAuthnCredential, error)
	WebAuthnCeremony(id string) (WebAuthnCeremony, error)
	// AuditByCredentialID returns the passkey.register and passkey.remove
	// entries whose credential_id detail is credentialID (base64url), of
	// every chain, by chain and seq: an indexed lookup on the entries
	// themselves, so an edited or inserted credential row is found out.
	// The entries are as stored; only verifying their chain proves them.
	AuditByCredentialID(credentialID string) ([]audit.Entry, error)
}

// WebAuthnTx changes passkeys and ceremonies.
type WebAuthnTx interface {
	// PutWebAuthnCredential inserts a credential: ErrConflict if its ID is
	// taken (by any user), ErrNotFound if the user does not exist,
	// ErrInvalid for an ID that is empty or too long.
	PutWebAuthnCredential(WebAuthnCredential) error
	// UseWebAuthnCredential records an assertion with signature counter
	// count and backup state backup at at, in one statement: only if count
	// is greater than the stored counter, or both are 0 (an authenticator
	// without a counter). Otherwise ErrConflict: the counter did not
	// advance (a cloned authenticator, or another request used it with
	// this counter first). ErrNotFound if the credential does not exist.
	UseWebAuthnCredential(id []byte, count uint32, backup bool, at time.Time) error
	// DeleteWebAuthnCredential deletes a credential of userID (ErrNotFound
	// if the user has none with that ID).
	DeleteWebAuthnCredential(userID string, id []byte) error
	// PutWebAuthnCeremony inserts a ceremony: ErrConflict if its ID is
	// taken, ErrNotFound if the user does not exist.
	PutWebAuthnCeremony(WebAuthnCeremony) error
	// TakeWebAuthnCeremony deletes a ceremony and returns it, so that it
	// is finished once: ErrNotFound if there is none (never begun, or
	// another request, of any instance, took it first). It does not look
	// at the expiry.
	TakeWebAuthnCeremony(id string) (WebAuthnCeremony, error)
	// DeleteExpiredWebAuthnCeremonies deletes every ceremony, of every
	// user, that expired at or before now, and returns how many.
	DeleteExpiredWebAuthnCeremonies(now time.Time) (int64, error)
}
