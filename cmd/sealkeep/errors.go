package main

import (
	"errors"
	"strings"

	"sealkeep/internal/audit"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/fileperm"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/store"
	"sealkeep/internal/translog"
)

// Exit codes (documented in the package doc and the README).
const (
	exitOK       = 0
	exitVerify   = 1
	exitUsage    = 2
	exitNotFound = 3
	exitOther    = 4
)

// usageError marks a command-line usage error (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// silentError carries an exit code for a failure the command already
// reported (for example a verification report on stdout).
type silentError struct{ code int }

func (e *silentError) Error() string { return "failed" }

func isFlagError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// exitCode maps an error to the CLI's exit code. It is the one place where
// sentinel errors become exit codes.
func exitCode(err error) int {
	var silent *silentError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &silent):
		return silent.code
	case isFlagError(err), isCobraArgError(err):
		return exitUsage
	}
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return exitOther
}

// isCobraArgError recognises cobra's positional-argument and unknown-command
// errors, which it returns as plain errors.
func isCobraArgError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "accepts ") || strings.HasPrefix(s, "requires ") ||
		strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "required flag") ||
		strings.Contains(s, "flags in the group")
}

// errorCodes maps sentinels to exit codes, first match wins.
var errorCodes = []struct {
	err  error
	code int
}{
	{custody.ErrStateMismatch, exitVerify},
	{store.ErrCorrupt, exitVerify},
	{envelope.ErrAuthentication, exitVerify},
	{audit.ErrBroken, exitVerify},
	{custody.ErrInvalidInput, exitUsage},
	{custody.ErrCheckpoint, exitVerify},
	{translog.ErrDiverged, exitVerify},
	// Integrity failures on use: a key that does not match its certificate
	// (an external key replaced in the customer's KMS), a provider's
	// signature that does not verify.
	{keypolicy.ErrMismatch, exitVerify},
	{signer.ErrBadSignature, exitVerify},
	{custody.ErrNotFound, exitNotFound},
	{custody.ErrConflict, exitNotFound},
	{custody.ErrTransition, exitNotFound},
	{custody.ErrForbidden, exitNotFound},
	{config.ErrNotInitialized, exitUsage},
	{config.ErrWrongKEK, exitUsage},
	{fileperm.ErrTooOpen, exitUsage},
	{config.ErrExists, exitNotFound},
}
