package redact

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// recordingReader hands out data in small reads and remembers every buffer
// it wrote into, to check that none keeps a copy once the result is zeroed.
type recordingReader struct {
	data    []byte
	chunk   int
	written [][]byte
	err     error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	r.written = append(r.written, p[:n])
	return n, nil
}

func (r *recordingReader) assertZeroed(t *testing.T) {
	t.Helper()
	for i, w := range r.written {
		if !bytes.Equal(w, make([]byte, len(w))) {
			t.Fatalf("read %d left a copy of the secret behind", i)
		}
	}
}

func TestReadSecretLeavesNoCopies(t *testing.T) {
	secret := bytes.Repeat([]byte("0123456789abcdef"), 300) // 4800 bytes: io.ReadAll would grow its buffer several times
	for _, limit := range []int{len(secret), len(secret) + 100, 8192} {
		r := &recordingReader{data: bytes.Clone(secret), chunk: 100}
		got, err := ReadSecret(r, limit)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("limit %d: %d bytes, %v", limit, len(got), err)
		}
		clear(got)
		r.assertZeroed(t)
	}

	r := &recordingReader{data: bytes.Clone(secret), chunk: 100}
	got, err := ReadSecret(r, len(secret)-1)
	if err != nil || len(got) != len(secret) {
		t.Fatalf("over the limit: %d bytes, %v; want limit+1 bytes to refuse", len(got), err)
	}
	clear(got)
	r.assertZeroed(t)

	boom := errors.New("disk error")
	r = &recordingReader{data: bytes.Clone(secret[:500]), chunk: 100, err: boom}
	if _, err := ReadSecret(r, len(secret)); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
	r.assertZeroed(t)

	if got, err := ReadSecret(bytes.NewReader(nil), 10); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q, %v", got, err)
	}
}
