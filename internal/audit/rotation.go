package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// Rotation approval: an organization may require that a second owner
// approve every activation of a certificate version. The policy and every
// request, approval and decline are entries of the organization's chain,
// and [State] enforces them when folding, so the trail alone decides
// whether a version may become active.
//
//	org.policy                   an owner sets the policy; details:
//	                             rotation_approval ("required" or "none"),
//	                             the owner's step-up (mfa_method, mfa_evidence)
//	version.activation_request   with the policy required, the sealer's
//	                             activation (their step-up) is a request:
//	                             made by the identity's owner, the
//	                             version must be ready; details:
//	                             thumbprint (the certificate's), reason,
//	                             mfa_method, mfa_evidence
//	version.activate/.rotate     with the policy required, names the
//	                             pending request (request_seq,
//	                             request_hash) and is made by an owner
//	                             other than the requester, with both
//	                             step-ups' evidence (mfa_evidence and
//	                             request_mfa_evidence)
//	version.activation_decline   an owner declines a pending request
//	                             (request_seq, request_hash, their step-up)
//
// A request is single-use: the activation or decline that names it ends
// it, and so does any later lifecycle entry of its version (an upload, a
// revocation, a destruction) or a newer request for the version.
const (
	ActionOrgPolicy         Action = "org.policy"
	ActionActivationRequest Action = "version.activation_request"
	ActionActivationDecline Action = "version.activation_decline"
	ActionActivationApprove Action = "version.activation_approve" // the step-up action name of an approval (no entry has it)
	DetailRotationApproval         = "rotation_approval"
	DetailRequestSeq               = "request_seq"
	DetailRequestHash              = "request_hash"
	DetailRequester                = "requested_by"
	DetailRequestEvidence          = "request_mfa_evidence"
)

// Values of the rotation_approval detail.
const (
	RotationApprovalRequired = "required"
	RotationApprovalNone     = "none"
)

// ActivationRequest is a pending request to activate a version, as the
// fold holds it.
type ActivationRequest struct {
	Identity   string
	Version    int
	Seq        uint64 // the request entry's seq
	Hash       Hash   // and hash
	Requester  Actor
	Thumbprint string // the certificate the request is for
	Reason     string
	Evidence   string // the requester's mfa_evidence
	Method     string // the requester's mfa_method
}

// Policy is the organization's rotation policy as the fold holds it.
type Policy struct {
	ApprovalRequired bool
	Seq              uint64 // the org.policy entry that set it (0: never set)
	SetBy            Actor
}

// Policy returns the organization's rotation policy.
func (s *State) Policy() Policy { return s.policy }

// Request returns the pending activation request of a version, if any.
func (s *State) Request(identity string, version int) (ActivationRequest, bool) {
	r, ok := s.requests[versionKey{identity, version}]
	return r, ok
}

// Requests returns every pending activation request, in seq order.
func (s *State) Requests() []ActivationRequest {
	out := make([]ActivationRequest, 0, len(s.requests))
	for _, r := range s.requests {
		out = append(out, r)
	}
	sortRequests(out)
	return out
}

// Role returns a member's role as the chain's membership entries record it
// ("" for none).
func (s *State) Role(user string) string { return s.roles[user] }

// checkOwner refuses an entry whose actor is not, by the chain's
// membership entries, an owner of the organization.
func (s *State) checkOwner(e Entry) error {
	if e.Actor.Kind != ActorUser || s.roles[e.Actor.ID] != RoleOwner {
		return fmt.Errorf("%w: %s must be made by an owner of the organization", ErrInvalidEntry, e.Action)
	}
	return nil
}

// checkStepUp refuses an entry without a step-up's evidence.
func checkStepUp(e Entry) error {
	if e.Details[DetailMFAMethod] == "" || e.Details[DetailMFAEvidence] == "" {
		return fmt.Errorf("%w: %s needs a step-up (%s, %s)", ErrInvalidEntry, e.Action, DetailMFAMethod, DetailMFAEvidence)
	}
	return nil
}

// pendingFor returns the pending request that e names (request_seq and
// request_hash), or why there is none.
func (s *State) pendingFor(e Entry) (ActivationRequest, error) {
	id, n := e.Subject.Identity, e.Subject.Version
	r, ok := s.requests[versionKey{id, n}]
	if !ok {
		return r, &TransitionError{From: s.Version(id, n).Status, Action: e.Action,
			Hint: "no activation request of this version is pending (it was approved, declined, or replaced by a later change)"}
	}
	if e.Details[DetailRequestSeq] != strconv.FormatUint(r.Seq, 10) || e.Details[DetailRequestHash] != r.Hash.String() {
		return r, &TransitionError{From: s.Version(id, n).Status, Action: e.Action,
			Hint: fmt.Sprintf("the pending request of this version is entry %d, not the one named", r.Seq)}
	}
	return r, nil
}

