package passkey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Begun is a begun ceremony: the handle to finish it with and the options
// the page passes to navigator.credentials.create() (a
// *protocol.CredentialCreation) or get() (a *protocol.CredentialAssertion),
// both {"publicKey": {...}} as JSON.
type Begun[T any] struct {
	Ceremony string
	Options  T
	Expires  time.Time
}

// BeginRegistration starts the registration of a new passkey of userID:
// the creation options (user verification required, the user's passkeys
// excluded, the algorithms the trail can check) and the ceremony handle.
func (s *Service) BeginRegistration(ctx context.Context, userID string) (Begun[*protocol.CredentialCreation], error) {
	var out Begun[*protocol.CredentialCreation]
	var u user
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if u.u, err = activeUser(tx, userID); err != nil {
			return err
		}
		cs, err := s.checkedCredentials(tx, userID)
		if err != nil {
			return err
		}
		if len(cs) >= s.cfg.MaxCredentials {
			return fmt.Errorf("%w: the account has %d passkeys, the most it may have; remove one first", ErrConflict, len(cs))
		}
		for _, c := range cs {
			u.creds = append(u.creds, libCredential(c))
		}
		return nil
	})
	if err != nil {
		return out, s.refused(ctx, userID, err)
	}
	params := make([]protocol.CredentialParameter, len(audit.COSEAlgorithms))
	for i, alg := range audit.COSEAlgorithms {
		params[i] = protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.COSEAlgorithmIdentifier(alg)}
	}
	opts := []webauthn.RegistrationOption{
		webauthn.WithCredentialParameters(params),
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
	}
	if s.cfg.Attestation != "" {
		opts = append(opts, webauthn.WithAttestationFormats([]protocol.AttestationFormat{protocol.AttestationFormat(s.cfg.Attestation)}))
	}
	creation, session, err := s.wa.BeginRegistration(u, opts...)
	if err != nil {
		return out, fmt.Errorf("passkey: begin registration: %w", err)
	}
	id, exp, err := s.putCeremony(ctx, userID, kindRegister, session, nil, s.now().Add(s.cfg.CeremonyTTL))
	if err != nil {
		return out, err
	}
	return Begun[*protocol.CredentialCreation]{Ceremony: id, Options: creation, Expires: exp}, nil
}

// putCeremony stores a begun ceremony (deleting the expired ones of every
// user on the way) and returns its handle.
func (s *Service) putCeremony(ctx context.Context, userID, kind string, session *webauthn.SessionData, canonical []byte, expires time.Time) (string, time.Time, error) {
	sess, err := json.Marshal(session)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("passkey: ceremony state: %w", err)
	}
	now := s.now()
	c := store.WebAuthnCeremony{ID: newCeremonyID(), UserID: userID, Kind: kind, Session: sess, Intent: canonical,
		CreatedAt: now, ExpiresAt: expires.UTC().Truncate(time.Microsecond)}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.DeleteExpiredWebAuthnCeremonies(now); err != nil {
			return err
		}
		return tx.PutWebAuthnCeremony(c)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("passkey: begin: %w", err)
	}
	return c.ID, c.ExpiresAt, nil
}

// ceremony reads the ceremony id of userID of kind, unexpired, with its
// state; anything else is ErrCeremony.
func (s *Service) ceremony(tx store.ReadTx, userID, id, kind string) (store.WebAuthnCeremony, webauthn.SessionData, error) {
	var sess webauthn.SessionData
	c, err := tx.WebAuthnCeremony(id)
	if errors.Is(err, store.ErrNotFound) {
		return c, sess, ErrCeremony
	}
	if err != nil {
		return c, sess, err
	}
	if c.UserID != userID || c.Kind != kind || !s.now().Before(c.ExpiresAt) {
		return c, sess, ErrCeremony
	}
	if err := json.Unmarshal(c.Session, &sess); err != nil {
		return c, sess, fmt.Errorf("passkey: stored ceremony state: %w", err)
	}
	return c, sess, nil
}

// NewCredential is a registration checked by [Service.CheckRegistration],
// not yet recorded.
type NewCredential struct {
	// Credential is the row it will be.
	Credential store.WebAuthnCredential
	ceremony   string
}

