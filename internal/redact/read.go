package redact

import (
	"errors"
	"io"
)

// ReadSecret reads all of r, up to limit bytes, into one buffer allocated
// up front, so that no partial copy of the secret is left behind in memory
// the way a growing buffer (io.ReadAll) leaves one at every reallocation.
// It returns at most limit+1 bytes: a result longer than limit means r held
// more, and the caller refuses it. The caller zeroes the result when done;
// on error, ReadSecret zeroes what it read.
func ReadSecret(r io.Reader, limit int) ([]byte, error) {
	buf := make([]byte, limit+1)
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		clear(buf)
		return nil, err
	}
	return buf[:n], nil
}
