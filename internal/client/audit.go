package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"sealkeep/internal/audit"
	"sealkeep/internal/errs"
)

// Bounds of the small audit answers read into memory: a checkpoint note
// (translog.MaxNoteSize) and an inclusion proof (translog.MaxProofSize).
const (
	maxCheckpoint = 16 << 10
	maxProof      = 256 << 10
)

// AuditPage is one page of a chain's entries (GET .../audit/entries).
type AuditPage struct {
	Chain   string        `json:"chain"`
	Entries []audit.Entry `json:"entries"`
	// NextAfter, when set, is the after of the next page.
	NextAfter *uint64 `json:"next_after,omitempty"`
}

// auditPath is the API path of chain's audit routes: an organization's,
// or the system chain's.
func auditPath(chain string) string {
	if chain == audit.SystemChain {
		return "/api/v1/system/audit"
	}
	return "/api/v1/orgs/" + url.PathEscape(chain) + "/audit"
}

// AuditEntries returns the entries of chain after seq after, at most
// limit (0: the server's default).
func (c *Client) AuditEntries(ctx context.Context, chain string, after uint64, limit int) (AuditPage, error) {
	q := url.Values{"after": {fmt.Sprint(after)}}
	if limit != 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var p AuditPage
	err := c.JSON(ctx, "GET", auditPath(chain)+"/entries?"+q.Encode(), nil, &p)
	return p, err
}

// AuditVerify asks the server to verify chain; a chain that does not
// verify is a report with OK false, not an error.
func (c *Client) AuditVerify(ctx context.Context, chain string) (audit.ChainReport, error) {
	var r audit.ChainReport
	err := c.JSON(ctx, "GET", auditPath(chain)+"/verify", nil, &r)
	return r, err
}

// AuditExport copies the JSON Lines export of chain, from the entry after
// after, to w as it arrives, and returns the bytes copied. An answer cut
// short (the server failed midway) is an error: what was copied is not the
// whole chain.
func (c *Client) AuditExport(ctx context.Context, chain string, after uint64, w io.Writer) (int64, error) {
	path := auditPath(chain) + "/export"
	if after != 0 {
		path += "?after=" + fmt.Sprint(after)
	}
	resp, err := c.Do(ctx, Request{Method: "GET", Path: path, Stream: true})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(markedWriter{w}, resp.Body)
	var we writeError
	switch {
	case errors.As(err, &we):
		return n, we.err
	case err != nil:
		return n, errs.With(errs.Unavailable, fmt.Errorf("server %s: the export of chain %q was cut short after %d bytes (request %s): %w",
			c.base, chain, n, resp.Header.Get("X-Request-Id"), err))
	}
	return n, nil
}

// AuditCheckpoint returns chain's newest signed checkpoint note.
func (c *Client) AuditCheckpoint(ctx context.Context, chain string) ([]byte, error) {
	return c.small(ctx, auditPath(chain)+"/checkpoint", maxCheckpoint)
}

// AuditProof returns the inclusion proof of entry seq of chain, as the
// server sent it (the JSON of `sealkeep audit prove`).
func (c *Client) AuditProof(ctx context.Context, chain string, seq uint64) ([]byte, error) {
	return c.small(ctx, fmt.Sprintf("%s/entries/%d/proof", auditPath(chain), seq), maxProof)
}

// small GETs path and returns its answer, at most limit bytes.
func (c *Client) small(ctx context.Context, path string, limit int64) ([]byte, error) {
	resp, err := c.Do(ctx, Request{Method: "GET", Path: path})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, errs.With(errs.Unavailable, fmt.Errorf("server %s: GET %s: %w", c.base, path, err))
	case int64(len(b)) > limit:
		return nil, errs.With(errs.Unavailable, fmt.Errorf("server %s: GET %s: the answer is larger than %d bytes", c.base, path, limit))
	}
	return b, nil
}

// markedWriter marks its failures as writeErrors: a failure to write
// what was read (the caller's file), which is not the server's.
type markedWriter struct{ w io.Writer }

func (m markedWriter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = writeError{err}
	}
	return n, err
}

type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
