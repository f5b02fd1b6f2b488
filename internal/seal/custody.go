package seal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/intent"
	"sealkeep/internal/store"
)

// ErrNotApproved means a custody seal came without an approval, or with
// one that does not approve this seal (another document, identity, version,
// certificate or options; expired; by another user than the identity's
// owner).
var ErrNotApproved = errs.New(errs.Forbidden, "the seal is not approved")

// Approval is a user's step-up over one [intent.Intent], checked but not
// yet recorded. Only the auth layer makes approvals ([CheckTOTP]: a TOTP
// code checked for this intent; later a passkey assertion over its
// digest); nothing in sealkeep's CLI or configuration does, which is what
// keeps every operator path from sealing on a user's behalf. The approving
// user is the intent's User.
type Approval interface {
	// Intent is the seal approved.
	Intent() intent.Intent
	// Method names the step-up ("totp", "webauthn").
	Method() string
	// Evidence is what the step-up can show (the TOTP time step, a
	// credential ID and assertion, ...), recorded in the seal entry; never
	// a secret or a code.
	Evidence() map[string]string
	// Commit records the approval as used, in the transaction that
	// appends the seal entry: an approval that another request committed
	// first fails here, and nothing is released.
	Commit(tx store.Tx) error
	// Failed is called, outside that rolled-back transaction, with the
	// error of a Commit that failed; it records what the failure means
	// (an audited replay) and returns err with anything that added.
	Failed(ctx context.Context, err error) error
}

// CustodyRequest is a seal with a custody identity.
type CustodyRequest struct {
	// Identity is the signing identity; its active version seals.
	Identity string
	// Key, if set, is Identity's active version as the caller opened it
	// for this seal ([custody.Service.ActiveKey], to build the intent the
	// approval names), so that it is not opened twice; nil opens it here.
	// Either way the seal entry's transaction checks it against the trail
	// again ([custody.Service.RecordSeal]) before anything is released.
	Key *custody.SealKey
	// Approval is the identity owner's step-up over this seal's intent.
	Approval Approval
	// RequestID names the request in the seal entry (may be empty).
	RequestID string
	// Options describes the seal.
	Options Options
	// Record, if set, runs in the transaction that appends the seal entry,
	// after the entry and the approval, with the entry and the sealed
	// file's bytes: what the caller keeps with the seal (the server's
	// idempotent result). Its error rolls the seal back and nothing is
	// released. Like every transaction function it may run more than once.
	Record func(tx store.Tx, entry audit.Entry, sealed []byte) error
}

