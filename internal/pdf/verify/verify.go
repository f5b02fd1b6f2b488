package verify

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"sealkeep/internal/pdf"
)

// ErrUnreadable means the file could not be judged: it is not a PDF, it is
// truncated or damaged beyond the reader's bounded repairs, or it exceeds a
// processing limit. It wraps the reader's error.
var ErrUnreadable = errors.New("the file cannot be read as a PDF")

// Verdicts, worst first.
const (
	Invalid   = "invalid"
	Modified  = "modified"
	Untrusted = "untrusted"
	Valid     = "valid"
)

// Indications of ETSI EN 319 102-1 (clause 5.1.3), as the EU DSS and
// pyHanko report them: TotalPassed exactly when the verdict is Valid.
const (
	TotalPassed   = "TOTAL_PASSED"
	TotalFailed   = "TOTAL_FAILED"
	Indeterminate = "INDETERMINATE"
)

// Sub-indications of ETSI EN 319 102-1 (clause 5.1.3) this verifier
// issues. The first five come with TotalFailed, the others with
// Indeterminate; docs/verify-json.md says when each is given.
const (
	FormatFailure             = "FORMAT_FAILURE"
	HashFailure               = "HASH_FAILURE"
	SigCryptoFailure          = "SIG_CRYPTO_FAILURE"
	Revoked                   = "REVOKED"
	NotYetValid               = "NOT_YET_VALID"
	SignedDataNotFound        = "SIGNED_DATA_NOT_FOUND"
	NoSigningCertificateFound = "NO_SIGNING_CERTIFICATE_FOUND"
	TryLater                  = "TRY_LATER"
	RevokedNoPOE              = "REVOKED_NO_POE"
	CryptoConstraintsFailure  = "CRYPTO_CONSTRAINTS_FAILURE"
	SigConstraintsFailure     = "SIG_CONSTRAINTS_FAILURE"
	OutOfBoundsNoPOE          = "OUT_OF_BOUNDS_NO_POE"
	NoCertificateChainFound   = "NO_CERTIFICATE_CHAIN_FOUND"
	ChainConstraintsFailure   = "CHAIN_CONSTRAINTS_FAILURE"
)

// Coverage values.
const (
	EntireFile     = "entire_file"
	EntireRevision = "entire_revision"
	Partial        = "partial"
)

// Modification values (what changed after a signature, as far as the
// signed document's content goes).
const (
	None        = "none"
	FormFilling = "form_filling"
	Annotations = "annotations"
	Other       = "other"
)

// Update classes: what one later incremental update did.
const (
	ClassMetadata  = "metadata"
	ClassDSS       = "dss"
	ClassSignature = "signature"
	// FormFilling, Annotations and Other are also update classes.
)

// Signing time sources.
const (
	SourceTimestamp   = "timestamp"
	SourceSigningTime = "signing_time_attribute"
	SourceDictionaryM = "dictionary_m"
)

// Options configures a verification.
type Options struct {
	// Roots are the trust anchors; nil trusts nothing (every signature is
	// at best untrusted).
	Roots *x509.CertPool
	// At is the validation time for certificate chains; zero means now.
	At time.Time
	// Custody, if not nil, adds the custody status at signing time.
	Custody CustodyLookup
	// Limits bounds the reading of the file; nil means pdf.DefaultLimits.
	Limits *pdf.Limits
	// Progress, if not nil, is called while byte ranges are hashed with the
	// bytes hashed so far and the total to hash.
	Progress func(done, total int64)
	// Now overrides the clock (tests); nil means time.Now.
	Now func() time.Time
}

// CustodyLookup finds the custody status of a certificate version by the
// certificate's SHA-256 thumbprint (lower-case hex) at time t. ok is false
// when the certificate is not in custody. An error means the status cannot
// be established (the trail cannot be read or folded, or stored state
// differs from it): the signature is then Indeterminate (fail closed).
type CustodyLookup interface {
	StatusAt(ctx context.Context, certSHA256 string, t time.Time) (status CustodyStatus, ok bool, err error)
}

// CustodyStatus is the custody state of a certificate version at signing
// time.
type CustodyStatus struct {
	// Identity and Version name the certificate version.
	Identity string `json:"identity"`
	Version  int    `json:"version"`
	// Status is the version's status at the signing time: active,
	// superseded, revoked, ...
	Status string `json:"status"`
	// Current is its status now.
	Current string `json:"current_status"`
	// RevokedAt is when the version was revoked, if it was.
	RevokedAt *time.Time `json:"revoked_at"`
	// Summary says it in words, e.g. "revoked after signing".
	Summary string `json:"summary"`
}

// Report is the result for one file.
type Report struct {
	File       string      `json:"file"`
	SHA256     string      `json:"sha256"`
	Size       int64       `json:"size"`
	Revisions  int         `json:"revisions"`
	Signatures []Signature `json:"signatures"`
	Verdict    string      `json:"verdict"`
	Reasons    []string    `json:"reasons"`
	Warnings   []string    `json:"warnings"`
	// ValidatedAt is the validation time used for certificate chains.
	ValidatedAt time.Time `json:"validated_at"`
}

