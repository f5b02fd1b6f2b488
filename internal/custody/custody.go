// Package custody is sealkeep's key-custody core: organizations, signing
// identities, certificate versions and their lifecycle, and KEK rotation.
// It orchestrates the store, the envelope (KEK, org DEKs, key blobs), the
// audit trail, the key policy and the local signer; the CLI and the later
// HTTP service only translate to and from it.
//
// # Actors
//
// Every call that changes something takes an [audit.Actor]: who did it. The
// CLI passes Kind "cli" and the OS user name; the service passes its user.
//
// # Transactions and the audit trail
//
// Every state change commits in one store transaction together with the
// audit entry that records it: if the entry cannot be written, nothing
// changes.
//
// Failed security checks are recorded even though nothing changes, each in
// its own transaction: a rejected import or upload
// ([audit.ActionSecurityImportRejected], with the reason) and a key blob or
// wrapped DEK that fails authentication
// ([audit.ActionSecurityDecryptFailed]).
//
// # Stored state is a cache of the trail
//
// Every field the trail records of a version (status, certificate SHA-256,
// SPKI SHA-256, key reference, DEK version of the key blob), and the owner
// of its identity (identity.create: the only user who may manage and seal
// with it), is a cache of [audit.Fold] over its org's chain, and is checked against that fold,
// verified hash by hash, before it is used: by every lifecycle change (in
// the transaction that makes it), by every signature, by the verifier's
// custody lookup ([Service.CertificateStatus]), by the reads the service
// shows ([Service.CheckedIdentity], [Service.CheckedVersion]) and by
// [Service.VerifyChain] and [Service.CheckState]. Transitions are decided from the fold with
// [audit.Next] and [audit.State.Check], never from a stored status. A
// difference is an [ErrStateMismatch]: nothing happens, and a
// security.state_mismatch entry is written in its own transaction after the
// refused one rolled back.
//
// # One key, one place
//
// A certificate (by SHA-256) and a public key (by SPKI SHA-256) are held by
// at most one version across all organizations, whatever its status,
// destroyed included: an upload, import or external key that custody
// already holds is refused without naming another tenant's identity, and
// audited as security.import_rejected.
//
// # Chains
//
// Creating an org writes org.create in the system chain, and org.create
// followed by dek.create in the org's own chain, so that each chain starts
// with its own genesis. KEK rotation and retirement are system events. All
// identity and version events go to the org's chain. [Service.Chains] lists
// every chain any row names, and [Service.VerifyChain] checks each chain's
// head record and genesis. The store refuses to append to a chain whose
// head record disagrees with its entries; the service also refuses to
// start an org chain with anything but org.create, so a chain deleted
// outside sealkeep is never silently begun again.
//
// # Keys
//
// A generated or imported private key is encrypted under the org's current
// DEK before anything is written, with additional data binding it to org,
// identity and version; its plaintext is zeroed as soon as it is sealed. A
// DEK is retired for encryption (a new DEK version is made) before it
// reaches its random-nonce budget ([Options.MaxEncryptionsPerDEK]).
// [Service.Signer] returns a local signer that reads, unwraps, decrypts,
// signs and zeroes on every call; no private key is ever cached.
//
// # KEK and DEK rotation
//
// [Service.RotateKEK] re-wraps every org DEK under a new KEK version
// (blobs untouched) and completes an interrupted rotation when re-run;
// [Service.RetireKEK] erases a KEK version nothing uses any more.
// [Service.RotateDEK] re-encrypts an org's keys under a new DEK and erases
// the old DEKs: with KEK rotation and retirement, the crypto-erasure of
// destroyed keys in old backups (see the README).
//
// # Errors
//
// Every error wraps one of [ErrNotFound], [ErrConflict], [ErrForbidden],
// [ErrInvalidInput], [ErrTransition] (from audit.Next), [ErrStateMismatch]
// for stored state that differs from the trail, or
// envelope.ErrAuthentication for a blob or DEK that fails to decrypt; the
// CLI maps them to exit codes in one place, the HTTP layer will map them to
// status codes the same way. Errors never carry key material or
// passphrases.
//
// # Crash consistency
//
// Multi-step operations have named fault points (for example
// "activate.in_tx", "import.encrypted", "kek.added") where a test-only hook
// (an unexported [Options] field, set only by this package's tests) can
// kill the process. The crash tests SIGKILL child processes at each point
// and at random moments, then check that stored status equals the audit
// fold, every chain verifies and every key still decrypts and signs.
package custody

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
	"sealkeep/internal/translog"
)

