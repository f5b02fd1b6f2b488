package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/intent"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// TOTP parameters (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, a
// 160-bit secret (RFC 4226's recommended length), which is what every
// authenticator app accepts. A code is accepted for the current step and
// one step either side (clock drift), and never again: see [Service.Verify].
const (
	TOTPPeriod  = 30
	TOTPDigits  = otp.DigitsSix
	TOTPSkew    = 1
	totpSecret  = 20
	qrImageSize = 256
)

var totpOpts = hotp.ValidateOpts{Digits: TOTPDigits, Algorithm: otp.AlgorithmSHA1}

// Enrolment is what a user needs to add the TOTP secret to an
// authenticator app: the otpauth:// URI and a QR code of it (PNG). Both
// hold the secret, so both are [redact.Secret] values.
type Enrolment struct {
	URI   *redact.Secret
	QRPNG *redact.Secret
}

// BeginTOTP makes a new TOTP secret for a user who has no confirmed
// enrolment (ErrConflict otherwise: reset it first), seals it and stores
// it unconfirmed, replacing an earlier unconfirmed one. It takes effect
// when [Service.ConfirmTOTP] sees a first code.
func (s *Service) BeginTOTP(ctx context.Context, userID string) (Enrolment, error) {
	var u store.User
	if err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		u, err = activeUser(tx, userID)
		return err
	}); err != nil {
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: u.Login, Period: TOTPPeriod,
		SecretSize: totpSecret, Digits: TOTPDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("generate TOTP secret: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret())
	if err != nil {
		return Enrolment{}, fmt.Errorf("generate TOTP secret: %w", err)
	}
	defer clear(raw)
	img, err := key.Image(qrImageSize, qrImageSize)
	if err != nil {
		return Enrolment{}, fmt.Errorf("TOTP QR code: %w", err)
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		return Enrolment{}, fmt.Errorf("TOTP QR code: %w", err)
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if cur, err := tx.TOTP(userID); err == nil && !cur.ConfirmedAt.IsZero() {
			return fmt.Errorf("TOTP is already enrolled; reset it first: %w", ErrConflict)
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		sealed, err := s.sealSecret(ctx, tx, userID, raw)
		if err != nil {
			return err
		}
		return tx.PutTOTP(store.TOTPEnrolment{UserID: userID, Secret: sealed, CreatedAt: s.now()})
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin TOTP enrolment: %w", err)
	}
	return Enrolment{URI: redact.NewSecret([]byte(key.URL())), QRPNG: redact.NewSecret(pngBuf.Bytes())}, nil
}

// ConfirmTOTP completes an enrolment with a first code, and returns the
// user's new recovery codes (shown once; only their hashes are kept).
// Audited as mfa.totp_confirm and mfa.recovery_new.
func (s *Service) ConfirmTOTP(ctx context.Context, userID string, code *redact.Secret, client string) ([]*redact.Secret, error) {
	var codes []*redact.Secret
	err := s.withCode(ctx, userID, code, client, false, "confirm", func(tx store.Tx, u store.User, e store.TOTPEnrolment) error {
		if !e.ConfirmedAt.IsZero() {
			return fmt.Errorf("TOTP is already confirmed: %w", ErrConflict)
		}
		e.ConfirmedAt = s.now()
		if err := tx.PutTOTP(e); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(userID), audit.ActionMFAConfirm, audit.Subject{},
			map[string]string{audit.DetailUser: userID})); err != nil {
			return err
		}
		var err error
		codes, err = s.putRecoveryCodes(tx, userID)
		return err
	})
	return codes, err
}

// ResetTOTP removes a user's TOTP enrolment and recovery codes, proven by
// a current code or a recovery code; the user enrols again with
// [Service.BeginTOTP]. Audited as mfa.totp_reset.
func (s *Service) ResetTOTP(ctx context.Context, userID string, code *redact.Secret, client string) error {
	return s.withCode(ctx, userID, code, client, true, "reset", func(tx store.Tx, u store.User, e store.TOTPEnrolment) error {
		if err := tx.DeleteTOTP(userID); err != nil {
			return err
		}
		if err := tx.PutRecoveryCodes(userID, nil); err != nil {
			return err
		}
		_, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(userID), audit.ActionMFAReset, audit.Subject{},
			map[string]string{audit.DetailUser: userID}))
		return err
	})
}

