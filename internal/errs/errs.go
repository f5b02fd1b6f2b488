// Package errs is sealkeep's one error taxonomy: every error the program
// returns has a [Kind], and the kind alone decides the CLI's exit code
// (cmd/sealkeep) and the HTTP status and RFC 9457 problem type
// (internal/server). Nothing else maps errors to codes.
//
// A package declares the kind of each of its sentinel errors where it
// defines them, with [New]:
//
//	var ErrMalformed = errs.New(errs.Invalid, "malformed PDF")
//
// The sentinel is an ordinary comparable error value, so errors.Is keeps
// working on it and on every error that wraps it with %w. [With] gives an
// error a kind where the kind depends on the caller (a certificate that
// does not match its key is invalid input at upload and an integrity
// failure at signing time).
//
// [KindOf] finds the kind of an error: the first error in its tree, in the
// order errors.As walks it (the error itself, then what it wraps, left to
// right for an error wrapping several), that has a Kind method. So
// fmt.Errorf("%w: %w", custody.ErrInvalidInput, keypolicy.ErrMismatch) is
// invalid input: the outermost, first-named kind wins. An error with no
// kind is [Internal], except that a context deadline is [Unavailable].
package errs

import (
	"context"
	"errors"
)

// Kind is the class of an error, as far as a caller can act on it.
type Kind uint8

// The kinds. The zero Kind is Internal: an error nobody classified is a
// failure of the program or its environment, never the caller's fault.
const (
	// Internal: any other failure (I/O, database, a bug). Its message is
	// not shown to HTTP clients.
	Internal Kind = iota
	// Invalid: the caller's input is malformed or refused (a bad flag, a
	// damaged or hostile PDF, a weak key, a missing reason).
	Invalid
	// TooLarge: the input is larger than a configured byte limit.
	TooLarge
	// NotFound: the named thing does not exist.
	NotFound
	// Conflict: it already exists, changed concurrently, or its current
	// state (a lifecycle status) does not allow the change.
	Conflict
	// Forbidden: the operation is never allowed to this caller or on this
	// object.
	Forbidden
	// Unauthenticated: no valid credentials were given (log in again).
	Unauthenticated
	// Verification: something that must verify did not: an audit chain, a
	// checkpoint, a key blob's authentication, a stored status that
	// differs from the trail.
	Verification
	// Unavailable: a service the operation needs (a KMS, an HSM, a TSA, the
	// database) cannot be reached or timed out; trying again later may
	// succeed.
	Unavailable
	// TooManyRequests: the caller is over a rate or concurrency limit;
	// trying again later may succeed.
	TooManyRequests
)

// Kinds lists every kind, for tables and their tests.
var Kinds = []Kind{Internal, Invalid, TooLarge, NotFound, Conflict, Forbidden, Unauthenticated, Verification, Unavailable, TooManyRequests}

var names = [...]string{
	Internal:        "internal",
	Invalid:         "invalid-input",
	TooLarge:        "too-large",
	NotFound:        "not-found",
	Conflict:        "conflict",
	Forbidden:       "forbidden",
	Unauthenticated: "unauthenticated",
	Verification:    "verification-failed",
	Unavailable:     "unavailable",
	TooManyRequests: "too-many-requests",
}

// String returns the kind's stable name ("not-found"), which also names its
// problem type.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return names[Internal]
}

// kinded is what KindOf looks for.
type kinded interface{ Kind() Kind }

// sentinel is an error value of a declared kind.
type sentinel struct {
	kind Kind
	msg  string
}

func (e *sentinel) Error() string { return e.msg }

// Kind returns the error's kind.
func (e *sentinel) Kind() Kind { return e.kind }

// New returns a new sentinel error with message msg and kind k. Each call
// returns a distinct error, like errors.New.
func New(k Kind, msg string) error { return &sentinel{kind: k, msg: msg} }

// withKind gives a wrapped error a kind.
type withKind struct {
	kind Kind
	err  error
}

func (e *withKind) Error() string { return e.err.Error() }
func (e *withKind) Unwrap() error { return e.err }

// Kind returns the kind given by With.
func (e *withKind) Kind() Kind { return e.kind }

// With returns err with kind k: its message and its chain (errors.Is,
// errors.As) are err's, and [KindOf] returns k. With(k, nil) is nil.
func With(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &withKind{kind: k, err: err}
}

// KindOf returns the kind of err (see the package doc); KindOf(nil) is
// Internal, though callers treat nil as success before asking.
func KindOf(err error) Kind {
	var k kinded
	if errors.As(err, &k) {
		return k.Kind()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unavailable
	}
	return Internal
}
