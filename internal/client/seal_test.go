package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"sealkeep/internal/redact"
)

// TestSealRetries: a seal request whose connection breaks before the
// answer, and one whose first attempt the server says is still running
// (409), are sent again with the same Idempotency-Key and the same form;
// the file holds only the final answer. A refusal is not retried.
func TestSealRetries(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	var forms [][]byte
	sealed := []byte("%PDF-1.7 sealed")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		keys, forms = append(keys, r.Header.Get("Idempotency-Key")), append(forms, body)
		n := len(keys)
		mu.Unlock()
		switch n {
		case 1: // the connection breaks
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		case 2: // still running
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"type":"https://sealkeep.dev/problems/conflict","title":"Conflict","status":409,"detail":"in progress","request_id":"r-1"}`)
		default:
			w.Header().Set("Content-Type", "application/pdf")
			for k, v := range map[string]string{"Sealkeep-Seal-Chain": "acme", "Sealkeep-Seal-Seq": "7", "Sealkeep-Seal-Entry-Hash": "ab",
				"Sealkeep-Seal-Request-Id": "r-2", "Idempotent-Replayed": "true"} {
				w.Header().Set(k, v)
			}
			w.Write(sealed)
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, redact.NewSecret([]byte("skt_x")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "out.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	dst.WriteString("stale bytes from an earlier attempt, longer than the answer")
	doc := []byte("%PDF-1.7 document")
	req := SealRequest{Org: "acme", Identity: "jane-pe", Document: bytes.NewReader(doc), Size: int64(len(doc)), Name: "d.pdf",
		Options: map[string]any{"reason": "IFC"}, Code: redact.NewSecret([]byte("123456"))}
	res, err := c.Seal(context.Background(), req, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Chain != "acme" || res.Seq != 7 || !res.Replayed || res.RequestID != "r-2" {
		t.Errorf("result %+v", res)
	}
	got, _ := os.ReadFile(dst.Name())
	if !bytes.Equal(got, sealed) {
		t.Errorf("the file holds %q", got)
	}
	if len(keys) != 3 || keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Fatalf("Idempotency-Keys %q", keys)
	}
	// The same form each time (the boundary aside).
	for i := range forms {
		if !bytes.Contains(forms[i], doc) || !bytes.Contains(forms[i], []byte("123456")) || !bytes.Contains(forms[i], []byte(`"reason":"IFC"`)) {
			t.Errorf("attempt %d sent %q", i, forms[i])
		}
	}

	// A refusal (401) is final.
	keys = nil
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"type":"https://sealkeep.dev/problems/unauthenticated","title":"x","status":401,"detail":"the TOTP code was already used","request_id":"r-3"}`)
	}))
	defer refuse.Close()
	c, _ = New(refuse.URL, redact.NewSecret([]byte("skt_x")), Options{})
	req.Document, req.IdempotencyKey = bytes.NewReader(doc), "k-1"
	if _, err := c.Seal(context.Background(), req, dst); err == nil || len(keys) != 1 || keys[0] != "k-1" {
		t.Fatalf("refused: %v, %d attempts %q", err, len(keys), keys)
	}
}
