// Package passkey is sealkeep's WebAuthn layer (github.com/go-webauthn/
// webauthn), on top of package store and with no HTTP in it: users
// register passkeys, and a passkey approves one seal by signing the seal's
// intent.
//
// # Registration
//
// [Service.BeginRegistration] returns the options for
// navigator.credentials.create(): user verification required, a resident
// key preferred, the algorithms the audit trail can check
// ([audit.COSEAlgorithms]), attestation "none" unless [Config.Attestation]
// names a format the credential must then be attested with. The ceremony's
// state is kept in the store ([store.WebAuthnCeremony]), so that any
// server instance finishes it, once, within [Config.CeremonyTTL].
// [Service.CheckRegistration] verifies the browser's answer and
// [Service.CommitRegistration] records it, in one transaction with the
// passkey.register entry of the system chain (the credential ID, its
// COSE public key, the relying party, its name, the authenticator's
// AAGUID, the attestation format, the backup flags and the counter) and
// with the caller's step-up ([StepUp]: the user's existing second factor
// approving exactly this credential). [Service.RemoveCredential] deletes
// one, audited as passkey.remove with its ID and key.
//
// # Transaction-bound approval
//
// For a seal, the WebAuthn challenge is the seal intent's digest
// ([intent.Intent.Digest]): [Service.BeginSeal] keeps the canonical intent
// with the ceremony and [Service.CheckAssertion] accepts only an assertion,
// by one of the user's credentials, user verified, whose client data's
// challenge is that digest, and whose signature counter advanced. The
// [Assertion] it returns is committed ([Service.CommitAssertion]) in the
// transaction that appends the seal entry: the ceremony is taken (one
// approval seals once, across instances) and the counter advanced in one
// conditional statement. A counter that did not advance is refused and
// audited as security.passkey_counter: a possibly cloned authenticator.
// The seal entry records the assertion itself ([Assertion.Evidence]), which
// `sealkeep audit verify` checks again against the key the trail
// registered ([audit.CheckSealApproval]).
//
// # The trail decides
//
// The credentials table is a cache. Before a credential is offered,
// listed, used or removed, its row is checked against the trail's own
// index of passkey entries ([store.WebAuthnReadTx.AuditByCredentialID]):
// the last entry naming its ID must register it to that user with that
// public key for this relying party. A row that differs (edited, or
// inserted outside sealkeep) is refused with [ErrStateMismatch] and
// audited as security.state_mismatch.
package passkey

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"sealkeep/internal/audit"
	"sealkeep/internal/errs"
	"sealkeep/internal/store"
)

// Errors. Every error of this package wraps one of them or a store error.
var (
	// ErrInvalidInput reports a malformed request (a name, a ceremony
	// answer that is not WebAuthn JSON).
	ErrInvalidInput = errs.New(errs.Invalid, "invalid passkey request")
	// ErrCeremony reports a ceremony that is unknown, another user's,
	// expired or already finished.
	ErrCeremony = errs.New(errs.Unauthenticated, "the passkey ceremony is unknown, expired or already finished; begin again")
	// ErrAssertion reports a registration or assertion that did not
	// verify (wrong challenge, origin, relying party or signature, no user
	// verification, a credential that is not the user's).
	ErrAssertion = errs.New(errs.Unauthenticated, "the passkey did not verify")
	// ErrCounter reports an assertion whose signature counter did not
	// advance past the stored one: a cloned authenticator, or the same
	// authenticator used twice at once. It also wraps ErrAssertion.
	ErrCounter = errs.New(errs.Unauthenticated, "the passkey's signature counter did not advance (a cloned authenticator?)")
	// ErrNoPasskey reports a user without a registered passkey.
	ErrNoPasskey = errs.New(errs.Forbidden, "no passkey is registered for this account")
	// ErrConflict reports a credential already registered (to anyone) or
	// a user at the credential limit.
	ErrConflict = errs.New(errs.Conflict, "the passkey cannot be registered")
	// ErrStateMismatch reports a stored credential that differs from what
	// the audit trail registered: the row was edited or inserted outside
	// sealkeep. Nothing was done with it.
	ErrStateMismatch = errs.New(errs.Verification, "the stored passkey differs from the audit trail")
	// ErrUnauthenticated reports an unknown or disabled account.
	ErrUnauthenticated = errs.New(errs.Unauthenticated, "authentication failed")
)

