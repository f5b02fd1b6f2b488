//go:build pkcs11

package pkcs11

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The PIN file is read within a fixed bound: a file larger than a PIN could
// be is refused without its content reaching the error.
func TestReadPINFileBounded(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "pin")
	if err := os.WriteFile(ok, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := readPINFile(ok)
	if err != nil || string(b) != "1234\n" {
		t.Fatalf("readPINFile = %q, %v", b, err)
	}
	big := filepath.Join(dir, "big")
	content := bytes.Repeat([]byte("9"), maxPINFile+1)
	if err := os.WriteFile(big, content, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = readPINFile(big)
	if err == nil || b != nil {
		t.Fatalf("readPINFile of %d bytes = %d bytes, %v; want a refusal", len(content), len(b), err)
	}
	if strings.Contains(err.Error(), "9999") {
		t.Fatalf("error echoes the file content: %v", err)
	}
}
