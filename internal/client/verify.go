package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"

	"sealkeep/internal/errs"
	"sealkeep/internal/pdf/verify"
)

// maxReport bounds a verification report read from the server.
const maxReport = 16 << 20

// Verify uploads the PDF at path to the server's public verification
// (POST /api/v1/verify, no login) and returns its report: the same
// report as a local verification, judged with the server's trust anchors
// and custody store. A file the server cannot judge is the server's
// invalid-input error. progress, if not nil, is called as the file is
// sent.
func (c *Client) Verify(ctx context.Context, path string, progress func(done, total int64)) (*verify.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errs.With(errs.Invalid, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filepath.Base(path))
		if err == nil {
			var src io.Reader = f
			if progress != nil {
				src = &progressReader{r: f, total: fi.Size(), fn: progress}
			}
			_, err = io.Copy(part, src)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	resp, err := c.Do(ctx, Request{Method: "POST", Path: "/api/v1/verify", Body: pr, ContentType: mw.FormDataContentType(), Stream: true})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var rep verify.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReport)).Decode(&rep); err != nil {
		return nil, errs.With(errs.Unavailable, fmt.Errorf("server %s: the verification answer is not a report: %w", c.base, err))
	}
	return &rep, nil
}
