package server

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// rotationRoutes are an org's rotation policy and the owners' approval of
// activation requests (issue 9, section 3). Only owners use them: reading
// the policy and pending requests, approving and declining
// (OpRotationApprove), setting the policy (OpMembersManage). Each change
// needs the owner's own fresh TOTP code, bound to that change.
func (s *Server) rotationRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/orgs/{org}/policy", Access: Authorized, Op: auth.OpRotationApprove, Handler: s.showPolicy},
		{Method: "PUT", Path: "/api/v1/orgs/{org}/policy", Access: Authorized, Op: auth.OpMembersManage, MaxBody: maxJSONBody, Handler: s.setPolicy},
		{Method: "GET", Path: "/api/v1/orgs/{org}/activation-requests", Access: Authorized, Op: auth.OpRotationApprove, Handler: s.listActivationRequests},
		{Method: "POST", Path: versionBase + "/approve", Access: Authorized, Op: auth.OpRotationApprove, MaxBody: maxJSONBody, Handler: s.approveActivation},
		{Method: "POST", Path: versionBase + "/decline", Access: Authorized, Op: auth.OpRotationApprove, MaxBody: maxJSONBody, Handler: s.declineActivation},
	}
}

// policyJSON is an org's rotation policy as the API shows it.
type policyJSON struct {
	// RotationApproval is "required" (a second owner approves every
	// activation) or "none".
	RotationApproval string `json:"rotation_approval"`
	// Seq is the org.policy entry that set it; 0 if never set.
	Seq   uint64 `json:"seq"`
	SetBy string `json:"set_by,omitempty"`
}

func policyOf(p audit.Policy) policyJSON {
	out := policyJSON{RotationApproval: audit.RotationApprovalNone, Seq: p.Seq, SetBy: p.SetBy.ID}
	if p.ApprovalRequired {
		out.RotationApproval = audit.RotationApprovalRequired
	}
	return out
}

// activationRequestJSON is a pending activation request.
type activationRequestJSON struct {
	Identity    string `json:"identity"`
	Version     int    `json:"version"`
	RequestSeq  uint64 `json:"request_seq"`
	RequestHash string `json:"request_hash"`
	RequestedBy string `json:"requested_by"`
	Thumbprint  string `json:"thumbprint"`
	Reason      string `json:"reason,omitempty"`
	Status      string `json:"status"` // "pending approval"
}

func activationRequestOf(r audit.ActivationRequest) activationRequestJSON {
	return activationRequestJSON{Identity: r.Identity, Version: r.Version, RequestSeq: r.Seq, RequestHash: r.Hash.String(),
		RequestedBy: r.Requester.ID, Thumbprint: r.Thumbprint, Reason: r.Reason, Status: "pending approval"}
}

// showPolicy answers the org's rotation policy, from the fold of its chain.
func (s *Server) showPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Keys.RotationPolicy(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, policyOf(p))
	return nil
}

// policyRequest sets the rotation policy.
type policyRequest struct {
	RotationApproval string        `json:"rotation_approval"`
	Code             redact.Secret `json:"code"`
}

// PolicyAction is the step-up action of setting org's rotation_approval
// policy to value.
func PolicyAction(org, value string) auth.Action {
	return auth.Action{Name: string(audit.ActionOrgPolicy), Fields: []string{org, value}}
}

// setPolicy records an org.policy entry on the owner's fresh TOTP code.
func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) error {
	var req policyRequest
	defer req.Code.Zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.RotationApproval != audit.RotationApprovalRequired && req.RotationApproval != audit.RotationApprovalNone {
		return errs.New(errs.Invalid, `rotation_approval is "required" or "none"`)
	}
	org, actor := r.PathValue("org"), actorOf(r)
	su, err := s.stepUp(r, &req.Code, PolicyAction(org, req.RotationApproval))
	if err != nil {
		return err
	}
	p, err := s.cfg.Keys.SetRotationPolicy(r.Context(), actor, org, req.RotationApproval == audit.RotationApprovalRequired,
		s.stepUpDetails(r.Context(), su), s.commitStepUp(su))
	if err != nil {
		return s.cfg.Auth.StepUpFailed(r.Context(), su, err)
	}
	writeJSON(w, "application/json", http.StatusOK, policyOf(p))
	return nil
}

// stepUp checks the caller's code as the approval of a.
func (s *Server) stepUp(r *http.Request, code *redact.Secret, a auth.Action) (auth.StepUp, error) {
	if code.Len() == 0 {
		return auth.StepUp{}, fmt.Errorf("%w: this needs your fresh TOTP code (\"code\")", auth.ErrMFARequired)
	}
	return s.cfg.Auth.CheckStepUp(r.Context(), actorOf(r).ID, code, a, remoteHost(r.RemoteAddr))
}

// stepUpDetails are the entry details of a step-up: its evidence and the
// request ID.
func (s *Server) stepUpDetails(ctx context.Context, su auth.StepUp) map[string]string {
	d := su.Details()
	d[audit.DetailRequestID] = RequestID(ctx)
	return d
}

