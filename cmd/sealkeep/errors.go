package main

import (
	"errors"
	"strings"

	"sealkeep/internal/errs"
)

// Exit codes (documented in the package doc and the README).
const (
	exitOK          = 0
	exitVerify      = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitOther       = 4
	exitUnavailable = 5
	exitUnauth      = 6
)

// exitCodes is the one mapping from error kinds (internal/errs) to exit
// codes; internal/server maps the same kinds to HTTP statuses.
var exitCodes = map[errs.Kind]int{
	errs.Verification:    exitVerify,
	errs.Invalid:         exitUsage,
	errs.TooLarge:        exitUsage,
	errs.NotFound:        exitNotFound,
	errs.Conflict:        exitNotFound,
	errs.Forbidden:       exitNotFound,
	errs.Internal:        exitOther,
	errs.Unavailable:     exitUnavailable,
	errs.TooManyRequests: exitUnavailable,
	errs.Unauthenticated: exitUnauth,
}

// usageError marks a command-line usage error (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Kind makes a usage error invalid input.
func (e usageError) Kind() errs.Kind { return errs.Invalid }

// silentError carries an exit code for a failure the command already
// reported (for example a verification report on stdout).
type silentError struct{ code int }

func (e *silentError) Error() string { return "failed" }

func isFlagError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// exitCode maps an error to the CLI's exit code: by its kind
// ([errs.KindOf]), after the codes a command chose itself and cobra's
// argument errors.
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
	return exitCodes[errs.KindOf(err)]
}

// isCobraArgError recognises cobra's positional-argument and unknown-command
// errors, which it returns as plain errors.
func isCobraArgError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "accepts ") || strings.HasPrefix(s, "requires ") ||
		strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "required flag") ||
		strings.Contains(s, "flags in the group")
}
