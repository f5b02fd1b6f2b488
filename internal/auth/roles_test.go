package auth_test

import (
	"testing"

	"sealkeep/internal/auth"
)

// TestRoleMatrix enumerates every operation × role × ownership and asserts
// the exact allow/deny matrix of DESIGN.md: the owner manages members and
// approves rotation; the sealer owns identities and seals only with their
// own; the preparer stages and never seals; the auditor reads and verifies
// the trail; the operator creates orgs and their first owner and reads
// the platform's system chain, nothing else; a non-member nothing. "own" columns apply to an identity the
// caller owns; every other cell is the same owned or not.
func TestRoleMatrix(t *testing.T) {
	const (
		O = "owner"
		S = "sealer"
		P = "preparer"
		A = "auditor"
		X = "operator"
		N = "none"
	)
	// allowed[op] lists the roles allowed on a resource that is not the
	// caller's; allowedOwn[op] those allowed on the caller's own.
	allowed := map[auth.Op][]string{
		auth.OpOrgCreate:       {X},
		auth.OpOrgFirstOwner:   {X},
		auth.OpMembersManage:   {O},
		auth.OpMembersRead:     {O, A},
		auth.OpRotationApprove: {O},
		auth.OpIdentityRead:    {O, S, P, A},
		auth.OpIdentityManage:  {},
		auth.OpDocumentStage:   {S, P},
		auth.OpSeal:            {},
		auth.OpAuditRead:       {O, A},
		auth.OpAuditVerify:     {O, A},
		auth.OpSystemAudit:     {X},
	}
	allowedOwn := map[auth.Op][]string{
		auth.OpIdentityManage: {S},
		auth.OpSeal:           {S},
	}
	roles := map[string]auth.Role{O: auth.RoleOwner, S: auth.RoleSealer, P: auth.RolePreparer, A: auth.RoleAuditor, X: auth.RoleOperator, N: auth.RoleNone}
	if len(allowed) != len(auth.Ops) || len(roles) != len(auth.Roles) {
		t.Fatalf("the matrix has %d ops and %d roles; the package has %d and %d", len(allowed), len(roles), len(auth.Ops), len(auth.Roles))
	}
	for _, op := range auth.Ops {
		want, ok := allowed[op]
		if !ok {
			t.Fatalf("operation %s is not in the matrix", op)
		}
		for name, role := range roles {
			for _, own := range []bool{false, true} {
				list := want
				if l, ok := allowedOwn[op]; ok && own {
					list = l
				} else if !ok && own {
					list = want
				}
				exp := false
				for _, r := range list {
					exp = exp || r == name
				}
				if got := auth.Allowed(role, op, own); got != exp {
					t.Errorf("Allowed(%s, %s, own=%v) = %v, want %v", name, op, own, got, exp)
				}
			}
		}
	}
	// The operator may do exactly three things (create orgs, make their
	// first owner, read and verify the system chain), and never seal.
	n := 0
	for _, op := range auth.Ops {
		for _, own := range []bool{false, true} {
			if auth.Allowed(auth.RoleOperator, op, own) {
				n++
			}
		}
	}
	if n != 6 { // three ops, owned or not
		t.Errorf("operator allowed %d cells, want 6", n)
	}
	if auth.Allowed(auth.RoleOwner, "no.such.op", true) {
		t.Error("unknown operation allowed")
	}
}
