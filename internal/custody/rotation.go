package custody

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/errs"
	"sealkeep/internal/store"
)

// RequestRef names one activation request: its entry's seq and hash in
// the org's chain. An approval or a decline is bound to it.
type RequestRef struct {
	Seq  uint64
	Hash audit.Hash
}

// Commit is a hook that runs in an operation's transaction once its entry
// is appended (the step-up's single-use record goes there).
type Commit func(tx store.Tx, e audit.Entry) error

// RotationPolicy returns org's rotation policy as the fold of its chain
// says (there is no stored copy to trust or to edit).
func (s *Service) RotationPolicy(ctx context.Context, org string) (audit.Policy, error) {
	var p audit.Policy
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		state, err := s.orgState(tx, org)
		if err == nil {
			p = state.Policy()
		}
		return err
	})
	return p, err
}

// ActivationRequests returns org's pending activation requests, from the
// fold of its chain, oldest first.
func (s *Service) ActivationRequests(ctx context.Context, org string) ([]audit.ActivationRequest, error) {
	var out []audit.ActivationRequest
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		state, err := s.orgState(tx, org)
		if err == nil {
			out = state.Requests()
		}
		return err
	})
	return out, err
}

// orgState folds org's chain; an org without one does not exist.
func (s *Service) orgState(tx store.ReadTx, org string) (*audit.State, error) {
	if _, err := tx.Org(org); err != nil {
		return nil, lookup(err, "organization %q", org)
	}
	return s.foldOrg(tx, org)
}

// SetRotationPolicy records org.policy: whether activating a version needs
// a second owner's approval. actor must be an owner by the chain's
// membership entries, and details carry their step-up (the fold refuses
// the entry otherwise); commit runs in the transaction.
func (s *Service) SetRotationPolicy(ctx context.Context, actor audit.Actor, org string, required bool, details map[string]string, commit Commit) (audit.Policy, error) {
	d := map[string]string{audit.DetailRotationApproval: audit.RotationApprovalNone}
	if required {
		d[audit.DetailRotationApproval] = audit.RotationApprovalRequired
	}
	d, err := addDetails(d, details)
	if err != nil {
		return audit.Policy{}, err
	}
	var p audit.Policy
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(org); err != nil {
			return err
		}
		state, err := s.orgState(tx, org)
		if err != nil {
			return err
		}
		e := s.entry(org, actor, audit.ActionOrgPolicy, audit.Subject{Org: org}, d)
		if err := state.Check(e); err != nil {
			return fmt.Errorf("set the rotation policy: %w", forbiddenIfInvalid(err))
		}
		appended, err := tx.AppendAudit(e)
		if err != nil {
			return err
		}
		if err := state.Apply(appended); err != nil {
			return err
		}
		p = state.Policy()
		if commit != nil {
			return commit(tx, appended)
		}
		return nil
	})
	if err != nil {
		return audit.Policy{}, s.refused(ctx, actor, store.Identity{OrgID: org}, 0, err)
	}
	return p, nil
}

// forbiddenIfInvalid turns the fold's refusal of an entry made by someone
// who may not make it (not an owner, the requester approving their own
// request) into ErrForbidden; other errors are returned as they are.
func forbiddenIfInvalid(err error) error {
	if errors.Is(err, audit.ErrInvalidEntry) {
		return errs.With(errs.Forbidden, err)
	}
	return err
}

// approval checks an activation against org policy in state and, for an
// approval of request ref, returns a with the request's reason and the
// details that bind the activation to it (the request's seq and hash, the
// requester and their step-up's evidence).
func approval(state *audit.State, org, identity string, version int, a Activation) (Activation, error) {
	if a.Request == nil {
		if state.Policy().ApprovalRequired {
			return a, errs.With(errs.Forbidden, fmt.Errorf("organization %q requires another owner's approval to activate a version: "+
				"request the activation through the server (sealkeep cert activate --server), and another owner approves it (sealkeep cert approve --server)", org))
		}
		return a, nil
	}
	r, ok := state.Request(identity, version)
	if !ok || r.Seq != a.Request.Seq || r.Hash != a.Request.Hash {
		return a, fmt.Errorf("identity %q version %d has no pending activation request %d (it was approved, declined, or replaced by a later change): %w", identity, version, a.Request.Seq, ErrConflict)
	}
	d := a.Request.details()
	d[audit.DetailRequester], d[audit.DetailRequestEvidence] = r.Requester.ID, r.Evidence
	d, err := addDetails(d, a.Details)
	if err != nil {
		return a, err
	}
	a.Details, a.Reason, a.Thumbprint = d, r.Reason, r.Thumbprint
	return a, nil
}