// Signature is the result for one signature.
type Signature struct {
	Field     string  `json:"field"`
	SubFilter string  `json:"subfilter"`
	Revision  int     `json:"revision"`
	ByteRange []int64 `json:"byte_range"`
	Coverage  string  `json:"coverage"`
	Intact    bool    `json:"intact"`
	Valid     bool    `json:"valid"`
	Trusted   bool    `json:"trusted"`
	// Modification summarises Updates: none, form_filling, annotations or
	// other.
	Modification string   `json:"modification"`
	Updates      []Update `json:"updates"`
	DocMDP       int      `json:"docmdp"`
	DocMDPOK     bool     `json:"docmdp_ok"`

	SignerSubject     string         `json:"signer_subject"`
	SignerSHA256      string         `json:"signer_sha256"`
	SignerNotBefore   *time.Time     `json:"signer_not_before"`
	SignerNotAfter    *time.Time     `json:"signer_not_after"`
	DigestAlgorithm   string         `json:"digest_algorithm"`
	SignatureAlg      string         `json:"signature_algorithm"`
	SigningTime       *time.Time     `json:"signing_time"`
	SigningTimeSource string         `json:"signing_time_source"`
	Timestamp         *Timestamp     `json:"timestamp"`
	Custody           *CustodyStatus `json:"custody"`

	Name     string `json:"name"`
	Reason   string `json:"reason"`
	Location string `json:"location"`

	Verdict string `json:"verdict"`
	// Indication and SubIndication are the verdict in the terms of ETSI
	// EN 319 102-1: TotalPassed with "" exactly when Verdict is Valid,
	// otherwise TotalFailed or Indeterminate with the sub-indication of the
	// first failed check in the standard's order (docs/verify-json.md).
	Indication    string   `json:"indication"`
	SubIndication string   `json:"sub_indication"`
	Reasons       []string `json:"reasons"`
	Notes         []string `json:"notes"`

	// findings are the sub-indications of the failed checks.
	findings []finding
	// poe is the latest time at which a verified, trusted timestamp proves
	// the signature existed (genTime plus accuracy); notBefore the earliest
	// time the timestamp can have been made (genTime minus accuracy), which
	// bounds every signature made over this one.
	poe, notBefore *time.Time
	// revokedAt is set when the signer's custody version was revoked and
	// no proof of existence before that was found.
	revokedAt *time.Time
}

// finding is one failed check.
type finding struct {
	sub string
	// invalid makes the verdict invalid; a finding that does not (a chain
	// that is not trusted) leaves the verdict to the boolean fields.
	invalid bool
}

// Timestamp describes a signature timestamp token.
type Timestamp struct {
	Valid      bool      `json:"valid"`
	Trusted    bool      `json:"trusted"`
	GenTime    time.Time `json:"gen_time"`
	TSASubject string    `json:"tsa_subject"`
	Serial     string    `json:"serial"`
	Error      string    `json:"error"`
}

// Update is one incremental update after a signature.
type Update struct {
	Revision int      `json:"revision"`
	Class    string   `json:"class"`
	Changes  []string `json:"changes"`
}

// File verifies the PDF at path.
func File(ctx context.Context, path string, opts Options) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rep, err := Verify(ctx, f, fi.Size(), opts)
	if rep != nil {
		rep.File = path
	}
	return rep, err
}

// Verify verifies the PDF held by ra (size bytes). It returns an error
// wrapping ErrUnreadable when the file cannot be judged, or the context's
// error; every problem with a signature is a verdict in the report instead.
func Verify(ctx context.Context, ra io.ReaderAt, size int64, opts Options) (*Report, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := opts.At
	if at.IsZero() {
		at = now()
	}
	r, err := pdf.Open(ra, size, opts.Limits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	v := &verifier{ctx: ctx, ra: ra, size: size, r: r, opts: opts, at: at, now: now()}
	rep := &Report{Size: size, Revisions: len(r.Revisions()), ValidatedAt: at.UTC(),
		Signatures: []Signature{}, Reasons: []string{}}

	sigs, err := v.signatures()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	pend := make([]*pending, len(sigs))
	var jobs []*hashJob
	for i := range sigs {
		if pend[i], err = v.prepare(&sigs[i]); err != nil {
			return nil, err
		}
		if pend[i].job != nil {
			jobs = append(jobs, pend[i].job)
		}
	}
	// One pass over the file computes its SHA-256 and every signature's
	// digest.
	sum, err := v.hashAll(jobs)
	if err != nil {
		return nil, err
	}
	rep.SHA256 = hex.EncodeToString(sum)
	for _, p := range pend {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := v.finish(p)
		if err != nil {
			return nil, err
		}
		rep.Signatures = append(rep.Signatures, s)
	}
	v.applyDocMDP(rep.Signatures)
	if v.opts.Custody != nil {
		for i := range rep.Signatures {
			if err := v.checkCustody(rep.Signatures, i); err != nil {
				return nil, err
			}
		}
	}
	provenAfterRevocation(rep.Signatures)
	// The damage the reader tolerated, including the object offsets it
	// repaired while the checks read objects.
	rep.Warnings = append([]string{}, r.Warnings()...)
	rep.Verdict = Valid
	if len(rep.Signatures) == 0 {
		rep.Verdict = Invalid
		rep.Reasons = append(rep.Reasons, "the file has no signatures")
	}
	for i := range rep.Signatures {
		s := &rep.Signatures[i]
		s.judge()
		if rank(s.Verdict) < rank(rep.Verdict) {
			rep.Verdict = s.Verdict
		}
		if s.Verdict != Valid {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("signature %d (%s): %s (%s/%s)", i+1, s.Field, s.Verdict, s.Indication, s.SubIndication))
		}
	}
	return rep, nil
}