// Options tune a [Service]. The zero value is valid.
type Options struct {
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives debug and info logs; it should be a redacting
	// handler (default: discard).
	Logger *slog.Logger
	// MaxEncryptionsPerDEK is the number of key-blob encryptions after which
	// an org's DEK is replaced by a new version (default
	// envelope.MaxEncryptionsPerDEK). Tests lower it.
	MaxEncryptionsPerDEK uint64
	// DEKCache, when set, keeps unwrapped org DEKs for its bounded lifetime
	// (zeroed on eviction) so that a KMS-held KEK is not called on every
	// signature. It holds DEKs only, never private keys. A DEK erased by
	// [Service.RotateDEK] is dropped from it at once. Without a cache every
	// signature unwraps the DEK through the KEK.
	DEKCache *envelope.DEKCache

	// fault, when set (tests only, see export_test.go), is called at named
	// points inside multi-step operations so that crash tests can kill the
	// process there.
	fault func(point string)
}

// Service is the custody API. It is safe for concurrent use.
type Service struct {
	st       store.Store
	kek      envelope.KEK
	clock    func() time.Time
	log      *slog.Logger
	maxEnc   uint64
	dekCache *envelope.DEKCache
	faultFn  func(string)
	pub      *translog.Publisher // st, when it publishes checkpoints
	folds    foldCache
	seals    sealQueue // seals waiting to be recorded (see RecordSeal)
}

// New returns a service over st whose org DEKs are wrapped by kek. When st
// is a [translog.Publisher], every append is followed by a signed
// checkpoint and audit verification checks the newest one.
func New(st store.Store, kek envelope.KEK, opts Options) *Service {
	s := &Service{st: chainGuard{st}, kek: kek, clock: opts.Clock, log: opts.Logger, maxEnc: opts.MaxEncryptionsPerDEK, dekCache: opts.DEKCache, faultFn: opts.fault}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.pub, _ = st.(*translog.Publisher)
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.maxEnc == 0 {
		s.maxEnc = envelope.MaxEncryptionsPerDEK
	}
	return s
}

// now returns the current time as audit entries store it.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// fault is the crash-test hook (a no-op outside tests).
func (s *Service) fault(point string) {
	if s.faultFn != nil {
		s.faultFn(point)
	}
}

// entry builds an audit entry for chain.
func (s *Service) entry(chain string, actor audit.Actor, a audit.Action, subj audit.Subject, details map[string]string) audit.Entry {
	return audit.Entry{Chain: chain, Time: s.now(), Actor: actor, Action: a, Subject: subj, Details: details}
}

// recordSecurityEvent appends a security entry in its own transaction. A
// failure to record is logged and returned joined with cause, so that the
// caller still fails closed.
func (s *Service) recordSecurityEvent(ctx context.Context, e audit.Entry) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(e)
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "could not record security event", "action", string(e.Action), "chain", e.Chain, "err", err)
		return fmt.Errorf("recording %s: %w", e.Action, err)
	}
	s.log.WarnContext(ctx, "security event", "action", string(e.Action), "chain", e.Chain,
		"identity", e.Subject.Identity, "version", e.Subject.Version)
	return nil
}

// thumbprint is the SHA-256 of a certificate's DER, in hex.
func thumbprint(der []byte) string {
	if der == nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// invalidError marks err as invalid input while keeping its own message and
// chain.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalidInput, e.err} }

// invalid wraps err as [ErrInvalidInput].
func invalid(err error) error { return invalidError{err} }

// invalidf formats an [ErrInvalidInput] error.
func invalidf(format string, args ...any) error { return invalid(fmt.Errorf(format, args...)) }

// lookup turns a store lookup error into a short one: "<what> not found"
// wrapping [ErrNotFound]; other errors pass through.
func lookup(err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s not found: %w", fmt.Sprintf(format, args...), ErrNotFound)
	}
	return err
}