// addDetails adds extra to d; a key d already has is refused.
func addDetails(d, extra map[string]string) (map[string]string, error) {
	for k, v := range extra {
		if _, ok := d[k]; ok {
			return nil, invalidf("the detail %.64q is set by custody", k)
		}
		d[k] = v
	}
	return d, nil
}

// RequestActivation records a version.activation_request for a ready
// version of identity, under an org policy that requires an owner's
// approval; a's Reason, Thumbprint, Details (the requester's step-up) and
// Commit are used as [Service.ActivateWith] uses them. Nothing becomes
// active: another owner approves the request with
// [Service.ActivateWith] and an [Activation.Request].
func (s *Service) RequestActivation(ctx context.Context, actor audit.Actor, identity string, version int, a Activation) (audit.ActivationRequest, error) {
	if err := checkReason(a.Reason, false, "activation"); err != nil {
		return audit.ActivationRequest{}, err
	}
	var ident store.Identity
	var out audit.ActivationRequest
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		if err := tx.LockChain(ident.OrgID); err != nil {
			return err
		}
		target, state, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		if err := checkStillValid(&target, s.now()); err != nil {
			return fmt.Errorf("request activation of version %d: %w", version, err)
		}
		if a.Thumbprint != "" && thumbprint(target.CertDER) != a.Thumbprint {
			return fmt.Errorf("identity %q version %d does not hold the certificate the request was approved for: %w", identity, version, ErrConflict)
		}
		if n, ok := state.Active(identity); ok && n != version {
			if err := checkReason(a.Reason, true, fmt.Sprintf("rotation (version %d is active)", n)); err != nil {
				return err
			}
		}
		d := map[string]string{audit.DetailThumbprint: thumbprint(target.CertDER)}
		if a.Reason != "" {
			d[audit.DetailReason] = a.Reason
		}
		if d, err = addDetails(d, a.Details); err != nil {
			return err
		}
		e := s.entry(ident.OrgID, actor, audit.ActionActivationRequest, audit.Subject{Org: ident.OrgID, Identity: identity, Version: version}, d)
		if err := state.Check(e); err != nil {
			return fmt.Errorf("request activation of version %d: %w", version, err)
		}
		appended, err := tx.AppendAudit(e)
		if err != nil {
			return err
		}
		if err := state.Apply(appended); err != nil {
			return err
		}
		out, _ = state.Request(identity, version)
		if a.Commit != nil {
			return a.Commit(tx, appended)
		}
		return nil
	})
	if err != nil {
		return audit.ActivationRequest{}, s.refused(ctx, actor, ident, version, err)
	}
	return out, nil
}

// DeclineActivation records an owner's version.activation_decline of the
// pending request ref of identity's version (details: the owner's
// step-up; commit runs in the transaction). The request ends; nothing is
// activated.
func (s *Service) DeclineActivation(ctx context.Context, actor audit.Actor, identity string, version int, ref RequestRef, details map[string]string, commit Commit) error {
	var ident store.Identity
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		if err := tx.LockChain(ident.OrgID); err != nil {
			return err
		}
		_, state, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		d, err := addDetails(ref.details(), details)
		if err != nil {
			return err
		}
		e := s.entry(ident.OrgID, actor, audit.ActionActivationDecline, audit.Subject{Org: ident.OrgID, Identity: identity, Version: version}, d)
		if err := state.Check(e); err != nil {
			return fmt.Errorf("decline the activation of version %d: %w", version, forbiddenIfInvalid(err))
		}
		appended, err := tx.AppendAudit(e)
		if err != nil || commit == nil {
			return err
		}
		return commit(tx, appended)
	})
	return s.refused(ctx, actor, ident, version, err)
}

// details are the entry details naming the request.
func (r RequestRef) details() map[string]string {
	return map[string]string{audit.DetailRequestSeq: strconv.FormatUint(r.Seq, 10), audit.DetailRequestHash: r.Hash.String()}
}
