package audit

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"sealkeep/internal/errs"
)

// Limits on an entry's fields, enforced by [Entry.Validate] and so by
// [ParseEntry], [WriteJSONL] and [Verifier].
const (
	MaxNameLen        = 256     // Chain, Actor, Action and Subject strings, in bytes
	MaxDetails        = 32      // number of Details
	MaxDetailKeyLen   = 64      // bytes of a Details key
	MaxDetailValueLen = 4096    // bytes of a Details value
	MaxLineLen        = 1 << 20 // bytes of one JSON Lines record
)

// ErrInvalidEntry reports an entry that is not well formed.
var ErrInvalidEntry = errs.New(errs.Invalid, "audit: invalid entry")

// Known reports whether a is one of the actions this package defines.
func (a Action) Known() bool {
	switch a {
	case ActionOrgCreate, ActionIdentityCreate, ActionKeyGenerate, ActionKeyExternal,
		ActionCertUpload, ActionCertImport, ActionVersionActivate, ActionVersionRotate,
		ActionVersionRevoke, ActionVersionDestroy, ActionSeal, ActionDEKCreate,
		ActionKEKRotate, ActionKEKRetire, ActionSecurityDecryptFailed,
		ActionSecurityImportRejected, ActionSecuritySignFailed, ActionSecurityStateMismatch,
		ActionOrgPolicy, ActionActivationRequest, ActionActivationDecline:
		return true
	}
	return a.isAccount()
}

// Validate checks that e is well formed on its own: a valid chain name (see
// [Entry.Chain]), Seq at least 1, a non-zero time in years 1 to 9999 (UTC)
// with no precision below a microsecond (the hash does not cover it), a
// known actor kind with an ID (see [Actor]), a known action, a
// non-negative subject version, valid UTF-8 everywhere,
// the size limits above and the chain and details rules of account
// actions (see [ActionUserCreate]). It does not look at the hashes; [Verifier] does.
func (e Entry) Validate() error {
	if err := checkChainName(e.Chain); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	if e.Seq == 0 {
		return fmt.Errorf("%w: seq 0 (sequence numbers start at 1)", ErrInvalidEntry)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalidEntry)
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time outside years 1 to 9999", ErrInvalidEntry)
	}
	if e.Time.Nanosecond()%1000 != 0 {
		return fmt.Errorf("%w: time has sub-microsecond precision, which the hash does not cover", ErrInvalidEntry)
	}
	if !e.Action.Known() {
		return fmt.Errorf("%w: unknown action %.64q", ErrInvalidEntry, e.Action)
	}
	if err := e.Actor.check(); err != nil {
		return err
	}
	if e.Subject.Version < 0 {
		return fmt.Errorf("%w: negative subject version", ErrInvalidEntry)
	}
	for _, f := range [...]struct{ name, v string }{
		{"actor kind", e.Actor.Kind}, {"actor id", e.Actor.ID},
		{"action", string(e.Action)}, {"subject org", e.Subject.Org}, {"subject identity", e.Subject.Identity},
	} {
		if err := checkString(f.name, f.v, MaxNameLen); err != nil {
			return err
		}
	}
	if len(e.Details) > MaxDetails {
		return fmt.Errorf("%w: %d details (limit %d)", ErrInvalidEntry, len(e.Details), MaxDetails)
	}
	for k, v := range e.Details {
		if k == "" {
			return fmt.Errorf("%w: empty details key", ErrInvalidEntry)
		}
		if err := checkString("details key", k, MaxDetailKeyLen); err != nil {
			return err
		}
		if err := checkString("details value", v, MaxDetailValueLen); err != nil {
			return err
		}
	}
	return e.checkAccount()
}

// check requires a known actor kind and, except for the system, an ID, so
// that every entry says who acted (DESIGN.md: actor, time, thumbprints and
// reason on every lifecycle entry).
func (a Actor) check() error {
	switch a.Kind {
	case ActorUser, ActorCLI:
		if a.ID == "" {
			return fmt.Errorf("%w: actor of kind %s without an id", ErrInvalidEntry, a.Kind)
		}
	case ActorSystem:
	case "":
		return fmt.Errorf("%w: entry names no actor", ErrInvalidEntry)
	default:
		return fmt.Errorf("%w: actor kind %.64q (want %s, %s or %s)", ErrInvalidEntry, a.Kind, ActorUser, ActorCLI, ActorSystem)
	}
	return nil
}

func checkString(name, v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%w: %s is %d bytes (limit %d)", ErrInvalidEntry, name, len(v), limit)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidEntry, name)
	}
	return nil
}

var errChainName = errors.New("a chain name must be 1 to 256 bytes of UTF-8 without control characters or leading or trailing white space")

// checkChainName applies the rule that lets every chain name appear on one
// line of a checkpoint file.
func checkChainName(s string) error {
	if s == "" || len(s) > MaxNameLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return errChainName
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return errChainName
		}
		if s[i] >= utf8.RuneSelf {
			// Slow path for non-ASCII: C1 controls and the like.
			for _, r := range s[i:] {
				if unicode.IsControl(r) {
					return errChainName
				}
			}
			break
		}
	}
	return nil
}
