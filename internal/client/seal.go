package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"time"

	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
)

// SealRequest is one seal through the service
// (POST /api/v1/orgs/{org}/identities/{identity}/seal).
type SealRequest struct {
	Org, Identity string
	// Document is the PDF (Size bytes from offset 0); Name its file name.
	Document io.ReaderAt
	Size     int64
	Name     string
	// Options is the "options" part (server.sealOptionsJSON's members);
	// nil sends none.
	Options map[string]any
	// Image is a visible seal's image (nil: none).
	Image []byte
	// Code is the user's current TOTP code.
	Code *redact.Secret
	// IdempotencyKey names the request; "" makes a random one, so that the
	// retries of this call never seal twice.
	IdempotencyKey string
	// Progress, if set, is called with the bytes of the document sent.
	Progress func(done, total int64)
}

// SealResult names the seal entry of a seal.
type SealResult struct {
	Chain     string
	Seq       uint64
	EntryHash string
	// RequestID is the request the seal entry records.
	RequestID string
	// Replayed says the answer was the kept result of an earlier attempt
	// with the same Idempotency-Key.
	Replayed bool
	// Size is the sealed PDF's size.
	Size int64
}

// sealAttempts bounds how often Seal sends a request: a retry goes out
// only with the same Idempotency-Key, when the server could not be
// reached or said the first attempt was still running.
const sealAttempts = 3

// Seal sends the seal request and writes the sealed PDF to dst (from
// offset 0, truncated first on a retry). A request that did not reach the
// server, broke off during the answer, or found its first attempt still
// running (409) is sent again with the same Idempotency-Key, up to three
// times: the server seals at most once and answers the kept result.
func (c *Client) Seal(ctx context.Context, req SealRequest, dst *os.File) (SealResult, error) {
	if req.IdempotencyKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		req.IdempotencyKey = "cli-" + hex.EncodeToString(b[:])
	}
	var err error
	for attempt := 1; ; attempt++ {
		var res SealResult
		res, err = c.sealOnce(ctx, req, dst)
		if err == nil || attempt == sealAttempts || ctx.Err() != nil {
			return res, err
		}
		var pe *ProblemError
		switch {
		case errors.As(err, &pe) && pe.Status == http.StatusConflict && pe.RetryAfter > 0:
			wait(ctx, pe.RetryAfter)
		case errs.KindOf(err) == errs.Unavailable && !errors.As(err, &pe):
			wait(ctx, time.Second)
		default:
			return res, err
		}
	}
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// sealOnce is one attempt of Seal.
func (c *Client) sealOnce(ctx context.Context, req SealRequest, dst *os.File) (SealResult, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeSealForm(mw, req)) }()
	defer pr.Close()
	path := "/api/v1/orgs/" + url.PathEscape(req.Org) + "/identities/" + url.PathEscape(req.Identity) + "/seal"
	resp, err := c.Do(ctx, Request{Method: "POST", Path: path, Body: pr, ContentType: mw.FormDataContentType(),
		Header: http.Header{"Idempotency-Key": {req.IdempotencyKey}}, Stream: true})
	if err != nil {
		return SealResult{}, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/pdf" {
		return SealResult{}, errs.With(errs.Unavailable, fmt.Errorf("server %s: the seal answer is %q, not a PDF", c.base, mt))
	}
	res := SealResult{Chain: resp.Header.Get("Sealkeep-Seal-Chain"), EntryHash: resp.Header.Get("Sealkeep-Seal-Entry-Hash"),
		RequestID: resp.Header.Get("Sealkeep-Seal-Request-Id"), Replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	res.Seq, _ = strconv.ParseUint(resp.Header.Get("Sealkeep-Seal-Seq"), 10, 64)
	if res.Chain == "" || res.Seq == 0 || res.EntryHash == "" {
		return SealResult{}, errs.With(errs.Unavailable, fmt.Errorf("server %s: the seal answer names no seal entry", c.base))
	}
	if err := dst.Truncate(0); err != nil {
		return SealResult{}, err
	}
	if _, err := dst.Seek(0, io.SeekStart); err != nil {
		return SealResult{}, err
	}
	if res.Size, err = io.Copy(dst, resp.Body); err != nil {
		return SealResult{}, errs.With(errs.Unavailable, fmt.Errorf("server %s: receiving the sealed PDF: %w", c.base, err))
	}
	if resp.ContentLength >= 0 && res.Size != resp.ContentLength {
		return SealResult{}, errs.With(errs.Unavailable, fmt.Errorf("server %s: the sealed PDF broke off after %d of %d bytes", c.base, res.Size, resp.ContentLength))
	}
	return res, nil
}

// writeSealForm writes the multipart form: the small parts, then the
// document.
func writeSealForm(mw *multipart.Writer, req SealRequest) error {
	if req.Options != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="options"`)
		h.Set("Content-Type", "application/json")
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if err := json.NewEncoder(w).Encode(req.Options); err != nil {
			return err
		}
	}
	if req.Image != nil {
		w, err := mw.CreateFormFile("image", "seal-image")
		if err != nil {
			return err
		}
		if _, err := w.Write(req.Image); err != nil {
			return err
		}
	}
	w, err := mw.CreateFormField("code")
	if err != nil {
		return err
	}
	if _, err := w.Write(req.Code.Bytes()); err != nil {
		return err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": req.Name}))
	h.Set("Content-Type", "application/pdf")
	if w, err = mw.CreatePart(h); err != nil {
		return err
	}
	src := io.Reader(io.NewSectionReader(req.Document, 0, req.Size))
	if req.Progress != nil {
		src = &progressReader{r: src, total: req.Size, fn: req.Progress}
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	return mw.Close()
}

// progressReader reports the bytes read.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}