// StepUpFields are what a step-up approving this registration must bind
// to (an auth.Action "passkey.register" of these fields): the user, the
// credential ID (base64url) and the SHA-256 of its public key (hex).
func (n NewCredential) StepUpFields() []string {
	h := sha256.Sum256(n.Credential.PublicKey)
	return []string{n.Credential.UserID, b64.EncodeToString(n.Credential.ID), hex.EncodeToString(h[:])}
}

// CheckRegistration verifies the browser's answer (the
// RegistrationResponseJSON of navigator.credentials.create()) to the
// registration ceremony of userID, without recording anything: the
// challenge, origin and relying party of the ceremony, user present and
// verified, a public key of [audit.COSEAlgorithms], the attestation
// format if one is required. name is the user's name for it.
func (s *Service) CheckRegistration(ctx context.Context, userID, ceremony, name string, response []byte) (NewCredential, error) {
	if err := checkName(name); err != nil {
		return NewCredential{}, err
	}
	var u user
	var sess webauthn.SessionData
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if u.u, err = activeUser(tx, userID); err != nil {
			return err
		}
		if _, sess, err = s.ceremony(tx, userID, ceremony, kindRegister); err != nil {
			return err
		}
		cs, err := s.checkedCredentials(tx, userID)
		for _, c := range cs {
			u.creds = append(u.creds, libCredential(c))
		}
		return err
	})
	if err != nil {
		return NewCredential{}, s.refused(ctx, userID, err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return NewCredential{}, fmt.Errorf("%w: %w", ErrInvalidInput, verifyError(err))
	}
	cred, err := s.wa.CreateCredential(u, sess, parsed)
	if err != nil {
		return NewCredential{}, verifyError(err)
	}
	if !cred.Flags.UserVerified {
		return NewCredential{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrAssertion)
	}
	if s.cfg.Attestation != "" && cred.AttestationFormat != s.cfg.Attestation {
		return NewCredential{}, fmt.Errorf("%w: this server requires %q attestation; the authenticator gave %q", ErrAssertion, s.cfg.Attestation, cred.AttestationFormat)
	}
	if _, err := audit.ParseCOSEKey(cred.PublicKey); err != nil {
		return NewCredential{}, fmt.Errorf("%w: %w", ErrAssertion, err)
	}
	if len(cred.ID) > store.MaxCredentialIDLen {
		return NewCredential{}, fmt.Errorf("%w: a credential ID of %d bytes", ErrAssertion, len(cred.ID))
	}
	var ts []string
	for _, t := range cred.Transport {
		ts = append(ts, string(t))
	}
	aaguid := cred.Authenticator.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	return NewCredential{ceremony: ceremony, Credential: store.WebAuthnCredential{ID: cred.ID, UserID: userID, Name: name,
		PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount, BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, AAGUID: aaguid, Attestation: cred.AttestationFormat, Transports: ts,
		CreatedAt: s.now()}}, nil
}

// StepUp is the user's fresh approval of one registration by a second
// factor they already have (a TOTP code checked for
// [NewCredential.StepUpFields]), committed in the registration's
// transaction as the seal pipeline commits a seal's approval.
type StepUp interface {
	// Details are recorded in the passkey.register entry (the method and
	// its evidence: never a code).
	Details() map[string]string
	// Commit records the step-up as used, in tx.
	Commit(tx store.Tx) error
	// Failed is called, outside the rolled-back transaction, with the
	// error of a Commit that failed; it returns err with anything that
	// added.
	Failed(ctx context.Context, err error) error
}