// errCounter is ErrCounter and ErrAssertion.
var errCounter = fmt.Errorf("%w: %w", ErrAssertion, ErrCounter)

// Ceremony kinds ([store.WebAuthnCeremony.Kind]).
const (
	kindRegister = "register"
	kindSeal     = "seal"
)

// Defaults of [Config].
const (
	DefaultCeremonyTTL    = 5 * time.Minute
	DefaultMaxCredentials = 10
	maxNameLen            = 64
)

// Config configures a [Service].
type Config struct {
	// RPID is the WebAuthn relying party ID: the server's host name
	// ("sealkeep.example.com", or "localhost"), never an IP address.
	RPID string
	// RPName is shown by authenticators (default "sealkeep").
	RPName string
	// Origins are the page origins a ceremony may come from
	// ("https://sealkeep.example.com").
	Origins []string
	// Attestation, if set, is the attestation statement format
	// ("packed", "tpm", ...) every new credential must carry: direct
	// attestation is asked for, and a credential attested otherwise is
	// refused. The statement is verified, but without a metadata service
	// its certificate is not judged: the format is a policy, not a trust
	// decision. Empty means attestation "none".
	Attestation string
	// CeremonyTTL is how long a begun ceremony may be finished (default
	// 5 minutes; a seal's also ends with its intent).
	CeremonyTTL time.Duration
	// MaxCredentials bounds the passkeys of one user (default 10).
	MaxCredentials int
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives warnings (default: discard).
	Logger *slog.Logger
}

// Service is the passkey API. It is safe for concurrent use, and several
// Services (server instances) may share one store.
type Service struct {
	st  store.Store
	wa  *webauthn.WebAuthn
	cfg Config
	log *slog.Logger
}

