package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sealkeep/internal/errs"
	"sealkeep/internal/pdf/verify"
)

// multipartOverhead is what a multipart upload may add to the document's
// own bytes (boundaries and part headers).
const multipartOverhead = 64 << 10

// healthz answers while the process runs.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, "application/json", http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz runs the readiness checks: 200 when all pass, otherwise a 503
// problem naming the checks that failed (their errors are logged, not
// sent: a database error may name hosts and users).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	checks := map[string]string{}
	var failed []string
	for _, c := range s.cfg.Ready {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
		err := c.Fn(ctx)
		cancel()
		if err != nil {
			s.log.WarnContext(r.Context(), "readiness check failed", "request_id", RequestID(r.Context()), "check", c.Name, "error", err.Error())
			checks[c.Name] = "failed"
			failed = append(failed, c.Name)
			continue
		}
		checks[c.Name] = "ok"
	}
	if len(failed) > 0 {
		return errs.New(errs.Unavailable, "not ready: "+strings.Join(failed, ", ")+" failed")
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"status": "ready", "checks": checks})
	return nil
}

// metricsHandler serves the Prometheus exposition.
func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// openapi serves the OpenAPI document.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err := w.Write(openAPIDoc)
	return err
}

// verify verifies an uploaded PDF (a multipart form's "file" part, or the
// raw body as application/pdf) and answers with the report of `sealkeep
// verify --json`. A document over the upload limit is 413; one the
// verifier cannot judge (not a PDF, damaged, over a processing limit or
// the time limit) is 422. The report's "file" is the upload's base name.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) error {
	select {
	case s.verifySlots <- struct{}{}:
		defer func() { <-s.verifySlots }()
	default:
		s.metrics.RateLimited.WithLabelValues("verify").Inc()
		return busyError{limit: s.cfg.MaxVerifies}
	}
	name, body, err := uploadedPDF(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.cfg.TempDir, "sealkeep-verify-*.pdf")
	if err != nil {
		return fmt.Errorf("spooling the upload: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(body, s.cfg.MaxUpload+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errs.With(errs.TooLarge, fmt.Errorf("the upload is over the limit of %d bytes", s.cfg.MaxUpload))
		}
		return errs.With(errs.Invalid, fmt.Errorf("reading the upload: %w", err))
	}
	if n > s.cfg.MaxUpload {
		return errs.New(errs.TooLarge, fmt.Sprintf("the document is over the upload limit of %d bytes", s.cfg.MaxUpload))
	}
	if n == 0 {
		return errs.New(errs.Invalid, "the upload is empty: send the PDF as the multipart part \"file\" or as an application/pdf body")
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.VerifyTimeout)
	defer cancel()
	rep, err := verify.Verify(ctx, f, n, verify.Options{Roots: s.cfg.Roots, Custody: s.cfg.Custody, Limits: s.cfg.Limits})
	if err != nil {
		outcome := "unreadable"
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
			err = errs.With(errs.Invalid, fmt.Errorf("over the processing limit: verification took longer than %s", s.cfg.VerifyTimeout))
		} else if errs.KindOf(err) != errs.Invalid {
			outcome = "error"
		}
		s.metrics.Verifications.WithLabelValues(outcome).Inc()
		return err
	}
	rep.File = name
	s.metrics.Verifications.WithLabelValues(rep.Verdict).Inc()
	writeJSON(w, "application/json", http.StatusOK, rep)
	return nil
}

// uploadedPDF returns the uploaded document's name and bytes.
func uploadedPDF(r *http.Request) (string, io.Reader, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", nil, errs.With(errs.Invalid, fmt.Errorf("Content-Type: %w: send multipart/form-data or application/pdf", err))
	}
	switch ct {
	case "application/pdf", "application/octet-stream":
		return "", r.Body, nil
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return "", nil, errs.With(errs.TooLarge, err)
				}
				if err == io.EOF {
					return "", nil, errs.New(errs.Invalid, `the form has no "file" part`)
				}
				return "", nil, errs.With(errs.Invalid, fmt.Errorf("reading the form: %w", err))
			}
			if p.FormName() == "file" {
				name := p.FileName()
				if name != "" {
					name = filepath.Base(filepath.Clean("/" + name))
				}
				return name, p, nil
			}
		}
	}
	return "", nil, errs.New(errs.Invalid, fmt.Sprintf("Content-Type %q: send multipart/form-data or application/pdf", ct))
}

// busyError answers a verification over the concurrency limit.
type busyError struct{ limit int }

func (e busyError) Error() string {
	return fmt.Sprintf("%d verifications are in progress, the most this server runs at once; try again shortly", e.limit)
}

// Kind makes it a 429.
func (busyError) Kind() errs.Kind { return errs.TooManyRequests }

// RetryAfter suggests when to try again.
func (busyError) RetryAfter() time.Duration { return time.Second }
