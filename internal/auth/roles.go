package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Role is what a caller is with respect to one organization: one of the
// four membership roles, the platform operator, or nobody.
type Role string

// Roles.
const (
	RoleOwner    Role = audit.RoleOwner    // manages members, approves rotation
	RoleSealer   Role = audit.RoleSealer   // a licensed engineer: owns identities, seals with them
	RolePreparer Role = audit.RolePreparer // uploads and stages documents; never seals
	RoleAuditor  Role = audit.RoleAuditor  // reads and verifies the audit trail
	RoleOperator Role = "operator"         // runs the platform: creates orgs and their first owner, nothing else
	RoleNone     Role = ""                 // not a member of the org
)

// Roles lists every role, RoleNone last.
var Roles = []Role{RoleOwner, RoleSealer, RolePreparer, RoleAuditor, RoleOperator, RoleNone}

// Op is something a caller may be allowed to do in an organization.
type Op string

// Operations.
const (
	OpOrgCreate       Op = "org.create"       // create an organization
	OpOrgFirstOwner   Op = "org.first_owner"  // make the first owner of an org that has none
	OpMembersManage   Op = "members.manage"   // add, remove and change the role of members
	OpMembersRead     Op = "members.read"     // list members and roles
	OpRotationApprove Op = "rotation.approve" // approve the activation of another member's version
	OpIdentityRead    Op = "identity.read"    // see identities, versions, certificates
	OpIdentityManage  Op = "identity.manage"  // create an identity, generate or import keys, upload, activate, revoke, destroy: own only
	OpDocumentStage   Op = "document.stage"   // upload and stage documents for sealing
	OpSeal            Op = "seal"             // seal with an identity: own only
	OpAuditRead       Op = "audit.read"       // list and export the org's audit trail
	OpAuditVerify     Op = "audit.verify"     // verify the trail and make checkpoints
	// OpSystemAudit is reading and verifying the system chain (platform
	// events: organizations created, KEK rotation, accounts, sign-in
	// lockouts), which spans every tenant and holds no key material. It
	// is judged on paths without {org}, where only the operator has a
	// role.
	OpSystemAudit Op = "system.audit"
)

// Ops lists every operation.
var Ops = []Op{OpOrgCreate, OpOrgFirstOwner, OpMembersManage, OpMembersRead, OpRotationApprove,
	OpIdentityRead, OpIdentityManage, OpDocumentStage, OpSeal, OpAuditRead, OpAuditVerify, OpSystemAudit}

// rule is who may do an operation; own means only on a resource (an
// identity) the caller owns.
type rule struct {
	roles []Role
	own   bool
}

// rules is the authorization table: the one place that says who may do
// what. The operator appears only where the design allows it (creating
// orgs and their first owner, and the platform's own system chain); no
// rule lets anyone act with another user's identity or read an
// organization's trail but its owners and auditors.
var rules = map[Op]rule{
	OpOrgCreate:       {roles: []Role{RoleOperator}},
	OpOrgFirstOwner:   {roles: []Role{RoleOperator}},
	OpMembersManage:   {roles: []Role{RoleOwner}},
	OpMembersRead:     {roles: []Role{RoleOwner, RoleAuditor}},
	OpRotationApprove: {roles: []Role{RoleOwner}},
	OpIdentityRead:    {roles: []Role{RoleOwner, RoleSealer, RolePreparer, RoleAuditor}},
	OpIdentityManage:  {roles: []Role{RoleSealer}, own: true},
	OpDocumentStage:   {roles: []Role{RoleSealer, RolePreparer}},
	OpSeal:            {roles: []Role{RoleSealer}, own: true},
	OpAuditRead:       {roles: []Role{RoleOwner, RoleAuditor}},
	OpAuditVerify:     {roles: []Role{RoleOwner, RoleAuditor}},
	OpSystemAudit:     {roles: []Role{RoleOperator}},
}

// Allowed reports whether role may do op; own says whether the resource
// (an identity) belongs to the caller, which the operations that act with
// an identity require. Unknown operations are refused.
func Allowed(role Role, op Op, own bool) bool {
	r, ok := rules[op]
	if !ok || (r.own && !own) {
		return false
	}
	for _, x := range r.roles {
		if x == role {
			return true
		}
	}
	return false
}

// Resource is what an operation acts on: an organization and, for
// identity operations, the user ID of the identity's owner.
type Resource struct {
	Org   string
	Owner string
}

// RoleIn returns the role of a user in an org: RoleOperator for the
// platform operator (who is a member of nothing), the membership's role,
// or RoleNone. A disabled or unknown user is ErrUnauthenticated.
func RoleIn(tx store.ReadTx, userID, org string) (Role, error) {
	u, err := tx.User(userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.DisabledAt.IsZero()) {
		return RoleNone, ErrUnauthenticated
	}
	if err != nil {
		return RoleNone, err
	}
	if u.Operator {
		return RoleOperator, nil
	}
	m, err := tx.Membership(org, userID)
	if errors.Is(err, store.ErrNotFound) {
		return RoleNone, nil
	}
	if err != nil {
		return RoleNone, err
	}
	return Role(m.Role), nil
}

// Authorize returns nil if user may do op on r, reading the user's role
// from the store; otherwise an error wrapping [ErrForbidden] (or
// [ErrUnauthenticated] for an unknown or disabled user).
func (s *Service) Authorize(ctx context.Context, userID string, op Op, r Resource) error {
	return s.st.View(ctx, func(tx store.ReadTx) error { return authorize(tx, userID, op, r) })
}

func authorize(tx store.ReadTx, userID string, op Op, r Resource) error {
	role, err := RoleIn(tx, userID, r.Org)
	if err != nil {
		return err
	}
	if !Allowed(role, op, r.Owner != "" && r.Owner == userID) {
		return fmt.Errorf("%w: %s in org %q is not allowed for this account", ErrForbidden, op, r.Org)
	}
	return nil
}

// AuthorizePath is [Service.Authorize] for a request path naming an org
// and, if identity is not "", one of its identities: the caller's role in
// org must allow op, judged with whether the caller owns the identity. An
// identity that is not in org is ErrNotFound, and only for a caller whose
// role there allows op on some identity, so that nobody learns of another
// org's identities by their IDs.
func (s *Service) AuthorizePath(ctx context.Context, userID string, op Op, org, identity string) error {
	return s.st.View(ctx, func(tx store.ReadTx) error {
		if identity == "" {
			return authorize(tx, userID, op, Resource{Org: org})
		}
		role, err := RoleIn(tx, userID, org)
		if err != nil {
			return err
		}
		r, ok := rules[op]
		if !ok || !slices.Contains(r.roles, role) {
			return fmt.Errorf("%w: %s in org %q is not allowed for this account", ErrForbidden, op, org)
		}
		id, err := tx.Identity(identity)
		if errors.Is(err, store.ErrNotFound) || (err == nil && id.OrgID != org) {
			return fmt.Errorf("identity %q in org %q: %w", identity, org, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !Allowed(role, op, id.Owner == userID) {
			return fmt.Errorf("%w: %s with identity %q is for its owner only", ErrForbidden, op, identity)
		}
		return nil
	})
}