// rank orders verdicts, worst first.
func rank(v string) int {
	switch v {
	case Invalid:
		return 0
	case Modified:
		return 1
	case Untrusted:
		return 2
	}
	return 3
}

// precedence orders the sub-indications as EN 319 102-1's basic
// validation does: a failure (TotalFailed) over an indeterminate result;
// among failures, the cryptographic ones over the later format checks;
// among indeterminate results, the signer's identity and revocation over
// algorithm constraints, and those over the chain.
var precedence = []string{
	HashFailure, SigCryptoFailure, Revoked, NotYetValid, FormatFailure,
	SignedDataNotFound, NoSigningCertificateFound, TryLater, RevokedNoPOE,
	CryptoConstraintsFailure, SigConstraintsFailure, OutOfBoundsNoPOE,
	NoCertificateChainFound, ChainConstraintsFailure,
}

// indicationOf is the indication that comes with sub-indication sub.
func indicationOf(sub string) string {
	switch sub {
	case FormatFailure, HashFailure, SigCryptoFailure, Revoked, NotYetValid:
		return TotalFailed
	}
	return Indeterminate
}

// judge derives the verdict and the ETSI indication from the checks: the
// verdict as documented (invalid, modified, untrusted, valid), and
// TotalPassed exactly when it is valid.
func (s *Signature) judge() {
	subs := map[string]bool{}
	invalid := !s.Intact || !s.Valid || s.Coverage == Partial || s.Timestamp != nil && !s.Timestamp.Valid
	explained, chain := false, false
	for _, f := range s.findings {
		subs[f.sub] = true
		explained = explained || f.invalid
		chain = chain || !f.invalid
		invalid = invalid || f.invalid
	}
	modified := s.Modification != None || !s.DocMDPOK
	switch {
	case invalid:
		s.Verdict = Invalid
	case modified:
		s.Verdict = Modified
	case !s.Trusted:
		s.Verdict = Untrusted
	default:
		s.Verdict, s.Indication, s.SubIndication = Valid, TotalPassed, ""
		return
	}
	// Changes after the signature, or against DocMDP/FieldMDP, fail the
	// signature's format checks, as in the EU DSS (its UndefinedChanges,
	// DocMDP and FieldMDP checks, and form-fill and annotation changes at
	// level FAIL): a seal is invalidated by any change to the document.
	if modified {
		subs[FormatFailure] = true
	}
	// Every check that fails records its sub-indication; these cover the
	// boolean fields in case one does not.
	if invalid && !explained {
		subs[FormatFailure] = true
	}
	if !s.Trusted && !chain {
		subs[NoCertificateChainFound] = true
	}
	for _, sub := range precedence {
		if subs[sub] {
			s.Indication, s.SubIndication = indicationOf(sub), sub
			return
		}
	}
}

// fail records a reason that makes the signature invalid, with the
// sub-indication FormatFailure (the signature does not conform to the PDF
// or CMS standards).
func (s *Signature) fail(format string, args ...any) {
	s.failWith(FormatFailure, format, args...)
}

// failWith records a reason that makes the signature invalid, with its
// sub-indication.
func (s *Signature) failWith(sub, format string, args ...any) {
	s.findings = append(s.findings, finding{sub: sub, invalid: true})
	s.Reasons = append(s.Reasons, fmt.Sprintf(format, args...))
}

// distrust records why the signer (or the timestamp authority) is not
// trusted, with its sub-indication; the verdict is then at best untrusted.
func (s *Signature) distrust(sub, format string, args ...any) {
	s.findings = append(s.findings, finding{sub: sub})
	s.Reasons = append(s.Reasons, fmt.Sprintf(format, args...))
}

// failed reports whether a check made the signature invalid.
func (s *Signature) failed() bool {
	for _, f := range s.findings {
		if f.invalid {
			return true
		}
	}
	return false
}

// reason records a reason for a verdict other than invalid.
func (s *Signature) reason(format string, args ...any) {
	s.Reasons = append(s.Reasons, fmt.Sprintf(format, args...))
}

// note records an informational note.
func (s *Signature) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}
