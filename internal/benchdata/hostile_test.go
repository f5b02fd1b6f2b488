package benchdata

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sealkeep/internal/testenv"
)

// TestZlibPadded inflates the padded streams with compress/zlib, which
// also checks the Adler-32 trailer: the bytes are head and pad zeros.
func TestZlibPadded(t *testing.T) {
	head := []byte("1 0 << /T (x) >>\n")
	for _, pad := range []int64{0, 1, 1<<20 - 1, 1 << 20, 3<<20 + 17, 9 << 20} {
		z := zlibPadded(head, pad)
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("pad %d: %v", pad, err)
		}
		want := append(append([]byte{}, head...), make([]byte, pad)...)
		if !bytes.Equal(got, want) {
			t.Errorf("pad %d: inflates to %d bytes, not the %d of head and padding", pad, len(got), len(want))
		}
		if pad >= 9<<20 && int64(len(z)) > pad/500 {
			t.Errorf("pad %d: %d compressed bytes, a ratio under 500", pad, len(z))
		}
	}
}

// TestHostileScaledDownAreValid checks small versions of the hostile
// files with qpdf --check (which inflates every stream): they are
// well-formed PDF, so what stops our reader on the full-size ones is a
// limit, not a syntax error. The /Prev loop is the one file that is
// malformed by design; qpdf must find it.
func TestHostileScaledDownAreValid(t *testing.T) {
	qpdf := testenv.Tool(t, "qpdf")
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		write func(io.Writer) (int64, error)
		valid bool
	}{
		{"interleaved", func(w io.Writer) (int64, error) { return WriteInterleaved(w, 50, 5, 3<<20) }, true},
		{"wide update", func(w io.Writer) (int64, error) { return WriteWideUpdate(w, 4, 2<<20) }, true},
		{"flate bomb", func(w io.Writer) (int64, error) { return WriteFlateBomb(w, 4<<20) }, true},
		{"deep nesting", func(w io.Writer) (int64, error) { return WriteDeepNesting(w, 20) }, true},
		{"prev loop", func(w io.Writer) (int64, error) { return WritePrevLoop(w, 5) }, false},
	} {
		path := filepath.Join(dir, c.name+".pdf")
		var b bytes.Buffer
		n, err := c.write(&b)
		if err != nil || n != int64(b.Len()) {
			t.Fatalf("%s: wrote %d of %d bytes: %v", c.name, n, b.Len(), err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(qpdf, "--check", path).CombinedOutput()
		switch {
		case c.valid && err != nil:
			t.Errorf("%s: qpdf --check: %v\n%s", c.name, err, out)
		case c.valid && bytes.Contains(out, []byte("WARNING")):
			t.Errorf("%s: qpdf --check warns:\n%s", c.name, out)
		case !c.valid && err == nil && !bytes.Contains(out, []byte("WARNING")):
			t.Errorf("%s: qpdf --check finds nothing wrong:\n%s", c.name, out)
		}
	}
}

// TestHostileFileSizes checks that the benchmark's files are as small and
// as large as their descriptions say: the compressed sizes of issue 7 and
// the decoded sizes (found by inflating every stream independently).
func TestHostileFileSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 6 GB of padding (about 7 s); run without -short")
	}
	want := map[string]struct{ maxFile, minDecoded int64 }{
		"objstm-interleaved": {1 << 20, 500 << 20},
		"objstm-wide-update": {5 << 20, 4000 << 20},
		"objstm-budget":      {1 << 20, 360 << 20},
		"flate-bomb":         {2 << 20, 1 << 30},
		"deep-nesting":       {256 << 10, 0},
		"prev-loop":          {512 << 10, 0},
	}
	for _, h := range HostileFiles() {
		var b bytes.Buffer
		if _, err := h.Write(&b); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		w, ok := want[h.Name]
		if !ok {
			t.Errorf("%s: no expected size", h.Name)
			continue
		}
		if int64(b.Len()) > w.maxFile {
			t.Errorf("%s: %d bytes, more than %d", h.Name, b.Len(), w.maxFile)
		}
		sizes, err := InflatedStreams(b.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		var d int64
		for _, n := range sizes {
			d += n
		}
		if d < w.minDecoded {
			t.Errorf("%s: streams inflate to %d bytes, less than %d", h.Name, d, w.minDecoded)
		}
	}
}

func TestHostileRefuses(t *testing.T) {
	for _, f := range []func() (int64, error){
		func() (int64, error) { return WriteInterleaved(io.Discard, 3, 5, 0) },
		func() (int64, error) { return WriteWideUpdate(io.Discard, 0, 0) },
		func() (int64, error) { return WriteFlateBomb(io.Discard, -1) },
		func() (int64, error) { return WriteDeepNesting(io.Discard, 0) },
		func() (int64, error) { return WritePrevLoop(io.Discard, 0) },
	} {
		if _, err := f(); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("got %v, want ErrInvalidInput", err)
		}
	}
}
