package envelope

import (
	"sealkeep/internal/errs"
)

// Sentinel errors, for errors.Is. Errors about keys, bindings and formats
// wrap one of them; file and I/O errors wrap the error from package os.
// No error ever contains key material or plaintext.
var (
	// ErrAuthentication means a ciphertext failed authentication: wrong
	// key, wrong org, identity, key version, DEK or KEK version, a flipped
	// bit or a truncation. The causes are deliberately not told apart.
	ErrAuthentication = errs.New(errs.Verification, "envelope: authentication failed")
	// ErrMalformed means a blob, wrapped DEK or keyring does not parse.
	ErrMalformed = errs.New(errs.Internal, "envelope: malformed input")
	// ErrInvalidInput means the caller passed an invalid argument: an empty
	// or oversized org or identity, a zero version, a plaintext out of
	// bounds, a key of the wrong size, or a DEK already zeroed.
	ErrInvalidInput = errs.New(errs.Invalid, "envelope: invalid input")
	// ErrUnknownKEKVersion means the KEK has no such version.
	ErrUnknownKEKVersion = errs.New(errs.NotFound, "envelope: unknown KEK version")
	// ErrRetired means the KEK version is retired: its key is erased.
	ErrRetired = errs.New(errs.Conflict, "envelope: KEK version is retired")
	// ErrNotActive means a wrap asked for a KEK version other than the
	// active one: older versions only unwrap.
	ErrNotActive = errs.New(errs.Conflict, "envelope: KEK version is not the active version")
	// ErrRetireActive means a request to retire the active KEK version.
	ErrRetireActive = errs.New(errs.Conflict, "envelope: the active KEK version cannot be retired")
	// ErrKeyringPermissions means a keyring file is accessible to group or
	// others (it must be mode 0600), or its directory is writable by them.
	ErrKeyringPermissions = errs.New(errs.Invalid, "envelope: keyring file permissions too open")
	// ErrKeyringChanged means a rotation found the keyring file no longer
	// holding the versions this process loaded (the file was replaced by
	// another keyring); nothing was changed.
	ErrKeyringChanged = errs.New(errs.Conflict, "envelope: keyring file changed underneath")
	// ErrReadOnly means a rotation was asked of a keyring read from the
	// environment.
	ErrReadOnly = errs.New(errs.Forbidden, "envelope: keyring is read-only")
)
