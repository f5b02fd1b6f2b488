package seal

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sealkeep/internal/errs"
	"strconv"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
)

// MaxIntentLifetime bounds how far ahead of now an intent's expiry may
// lie: an approval is for a seal made at once.
const MaxIntentLifetime = 5 * time.Minute

// ErrNotApproved means a custody seal came without an approval, or with
// one that does not approve this seal (another document, identity, version,
// certificate or options; expired; by another user than the identity's
// owner).
var ErrNotApproved = errs.New(errs.Forbidden, "the seal is not approved")

// Intent is the canonical statement of one seal that a user approves with
// a step-up: which key seals which document how. [Intent.Hash] is what a
// one-time code or a passkey assertion is bound to.
type Intent struct {
	Org, Identity string
	Version       int
	// CertSHA256 is the SHA-256 (hex) of the version's certificate.
	CertSHA256 string
	// DocumentSHA256 is the SHA-256 (hex) of the document to seal.
	DocumentSHA256 string
	// OptionsSHA256 is [OptionsDigest] of the seal options.
	OptionsSHA256 string
	// Nonce is the auth layer's single-use value; Expires ends the
	// approval (at most [MaxIntentLifetime] after it is checked).
	Nonce   string
	Expires time.Time
}

// IntentFor is the intent of sealing the document whose SHA-256 (hex) is
// documentSHA256 with key and options o, under the auth layer's nonce and
// expiry: what the owner is asked to approve.
func IntentFor(key custody.SealKey, documentSHA256 string, o Options, nonce string, expires time.Time) Intent {
	return Intent{Org: key.Org, Identity: key.Identity, Version: key.Version, CertSHA256: key.Thumbprint,
		DocumentSHA256: documentSHA256, OptionsSHA256: OptionsDigest(o), Nonce: nonce, Expires: expires}
}

