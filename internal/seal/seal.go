// Package seal is sealkeep's one seal pipeline: the CLI (seal --key,
// --key-uri) and the service both seal through it.
//
// # Steps
//
// [Open] opens the input and creates the output's temporary file
// ([atomicfile]: the output may not be the input, a directory or a device,
// nor an existing file unless [Output.Force]). [Job.Seal] then, with a
// [Key] (a crypto.Signer and its certificates; this package never knows
// where the key lives):
//
//  1. checks the key against the key policy at the current time;
//  2. sizes the CMS for that key, chain and timestamp ([cms.EstimateSize]);
//  3. prepares the incremental update, copies the input and writes the
//     update ([pdf.SealTo], which reads the result back before signing);
//  4. signs the byte ranges' digest through the crypto.Signer (a custody
//     local signer decrypts, signs and zeroes inside that one call;
//     providers call their KMS or HSM) and embeds the CMS;
//  5. self-checks the written file: its /Contents holds that CMS, the CMS
//     verifies over the digest under the certificate, and the file begins
//     with the input's bytes;
//  6. syncs and renames the temporary file into place.
//
// # Sealing with a custody identity
//
// [Job.SealCustody] seals with an identity's active version, held in
// custody, on an [Approval]: the user's own step-up over the canonical
// seal intent ([intent.Intent], built by [IntentFor]: organization, user,
// identity, version, certificate thumbprint, document SHA-256, the
// [IntentOptions], nonce, expiry). Only the auth layer makes approvals
// ([CheckTOTP]); no command, flag or configuration of sealkeep does, so
// nobody seals on another user's behalf. Between steps 5 and 6 the seal is
// recorded as an audit entry ([audit.ActionSeal], checked by
// [audit.CheckSeal]) in the organization's chain, and the approval is
// committed as used in the same transaction ([custody.Service.RecordSeal]),
// so that one code seals once; the sealed file is renamed into place only
// after that transaction committed. If it cannot be written, the temporary
// file is removed and nothing is released (fail closed).
//
// # Errors
//
// Every error from this package is a [*Error] naming the [Step] that
// failed, so that callers report it (the CLI: exit 2 for the user's input,
// output or key); the cause is wrapped.
package seal

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sealkeep/internal/errs"
	"sync/atomic"
	"time"

	"sealkeep/internal/atomicfile"
	"sealkeep/internal/audit"
	"sealkeep/internal/cms"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/pdf"
)

// Step names a stage of the pipeline.
type Step string

// The steps an [*Error] names.
const (
	StepInput    Step = "input"    // the input file cannot be opened
	StepOutput   Step = "output"   // the output is refused or cannot be written
	StepKey      Step = "signer"   // the key or certificate fails the policy
	StepApproval Step = "approval" // no approval, or one for another seal
	StepDocument Step = "document" // the PDF is refused (malformed, encrypted, certified, over a limit)
	StepSign     Step = "sign"     // signing or the self-check failed
	StepRecord   Step = "record"   // the seal entry could not be written
)

// Error is a failed step.
type Error struct {
	Step Step
	Err  error
}

