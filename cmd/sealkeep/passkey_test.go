//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/config"
	"sealkeep/internal/passkey/passkeytest"
	"sealkeep/internal/store"
)

// api sends method path as jane (bearer tok) with a JSON body (nil: none)
// to the served sealkeep and decodes a JSON answer into out.
func (s *sealService) api(t *testing.T, tok, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		must(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.srv.url+path, rd)
	must(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		must(t, json.Unmarshal(b, out))
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// janeToken signs jane in for an API token with her code of now.
func (s *sealService) janeToken(t *testing.T) string {
	t.Helper()
	code, err := totp.GenerateCode(s.secret, time.Now())
	must(t, err)
	var tok struct{ Token string }
	if c := s.api(t, "", "POST", "/api/v1/tokens", map[string]string{"login": "jane", "password": accountPassword, "code": code, "name": "passkey test"}, &tok); c != 201 {
		t.Fatalf("token: %d", c)
	}
	return tok.Token
}

// TestPasskeyServed: against a real `sealkeep serve` (its relying party
// derived from the loopback listen address: localhost), jane registers a
// passkey of a software authenticator with her TOTP code and seals with
// it; `sealkeep verify` says the seal was approved by her passkey over
// this document's SHA-256 and `sealkeep audit verify` passes. A seal
// entry with one byte of its stored assertion changed then makes `sealkeep
// audit verify` exit 1 naming that entry, whether it was written through
// the store (approval) or edited in the database (edited).
func TestPasskeyServed(t *testing.T) {
	s := newSealService(t, "")
	u, err := url.Parse(s.srv.url)
	must(t, err)
	a := passkeytest.New("http://localhost:" + u.Port())
	tok := s.janeToken(t)
	var cer struct {
		Ceremony string
		Options  json.RawMessage
		Intent   struct{ SHA256 string }
	}
	if c := s.api(t, tok, "POST", "/api/v1/me/passkeys/registration", nil, &cer); c != 201 {
		t.Fatalf("begin registration: %d", c)
	}
	cred, err := a.Create(cer.Options)
	must(t, err)
	code, err := totp.GenerateCode(s.secret, time.Now().Add(30*time.Second))
	must(t, err)
	if c := s.api(t, tok, "POST", "/api/v1/me/passkeys", map[string]any{"ceremony": cer.Ceremony, "name": "YubiKey 5C",
		"code": code, "credential": json.RawMessage(cred)}, nil); c != 201 {
		t.Fatalf("finish registration: %d", c)
	}
	doc, err := os.ReadFile("../../internal/pdf/testdata/corpus/libreoffice-report.pdf")
	must(t, err)
	opts := map[string]any{"reason": "Issued for construction"}
	if c := s.api(t, tok, "POST", "/api/v1/orgs/acme/identities/jane-pe/seal/passkey",
		map[string]any{"document_sha256": sha256Hex(doc), "options": opts}, &cer); c != 201 {
		t.Fatalf("begin passkey seal: %d", c)
	}
	assertion, err := a.Get(cer.Options)
	must(t, err)
	answer, _ := json.Marshal(map[string]any{"ceremony": cer.Ceremony, "credential": json.RawMessage(assertion)})
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "drawing.pdf")
	fw.Write(doc)
	for _, p := range []struct {
		name string
		body []byte
	}{{"options", mustJSON(t, opts)}, {"passkey", answer}} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+p.name+`"`)
		h.Set("Content-Type", "application/json")
		pw, _ := mw.CreatePart(h)
		pw.Write(p.body)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", s.srv.url+"/api/v1/orgs/acme/identities/jane-pe/seal", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	sealed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("seal with the passkey: %d %s", resp.StatusCode, sealed)
	}
	seq, _ := strconv.ParseUint(resp.Header.Get("Sealkeep-Seal-Seq"), 10, 64)
	out := filepath.Join(t.TempDir(), "drawing-sealed.pdf")
	must(t, os.WriteFile(out, sealed, 0o600))
	human := mustSK(t, 0, s.env, "verify", out, "--trust", s.caFile)
	if !strings.Contains(human, `approved by jane's passkey "YubiKey 5C" over this document's SHA-256`) {
		t.Errorf("sealkeep verify:\n%s", human)
	}
	if got := mustSK(t, 0, s.env, "audit", "verify"); !strings.Contains(got, "chain acme: OK") || !strings.Contains(got, "chain system: OK") {
		t.Fatalf("audit verify:\n%s", got)
	}

	// A forged seal entry, linked and hashed right: its assertion's
	// signature has one byte changed.
	ctx := context.Background()
	env, err := config.Open(ctx, s.home)
	must(t, err)
	pub, err := env.Publisher(nil)
	must(t, err)
	var orig audit.Entry
	must(t, pub.View(ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries("acme", seq, func(e audit.Entry) error {
			if e.Seq == seq {
				orig = e
			}
			return nil
		})
	}))
	var ev map[string]string
	must(t, json.Unmarshal([]byte(orig.Details[audit.DetailMFAEvidence]), &ev))
	sig, err := base64.RawURLEncoding.DecodeString(ev[audit.EvidenceSignature])
	must(t, err)
	sig[len(sig)/2] ^= 0x01
	forgedEv := maps.Clone(ev)
	forgedEv[audit.EvidenceSignature] = base64.RawURLEncoding.EncodeToString(sig)
	forged := audit.Entry{Chain: "acme", Actor: orig.Actor, Action: audit.ActionSeal, Subject: orig.Subject, Details: maps.Clone(orig.Details)}
	forged.Details[audit.DetailMFAEvidence] = string(mustJSON(t, forgedEv))
	must(t, pub.Update(ctx, func(tx store.Tx) error {
		var err error
		forged, err = tx.AppendAudit(forged)
		return err
	}))
	must(t, pub.Close())
	got, _, c := sk(t, s.env, "audit", "verify", "--chain", "acme")
	if want := "chain acme: BROKEN at seq " + strconv.FormatUint(forged.Seq, 10) + " (approval)"; c != 1 || !strings.Contains(got, want) {
		t.Fatalf("audit verify with a forged assertion: exit %d\n%s\nwant %q", c, got, want)
	}
	// The real entry edited in the database: one character of its stored
	// signature.
	db, err := sql.Open("sqlite", env.Config.Database+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	b64 := ev[audit.EvidenceSignature]
	bad := []byte(b64)
	bad[5] = map[bool]byte{true: 'A', false: 'B'}[bad[5] != 'A']
	if _, err := db.Exec(`UPDATE audit_entries SET details = REPLACE(details, ?, ?) WHERE chain = 'acme' AND seq = ?`, b64, string(bad), seq); err != nil {
		t.Fatal(err)
	}
	got, _, c = sk(t, s.env, "audit", "verify", "--chain", "acme")
	if want := "chain acme: BROKEN at seq " + strconv.FormatUint(seq, 10); c != 1 || !strings.Contains(got, want) {
		t.Fatalf("audit verify with an edited assertion: exit %d\n%s\nwant %q", c, got, want)
	}
	if _, _, c := sk(t, s.env, "verify", out, "--trust", s.caFile); c == 0 {
		t.Error("sealkeep verify accepts the seal of a tampered approval")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestWebAuthnConfig: the relying party comes from the flags, else from
// the listen URL (localhost for a loopback address, with its scheme and
// port); an IP address that is not loopback has none unless both flags
// are given, and one flag alone is refused there.
func TestWebAuthnConfig(t *testing.T) {
	for _, c := range []struct {
		f       serveFlags
		url     string
		rpID    string
		origins string
		ok      bool
		err     bool
	}{
		{serveFlags{}, "http://127.0.0.1:8080", "localhost", "http://localhost:8080", true, false},
		{serveFlags{}, "http://[::1]:8080", "localhost", "http://localhost:8080", true, false},
		{serveFlags{}, "https://sealkeep.example.com:8443", "sealkeep.example.com", "https://sealkeep.example.com:8443", true, false},
		{serveFlags{rpID: "example.com"}, "https://sealkeep.example.com", "example.com", "https://example.com", true, false},
		{serveFlags{}, "https://192.0.2.7:8443", "", "", false, false},
		{serveFlags{rpID: "sealkeep.example.com"}, "https://192.0.2.7:8443", "", "", false, true},
		{serveFlags{rpID: "sealkeep.example.com", origins: []string{"https://sealkeep.example.com"}}, "https://192.0.2.7:8443",
			"sealkeep.example.com", "https://sealkeep.example.com", true, false},
	} {
		pc, ok, err := webauthnConfig(c.f, c.url)
		if ok != c.ok || (err != nil) != c.err || (ok && (pc.RPID != c.rpID || strings.Join(pc.Origins, " ") != c.origins)) {
			t.Errorf("webauthnConfig(%+v, %s) = %+v, %v, %v", c.f, c.url, pc, ok, err)
		}
	}
}
