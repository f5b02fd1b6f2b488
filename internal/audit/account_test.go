package audit_test

import (
	"errors"
	"testing"
	"time"

	"sealkeep/internal/audit"
)

// TestAccountEntries: account entries go to the right chain and name
// their user and, for memberships, a valid role.
func TestAccountEntries(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	user := audit.Actor{Kind: audit.ActorUser, ID: "u-1"}
	e := func(chain string, a audit.Action, org string, d map[string]string) audit.Entry {
		return audit.Entry{Chain: chain, Seq: 1, Time: at, Actor: user, Action: a, Subject: audit.Subject{Org: org}, Details: d}
	}
	u := map[string]string{audit.DetailUser: "u-2"}
	ur := map[string]string{audit.DetailUser: "u-2", audit.DetailRole: "sealer"}
	for _, c := range []struct {
		what string
		e    audit.Entry
		ok   bool
	}{
		{"user.create in system", e(audit.SystemChain, audit.ActionUserCreate, "", u), true},
		{"user.create in an org chain", e("acme", audit.ActionUserCreate, "acme", u), false},
		{"user.create without a user", e(audit.SystemChain, audit.ActionUserCreate, "", nil), false},
		{"token.revoke in system", e(audit.SystemChain, audit.ActionTokenRevoke, "", u), true},
		{"replay in system", e(audit.SystemChain, audit.ActionSecurityTOTPReplay, "", u), true},
		{"member.add in its org", e("acme", audit.ActionMemberAdd, "acme", ur), true},
		{"member.add naming another org", e("acme", audit.ActionMemberAdd, "beta", ur), false},
		{"member.add in system", e(audit.SystemChain, audit.ActionMemberAdd, audit.SystemChain, ur), false},
		{"member.add with a bad role", e("acme", audit.ActionMemberAdd, "acme", map[string]string{audit.DetailUser: "u-2", audit.DetailRole: "admin"}), false},
		{"member.remove without a role", e("acme", audit.ActionMemberRemove, "acme", u), true},
		{"member.role without a user", e("acme", audit.ActionMemberRole, "acme", map[string]string{audit.DetailRole: "owner"}), false},
		{"lockout with a limit", e(audit.SystemChain, audit.ActionSecurityLockout, "", map[string]string{audit.DetailLimit: "account"}), true},
		{"lockout without", e(audit.SystemChain, audit.ActionSecurityLockout, "", nil), false},
	} {
		err := c.e.Validate()
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, audit.ErrInvalidEntry)) {
			t.Errorf("%s: Validate = %v, want ok %v", c.what, err, c.ok)
		}
		if !c.e.Action.Known() {
			t.Errorf("%s: action not known", c.what)
		}
	}
}
