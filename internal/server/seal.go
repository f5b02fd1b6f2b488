package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/errs"
	"sealkeep/internal/idempotency"
	"sealkeep/internal/intent"
	"sealkeep/internal/passkey"
	"sealkeep/internal/pdf"
	"sealkeep/internal/redact"
	"sealkeep/internal/seal"
	"sealkeep/internal/store"
)

// Seal route limits and defaults.
const (
	// DefaultMaxSealsPerUser bounds the seals one user runs at once on
	// one server instance; one more is answered 429.
	DefaultMaxSealsPerUser = 4
	// DefaultSealTimeout bounds one seal (reading the document, signing,
	// recording).
	DefaultSealTimeout = 2 * time.Minute
	// maxImageBytes bounds a visible seal's image part.
	maxImageBytes = 1 << 20
	// maxCodeBytes bounds the code field.
	maxCodeBytes = 64
)

// Headers of a seal answer: the seal entry, so that the client can fetch
// and check its receipt.
const (
	SealChainHeader     = "Sealkeep-Seal-Chain"
	SealSeqHeader       = "Sealkeep-Seal-Seq"
	SealEntryHashHeader = "Sealkeep-Seal-Entry-Hash"
	// SealRequestHeader is the request ID the seal entry records: this
	// request's, or on an idempotent replay the original one's.
	SealRequestHeader = "Sealkeep-Seal-Request-Id"
	// IdempotencyKeyHeader names a seal request so that a retry never
	// seals twice; IdempotentReplayHeader ("true") marks an answer that
	// is the kept result of an earlier request with the key.
	IdempotencyKeyHeader   = "Idempotency-Key"
	IdempotentReplayHeader = "Idempotent-Replayed"
)

// sealRoutes are the seal route: the caller's own identity only, on the
// caller's step-up sent with the request (a TOTP code, or a passkey's
// answer to the ceremony POST .../seal/passkey began).
func (s *Server) sealRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/orgs/{org}/identities/{identity}/seal", Access: Authorized, Op: auth.OpSeal,
			MaxBody: s.cfg.MaxUpload + maxImageBytes + multipartOverhead, Handler: s.seal},
	}
}

