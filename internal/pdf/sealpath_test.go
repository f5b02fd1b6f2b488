package pdf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sealkeep/internal/atomicfile"
)

// TestSealOutputPath: Seal replaces an existing regular file (its
// documented behaviour), but never a device or a directory, and a refused
// or failed seal leaves nothing next to the output.
func TestSealOutputPath(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "corpus", "cairo-chart.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	seal := func(out string, sign SignFunc) error {
		_, err := Seal(context.Background(), bytes.NewReader(in), int64(len(in)), out, SealOptions{Time: sealTime}, sign)
		return err
	}
	sign := newTestSigner(t).sign
	dir := t.TempDir()
	for _, out := range []string{os.DevNull, dir} {
		if err := seal(out, sign); !errors.Is(err, atomicfile.ErrNotRegular) {
			t.Errorf("Seal to %s: %v, want atomicfile.ErrNotRegular", out, err)
		}
	}
	if fi, err := os.Lstat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a device: %v %v", os.DevNull, fi.Mode(), err)
	}
	out := filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("signer failed")
	if err := seal(out, func(context.Context, []byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Seal with a failing signer: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatalf("a failed seal changed the existing output to %d bytes", len(b))
	}
	if err := seal(out, sign); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(bytes.NewReader(sealed), int64(len(sealed)), nil)
	if err != nil {
		t.Fatalf("the replaced output does not read: %v", err)
	}
	if sigs, err := r.Latest().Signatures(); err != nil || len(sigs) != 1 {
		t.Fatalf("the replaced output has %d signatures (%v), want 1", len(sigs), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%s holds %v, want only out.pdf", dir, ents)
	}
}