// planRotation checks a rotation-approval entry, or an activation under
// the policy, before it is applied.
func (s *State) planRotation(e Entry) error {
	id, n := e.Subject.Identity, e.Subject.Version
	switch e.Action {
	case ActionOrgPolicy:
		if e.Chain == SystemChain || e.Subject.Org != e.Chain {
			return fmt.Errorf("%w: %s belongs in the chain of the organization it names", ErrInvalidEntry, e.Action)
		}
		if v := e.Details[DetailRotationApproval]; v != RotationApprovalRequired && v != RotationApprovalNone {
			return fmt.Errorf("%w: %s detail %.32q is neither %q nor %q", ErrInvalidEntry, DetailRotationApproval, v, RotationApprovalRequired, RotationApprovalNone)
		}
		if err := checkStepUp(e); err != nil {
			return err
		}
		return s.checkOwner(e)
	case ActionActivationRequest:
		if id == "" || n < 1 {
			return fmt.Errorf("%w: %s entry must name an identity and a version >= 1", ErrInvalidEntry, e.Action)
		}
		cur := s.Version(id, n)
		if !s.policy.ApprovalRequired {
			return &TransitionError{From: cur.Status, Action: e.Action, Hint: "the organization does not require an owner's approval; activate the version"}
		}
		if cur.Status != StatusReady {
			return &TransitionError{From: cur.Status, Action: e.Action, Hint: "only a ready version can be requested for activation"}
		}
		if e.Details[DetailThumbprint] != cur.CertSHA256 {
			return fmt.Errorf("%w: the request's %s is not the version's certificate", ErrInvalidEntry, DetailThumbprint)
		}
		if owner, ok := s.owners[id]; ok && (e.Actor.Kind != ActorUser || e.Actor.ID != owner) {
			return fmt.Errorf("%w: only the identity's owner requests the activation of its versions", ErrInvalidEntry)
		}
		return checkStepUp(e)
	case ActionActivationDecline:
		if _, err := s.pendingFor(e); err != nil {
			return err
		}
		if err := checkStepUp(e); err != nil {
			return err
		}
		return s.checkOwner(e)
	case ActionVersionActivate, ActionVersionRotate:
		_, named := e.Details[DetailRequestSeq]
		if !s.policy.ApprovalRequired && !named {
			return nil
		}
		if !named {
			return &TransitionError{From: s.Version(id, n).Status, Action: e.Action,
				Hint: "the organization requires an owner's approval: request the activation, and another owner approves it"}
		}
		r, err := s.pendingFor(e)
		if err != nil {
			return err
		}
		if err := s.checkOwner(e); err != nil {
			return err
		}
		if e.Actor == r.Requester {
			return fmt.Errorf("%w: the requester of an activation cannot approve it; another owner must", ErrInvalidEntry)
		}
		if err := checkStepUp(e); err != nil {
			return err
		}
		if e.Details[DetailRequestEvidence] != r.Evidence || e.Details[DetailRequester] != r.Requester.ID {
			return fmt.Errorf("%w: the activation does not carry the request's step-up", ErrInvalidEntry)
		}
		thumb := e.Details[DetailThumbprint]
		if e.Action == ActionVersionRotate {
			thumb = e.Details[DetailNewThumbprint]
		}
		if thumb != r.Thumbprint {
			return fmt.Errorf("%w: the activation is for another certificate than its request", ErrInvalidEntry)
		}
	}
	return nil
}

// applyRotation applies a rotation-approval entry (already planned); for a
// lifecycle entry it ends the pending requests of the versions it changes.
func (s *State) applyRotation(e Entry, changed []change) {
	if s.requests == nil {
		s.requests = make(map[versionKey]ActivationRequest)
	}
	if s.roles == nil {
		s.roles = make(map[string]string)
	}
	switch e.Action {
	case ActionOrgPolicy:
		s.policy = Policy{ApprovalRequired: e.Details[DetailRotationApproval] == RotationApprovalRequired, Seq: e.Seq, SetBy: e.Actor}
	case ActionActivationRequest:
		k := versionKey{e.Subject.Identity, e.Subject.Version}
		s.requests[k] = ActivationRequest{Identity: k.identity, Version: k.version, Seq: e.Seq, Hash: e.Hash,
			Requester: e.Actor, Thumbprint: e.Details[DetailThumbprint], Reason: e.Details[DetailReason],
			Evidence: e.Details[DetailMFAEvidence], Method: e.Details[DetailMFAMethod]}
	case ActionActivationDecline:
		delete(s.requests, versionKey{e.Subject.Identity, e.Subject.Version})
	case ActionMemberAdd, ActionMemberRole:
		s.roles[e.Details[DetailUser]] = e.Details[DetailRole]
	case ActionMemberRemove:
		delete(s.roles, e.Details[DetailUser])
	}
	for _, c := range changed {
		delete(s.requests, c.key)
	}
}

// sortRequests orders requests by seq.
func sortRequests(rs []ActivationRequest) {
	slices.SortFunc(rs, func(a, b ActivationRequest) int { return cmp.Compare(a.Seq, b.Seq) })
}