// sealOptionsJSON is the form's "options" part: what the seal looks like.
// Every member changes the sealed document, so every member is in the
// seal intent the code approves.
type sealOptionsJSON struct {
	Name      string `json:"name,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Location  string `json:"location,omitempty"`
	Contact   string `json:"contact,omitempty"`
	Field     string `json:"field,omitempty"`
	SubFilter string `json:"subfilter,omitempty"`
	DocMDP    int    `json:"docmdp,omitempty"`
	Level     string `json:"level,omitempty"`
	Visible   *struct {
		Page int        `json:"page"`
		Rect [4]float64 `json:"rect"`
	} `json:"visible,omitempty"`
}

// sealForm is a parsed seal request.
type sealForm struct {
	name    string // the uploaded file's base name
	path    string // the spooled document
	docSHA  [32]byte
	options sealOptionsJSON
	image   []byte
	code    *redact.Secret
	// passkey is the "passkey" part: a passkey's answer to the seal's
	// WebAuthn ceremony, instead of a code.
	passkey []byte
}

// sealRef is what an idempotency key records of its seal: the entry and
// the answer's file name.
type sealRef struct {
	Chain     string `json:"chain"`
	Seq       uint64 `json:"seq"`
	EntryHash string `json:"entry_hash"`
	RequestID string `json:"request_id"`
	Filename  string `json:"filename"`
}

// seal seals the uploaded PDF with the caller's identity: the server
// computes the seal intent (the identity's active version, the document's
// SHA-256, the options, a fresh nonce, an expiry of intent.MaxLifetime),
// the caller's TOTP code approves exactly that intent, the seal pipeline
// signs, and the seal entry, the approval and (with an Idempotency-Key)
// the kept result commit in one transaction before the sealed PDF is
// answered.
func (s *Server) seal(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	org, identity := r.PathValue("org"), r.PathValue("identity")
	if s.cfg.Keys == nil {
		return errs.New(errs.Unavailable, "this server has no custody service")
	}
	release, err := s.sealSlot(p.User.ID)
	if err != nil {
		return err
	}
	defer release()
	dir, err := os.MkdirTemp(s.cfg.TempDir, "sealkeep-seal-*")
	if err != nil {
		return fmt.Errorf("spooling the upload: %w", err)
	}
	defer os.RemoveAll(dir)
	form, err := s.readSealForm(r, dir)
	if err != nil {
		return err
	}
	defer form.code.Zero()
	opts, err := s.sealOptions(form)
	if err != nil {
		return err
	}
	var claim *idempotency.Claim
	if h := r.Header.Get(IdempotencyKeyHeader); h != "" {
		if s.cfg.Idempotency == nil {
			return errs.New(errs.Unavailable, "this server keeps no idempotency keys")
		}
		key, err := idempotency.CheckKey(h)
		if err != nil {
			return err
		}
		c, done, err := s.cfg.Idempotency.Begin(r.Context(), p.User.ID, key, sealFingerprint(org, identity, form), RequestID(r.Context()))
		if err != nil {
			return err
		}
		if done != nil {
			return writeSealed(w, done.Ref, bytes.NewReader(done.Result), int64(len(done.Result)), true)
		}
		claim = c
	}
	ref, res, err := s.sealWith(r, p, identity, form, opts, claim)
	if err != nil {
		if claim != nil {
			err = errors.Join(err, claim.Release(context.WithoutCancel(r.Context())))
		}
		return err
	}
	f, err := os.Open(res.Output)
	if err != nil {
		return fmt.Errorf("reading the sealed file back: %w", err)
	}
	defer f.Close()
	return writeSealed(w, ref, f, res.Size, false)
}

// sealWith runs the seal and returns its reference and the result (the
// sealed file is at its Output).
func (s *Server) sealWith(r *http.Request, p auth.Principal, identity string, form *sealForm, opts seal.Options, claim *idempotency.Claim) (string, *seal.Result, error) {
	// The seal runs to its end (or its time limit) even if the client goes
	// away: a retry with the Idempotency-Key then finds the result.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.SealTimeout)
	defer cancel()
	start := time.Now()
	actor := audit.Actor{Kind: audit.ActorUser, ID: p.User.ID}
	key, err := s.cfg.Keys.ActiveKey(ctx, actor, identity)
	if err != nil {
		return "", nil, s.sealFailed(err)
	}
	var a seal.Approval
	if form.passkey != nil {
		// The intent is the one the passkey signed the digest of, begun
		// with POST .../seal/passkey; the pipeline seals only if it is
		// this request's document, identity, version and options.
		a, err = s.passkeyApproval(ctx, p.User.ID, form.passkey)
	} else {
		var in intent.Intent
		if in, err = seal.IntentFor(key, p.User.ID, form.docSHA, opts, s.now(), intent.MaxLifetime); err != nil {
			return "", nil, s.sealFailed(errs.With(errs.Invalid, err))
		}
		a, err = seal.CheckTOTP(ctx, s.cfg.Auth, p.User.ID, form.code, in, remoteHost(r.RemoteAddr))
	}
	if err != nil {
		return "", nil, s.sealFailed(s.stepUpFailed(err))
	}
	job, err := seal.Open(form.path, filepath.Join(filepath.Dir(form.path), "sealed.pdf"), seal.Output{Scratch: true})
	if err != nil {
		return "", nil, s.sealFailed(err)
	}
	defer job.Close()
	filename := strings.TrimSuffix(form.name, filepath.Ext(form.name)) + "-sealed.pdf"
	if form.name == "" {
		filename = "sealed.pdf"
	}
	req := seal.CustodyRequest{Identity: identity, Key: &key, Approval: a, RequestID: RequestID(r.Context()), Options: opts}
	if claim != nil {
		// The sealed bytes are kept with the key, in the entry's
		// transaction.
		req.Record = func(tx store.Tx, e audit.Entry, b []byte) error { return claim.Complete(tx, refOf(e, filename), b) }
	}
	res, err := job.SealCustody(ctx, s.cfg.Keys, req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
			err = errs.With(errs.Unavailable, fmt.Errorf("the seal took longer than %s and was abandoned; nothing was sealed", s.cfg.SealTimeout))
		}
		return "", nil, s.sealFailed(s.stepUpFailed(err))
	}
	s.metrics.SealDuration.WithLabelValues(key.Provider).Observe(time.Since(start).Seconds())
	s.metrics.Seals.WithLabelValues("sealed").Inc()
	return refOf(*res.Receipt, filename), res, nil
}

// refOf is the reference a seal answer carries: its entry and file name.
func refOf(e audit.Entry, filename string) string {
	b, _ := json.Marshal(sealRef{Chain: e.Chain, Seq: e.Seq, EntryHash: e.Hash.String(), RequestID: e.Details[audit.DetailRequestID], Filename: filename})
	return string(b)
}

// writeSealed answers the sealed PDF (size bytes of body) with the
// headers of its seal entry.
func writeSealed(w http.ResponseWriter, ref string, body io.Reader, size int64, replay bool) error {
	var rf sealRef
	if err := json.Unmarshal([]byte(ref), &rf); err != nil {
		return fmt.Errorf("the kept seal reference: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": rf.Filename}))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(SealChainHeader, rf.Chain)
	h.Set(SealSeqHeader, strconv.FormatUint(rf.Seq, 10))
	h.Set(SealEntryHashHeader, rf.EntryHash)
	if rf.RequestID != "" {
		h.Set(SealRequestHeader, rf.RequestID)
	}
	if replay {
		h.Set(IdempotentReplayHeader, "true")
	}
	w.WriteHeader(http.StatusOK)
	// The status is sent: a client that goes away now gets a short body
	// (the Content-Length says so) and retries with its Idempotency-Key.
	_, _ = io.Copy(w, body)
	return nil
}

// stepUpFailed counts a failed step-up (a wrong, replayed or locked-out
// code) with the login failures.
func (s *Server) stepUpFailed(err error) error {
	switch {
	case errors.Is(err, auth.ErrLocked):
		s.metrics.LoginFailures.WithLabelValues("locked").Inc()
		s.metrics.RateLimited.WithLabelValues("login").Inc()
	case errors.Is(err, passkey.ErrAssertion), errors.Is(err, passkey.ErrCeremony):
		s.metrics.LoginFailures.WithLabelValues("passkey").Inc()
	case errs.KindOf(err) == errs.Unauthenticated:
		s.metrics.LoginFailures.WithLabelValues("totp").Inc()
	}
	return err
}

// sealFailed counts a seal that was refused (the request's fault) or
// failed (the server's).
func (s *Server) sealFailed(err error) error {
	switch errs.KindOf(err) {
	case errs.Internal, errs.Unavailable, errs.Verification:
		s.metrics.Seals.WithLabelValues("error").Inc()
	default:
		s.metrics.Seals.WithLabelValues("refused").Inc()
	}
	return err
}

// sealSlot takes one of the user's concurrent-seal slots on this
// instance, or refuses with 429.
func (s *Server) sealSlot(user string) (func(), error) {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	if s.sealing[user] >= s.cfg.MaxSealsPerUser {
		s.metrics.RateLimited.WithLabelValues("seal").Inc()
		return nil, sealBusyError{limit: s.cfg.MaxSealsPerUser}
	}
	s.sealing[user]++
	return func() {
		s.sealMu.Lock()
		defer s.sealMu.Unlock()
		if s.sealing[user]--; s.sealing[user] == 0 {
			delete(s.sealing, user)
		}
	}, nil
}

// sealBusyError answers a seal over the per-user concurrency limit.
type sealBusyError struct{ limit int }

func (e sealBusyError) Error() string {
	return fmt.Sprintf("you have %d seals in progress, the most this server runs at once for one user; try again when one has finished", e.limit)
}

// Kind makes it a 429.
func (sealBusyError) Kind() errs.Kind { return errs.TooManyRequests }

// RetryAfter suggests when to try again.
func (sealBusyError) RetryAfter() time.Duration { return time.Second }

// readSealForm reads the multipart form: "file" (the PDF, spooled into
// dir and hashed), "options" (JSON), "image" (a visible seal's PNG or
// JPEG) and "code" (the TOTP code) or "passkey" (a passkey's answer, see
// passkeys.go), each at most once, in any order.
func (s *Server) readSealForm(r *http.Request, dir string) (*sealForm, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, errs.New(errs.Invalid, `send the seal request as multipart/form-data with the parts "file", "options" and "code"`)
	}
	form := &sealForm{path: filepath.Join(dir, "document.pdf"), code: redact.NewSecret(nil)}
	seen := map[string]bool{}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formError(err)
		}
		name := part.FormName()
		if seen[name] {
			return nil, errs.New(errs.Invalid, fmt.Sprintf("the form has the part %q twice", name))
		}
		seen[name] = true
		switch name {
		case "file":
			if form.name = part.FileName(); form.name != "" {
				form.name = filepath.Base(filepath.Clean("/" + form.name))
			}
			err = s.spool(part, form)
		case "options":
			err = decodeOptions(part, &form.options)
		case "image":
			form.image, err = readLimited(part, maxImageBytes, "the image")
		case "code":
			var b []byte
			b, err = readLimited(part, maxCodeBytes, "the code")
			form.code = redact.NewSecret(bytes.Clone(bytes.TrimSpace(b)))
			clear(b)
		case "passkey":
			form.passkey, err = readLimited(part, maxJSONBody, "the passkey part")
		default:
			err = errs.New(errs.Invalid, fmt.Sprintf("the form has an unknown part %q (want file, options, image, code, passkey)", name))
		}
		if err != nil {
			form.code.Zero()
			return nil, err
		}
	}
	switch {
	case !seen["file"]:
		return nil, errs.New(errs.Invalid, `the form has no "file" part (the PDF to seal)`)
	case seen["passkey"] && seen["code"]:
		return nil, errs.New(errs.Invalid, `the form has both a "code" and a "passkey" part: one step-up approves a seal`)
	case seen["passkey"]:
	case form.code.Len() == 0:
		return nil, fmt.Errorf("%w: send your current TOTP code in the form field \"code\" (or a passkey's answer in \"passkey\")", auth.ErrMFARequired)
	}
	return form, nil
}

// spool writes the document into form.path and hashes it; over the upload
// limit is 413.
func (s *Server) spool(part io.Reader, form *sealForm) error {
	f, err := os.OpenFile(form.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spooling the upload: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(part, s.cfg.MaxUpload+1))
	if err != nil {
		return formError(err)
	}
	if n > s.cfg.MaxUpload {
		return errs.New(errs.TooLarge, fmt.Sprintf("the document is over the upload limit of %d bytes", s.cfg.MaxUpload))
	}
	if n == 0 {
		return errs.New(errs.Invalid, `the "file" part is empty`)
	}
	form.docSHA = [32]byte(h.Sum(nil))
	// Not synced: a scratch copy, deleted after the request (what a seal
	// must keep is in the store).
	return f.Close()
}

// formError classifies an error reading the form: over the body limit is
// 413, anything else 422.
func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errs.With(errs.TooLarge, fmt.Errorf("the request is over the upload limit: %w", err))
	}
	return errs.With(errs.Invalid, fmt.Errorf("reading the form: %w", err))
}

// readLimited reads a small part, refusing one over limit bytes.
func readLimited(part io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		return nil, formError(err)
	}
	if int64(len(b)) > limit {
		clear(b)
		return nil, errs.New(errs.TooLarge, fmt.Sprintf("%s is over its limit of %d bytes", what, limit))
	}
	return b, nil
}

// decodeOptions reads the options part strictly.
func decodeOptions(part io.Reader, o *sealOptionsJSON) error {
	b, err := readLimited(part, maxJSONBody, "the options part")
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(o); err != nil {
		return errs.New(errs.Invalid, "the options part is not valid: "+err.Error())
	}
	if d.More() {
		return errs.New(errs.Invalid, "the options part holds more than one JSON value")
	}
	return nil
}

// sealOptions turns the form into the pipeline's options, refusing
// values the pipeline does not take.
func (s *Server) sealOptions(form *sealForm) (seal.Options, error) {
	o := form.options
	opts := seal.Options{Now: s.now, PDF: pdf.SealOptions{Name: o.Name, Reason: o.Reason, Location: o.Location,
		ContactInfo: o.Contact, FieldName: o.Field, DocMDP: o.DocMDP, Limits: s.cfg.Limits}}
	bad := func(msg string) (seal.Options, error) { return seal.Options{}, errs.New(errs.Invalid, "options: "+msg) }
	switch pdf.SubFilter(o.SubFilter) {
	case "", pdf.CAdESDetached, pdf.PKCS7Detached:
		opts.PDF.SubFilter = pdf.SubFilter(o.SubFilter)
	default:
		return bad(fmt.Sprintf("subfilter must be %s or %s", pdf.CAdESDetached, pdf.PKCS7Detached))
	}
	if o.DocMDP < 0 || o.DocMDP > 3 {
		return bad("docmdp must be 0 (an approval signature) or 1 to 3 (a certification)")
	}
	switch o.Level {
	case "", audit.LevelBB:
	case audit.LevelBT:
		if s.cfg.TSA == "" {
			return bad("this server has no timestamp authority: level B-T is not available")
		}
		opts.TSA = s.cfg.TSA
	default:
		return bad("level must be B-B or B-T")
	}
	if v := o.Visible; v != nil {
		opts.PDF.Visible = &pdf.Appearance{Page: v.Page, Rect: v.Rect, Image: form.image}
	} else if form.image != nil {
		return bad(`an "image" part needs a visible seal (options.visible)`)
	}
	return opts, nil
}

// sealFingerprint is the SHA-256 of what a seal request asks for (the
// identity, the document, the options and image), the code aside: a retry
// with the same Idempotency-Key must ask for exactly this.
func sealFingerprint(org, identity string, form *sealForm) [32]byte {
	opts, _ := json.Marshal(form.options)
	img := sha256.Sum256(form.image)
	h := sha256.New()
	for _, f := range [][]byte{[]byte("sealkeep/seal-request/v1"), []byte(org), []byte(identity), form.docSHA[:], opts, img[:]} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write(f)
	}
	return [32]byte(h.Sum(nil))
}

// now is the server's clock.
func (s *Server) now() time.Time { return s.cfg.Clock() }
