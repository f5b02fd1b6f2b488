package seal

import (
	"context"
	"fmt"

	"sealkeep/internal/audit"
	"sealkeep/internal/intent"
	"sealkeep/internal/passkey"
	"sealkeep/internal/store"
)

// CheckPasskey checks user's answer to a passkey seal ceremony
// ([passkey.Service.BeginSeal] with the seal's intent) as the approval of
// that intent ([passkey.Service.CheckAssertion]: the user's own ceremony,
// unexpired and unfinished, an assertion by one of the user's passkeys,
// user verified, whose challenge is the intent's digest and whose counter
// advanced) and returns it as the [Approval] of one seal. response is the
// AuthenticationResponseJSON of navigator.credentials.get(). Nothing is
// recorded yet: the pipeline commits the approval
// ([passkey.Service.CommitAssertion]: the ceremony taken, the counter
// advanced) in the transaction that appends the seal entry, so that one
// assertion seals once. The seal entry records the assertion, which
// `sealkeep audit verify` checks against the key the trail registered.
//
// [Job.SealCustody] then seals only the intent approved: the document,
// identity, version, certificate and options it names.
func CheckPasskey(ctx context.Context, svc *passkey.Service, user, ceremony string, response []byte) (Approval, error) {
	a, err := svc.CheckAssertion(ctx, user, ceremony, response)
	if err != nil {
		return nil, err
	}
	if a.User != user || a.Intent.User != user {
		return nil, fmt.Errorf("%w: the passkey approves another user's intent", ErrNotApproved)
	}
	return passkeyApproval{svc: svc, a: a}, nil
}

// passkeyApproval is a passkey assertion checked by package passkey.
type passkeyApproval struct {
	svc *passkey.Service
	a   passkey.Assertion
}

func (p passkeyApproval) Intent() intent.Intent { return p.a.Intent }
func (p passkeyApproval) Method() string        { return audit.MethodWebAuthn }

// Evidence is the assertion itself: credential ID, authenticator data,
// client data JSON, signature and counter.
func (p passkeyApproval) Evidence() map[string]string { return p.a.Evidence() }

func (p passkeyApproval) Commit(tx store.Tx) error { return p.svc.CommitAssertion(tx, p.a) }

func (p passkeyApproval) Failed(ctx context.Context, err error) error {
	return p.svc.AssertionFailed(ctx, p.a, err)
}
