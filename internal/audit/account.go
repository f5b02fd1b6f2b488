package audit

import "fmt"

// Account actions (package auth, and package passkey's in passkey.go). Users, the operator flag, passwords, MFA
// and API tokens are platform events, recorded in [SystemChain]; a
// membership belongs to its organization and is recorded in that
// organization's chain. Every one names the user it is about in the
// [DetailUser] detail; entries never hold a password, a TOTP secret or
// code, a recovery code or a token, only what was done to them.
const (
	ActionUserCreate      Action = "user.create"      // details: user, login, operator ("true"/"false")
	ActionUserPassword    Action = "user.password"    // details: user, reason ("change", "rehash", "activate": the first password, set with an invitation)
	ActionUserInvite      Action = "user.invite"      // an invitation to activate a new account was issued; details: user, expires (RFC 3339)
	ActionMFAConfirm      Action = "mfa.totp_confirm" // TOTP enrolment confirmed with a first code
	ActionMFAReset        Action = "mfa.totp_reset"   // TOTP enrolment removed
	ActionMFARecoveryNew  Action = "mfa.recovery_new" // a new set of recovery codes replaced the old
	ActionMFARecoveryUsed Action = "mfa.recovery_use" // a recovery code was spent
	ActionTokenCreate     Action = "token.create"     // details: user, token (its ID), name
	ActionTokenRevoke     Action = "token.revoke"     // details: user, token
	ActionMemberAdd       Action = "member.add"       // org chain; details: user, role
	ActionMemberRole      Action = "member.role"      // org chain; details: user, role, old_role
	ActionMemberRemove    Action = "member.remove"    // org chain; details: user, old_role
	// ActionSecurityTOTPReplay records a refused TOTP code whose time step
	// (or a later one) was already accepted; details: user, purpose.
	ActionSecurityTOTPReplay Action = "security.totp_replay"
	// ActionSecurityLockout records a failure counter (an account or a
	// client address) reaching its limit; details: limit (the counter's
	// key), until (RFC 3339), failures.
	ActionSecurityLockout Action = "security.lockout"
)

// Details of account entries.
const (
	DetailUser    = "user"     // the user ID an account entry is about
	DetailLogin   = "login"    // a user's login name
	DetailRole    = "role"     // a membership role
	DetailOldRole = "old_role" // the role before a change
	DetailToken   = "token"    // an API token's ID (never the token)
	DetailLimit   = "limit"    // a failure counter's key
)

// Roles of organization members.
const (
	RoleOwner    = "owner"
	RoleSealer   = "sealer"
	RolePreparer = "preparer"
	RoleAuditor  = "auditor"
)

// ValidRole reports whether r is one of the four membership roles.
func ValidRole(r string) bool {
	switch r {
	case RoleOwner, RoleSealer, RolePreparer, RoleAuditor:
		return true
	}
	return false
}

// isAccount reports whether a is an account action.
func (a Action) isAccount() bool {
	switch a {
	case ActionUserCreate, ActionUserPassword, ActionUserInvite,
		ActionMFAConfirm, ActionMFAReset, ActionMFARecoveryNew, ActionMFARecoveryUsed,
		ActionTokenCreate, ActionTokenRevoke, ActionMemberAdd, ActionMemberRole, ActionMemberRemove,
		ActionSecurityTOTPReplay, ActionSecurityLockout,
		ActionPasskeyRegister, ActionPasskeyRemove, ActionSecurityPasskeyCounter:
		return true
	}
	return false
}

// checkAccount applies the rules of account entries: user, MFA, token and
// security events go to the system chain, membership events to their
// organization's chain (Subject.Org, never the system chain); each names
// its user, and membership entries a valid role.
func (e Entry) checkAccount() error {
	if !e.Action.isAccount() {
		return nil
	}
	switch e.Action {
	case ActionSecurityLockout:
		if e.Details[DetailLimit] == "" {
			return fmt.Errorf("%w: %s names no %s", ErrInvalidEntry, e.Action, DetailLimit)
		}
		return nil
	case ActionPasskeyRegister, ActionPasskeyRemove, ActionSecurityPasskeyCounter:
		if e.Details[DetailCredentialID] == "" || (e.Action != ActionSecurityPasskeyCounter && e.Details[DetailPublicKey] == "") {
			return fmt.Errorf("%w: %s names no credential or public key", ErrInvalidEntry, e.Action)
		}
		if e.Chain != SystemChain {
			return fmt.Errorf("%w: %s belongs in the %s chain", ErrInvalidEntry, e.Action, SystemChain)
		}
	case ActionMemberAdd, ActionMemberRole, ActionMemberRemove:
		if e.Chain == SystemChain || e.Subject.Org != e.Chain {
			return fmt.Errorf("%w: %s belongs in the chain of the organization it names", ErrInvalidEntry, e.Action)
		}
		if e.Action != ActionMemberRemove && !ValidRole(e.Details[DetailRole]) {
			return fmt.Errorf("%w: %s with role %.64q", ErrInvalidEntry, e.Action, e.Details[DetailRole])
		}
	default:
		if e.Chain != SystemChain {
			return fmt.Errorf("%w: %s belongs in the %s chain", ErrInvalidEntry, e.Action, SystemChain)
		}
	}
	if e.Details[DetailUser] == "" {
		return fmt.Errorf("%w: %s names no %s", ErrInvalidEntry, e.Action, DetailUser)
	}
	return nil
}
