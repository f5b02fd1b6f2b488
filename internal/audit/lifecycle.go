package audit

import (
	"fmt"

	"sealkeep/internal/errs"
)

// Status is the custody status of a certificate version. It is derived from
// the audit trail: [Next] says how each action changes it.
type Status string

// Statuses of a certificate version.
const (
	StatusNone       Status = ""           // the version does not exist yet
	StatusPending    Status = "pending"    // key generated or referenced, CSR issued, no certificate yet
	StatusReady      Status = "ready"      // certificate present, never active
	StatusActive     Status = "active"     // the one version that seals (at most one per identity)
	StatusSuperseded Status = "superseded" // replaced by a rotation
	StatusRevoked    Status = "revoked"    // revoked, with time and reason
	StatusDestroyed  Status = "destroyed"  // key erased; certificate kept so old seals verify
)

// Statuses lists every status a version can have, StatusNone first.
var Statuses = [...]Status{StatusNone, StatusPending, StatusReady, StatusActive, StatusSuperseded, StatusRevoked, StatusDestroyed}

// ErrTransition is wrapped by every [*TransitionError].
var ErrTransition = errs.New(errs.Conflict, "audit: transition not allowed")

// TransitionError refuses an action on a version in status From.
type TransitionError struct {
	From   Status
	Action Action
	Hint   string // why, or what to do instead
}

// Error names the action, the status and the hint.
func (e *TransitionError) Error() string {
	from := string(e.From)
	if e.From == StatusNone {
		from = "a version that does not exist"
	}
	return fmt.Sprintf("audit: %.64s not allowed from %.64s: %s", e.Action, from, e.Hint)
}

// Unwrap returns [ErrTransition].
func (e *TransitionError) Unwrap() error { return ErrTransition }

// IsLifecycle reports whether a changes or requires a version's status: the
// actions [Next] accepts.
func (a Action) IsLifecycle() bool {
	switch a {
	case ActionKeyGenerate, ActionKeyExternal, ActionCertImport, ActionCertUpload,
		ActionVersionActivate, ActionVersionRotate, ActionVersionRevoke, ActionVersionDestroy, ActionSeal:
		return true
	}
	return false
}

// Next is the single table of allowed status transitions of one version:
// custody calls it before any change, and [State] applies it when folding.
//
//	key.generate, key.external   none -> pending
//	cert.import                  none -> ready
//	cert.upload                  pending -> ready
//	version.activate             ready -> active
//	version.rotate               ready -> active (the new version)
//	                             active -> superseded (the old version)
//	version.revoke               ready, active, superseded -> revoked
//	version.destroy              pending, ready, superseded, revoked -> destroyed
//	seal                         active -> active (sealing needs an active version)
//
// Nothing leaves destroyed. Rules that involve other versions of the identity
// (at most one active; rotation names the active version; revocation needs
// a reason) are [State]'s. A refusal is a [*TransitionError].
func Next(from Status, a Action) (Status, error) {
	refuse := func(hint string) (Status, error) {
		return from, &TransitionError{From: from, Action: a, Hint: hint}
	}
	switch from {
	case StatusNone, StatusPending, StatusReady, StatusActive, StatusSuperseded, StatusRevoked:
	case StatusDestroyed:
		return refuse("the version is destroyed; nothing leaves destroyed")
	default:
		return refuse("unknown status")
	}
	if !a.IsLifecycle() {
		return refuse("not a certificate-version action")
	}
	if from == StatusNone {
		switch a {
		case ActionKeyGenerate, ActionKeyExternal:
			return StatusPending, nil
		case ActionCertImport:
			return StatusReady, nil
		}
		return refuse("create the version first (key.generate, key.external or cert.import)")
	}
	switch a {
	case ActionKeyGenerate, ActionKeyExternal, ActionCertImport:
		return refuse("the version already exists")
	case ActionCertUpload:
		if from == StatusPending {
			return StatusReady, nil
		}
		return refuse("only a pending version (key generated, no certificate yet) takes an uploaded certificate")
	case ActionVersionActivate:
		if from == StatusReady {
			return StatusActive, nil
		}
		return refuse("only a ready version can be activated")
	case ActionVersionRotate:
		switch from {
		case StatusReady:
			return StatusActive, nil
		case StatusActive:
			return StatusSuperseded, nil
		}
		return refuse("rotation moves a ready version to active and the active version to superseded")
	case ActionVersionRevoke:
		switch from {
		case StatusReady, StatusActive, StatusSuperseded:
			return StatusRevoked, nil
		case StatusRevoked:
			return refuse("the version is already revoked")
		}
		return refuse("a pending version has no certificate to revoke; destroy it instead")
	case ActionVersionDestroy:
		if from == StatusActive {
			return refuse("revoke it or rotate to another version first")
		}
		return StatusDestroyed, nil
	default: // ActionSeal
		if from == StatusActive {
			return StatusActive, nil
		}
		return refuse("only the active version seals")
	}
}