// Hash is the SHA-256 of the intent's canonical encoding: the tag
// "sealkeep/seal-intent/v1", then every field as a length-prefixed
// string, the version in decimal and the expiry as UTC Unix seconds.
func (i Intent) Hash() [32]byte {
	h := sha256.New()
	for _, f := range []string{"sealkeep/seal-intent/v1", i.Org, i.Identity, strconv.Itoa(i.Version), i.CertSHA256,
		i.DocumentSHA256, i.OptionsSHA256, i.Nonce, strconv.FormatInt(i.Expires.UTC().Unix(), 10)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return [32]byte(h.Sum(nil))
}

// OptionsDigest is the SHA-256 (hex) of what a seal's options change in
// the sealed document: subfilter, level, field, DocMDP, the signer name,
// reason, location and contact, and the visible seal's page, rectangle and
// image. The approved intent names it, so an approval for an invisible
// seal does not approve a certification or another wording.
func OptionsDigest(o Options) string {
	p := o.PDF
	f := []string{"sealkeep/seal-options/v1", string(p.SubFilter), o.Level(), p.FieldName, strconv.Itoa(p.DocMDP),
		p.Name, p.Reason, p.Location, p.ContactInfo}
	if v := p.Visible; v != nil {
		img := sha256.Sum256(v.Image)
		f = append(f, strconv.Itoa(v.Page), fmt.Sprint(v.Rect), hex.EncodeToString(img[:]))
	}
	h := sha256.New()
	for _, s := range f {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Approval is a user's step-up over one [Intent]. Only the auth layer
// (internal/auth: a TOTP code accepted once for this intent, later a
// passkey assertion over its hash) makes approvals; nothing in sealkeep's
// CLI or configuration does, which is what keeps every operator path from
// sealing on a user's behalf.
type Approval interface {
	// Intent is the seal approved.
	Intent() Intent
	// Actor is the user who approved it.
	Actor() audit.Actor
	// Method names the step-up ("totp", "webauthn").
	Method() string
	// Evidence is what the step-up can show (the TOTP time step, a
	// credential ID and assertion, ...), recorded in the seal entry; never
	// a secret or a code.
	Evidence() map[string]string
}

// CustodyRequest is a seal with a custody identity.
type CustodyRequest struct {
	// Identity is the signing identity; its active version seals.
	Identity string
	// Approval is the identity owner's step-up over this seal's intent.
	Approval Approval
	// RequestID names the request in the seal entry (may be empty).
	RequestID string
	// Options describes the seal.
	Options Options
}

// SealCustody seals the input with the active version of req.Identity,
// held in svc, on req.Approval, records the seal entry and only then
// commits the output (see the package documentation). The result's
// Receipt is the entry.
func (j *Job) SealCustody(ctx context.Context, svc *custody.Service, req CustodyRequest) (*Result, error) {
	if req.Approval == nil {
		return nil, fail(StepApproval, fmt.Errorf("%w: sealing with a custody identity needs its owner's step-up", ErrNotApproved))
	}
	actor := req.Approval.Actor()
	if actor.Kind != audit.ActorUser || actor.ID == "" {
		return nil, fail(StepApproval, fmt.Errorf("%w: only a user approves a seal", ErrNotApproved))
	}
	key, err := svc.ActiveKey(ctx, actor, req.Identity)
	if err != nil {
		return nil, fail(StepKey, err)
	}
	if actor.ID != key.Owner {
		return nil, fail(StepApproval, fmt.Errorf("%w: identity %q is not the approving user's", ErrNotApproved, req.Identity))
	}
	doc, err := j.inputSHA256()
	if err != nil {
		return nil, fail(StepInput, err)
	}
	got := req.Approval.Intent()
	want := IntentFor(key, doc, req.Options, got.Nonce, got.Expires)
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
	ih := want.Hash()
	var receipt audit.Entry
	// The key signs only the approved bytes: the copy of the input in the
	// output is hashed again before the signature is made.
	approved := func() error {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(j.dst.File, 0, j.size)); err != nil {
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != doc {
			return fmt.Errorf("%w: the input changed after it was hashed for the approval", ErrNotApproved)
		}
		return nil
	}
	res, err := j.run(ctx, custodyKey(key), req.Options, hooks{beforeSign: approved, record: func(r *Result) error {
		if r.DocumentSHA256 != doc {
			return fmt.Errorf("%w: the input changed while it was sealed", ErrNotApproved)
		}
		d := map[string]string{
			audit.DetailDocumentSHA256: r.DocumentSHA256, audit.DetailSealedSHA256: r.SealedSHA256,
			audit.DetailSignatureSHA256: r.SignatureSHA256, audit.DetailField: r.Field, audit.DetailPAdESLevel: r.Level,
			audit.DetailIntentSHA256: hex.EncodeToString(ih[:]), audit.DetailMFAMethod: method,
			audit.DetailMFAEvidence: string(evidence),
		}
		if req.RequestID != "" {
			d[audit.DetailRequestID] = req.RequestID
		}
		var err error
		receipt, err = svc.RecordSeal(ctx, actor, key, d)
		return err
	}})
	if err != nil {
		return nil, err
	}
	res.Receipt = &receipt
	return res, nil
}

// custodyKey is the pipeline's view of a custody key.
func custodyKey(k custody.SealKey) Key { return Key{Signer: k.Signer, Leaf: k.Leaf, Chain: k.Chain} }

// checkIntent compares the approved intent with the one this seal makes.
func checkIntent(got, want Intent, now time.Time) error {
	for _, f := range []struct{ name, got, want string }{
		{"organization", got.Org, want.Org}, {"identity", got.Identity, want.Identity},
		{"version", strconv.Itoa(got.Version), strconv.Itoa(want.Version)},
		{"certificate", got.CertSHA256, want.CertSHA256}, {"document", got.DocumentSHA256, want.DocumentSHA256},
		{"options", got.OptionsSHA256, want.OptionsSHA256},
	} {
		if f.got != f.want {
			return fmt.Errorf("%w: it approves another %s", ErrNotApproved, f.name)
		}
	}
	switch {
	case got.Nonce == "":
		return fmt.Errorf("%w: the intent has no nonce", ErrNotApproved)
	case !now.Before(got.Expires):
		return fmt.Errorf("%w: the approval expired at %s", ErrNotApproved, got.Expires.UTC().Format(time.RFC3339))
	case got.Expires.Sub(now) > MaxIntentLifetime:
		return fmt.Errorf("%w: the approval's expiry is more than %v ahead", ErrNotApproved, MaxIntentLifetime)
	}
	return nil
}

// inputSHA256 hashes the input.
func (j *Job) inputSHA256() (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(j.src, 0, j.size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
