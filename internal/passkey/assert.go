package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/intent"
	"sealkeep/internal/store"
)

// BeginSeal starts the approval of one seal with a passkey of the
// intent's user: the request options whose challenge is in.Digest(),
// allowing the user's passkeys, user verification required, and the
// ceremony handle. The intent must be one its user may approve now
// ([auth.CheckIntent], unexpired); the ceremony ends when the intent does.
func (s *Service) BeginSeal(ctx context.Context, in intent.Intent) (Begun[*protocol.CredentialAssertion], error) {
	var out Begun[*protocol.CredentialAssertion]
	if err := in.Check(s.now()); err != nil {
		return out, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	var u user
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if u.u, err = activeUser(tx, in.User); err != nil {
			return err
		}
		if err := auth.CheckIntent(tx, in); err != nil {
			return err
		}
		cs, err := s.checkedCredentials(tx, in.User)
		for _, c := range cs {
			u.creds = append(u.creds, libCredential(c))
		}
		return err
	})
	if err != nil {
		return out, s.refused(ctx, in.User, err)
	}
	if len(u.creds) == 0 {
		return out, fmt.Errorf("%w: register a passkey first", ErrNoPasskey)
	}
	digest := in.Digest()
	assertion, session, err := s.wa.BeginLogin(u, webauthn.WithChallenge(digest[:]),
		webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return out, fmt.Errorf("passkey: begin seal approval: %w", err)
	}
	expires := s.now().Add(s.cfg.CeremonyTTL)
	if in.Expires.Before(expires) {
		expires = in.Expires
	}
	id, exp, err := s.putCeremony(ctx, in.User, kindSeal, session, in.Canonical(), expires)
	if err != nil {
		return out, err
	}
	return Begun[*protocol.CredentialAssertion]{Ceremony: id, Options: assertion, Expires: exp}, nil
}

// Assertion is a passkey's approval of one seal intent, checked by
// [Service.CheckAssertion] and not yet recorded.
type Assertion struct {
	// User approved Intent with the credential CredentialID, whose
	// counter is now SignCount.
	User         string
	Intent       intent.Intent
	CredentialID []byte
	Name         string
	SignCount    uint32
	BackupState  bool

	ceremony  string
	stored    uint32 // the counter before
	authData  []byte
	clientDJ  []byte
	signature []byte
}

// Evidence is what the seal entry records of the approval: the assertion
// itself (credential ID, authenticator data, client data JSON and
// signature, base64url) and its counter, which `sealkeep audit verify`
// checks against the public key the trail registered
// ([audit.CheckSealApproval]).
func (a Assertion) Evidence() map[string]string {
	return map[string]string{
		audit.EvidenceCredentialID:      b64.EncodeToString(a.CredentialID),
		audit.EvidenceAuthenticatorData: b64.EncodeToString(a.authData),
		audit.EvidenceClientDataJSON:    b64.EncodeToString(a.clientDJ),
		audit.EvidenceSignature:         b64.EncodeToString(a.signature),
		audit.EvidenceSignCount:         strconv.FormatUint(uint64(a.SignCount), 10),
	}
}