// New returns a service over st.
func New(st store.Store, cfg Config) (*Service, error) {
	if cfg.RPName == "" {
		cfg.RPName = "sealkeep"
	}
	if cfg.CeremonyTTL <= 0 {
		cfg.CeremonyTTL = DefaultCeremonyTTL
	}
	if cfg.MaxCredentials <= 0 {
		cfg.MaxCredentials = DefaultMaxCredentials
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RPID == "" || len(cfg.Origins) == 0 {
		return nil, fmt.Errorf("passkey: a relying party ID and at least one origin are required")
	}
	pref := protocol.PreferNoAttestation
	if cfg.Attestation != "" {
		pref = protocol.PreferDirectAttestation
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: cfg.RPID, RPDisplayName: cfg.RPName, RPOrigins: cfg.Origins,
		AttestationPreference: pref,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: cfg.CeremonyTTL, TimeoutUVD: cfg.CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{st: st, wa: wa, cfg: cfg, log: log}, nil
}

// RPID returns the relying party ID.
func (s *Service) RPID() string { return s.cfg.RPID }

// now returns the current time as the store keeps it.
func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// b64 is how credential IDs and keys appear in audit entries and JSON.
var b64 = base64.RawURLEncoding

// newCeremonyID returns a random ceremony handle (128 bits).
func newCeremonyID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "wc-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// user is a sealkeep user as go-webauthn sees it: the user handle is the
// user ID (random, no personal data).
type user struct {
	u     store.User
	creds []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return []byte(u.u.ID) }
func (u user) WebAuthnName() string                       { return u.u.Login }
func (u user) WebAuthnDisplayName() string                { return u.u.Login }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// activeUser reads an enabled user; anything else is ErrUnauthenticated.
func activeUser(tx store.ReadTx, id string) (store.User, error) {
	u, err := tx.User(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.DisabledAt.IsZero()) {
		return store.User{}, ErrUnauthenticated
	}
	return u, err
}

// flags are the authenticator flags a stored credential stands for.
func flags(c store.WebAuthnCredential) protocol.AuthenticatorFlags {
	f := protocol.FlagUserPresent | protocol.FlagUserVerified
	if c.BackupEligible {
		f |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		f |= protocol.FlagBackupState
	}
	return f
}

// libCredential is a stored credential as go-webauthn takes it.
func libCredential(c store.WebAuthnCredential) webauthn.Credential {
	var ts []protocol.AuthenticatorTransport
	for _, t := range c.Transports {
		ts = append(ts, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{ID: c.ID, PublicKey: c.PublicKey, AttestationFormat: c.Attestation, Transport: ts,
		Flags: webauthn.NewCredentialFlags(flags(c)), Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount}}
}

// checkedCredentials reads a user's credentials, each checked against the
// trail ([Service.checkRow]).
func (s *Service) checkedCredentials(tx store.ReadTx, userID string) ([]store.WebAuthnCredential, error) {
	cs, err := tx.WebAuthnCredentials(userID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if _, err := s.checkRow(tx, c); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// checkRow checks a credential row against the trail's index of passkey
// entries: the last one naming its ID must be the system chain's
// passkey.register of this user, with this public key, for this relying
// party. It returns that entry.
func (s *Service) checkRow(tx store.ReadTx, c store.WebAuthnCredential) (audit.Entry, error) {
	id := b64.EncodeToString(c.ID)
	es, err := tx.AuditByCredentialID(id)
	if err != nil {
		return audit.Entry{}, err
	}
	// Passkey entries are valid in the system chain only (audit.Entry.Validate).
	var last *audit.Entry
	if n := len(es); n > 0 {
		last = &es[n-1]
	}
	mismatch := func(what string) (audit.Entry, error) {
		return audit.Entry{}, &mismatchError{user: c.UserID, credential: id,
			msg: fmt.Sprintf("%v: credential %s of user %s %s", ErrStateMismatch, id, c.UserID, what)}
	}
	switch {
	case last == nil:
		return mismatch("is not registered in the audit trail")
	case last.Action != audit.ActionPasskeyRegister:
		return mismatch(fmt.Sprintf("was removed (system seq %d)", last.Seq))
	case last.Details[audit.DetailUser] != c.UserID:
		return mismatch(fmt.Sprintf("is registered to another user (system seq %d)", last.Seq))
	case last.Details[audit.DetailPublicKey] != b64.EncodeToString(c.PublicKey):
		return mismatch(fmt.Sprintf("has another public key than the trail registered (system seq %d)", last.Seq))
	case last.Details[audit.DetailRPID] != s.cfg.RPID:
		return mismatch(fmt.Sprintf("is registered for relying party %q (system seq %d)", last.Details[audit.DetailRPID], last.Seq))
	}
	return *last, nil
}

// mismatchError is an [ErrStateMismatch] about one credential.
type mismatchError struct {
	user, credential, msg string
}

func (e *mismatchError) Error() string { return e.msg }
func (e *mismatchError) Unwrap() error { return ErrStateMismatch }

// refused records a state mismatch in err (if any) as
// security.state_mismatch in the system chain, in a transaction of its
// own, and returns err with any failure to record.
func (s *Service) refused(ctx context.Context, actor string, err error) error {
	var m *mismatchError
	if !errors.As(err, &m) {
		return err
	}
	e := audit.Entry{Chain: audit.SystemChain, Time: s.now(), Actor: audit.Actor{Kind: audit.ActorUser, ID: actor},
		Action: audit.ActionSecurityStateMismatch, Details: map[string]string{audit.DetailUser: m.user,
			audit.DetailCredentialID: m.credential, audit.DetailError: truncate(m.msg, audit.MaxDetailValueLen)}}
	rerr := s.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		_, err := tx.AppendAudit(e)
		return err
	})
	if rerr != nil {
		s.log.ErrorContext(ctx, "could not record a passkey state mismatch", "user", m.user, "err", rerr)
		return errors.Join(err, fmt.Errorf("record state mismatch: %w", rerr))
	}
	s.log.WarnContext(ctx, "stored passkey differs from the audit trail", "user", m.user, "credential", m.credential)
	return err
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xc0) == 0x80 {
		n--
	}
	return s[:n]
}

// checkName refuses a credential name that is empty, long or not
// printable.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: a passkey name is 1 to %d bytes", ErrInvalidInput, maxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == 0xfffd || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: a passkey name is printable text", ErrInvalidInput)
		}
	}
	return nil
}

// verifyError wraps a go-webauthn refusal: its details (never a secret)
// say why, under ErrAssertion.
func verifyError(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		msg := pe.Details
		if msg == "" {
			msg = pe.Type
		}
		return fmt.Errorf("%w: %s", ErrAssertion, truncate(msg, 256))
	}
	return fmt.Errorf("%w: %v", ErrAssertion, err)
}
