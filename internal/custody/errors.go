package custody

import (
	"sealkeep/internal/audit"
	"sealkeep/internal/errs"
	"sealkeep/internal/store"
)

// Sentinel errors. Every error the service returns wraps one of these (or
// an error of a package below it, such as envelope.ErrAuthentication), so
// that the CLI maps exit codes, and the HTTP layer status codes, in one
// place.
var (
	// ErrNotFound: the org, identity or version does not exist.
	ErrNotFound = store.ErrNotFound
	// ErrConflict: the thing already exists or changed concurrently.
	ErrConflict = store.ErrConflict
	// ErrForbidden: the operation is never allowed on this object (for
	// example signing with a revoked or destroyed version).
	ErrForbidden = errs.New(errs.Forbidden, "forbidden")
	// ErrInvalidInput: malformed or rejected input (weak key, mismatched
	// certificate, missing reason, wrong passphrase).
	ErrInvalidInput = errs.New(errs.Invalid, "invalid input")
	// ErrTransition: the lifecycle does not allow this change from the
	// version's current status.
	ErrTransition = audit.ErrTransition
)
