package seal

import (
	"context"
	"fmt"
	"strconv"

	"sealkeep/internal/auth"
	"sealkeep/internal/intent"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// CheckTOTP checks user's TOTP code as the approval of in
// ([auth.Service.CheckIntentCode]: the user's own intent, on an identity
// the user owns and may seal with, a code never accepted before) and
// returns it as the [Approval] of one seal. Nothing is recorded yet: the
// pipeline commits the approval ([auth.Service.CommitApproval]) in the
// transaction that appends the seal entry, so that of two requests with
// one code exactly one seals; the other's failure is audited
// ([auth.Service.ApprovalFailed]). client is the request's address, for
// the lockout counters.
func CheckTOTP(ctx context.Context, svc *auth.Service, user string, code *redact.Secret, in intent.Intent, client string) (Approval, error) {
	a, err := svc.CheckIntentCode(ctx, user, code, in, client)
	if err != nil {
		return nil, err
	}
	if a.IntentSHA256 != in.Digest() || a.User != user {
		return nil, fmt.Errorf("%w: the step-up approves another intent", ErrNotApproved)
	}
	return totpApproval{svc: svc, a: a, in: in}, nil
}

// totpApproval is a TOTP step-up checked by the auth layer.
type totpApproval struct {
	svc *auth.Service
	a   auth.Approval
	in  intent.Intent
}

func (t totpApproval) Intent() intent.Intent { return t.in }
func (t totpApproval) Method() string        { return t.a.Method }

// Evidence is the accepted time step: with the entry's intent SHA-256 it
// says which code approved what, and the step's row in the store is
// unique per user.
func (t totpApproval) Evidence() map[string]string {
	return map[string]string{"totp_step": strconv.FormatInt(t.a.Step, 10)}
}

func (t totpApproval) Commit(tx store.Tx) error { return t.svc.CommitApproval(tx, t.a) }

func (t totpApproval) Failed(ctx context.Context, err error) error {
	return t.svc.ApprovalFailed(ctx, t.a, err)
}