// NewRecoveryCodes replaces a user's recovery codes, proven by a current
// TOTP code. Audited as mfa.recovery_new.
func (s *Service) NewRecoveryCodes(ctx context.Context, userID string, code *redact.Secret, client string) ([]*redact.Secret, error) {
	var codes []*redact.Secret
	err := s.withCode(ctx, userID, code, client, false, "recovery", func(tx store.Tx, u store.User, e store.TOTPEnrolment) error {
		if e.ConfirmedAt.IsZero() {
			return fmt.Errorf("%w: TOTP is not enrolled", ErrForbidden)
		}
		var err error
		codes, err = s.putRecoveryCodes(tx, userID)
		return err
	})
	return codes, err
}

// Approval is the evidence of a step-up: which user approved which intent
// digest with which TOTP time step, and when. The seal pipeline records it
// in the seal's audit entry.
type Approval struct {
	User         string
	Method       string // "totp"
	Step         int64
	IntentSHA256 [32]byte
	At           time.Time

	check  *codeCheck // set by CheckIntentCode, for CommitApproval
	intent intent.Intent
}

// Details returns the approval as audit entry details.
func (a Approval) Details() map[string]string {
	return map[string]string{
		audit.DetailMFAMethod: a.Method,
		"mfa_step":            strconv.FormatInt(a.Step, 10),
		"intent_sha256":       hex.EncodeToString(a.IntentSHA256[:]),
	}
}

// purpose is what the used-step row records: the intent's digest.
func (a Approval) purpose() string { return "intent:" + hex.EncodeToString(a.IntentSHA256[:]) }

// ApproveIntent accepts a fresh TOTP code of user as the approval of
// exactly one seal intent and records it: [Service.CheckIntentCode], then
// [Service.CommitApproval] in a transaction of its own. A replay is
// refused with ErrReplay and audited.
func (s *Service) ApproveIntent(ctx context.Context, userID string, code *redact.Secret, in intent.Intent, client string) (Approval, error) {
	a, err := s.CheckIntentCode(ctx, userID, code, in, client)
	if err != nil {
		return Approval{}, err
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return s.CommitApproval(tx, a) }); err != nil {
		return Approval{}, s.ApprovalFailed(ctx, a, err)
	}
	return a, nil
}

