package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// Action is an operation other than a seal that a step-up approves (the
// activation of a certificate version, a second owner's approval of it):
// its name and the fields that bind the approval to one instance of it,
// in an order fixed by the name (for "version.activate": org, identity,
// version, certificate thumbprint). A code approves one Action's
// [Action.Digest] and nothing else.
type Action struct {
	Name   string
	Fields []string
}

// actionName is the form of an action's name.
var actionName = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

// Limits of an [Action].
const (
	maxActionFields   = 16
	maxActionFieldLen = 1024
)

const actionTag = "sealkeep/action/v1"

// check refuses a malformed action.
func (a Action) check() error {
	if !actionName.MatchString(a.Name) {
		return fmt.Errorf("%w: an action's name is 1 to 64 lower-case letters, digits, '_' or '.'", ErrInvalidInput)
	}
	if len(a.Fields) == 0 || len(a.Fields) > maxActionFields {
		return fmt.Errorf("%w: an action names 1 to %d fields", ErrInvalidInput, maxActionFields)
	}
	for _, f := range a.Fields {
		if f == "" || len(f) > maxActionFieldLen {
			return fmt.Errorf("%w: an action's fields are 1 to %d bytes", ErrInvalidInput, maxActionFieldLen)
		}
	}
	return nil
}

// Digest is the SHA-256 of the action's canonical encoding: the tag
// "sealkeep/action/v1", the name and each field, every one as a 4-byte
// big-endian length followed by its bytes. Distinct actions have distinct
// encodings, and none is a seal intent's (another tag).
func (a Action) Digest() [32]byte {
	h := sha256.New()
	for _, f := range append([]string{actionTag, a.Name}, a.Fields...) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return [32]byte(h.Sum(nil))
}

// purpose is what the used-step row records for an action.
func (a Action) purpose() string {
	d := a.Digest()
	return "action:" + a.Name + ":" + hex.EncodeToString(d[:])
}

// StepUp is the evidence that a user approved one [Action] with a fresh
// TOTP code: which user, which time step, which action digest, when. It
// holds no code. The operation it approves records [StepUp.Details] in its
// audit entry.
type StepUp struct {
	User         string
	Method       string // "totp"
	Step         int64
	Action       string // the action's name
	ActionSHA256 [32]byte
	At           time.Time

	check   *codeCheck // set by CheckStepUp, for CommitStepUp
	purpose string
}

// Evidence returns the step-up's evidence as the canonical JSON object of
// strings that audit.DetailMFAEvidence holds (sorted keys): the action and
// its SHA-256, the TOTP step, the time and the user.
func (a StepUp) Evidence() string {
	b, _ := json.Marshal(map[string]string{ // sorted keys; strings only
		"action":        a.Action,
		"action_sha256": hex.EncodeToString(a.ActionSHA256[:]),
		"step":          strconv.FormatInt(a.Step, 10),
		"at":            a.At.UTC().Format(time.RFC3339),
		"user":          a.User,
	})
	return string(b)
}

// Details returns the step-up as audit entry details: the MFA method and
// [StepUp.Evidence].
func (a StepUp) Details() map[string]string {
	return map[string]string{audit.DetailMFAMethod: a.Method, audit.DetailMFAEvidence: a.Evidence()}
}

// ApproveAction accepts a fresh TOTP code of user as the approval of
// exactly one action and records it, in a transaction of its own:
// [Service.CheckStepUp], then [Service.CommitStepUp]. An operation that
// should commit together with its approval calls those two itself.
func (s *Service) ApproveAction(ctx context.Context, userID string, code *redact.Secret, a Action, client string) (StepUp, error) {
	su, err := s.CheckStepUp(ctx, userID, code, a, client)
	if err != nil {
		return StepUp{}, err
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return s.CommitStepUp(tx, su) }); err != nil {
		return StepUp{}, s.StepUpFailed(ctx, su, err)
	}
	return su, nil
}

// CheckStepUp checks, without accepting it, a TOTP code of user as the
// approval of action a: the account must be enabled and not locked, TOTP
// confirmed, the code right within one step and later than every step
// accepted for the user (a replay is refused with ErrReplay and audited as
// security.totp_replay with the action's purpose). A recovery code is not
// a step-up. A wrong code counts towards lockout.
//
// What user may do is the caller's to check: the step-up proves only that
// the account's owner approved this action now.
func (s *Service) CheckStepUp(ctx context.Context, userID string, code *redact.Secret, a Action, client string) (StepUp, error) {
	if err := a.check(); err != nil {
		return StepUp{}, err
	}
	if code == nil || code.Len() == 0 {
		return StepUp{}, ErrMFARequired
	}
	c, err := s.checkCode(ctx, userID, code, client, false)
	if err != nil {
		return StepUp{}, err
	}
	if c.enrol.ConfirmedAt.IsZero() {
		return StepUp{}, fmt.Errorf("%w: TOTP is not enrolled", ErrForbidden)
	}
	su := StepUp{User: userID, Method: "totp", Step: c.step, Action: a.Name, ActionSHA256: a.Digest(), At: c.now,
		check: c, purpose: a.purpose()}
	// A code already accepted is refused now, before the action is
	// attempted; CommitStepUp decides races between requests.
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		last, err := tx.LastTOTPStep(userID)
		switch {
		case err == nil && c.step <= last.Step:
			return errReplay
		case errors.Is(err, store.ErrNotFound):
			return nil
		}
		return err
	})
	if err != nil {
		return StepUp{}, s.codeFailed(ctx, c, su.purpose, err)
	}
	return su, nil
}

// CommitStepUp accepts, in tx, the step of a step-up from
// [Service.CheckStepUp]: the step must be later than every step accepted
// for the user, by any instance. It is meant to run in the transaction
// that records what the step-up approves, so that both commit or neither
// does. On ErrReplay (another request won the step) the caller rolls tx
// back and calls [Service.StepUpFailed].
func (s *Service) CommitStepUp(tx store.Tx, su StepUp) error {
	if su.check == nil {
		return fmt.Errorf("%w: the step-up was not checked", ErrInvalidInput)
	}
	_, err := s.commitCode(tx, su.check, su.purpose)
	return err
}

// StepUpFailed audits a replay and counts the failure after the
// transaction of [Service.CommitStepUp] failed with err (in a transaction
// of its own, since the caller's was rolled back), and returns err with
// anything that added. Any other err is returned as it is.
func (s *Service) StepUpFailed(ctx context.Context, su StepUp, err error) error {
	if su.check == nil || err == nil {
		return err
	}
	return s.codeFailed(ctx, su.check, su.purpose, err)
}
