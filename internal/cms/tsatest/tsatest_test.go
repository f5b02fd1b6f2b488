package tsatest

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sealkeep/internal/testenv"
)

// TestStart checks the TSA with openssl alone: a query made by
// `openssl ts -query` gets a reply that `openssl ts -verify` accepts
// against the returned root.
func TestStart(t *testing.T) {
	url, root := Start(t)
	if !root.IsCA {
		t.Fatal("root is not a CA certificate")
	}
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	data, query, reply, ca := filepath.Join(dir, "data"), filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr"), filepath.Join(dir, "root.pem")
	os.WriteFile(data, []byte("document"), 0o600)
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600)
	if out, err := exec.Command(openssl, "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query).CombinedOutput(); err != nil {
		t.Fatalf("openssl ts -query: %v\n%s", err, out)
	}
	q, _ := os.ReadFile(query)
	for i := 0; i < 2; i++ { // the serial file advances between replies
		resp, err := http.Post(url, "application/timestamp-query", bytes.NewReader(q))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
			t.Fatalf("reply %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		os.WriteFile(reply, body, 0o600)
		if out, err := exec.Command(openssl, "ts", "-verify", "-data", data, "-in", reply, "-CAfile", ca).CombinedOutput(); err != nil {
			t.Fatalf("openssl ts -verify: %v\n%s", err, out)
		}
	}
	resp, err := http.Post(url, "text/plain", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong content type: status %d, want 400", resp.StatusCode)
	}
}