// CheckIntentCode checks, without recording anything, a TOTP code of user
// as the approval of one seal intent: the intent must be the user's own,
// well formed and unexpired (intent.Intent.Check), on an identity the
// user owns and may seal with in the intent's org, with the version's
// certificate thumbprint; the code must match the user's confirmed secret
// within one step and be later than every step accepted for the user (a
// replay is refused with ErrReplay and audited). A recovery code is not a
// step-up. A wrong code counts towards lockout.
//
// The step is only accepted by [Service.CommitApproval], which a seal
// pipeline calls in the transaction that appends the seal's audit entry,
// so that one write records both; nothing signed under an approval whose
// commit fails may be released.
func (s *Service) CheckIntentCode(ctx context.Context, userID string, code *redact.Secret, in intent.Intent, client string) (Approval, error) {
	if in.User != userID {
		return Approval{}, fmt.Errorf("%w: the seal intent is another user's", ErrForbidden)
	}
	if err := in.Check(s.now()); err != nil {
		return Approval{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	// The user's last accepted step is read with the intent's checks: a
	// code already accepted is refused below, before anything is signed
	// under it; CommitApproval decides races between requests.
	last := int64(-1)
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		if err := checkIntent(tx, in); err != nil {
			return err
		}
		switch u, err := tx.LastTOTPStep(userID); {
		case err == nil:
			last = u.Step
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return Approval{}, err
	}
	c, err := s.checkCode(ctx, userID, code, client, false)
	if err != nil {
		return Approval{}, err
	}
	if c.enrol.ConfirmedAt.IsZero() {
		return Approval{}, fmt.Errorf("%w: TOTP is not enrolled", ErrForbidden)
	}
	a := Approval{User: userID, Method: "totp", Step: c.step, IntentSHA256: in.Digest(), At: c.now, check: c, intent: in}
	if c.step <= last {
		return Approval{}, s.codeFailed(ctx, c, a.purpose(), errReplay)
	}
	return a, nil
}

// CommitApproval records, in tx, the step of an approval from
// [Service.CheckIntentCode]: the step must be later than every step
// accepted for the user, by any instance, and the intent still allowed.
// On ErrReplay (another request won the step) the caller rolls tx back
// and calls [Service.ApprovalFailed].
func (s *Service) CommitApproval(tx store.Tx, a Approval) error {
	if a.check == nil {
		return fmt.Errorf("%w: the approval was not checked", ErrInvalidInput)
	}
	if _, err := s.commitCode(tx, a.check, a.purpose()); err != nil {
		return err
	}
	return checkIntent(tx, a.intent)
}

// ApprovalFailed audits a replay and counts the failure after
// CommitApproval failed with err (in a transaction of its own, since the
// caller's was rolled back), and returns err with anything that added.
func (s *Service) ApprovalFailed(ctx context.Context, a Approval, err error) error {
	if a.check == nil {
		return err
	}
	return s.codeFailed(ctx, a.check, a.purpose(), err)
}

// checkIntent refuses an intent its user may not approve: the identity
// must be in the intent's org and the user's own, the user's role there
// must allow sealing ([OpSeal]), and the version's certificate must have
// the intent's thumbprint. The seal pipeline checks the version's status
// and licences when it seals; this check makes the step-up itself refuse
// every route to sealing with someone else's identity.
func checkIntent(tx store.ReadTx, in intent.Intent) error {
	id, err := tx.Identity(in.Identity)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: the seal intent names an unknown identity", ErrInvalidInput)
	}
	if err != nil {
		return err
	}
	if id.OrgID != in.Org {
		return fmt.Errorf("%w: the identity of the seal intent is not in its org", ErrForbidden)
	}
	if err := authorize(tx, in.User, OpSeal, Resource{Org: in.Org, Owner: id.Owner}); err != nil {
		return err
	}
	v, err := tx.Version(in.Identity, in.Version)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: the seal intent names an unknown certificate version", ErrInvalidInput)
	}
	if err != nil {
		return err
	}
	if v.CertDER == nil || sha256.Sum256(v.CertDER) != in.Thumbprint {
		return fmt.Errorf("%w: the seal intent's thumbprint is not the version's certificate", ErrInvalidInput)
	}
	return nil
}

// withCode checks a TOTP code (or, if allowRecovery, a recovery code) of
// user for purpose and runs fn in the transaction that records the step
// (or spends the recovery code), so that the code and what it approves
// commit together. Lockouts are checked first; failures are counted;
// replays are audited.
func (s *Service) withCode(ctx context.Context, userID string, code *redact.Secret, client string, allowRecovery bool, purpose string, fn func(store.Tx, store.User, store.TOTPEnrolment) error) error {
	c, err := s.checkCode(ctx, userID, code, client, allowRecovery)
	if err != nil {
		return err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		cur, err := s.commitCode(tx, c, purpose)
		if err != nil {
			return err
		}
		return fn(tx, c.user, cur)
	})
	return s.codeFailed(ctx, c, purpose, err)
}

// codeCheck is a code checked against a user's enrolment, not yet
// recorded.
type codeCheck struct {
	user     store.User
	enrol    store.TOTPEnrolment
	keys     []limitKey
	now      time.Time
	step     int64
	recovery bool
	code     *redact.Secret // the recovery code, spent at commit
}