// SealCustody seals the input with the active version of req.Identity,
// held in svc, on req.Approval, records the seal entry with the approval
// in one transaction and only then commits the output (see the package
// documentation). The result's Receipt is the entry.
func (j *Job) SealCustody(ctx context.Context, svc *custody.Service, req CustodyRequest) (*Result, error) {
	if req.Approval == nil {
		return nil, fail(StepApproval, fmt.Errorf("%w: sealing with a custody identity needs its owner's step-up", ErrNotApproved))
	}
	got := req.Approval.Intent()
	if got.User == "" {
		return nil, fail(StepApproval, fmt.Errorf("%w: only a user approves a seal", ErrNotApproved))
	}
	actor := audit.Actor{Kind: audit.ActorUser, ID: got.User}
	var key custody.SealKey
	switch {
	case req.Key == nil:
		var err error
		if key, err = svc.ActiveKey(ctx, actor, req.Identity); err != nil {
			return nil, fail(StepKey, err)
		}
	case req.Key.Identity != req.Identity:
		return nil, fail(StepKey, fmt.Errorf("the key given is identity %q's, not %q: %w", req.Key.Identity, req.Identity, custody.ErrInvalidInput))
	default:
		key = *req.Key
	}
	if got.User != key.Owner {
		return nil, fail(StepApproval, fmt.Errorf("%w: identity %q is not the approving user's", ErrNotApproved, req.Identity))
	}
	doc, err := j.inputSHA256()
	if err != nil {
		return nil, fail(StepInput, err)
	}
	want := baseIntent(key, got.User, doc, req.Options)
	want.Nonce, want.Expires = got.Nonce, got.Expires
	if err := checkIntent(got, want, req.Options.now()); err != nil {
		return nil, fail(StepApproval, err)
	}
	method := req.Approval.Method()
	if method == "" {
		return nil, fail(StepApproval, fmt.Errorf("%w: the approval names no step-up method", ErrNotApproved))
	}
	evidence, err := json.Marshal(req.Approval.Evidence()) // sorted keys
	if err != nil || len(evidence) > audit.MaxDetailValueLen {
		return nil, fail(StepApproval, fmt.Errorf("%w: the approval's evidence does not fit the audit entry", ErrNotApproved))
	}
	ih := want.Digest()
	// The canonical intent goes into the entry, so that a verifier sees
	// what the approval covers (and re-checks a passkey's signature over
	// its digest); an intent too long for an entry is refused before
	// anything is signed.
	canonical := base64.RawURLEncoding.EncodeToString(want.Canonical())
	if len(canonical) > audit.MaxDetailValueLen {
		return nil, fail(StepApproval, errs.With(errs.Invalid, fmt.Errorf("%w: the seal's options (name, reason, location, contact) are too long to record in its audit entry", ErrNotApproved)))
	}
	var receipt audit.Entry
	// The key signs only the approved bytes: the copy of the input in the
	// output is hashed again before the signature is made.
	approved := func() error {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(j.dst.File, 0, j.size)); err != nil {
			return err
		}
		if [32]byte(h.Sum(nil)) != doc {
			return fmt.Errorf("%w: the input changed after it was hashed for the approval", ErrNotApproved)
		}
		return nil
	}
	res, err := j.run(ctx, custodyKey(key), req.Options, hooks{beforeSign: approved, record: func(r *Result) error {
		if r.DocumentSHA256 != hex.EncodeToString(doc[:]) {
			return fmt.Errorf("%w: the input changed while it was sealed", ErrNotApproved)
		}
		d := map[string]string{
			audit.DetailDocumentSHA256: r.DocumentSHA256, audit.DetailSealedSHA256: r.SealedSHA256,
			audit.DetailSignatureSHA256: r.SignatureSHA256, audit.DetailField: r.Field, audit.DetailPAdESLevel: r.Level,
			audit.DetailIntentSHA256: hex.EncodeToString(ih[:]), audit.DetailMFAMethod: method,
			audit.DetailMFAEvidence: string(evidence), audit.DetailIntent: canonical,
		}
		if req.RequestID != "" {
			d[audit.DetailRequestID] = req.RequestID
		}
		var sealed []byte
		if req.Record != nil {
			sealed = make([]byte, r.Size)
			if _, err := j.dst.File.ReadAt(sealed, 0); err != nil {
				return fmt.Errorf("reading the sealed file back: %w", err)
			}
		}
		var err error
		receipt, err = svc.RecordSeal(ctx, actor, key, d, func(tx store.Tx, e audit.Entry) error {
			if err := req.Approval.Commit(tx); err != nil {
				return commitError{err}
			}
			if req.Record != nil {
				return req.Record(tx, e, sealed)
			}
			return nil
		})
		if errors.As(err, new(commitError)) {
			// The approval's own failure (a replay is audited).
			err = req.Approval.Failed(context.WithoutCancel(ctx), err)
		}
		return err
	}})
	if err != nil {
		return nil, err
	}
	res.Receipt = &receipt
	return res, nil
}

// commitError is an error of [Approval.Commit], as RecordSeal returns it.
type commitError struct{ err error }

func (e commitError) Error() string { return e.err.Error() }
func (e commitError) Unwrap() error { return e.err }

// custodyKey is the pipeline's view of a custody key.
func custodyKey(k custody.SealKey) Key { return Key{Signer: k.Signer, Leaf: k.Leaf, Chain: k.Chain} }

// checkIntent compares the approved intent with the one this seal makes
// (given the approved nonce and expiry), field by field for the message
// and then as canonical bytes, and checks its nonce and lifetime at now.
func checkIntent(got, want intent.Intent, now time.Time) error {
	for _, f := range []struct {
		name string
		same bool
	}{
		{"organization", got.Org == want.Org}, {"identity", got.Identity == want.Identity},
		{"version", got.Version == want.Version}, {"certificate", got.Thumbprint == want.Thumbprint},
		{"document", got.DocumentSHA256 == want.DocumentSHA256}, {"options", maps.Equal(got.Options, want.Options)},
	} {
		if !f.same {
			return fmt.Errorf("%w: it approves another %s", ErrNotApproved, f.name)
		}
	}
	if !bytes.Equal(got.Canonical(), want.Canonical()) {
		return fmt.Errorf("%w: it approves another seal", ErrNotApproved)
	}
	if err := got.Check(now); err != nil {
		return fmt.Errorf("%w: %w", ErrNotApproved, err)
	}
	return nil
}

// inputSHA256 hashes the input.
func (j *Job) inputSHA256() ([32]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(j.src, 0, j.size)); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}