// CheckAssertion verifies, without recording anything, the browser's
// answer (the AuthenticationResponseJSON of navigator.credentials.get())
// to the seal ceremony of userID: the ceremony must be the user's,
// unexpired and not finished; the intent still one the user may approve;
// the assertion by one of the user's passkeys (as the trail registered
// them), for this relying party and origin, user verified, over the
// challenge that is the intent's digest, with a signature counter that
// advanced (a counter that did not is refused with ErrCounter and
// audited as security.passkey_counter). It is checked again, with the
// standard library, as `sealkeep audit verify` will check it
// ([audit.VerifyAssertion]).
func (s *Service) CheckAssertion(ctx context.Context, userID, ceremony string, response []byte) (Assertion, error) {
	var u user
	var sess webauthn.SessionData
	var c store.WebAuthnCeremony
	var rows []store.WebAuthnCredential
	var in intent.Intent
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if u.u, err = activeUser(tx, userID); err != nil {
			return err
		}
		if c, sess, err = s.ceremony(tx, userID, ceremony, kindSeal); err != nil {
			return err
		}
		if in, err = intent.Parse(c.Intent); err != nil {
			return fmt.Errorf("passkey: stored ceremony intent: %w", err)
		}
		if in.User != userID {
			return ErrCeremony
		}
		if err := in.Check(s.now()); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		if err := auth.CheckIntent(tx, in); err != nil {
			return err
		}
		rows, err = s.checkedCredentials(tx, userID)
		for _, r := range rows {
			u.creds = append(u.creds, libCredential(r))
		}
		return err
	})
	if err != nil {
		return Assertion{}, s.refused(ctx, userID, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Assertion{}, fmt.Errorf("%w: %w", ErrInvalidInput, verifyError(err))
	}
	digest := in.Digest()
	if sess.Challenge != base64.RawURLEncoding.EncodeToString(digest[:]) {
		return Assertion{}, fmt.Errorf("passkey: the stored ceremony's challenge is not its intent's digest")
	}
	cred, err := s.wa.ValidateLogin(u, sess, parsed)
	if err != nil {
		return Assertion{}, verifyError(err)
	}
	// The library compared the challenge with the ceremony's; this is the
	// property the approval rests on, so it is checked here as well.
	got, err := base64.RawURLEncoding.DecodeString(parsed.Response.CollectedClientData.Challenge)
	if err != nil || !bytes.Equal(got, digest[:]) {
		return Assertion{}, fmt.Errorf("%w: the passkey signed another challenge than this seal's intent", ErrAssertion)
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return Assertion{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrAssertion)
	}
	var row store.WebAuthnCredential
	for _, r := range rows {
		if bytes.Equal(r.ID, cred.ID) {
			row = r
		}
	}
	a := Assertion{User: userID, Intent: in, CredentialID: cred.ID, Name: row.Name, ceremony: ceremony,
		SignCount: parsed.Response.AuthenticatorData.Counter, BackupState: parsed.Response.AuthenticatorData.Flags.HasBackupState(),
		stored: row.SignCount, authData: parsed.Raw.AssertionResponse.AuthenticatorData,
		clientDJ: parsed.Raw.AssertionResponse.ClientDataJSON, signature: parsed.Raw.AssertionResponse.Signature}
	if cred.Authenticator.CloneWarning {
		return Assertion{}, s.AssertionFailed(ctx, a, errCounter)
	}
	key, err := audit.ParseCOSEKey(row.PublicKey)
	if err != nil {
		return Assertion{}, fmt.Errorf("%w: %w", ErrAssertion, err)
	}
	if _, err := audit.VerifyAssertion(key, s.cfg.RPID, audit.Assertion{CredentialID: a.CredentialID, AuthenticatorData: a.authData,
		ClientDataJSON: a.clientDJ, Signature: a.signature}, digest[:]); err != nil {
		return Assertion{}, fmt.Errorf("%w: %w", ErrAssertion, err)
	}
	return a, nil
}

// CommitAssertion records, in tx (the seal entry's transaction), an
// assertion from [Service.CheckAssertion]: its ceremony is taken, so that
// of two requests finishing one ceremony, by any instances, one commits
// and the other gets ErrCeremony; the credential's counter is advanced in
// one conditional statement (ErrCounter if another request advanced it
// first, or the credential was removed meanwhile: ErrAssertion); and the
// intent is checked again. On an error the caller rolls tx back and calls
// [Service.AssertionFailed].
func (s *Service) CommitAssertion(tx store.Tx, a Assertion) error {
	if a.ceremony == "" {
		return fmt.Errorf("%w: the assertion was not checked", ErrInvalidInput)
	}
	c, err := tx.TakeWebAuthnCeremony(a.ceremony)
	if errors.Is(err, store.ErrNotFound) {
		return ErrCeremony
	}
	if err != nil {
		return err
	}
	if c.UserID != a.User || c.Kind != kindSeal || !bytes.Equal(c.Intent, a.Intent.Canonical()) {
		return ErrCeremony
	}
	switch err := tx.UseWebAuthnCredential(a.CredentialID, a.SignCount, a.BackupState, s.now()); {
	case errors.Is(err, store.ErrConflict):
		return errCounter
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: the passkey was removed meanwhile", ErrAssertion)
	case err != nil:
		return err
	}
	return auth.CheckIntent(tx, a.Intent)
}

// AssertionFailed audits a counter that did not advance
// (security.passkey_counter, in a transaction of its own since the
// caller's rolled back) after CheckAssertion or CommitAssertion failed
// with err, and returns err with anything that added.
func (s *Service) AssertionFailed(ctx context.Context, a Assertion, err error) error {
	if !errors.Is(err, ErrCounter) {
		return err
	}
	id := b64.EncodeToString(a.CredentialID)
	stored := a.stored
	rerr := s.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		// The counter now stored: another request may have advanced it
		// since this assertion was checked.
		if c, err := tx.WebAuthnCredential(a.CredentialID); err == nil {
			stored = c.SignCount
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		_, err := tx.AppendAudit(audit.Entry{Chain: audit.SystemChain, Time: s.now(), Actor: audit.Actor{Kind: audit.ActorUser, ID: a.User},
			Action: audit.ActionSecurityPasskeyCounter, Details: map[string]string{audit.DetailUser: a.User,
				audit.DetailCredentialID: id, audit.DetailSignCount: strconv.FormatUint(uint64(stored), 10),
				"got": strconv.FormatUint(uint64(a.SignCount), 10), "purpose": "seal"}})
		return err
	})
	if rerr != nil {
		s.log.ErrorContext(ctx, "could not record a passkey counter that went back", "user", a.User, "err", rerr)
		return errors.Join(err, fmt.Errorf("record passkey counter: %w", rerr))
	}
	s.log.WarnContext(ctx, "passkey counter did not advance: possibly a cloned authenticator", "user", a.User,
		"credential", id, "stored", stored, "got", a.SignCount)
	return err
}