// checkCode checks a code without recording it: the account is enabled
// and not locked, and the code matches the enrolment (a recovery code is
// only checked at commit). A wrong code counts a failure.
func (s *Service) checkCode(ctx context.Context, userID string, code *redact.Secret, client string, allowRecovery bool) (*codeCheck, error) {
	if err := checkClient(client); err != nil {
		return nil, err
	}
	c := &codeCheck{code: code}
	var row store.WrappedDEK
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if c.user, err = activeUser(tx, userID); err != nil {
			return err
		}
		if c.enrol, err = tx.TOTP(userID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: TOTP is not enrolled", ErrForbidden)
		} else if err != nil {
			return err
		}
		if row, err = secretDEK(tx, c.enrol.Secret); err != nil {
			return err
		}
		c.keys = s.limitKeys(c.user.Login, client)
		return lockedIn(tx, c.keys, s.now())
	})
	if err != nil {
		return nil, err
	}
	c.now = s.now()
	if c.recovery = allowRecovery && isRecoveryCode(code); c.recovery {
		return c, nil
	}
	secret, err := s.openSecret(ctx, row, userID, c.enrol.Secret)
	if err != nil {
		return nil, err
	}
	var ok bool
	c.step, ok = matchTOTP(secret, code, c.now)
	clear(secret)
	if !ok {
		return nil, errors.Join(ErrUnauthenticated, s.countFailure(ctx, c.keys, userID))
	}
	return c, nil
}

// commitCode records a checked code in tx: the enrolment must still be
// the one checked, the step later than every accepted one (or the recovery
// code unspent); it clears the account's failure counter and returns the
// enrolment.
func (s *Service) commitCode(tx store.Tx, c *codeCheck, purpose string) (store.TOTPEnrolment, error) {
	cur, err := tx.TOTP(c.user.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !bytes.Equal(cur.Secret, c.enrol.Secret)) {
		return cur, fmt.Errorf("the TOTP enrolment changed meanwhile: %w", ErrConflict)
	} else if err != nil {
		return cur, err
	}
	if c.recovery {
		err = s.useRecoveryCode(tx, c.user.ID, c.code, c.now)
	} else {
		err = consumeStep(tx, c.user.ID, c.step, c.now, purpose)
	}
	if err != nil {
		return cur, err
	}
	return cur, s.clearAccount(tx, c.user.Login)
}

// codeFailed audits a replay and counts a failure after a commit that
// failed with one, and returns err with what that added.
func (s *Service) codeFailed(ctx context.Context, c *codeCheck, purpose string, err error) error {
	switch {
	case errors.Is(err, ErrReplay):
		return errors.Join(err, s.recordReplay(ctx, c.user.ID, purpose), s.countFailure(ctx, c.keys, c.user.ID))
	case errors.Is(err, ErrUnauthenticated):
		return errors.Join(err, s.countFailure(ctx, c.keys, c.user.ID))
	}
	return err
}

// matchTOTP returns the time step, within TOTPSkew of now's, whose code is
// code; every candidate is computed and compared in constant time.
func matchTOTP(secret []byte, code *redact.Secret, now time.Time) (int64, bool) {
	c := code.Bytes()
	if len(c) != TOTPDigits.Length() {
		return 0, false
	}
	for _, b := range c {
		if b < '0' || b > '9' {
			return 0, false
		}
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	cur := now.Unix() / TOTPPeriod
	var found int64
	ok := false
	for step := cur - TOTPSkew; step <= cur+TOTPSkew; step++ {
		if step < 0 {
			continue
		}
		if m, err := hotp.ValidateCustom(string(c), uint64(step), b32, totpOpts); err == nil && m && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// consumeStep records that step was accepted for user, refusing a step
// not later than the last accepted one (RFC 6238 section 5.2: a code is
// never accepted twice, and an older code after a newer one is a replay
// too). The unique (user, step) row makes two instances that accept the
// same code at once conflict: one commits, the other gets ErrReplay.
func consumeStep(tx store.Tx, user string, step int64, now time.Time, purpose string) error {
	last, err := tx.LastTOTPStep(user)
	switch {
	case err == nil && step <= last.Step:
		return errReplay
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	err = tx.UseTOTPStep(store.TOTPUse{UserID: user, Step: step, UsedAt: now, Purpose: purpose})
	if errors.Is(err, store.ErrConflict) {
		return errReplay
	}
	return err
}

// recordReplay audits a refused replay in the system chain, in its own
// transaction.
func (s *Service) recordReplay(ctx context.Context, user, purpose string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(user), audit.ActionSecurityTOTPReplay, audit.Subject{},
			map[string]string{audit.DetailUser: user, "purpose": purpose}))
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "could not record a TOTP replay", "user", user, "err", err)
		return fmt.Errorf("record TOTP replay: %w", err)
	}
	s.log.WarnContext(ctx, "TOTP replay refused", "user", user)
	return nil
}