// CommitRegistration records a checked registration in one transaction:
// the ceremony is taken (a second finish fails with ErrCeremony), the
// credential stored (ErrConflict if its ID is anyone's already), the
// passkey.register entry appended to the system chain with the step-up's
// details, and the step-up committed. stepUp may be nil only where the
// caller has decided that none is needed.
func (s *Service) CommitRegistration(ctx context.Context, n NewCredential, stepUp StepUp) error {
	c := n.Credential
	d := map[string]string{
		audit.DetailUser: c.UserID, audit.DetailCredentialID: b64.EncodeToString(c.ID),
		audit.DetailPublicKey: b64.EncodeToString(c.PublicKey), audit.DetailRPID: s.cfg.RPID, audit.DetailName: c.Name,
		audit.DetailAAGUID: hex.EncodeToString(c.AAGUID), audit.DetailAttestation: c.Attestation,
		audit.DetailBackupEligible: strconv.FormatBool(c.BackupEligible), audit.DetailBackupState: strconv.FormatBool(c.BackupState),
		audit.DetailSignCount: strconv.FormatUint(uint64(c.SignCount), 10),
	}
	if stepUp != nil {
		maps.Copy(d, stepUp.Details())
	}
	var committed bool
	err := s.st.Update(ctx, func(tx store.Tx) error {
		committed = false
		cer, err := tx.TakeWebAuthnCeremony(n.ceremony)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (cer.UserID != c.UserID || cer.Kind != kindRegister)) {
			return ErrCeremony
		}
		if err != nil {
			return err
		}
		if _, err := activeUser(tx, c.UserID); err != nil {
			return err
		}
		if err := tx.PutWebAuthnCredential(c); errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: this credential is registered already", ErrConflict)
		} else if err != nil {
			return err
		}
		cs, err := tx.WebAuthnCredentials(c.UserID)
		if err != nil {
			return err
		}
		if len(cs) > s.cfg.MaxCredentials {
			return fmt.Errorf("%w: the account has %d passkeys, the most it may have", ErrConflict, s.cfg.MaxCredentials)
		}
		if _, err := tx.AppendAudit(audit.Entry{Chain: audit.SystemChain, Time: s.now(),
			Actor: audit.Actor{Kind: audit.ActorUser, ID: c.UserID}, Action: audit.ActionPasskeyRegister, Details: d}); err != nil {
			return err
		}
		if stepUp != nil {
			committed = true
			return stepUp.Commit(tx)
		}
		return nil
	})
	if err != nil && committed {
		return stepUp.Failed(context.WithoutCancel(ctx), err)
	}
	return err
}

// Credential is a registered passkey as its user sees it.
type Credential struct {
	// ID is the credential ID.
	ID             []byte
	Name           string
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero if never used
	SignCount      uint32
	BackupEligible bool
	BackupState    bool
	AAGUID         []byte
	Attestation    string
	Transports     []string
	// RegisteredSeq is the seq of its passkey.register entry in the system
	// chain.
	RegisteredSeq uint64
}

// Credentials lists the passkeys of userID, each checked against the
// trail (a row that differs is refused, and audited, with
// ErrStateMismatch).
func (s *Service) Credentials(ctx context.Context, userID string) ([]Credential, error) {
	var out []Credential
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		if _, err := activeUser(tx, userID); err != nil {
			return err
		}
		cs, err := tx.WebAuthnCredentials(userID)
		if err != nil {
			return err
		}
		for _, c := range cs {
			e, err := s.checkRow(tx, c)
			if err != nil {
				return err
			}
			out = append(out, Credential{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt,
				SignCount: c.SignCount, BackupEligible: c.BackupEligible, BackupState: c.BackupState, AAGUID: c.AAGUID,
				Attestation: c.Attestation, Transports: c.Transports, RegisteredSeq: e.Seq})
		}
		return nil
	})
	if err != nil {
		return nil, s.refused(ctx, userID, err)
	}
	return out, nil
}

// RemoveCredential deletes a passkey of userID (ErrNotFound if the user
// has none with that ID), audited as passkey.remove with its ID and the
// public key the trail registered, in the same transaction. A row that
// differs from the trail is refused (ErrStateMismatch, audited).
func (s *Service) RemoveCredential(ctx context.Context, userID string, id []byte) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := activeUser(tx, userID); err != nil {
			return err
		}
		c, err := tx.WebAuthnCredential(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.UserID != userID) {
			return fmt.Errorf("passkey: %w", store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		reg, err := s.checkRow(tx, c)
		if err != nil {
			return err
		}
		if err := tx.DeleteWebAuthnCredential(userID, id); err != nil {
			return err
		}
		_, err = tx.AppendAudit(audit.Entry{Chain: audit.SystemChain, Time: s.now(),
			Actor: audit.Actor{Kind: audit.ActorUser, ID: userID}, Action: audit.ActionPasskeyRemove,
			Details: map[string]string{audit.DetailUser: userID, audit.DetailCredentialID: reg.Details[audit.DetailCredentialID],
				audit.DetailPublicKey: reg.Details[audit.DetailPublicKey]}})
		return err
	})
	return s.refused(ctx, userID, err)
}