// commitStepUp accepts su in the transaction of the entry it approves.
func (s *Server) commitStepUp(su auth.StepUp) custody.Commit {
	return func(tx store.Tx, _ audit.Entry) error { return s.cfg.Auth.CommitStepUp(tx, su) }
}

// listActivationRequests lists the org's pending activation requests.
func (s *Server) listActivationRequests(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.cfg.Keys.ActivationRequests(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	out := make([]activationRequestJSON, 0, len(rs))
	for _, x := range rs {
		out = append(out, activationRequestOf(x))
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"requests": out})
	return nil
}

// approvalRequest approves or declines one activation request.
type approvalRequest struct {
	RequestSeq  uint64        `json:"request_seq"`
	RequestHash string        `json:"request_hash"`
	Code        redact.Secret `json:"code"`
}

// ApprovalAction is the step-up action of an owner approving (name
// version.activation_approve) or declining (version.activation_decline)
// the activation request r of org: the code approves that request only
// (identity, version, certificate thumbprint, the request entry's seq and
// hash).
func ApprovalAction(name audit.Action, org string, r audit.ActivationRequest) auth.Action {
	return auth.Action{Name: string(name), Fields: []string{org, r.Identity, strconv.Itoa(r.Version), r.Thumbprint,
		strconv.FormatUint(r.Seq, 10), r.Hash.String()}}
}

// pendingRequest reads the body of an approval or decline and finds the
// pending request it names.
func (s *Server) pendingRequest(r *http.Request, req *approvalRequest) (custody.RequestRef, audit.ActivationRequest, error) {
	if err := decodeJSON(r, req); err != nil {
		return custody.RequestRef{}, audit.ActivationRequest{}, err
	}
	n, err := pathVersion(r)
	if err != nil {
		return custody.RequestRef{}, audit.ActivationRequest{}, err
	}
	h, err := hex.DecodeString(req.RequestHash)
	if err != nil || len(h) != len(audit.Hash{}) || req.RequestSeq == 0 {
		return custody.RequestRef{}, audit.ActivationRequest{}, errs.New(errs.Invalid, "name the request by its request_seq and request_hash (hex SHA-256), as the list of pending requests shows them")
	}
	ref := custody.RequestRef{Seq: req.RequestSeq, Hash: audit.Hash(h)}
	rs, err := s.cfg.Keys.ActivationRequests(r.Context(), r.PathValue("org"))
	if err != nil {
		return ref, audit.ActivationRequest{}, err
	}
	for _, x := range rs {
		if x.Identity == r.PathValue("identity") && x.Version == n && x.Seq == ref.Seq && x.Hash == ref.Hash {
			return ref, x, nil
		}
	}
	return ref, audit.ActivationRequest{}, errs.New(errs.Conflict, "no such pending activation request of this version: it was approved, declined, or replaced by a later change")
}

// approveActivation activates the version of a pending request on an
// owner's fresh TOTP code bound to that request; the requester cannot
// approve their own request (403).
func (s *Server) approveActivation(w http.ResponseWriter, r *http.Request) error {
	var req approvalRequest
	defer req.Code.Zero()
	ref, pending, err := s.pendingRequest(r, &req)
	if err != nil {
		return err
	}
	actor := actorOf(r)
	if actor == pending.Requester {
		return errs.New(errs.Forbidden, "you requested this activation: another owner approves it")
	}
	su, err := s.stepUp(r, &req.Code, ApprovalAction(audit.ActionActivationApprove, r.PathValue("org"), pending))
	if err != nil {
		return err
	}
	v, err := s.cfg.Keys.ActivateWith(r.Context(), actor, pending.Identity, pending.Version, custody.Activation{
		Request: &ref, Details: s.stepUpDetails(r.Context(), su), Commit: s.commitStepUp(su)})
	if err != nil {
		return s.cfg.Auth.StepUpFailed(r.Context(), su, err)
	}
	writeJSON(w, "application/json", http.StatusOK, v)
	return nil
}

// declineActivation ends a pending request on an owner's fresh TOTP code
// bound to it; nothing is activated.
func (s *Server) declineActivation(w http.ResponseWriter, r *http.Request) error {
	var req approvalRequest
	defer req.Code.Zero()
	ref, pending, err := s.pendingRequest(r, &req)
	if err != nil {
		return err
	}
	su, err := s.stepUp(r, &req.Code, ApprovalAction(audit.ActionActivationDecline, r.PathValue("org"), pending))
	if err != nil {
		return err
	}
	err = s.cfg.Keys.DeclineActivation(r.Context(), actorOf(r), pending.Identity, pending.Version, ref,
		s.stepUpDetails(r.Context(), su), s.commitStepUp(su))
	if err != nil {
		return s.cfg.Auth.StepUpFailed(r.Context(), su, err)
	}
	out := activationRequestOf(pending)
	out.Status = "declined"
	writeJSON(w, "application/json", http.StatusOK, out)
	return nil
}