// Error says the step and the cause.
func (e *Error) Error() string { return string(e.Step) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func fail(step Step, err error) error {
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	return &Error{Step: step, Err: err}
}

// ErrSelfCheck means the written file did not check out after the
// signature was embedded; nothing is released.
var ErrSelfCheck = errs.New(errs.Internal, "internal error: the sealed file fails its self-check")

// Key is what signs: a crypto.Signer and its certificates.
type Key struct {
	// Signer makes the signature (a custody local signer, a provider's
	// signer, or a key from a file).
	Signer crypto.Signer
	// Leaf is the certificate of the Signer's public key.
	Leaf *x509.Certificate
	// Chain holds the intermediates to embed.
	Chain []*x509.Certificate
}

// Options describes one seal.
type Options struct {
	// PDF holds the signature dictionary's fields, the subfilter, the
	// visible seal, DocMDP and the reading limits; Digest and ContentsSize
	// are set by the pipeline. An empty Name is the certificate's common
	// name.
	PDF pdf.SealOptions
	// TSA, if set, is an RFC 3161 timestamp authority URL: PAdES B-T.
	TSA string
	// Progress, if set, is called with the bytes copied and the total
	// while the input is copied and hashed.
	Progress func(done, total int64)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Level is the PAdES level the options give: B-T with a TSA, else B-B.
func (o Options) Level() string {
	if o.TSA != "" {
		return "B-T"
	}
	return "B-B"
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Result describes a written seal.
type Result struct {
	Input, Output string
	// Field is the signature field's name; ByteRange its signed range.
	Field     string
	ByteRange [4]int64
	// Size is the sealed file's size.
	Size int64
	// Level is B-B or B-T; SubFilter the signature encoding.
	Level     string
	SubFilter pdf.SubFilter
	// Signer is the certificate's subject; Thumbprint its SHA-256 (hex).
	Signer, Thumbprint string
	// DocumentSHA256, SealedSHA256 and SignatureSHA256 are the SHA-256
	// (hex) of the input, of the sealed file and of the CMS signature
	// value.
	DocumentSHA256, SealedSHA256, SignatureSHA256 string
	// Warnings lists damage in the input that the reader tolerated.
	Warnings []string
	// Receipt is the seal's audit entry ([Job.SealCustody] only).
	Receipt *audit.Entry
}

// Output says which output paths are accepted.
type Output struct {
	// Force replaces an existing regular file (never the input, a
	// directory or a device).
	Force bool
	// Scratch marks an output that need not survive a crash (the
	// server's, read back, answered and deleted): it is not synced
	// ([atomicfile.Options.NoSync]). It is still renamed into place only
	// after the seal is recorded.
	Scratch bool
}

// Job is one seal in progress: the open input and the output's temporary
// file. End it with [Job.Close] (after Seal or SealCustody, or instead).
type Job struct {
	in, out string
	src     *os.File
	size    int64
	dst     *atomicfile.File
	used    bool
	// Stale lists temporary files an earlier, killed seal of the same
	// output left (see [atomicfile.Stale]); they are not sealed documents.
	Stale []string
}

// Open opens the input and creates the output's temporary file, refusing
// an output that out does not allow (see [atomicfile]).
func Open(in, out string, o Output) (*Job, error) {
	src, err := os.Open(in)
	if err != nil {
		return nil, fail(StepInput, err)
	}
	fi, err := src.Stat()
	if err != nil {
		src.Close()
		return nil, fail(StepInput, err)
	}
	if !fi.Mode().IsRegular() {
		src.Close()
		return nil, fail(StepInput, fmt.Errorf("%s is not a regular file: %w", in, pdf.ErrInvalidInput))
	}
	j := &Job{in: in, out: out, src: src, size: fi.Size()}
	j.Stale, _ = atomicfile.Stale(out)
	j.dst, err = atomicfile.Create(out, atomicfile.Options{Overwrite: o.Force, Inputs: []os.FileInfo{fi}, NoSync: o.Scratch})
	if err != nil {
		src.Close()
		return nil, fail(StepOutput, err)
	}
	return j, nil
}

// AbortOnSignal removes the temporary file when one of sigs arrives (see
// [atomicfile.File.AbortOnSignal]); call the returned function to stop.
func (j *Job) AbortOnSignal(sigs ...os.Signal) (stop func()) { return j.dst.AbortOnSignal(sigs...) }

// Close removes the temporary file unless the seal was committed, and
// closes the input.
func (j *Job) Close() {
	j.dst.Abort()
	j.src.Close()
}

// Seal seals the input with key (a key the caller holds: a key file or a
// key URI the caller's own credentials reach) and commits the output.
func (j *Job) Seal(ctx context.Context, key Key, opts Options) (*Result, error) {
	return j.run(ctx, key, opts, hooks{})
}

// hooks are the custody path's additions to the pipeline.
type hooks struct {
	// beforeSign is called once the output is written, before the key
	// signs; its failure signs nothing.
	beforeSign func() error
	// record is called after the self-check and before the commit; its
	// failure releases nothing.
	record func(*Result) error
}

// run is the pipeline.
func (j *Job) run(ctx context.Context, key Key, opts Options, h hooks) (*Result, error) {
	if j.used {
		return nil, fail(StepOutput, errors.New("a seal job seals once"))
	}
	j.used = true
	signer := key.Signer
	if signer == nil || key.Leaf == nil {
		return nil, fail(StepKey, keyfile.ErrNoKey)
	}
	if err := (&keyfile.Bundle{Key: signer, Leaf: key.Leaf, Chain: key.Chain}).Validate(opts.now()); err != nil {
		return nil, fail(StepKey, err)
	}
	po := opts.PDF
	so := cms.SignOptions{Signer: signer, Certificate: key.Leaf, Chain: key.Chain,
		Digest: cms.AutoDigest(key.Leaf.PublicKey), Legacy: po.SubFilter == pdf.PKCS7Detached}
	po.Digest = so.Digest
	if opts.TSA != "" {
		tsa := opts.TSA
		so.Timestamp = func(ctx context.Context, sig []byte) ([]byte, error) {
			return cms.RequestTimestamp(ctx, tsa, nil, sig, so.Digest)
		}
	}
	if po.Name == "" {
		po.Name = key.Leaf.Subject.CommonName
	}
	if po.Visible != nil {
		vis := *po.Visible
		vis.Lines = []string{po.Name, "Digitally sealed", opts.now().UTC().Format("2006-01-02 15:04 MST")}
		po.Visible = &vis
	}
	size, err := cms.EstimateSize(so)
	if err != nil {
		return nil, fail(StepKey, err)
	}
	po.ContentsSize = size

	var sig []byte
	var hookErr error
	ra := &progressReaderAt{r: j.src, total: j.size, progress: opts.Progress}
	res, err := pdf.SealTo(ctx, ra, j.size, j.dst.File, po, func(ctx context.Context, digest []byte) ([]byte, error) {
		if h.beforeSign != nil {
			if hookErr = h.beforeSign(); hookErr != nil {
				return nil, hookErr
			}
		}
		var err error
		sig, err = cms.SignDetached(ctx, digest, so)
		return sig, err
	})
	switch {
	case hookErr != nil:
		return nil, fail(StepApproval, hookErr)
	case err != nil && sig == nil && documentError(err):
		return nil, fail(StepDocument, err)
	case err != nil:
		return nil, fail(StepSign, err)
	}
	out := &Result{Input: j.in, Output: j.out, Field: res.FieldName, ByteRange: res.ByteRange, Size: res.Size,
		Level: opts.Level(), SubFilter: po.SubFilter, Signer: key.Leaf.Subject.String(),
		Thumbprint: keypolicy.Thumbprint(key.Leaf.Raw), Warnings: res.Warnings}
	if err := j.selfCheck(out, sig, res.Digest, key.Leaf); err != nil {
		return nil, fail(StepSign, err)
	}
	if h.record != nil {
		if err := h.record(out); err != nil {
			return nil, fail(StepRecord, err)
		}
	}
	if err := j.dst.Commit(); err != nil {
		return nil, fail(StepOutput, err)
	}
	return out, nil
}

// documentError reports whether err refuses the input document.
func documentError(err error) bool {
	for _, e := range []error{pdf.ErrMalformed, pdf.ErrLimit, pdf.ErrEncrypted, pdf.ErrCertified, pdf.ErrInvalidInput} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// selfCheck reads the written file back: /Contents holds sig (then zero
// padding), sig verifies over digest under leaf, and the file begins with
// the input's bytes. It fills the three SHA-256 fields of r.
func (j *Job) selfCheck(r *Result, sig, digest []byte, leaf *x509.Certificate) error {
	f := j.dst.File
	cs, ce := r.ByteRange[1], r.ByteRange[2]
	hexed := make([]byte, ce-cs)
	if _, err := f.ReadAt(hexed, cs); err != nil {
		return fmt.Errorf("%w: reading /Contents back: %v", ErrSelfCheck, err)
	}
	if len(hexed) < 2 || hexed[0] != '<' || hexed[len(hexed)-1] != '>' {
		return fmt.Errorf("%w: /Contents is not where its byte range says", ErrSelfCheck)
	}
	raw := make([]byte, (len(hexed)-2)/2)
	if _, err := hex.Decode(raw, hexed[1:len(hexed)-1]); err != nil {
		return fmt.Errorf("%w: /Contents is not hex: %v", ErrSelfCheck, err)
	}
	if !bytes.Equal(raw[:min(len(sig), len(raw))], sig) || len(bytes.Trim(raw[len(sig):], "\x00")) != 0 {
		return fmt.Errorf("%w: /Contents does not hold the signature that was made", ErrSelfCheck)
	}
	sd, err := cms.Parse(sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSelfCheck, err)
	}
	vr, err := sd.Verify(digest)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSelfCheck, err)
	}
	if !bytes.Equal(vr.Signer.Raw, leaf.Raw) {
		return fmt.Errorf("%w: the CMS names another signer certificate", ErrSelfCheck)
	}
	sv := sha256.Sum256(sd.SignatureValue())
	r.SignatureSHA256 = hex.EncodeToString(sv[:])
	// One pass over the output: its prefix is the input as copied.
	doc, all := sha256.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(doc, all), io.NewSectionReader(f, 0, j.size)); err != nil {
		return fmt.Errorf("%w: reading back: %v", ErrSelfCheck, err)
	}
	if _, err := io.Copy(all, io.NewSectionReader(f, j.size, r.Size-j.size)); err != nil {
		return fmt.Errorf("%w: reading back: %v", ErrSelfCheck, err)
	}
	r.DocumentSHA256, r.SealedSHA256 = hex.EncodeToString(doc.Sum(nil)), hex.EncodeToString(all.Sum(nil))
	return nil
}

// progressReaderAt reports the progress of the sealer's copy pass (the
// large sequential reads).
type progressReaderAt struct {
	r        io.ReaderAt
	total    int64
	high     atomic.Int64
	progress func(done, total int64)
}

func (c *progressReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if c.progress != nil && len(p) >= 32<<10 {
		if end := off + int64(n); end > c.high.Load() {
			c.high.Store(end)
			c.progress(end, c.total)
		}
	}
	return n, err
}
