package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/passkey/passkeytest"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/store"
)

// caller is how a test signs its requests: a bearer token, or a browser
// session's cookie and CSRF token.
type caller []string

func bearer(tok string) caller { return caller{"Authorization", "Bearer " + tok} }

func (w *world) browserOf(login string) caller {
	b := w.session(login)
	return caller{"Cookie", SessionCookie + "=" + b.cookie, CSRFHeader, b.csrf}
}

// call sends method path with body (JSON, nil for none) as c.
func (w *world) callAs(c caller, method, path string, body any) (*http.Response, []byte) {
	w.t.Helper()
	return w.request(method, path, "", body, c...)
}

// beginRegistration begins a passkey registration as c.
func (w *world) beginRegistration(c caller) ceremonyJSON {
	w.t.Helper()
	resp, out := w.callAs(c, "POST", "/api/v1/me/passkeys/registration", nil)
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("begin registration: %d %s", resp.StatusCode, out)
	}
	var cer ceremonyJSON
	w.must(json.Unmarshal(out, &cer))
	return cer
}

// options is the options member of a ceremony answer, as JSON.
func options(t *testing.T, cer ceremonyJSON) []byte {
	t.Helper()
	b, err := json.Marshal(cer.Options)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registerPasskey registers a passkey of login, held by a, over HTTP as c
// with login's current TOTP code.
func (w *world) registerPasskey(c caller, login string, a *passkeytest.Authenticator, name string) passkeyJSON {
	w.t.Helper()
	cer := w.beginRegistration(c)
	cred, err := a.Create(options(w.t, cer))
	w.must(err)
	resp, out := w.callAs(c, "POST", "/api/v1/me/passkeys", map[string]any{"ceremony": cer.Ceremony, "name": name,
		"code": w.codeOf(login), "credential": json.RawMessage(cred)})
	w.nextStep()
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("finish registration: %d %s", resp.StatusCode, out)
	}
	var pk passkeyJSON
	w.must(json.Unmarshal(out, &pk))
	return pk
}

// beginPasskeySeal begins a passkey approval of sealing doc with opts.
func (w *world) beginPasskeySeal(c caller, org, identity string, doc []byte, opts any) (*http.Response, ceremonyJSON, []byte) {
	w.t.Helper()
	sum := sha256.Sum256(doc)
	body := map[string]any{"document_sha256": hex.EncodeToString(sum[:])}
	if opts != nil {
		body["options"] = opts
	}
	resp, out := w.callAs(c, "POST", sealPath(org, identity)+"/passkey", body)
	var cer ceremonyJSON
	if resp.StatusCode == http.StatusCreated {
		w.must(json.Unmarshal(out, &cer))
	}
	return resp, cer, out
}

// passkeyPart is the seal form's "passkey" part for a's answer to cer.
func (w *world) passkeyPart(a *passkeytest.Authenticator, cer ceremonyJSON) string {
	w.t.Helper()
	cred, err := a.Get(options(w.t, cer))
	w.must(err)
	b, err := json.Marshal(map[string]any{"ceremony": cer.Ceremony, "credential": json.RawMessage(cred)})
	w.must(err)
	return string(b)
}

// sealAs posts a seal form as c.
func (w *world) sealAs(c caller, org, identity string, p sealParts) (*http.Response, []byte) {
	w.t.Helper()
	ct, body := p.form(w.t)
	return w.post(sealPath(org, identity), ct, body, c...)
}

// TestPasskeyAPI: over real HTTP, jane registers a passkey from a browser
// session with her TOTP code, begins a passkey approval of a seal (the
// challenge is the SHA-256 of the intent the answer shows), seals with
// the passkey's answer, and the seal verifies with a receipt naming her
// passkey; the answer is refused a second time; the passkey is listed
// and removed.
func TestPasskeyAPI(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			jane := w.browserOf("jane")
			a := passkeytest.New(testOrigin)
			pk := w.registerPasskey(jane, "jane", a, "YubiKey 5C")
			if pk.Name != "YubiKey 5C" || pk.ID != base64.RawURLEncoding.EncodeToString(a.Credentials()[0].ID) || pk.Attestation != "none" || pk.RegisteredSeq == 0 {
				t.Errorf("registered %+v", pk)
			}
			regs := w.systemEntries(audit.ActionPasskeyRegister)
			if len(regs) != 1 || regs[0].Details[audit.DetailMFAMethod] != "totp" || !strings.Contains(regs[0].Details[audit.DetailMFAEvidence], `"action":"passkey.register"`) {
				t.Fatalf("passkey.register entries %+v", regs)
			}
			doc := document(t)
			opts := map[string]any{"reason": "Issued for construction"}
			resp, cer, out := w.beginPasskeySeal(jane, "acme", "id-jane", doc, opts)
			if resp.StatusCode != http.StatusCreated || cer.Intent == nil {
				t.Fatalf("begin passkey seal: %d %s", resp.StatusCode, out)
			}
			in := cer.Intent
			sum := sha256.Sum256(doc)
			canon, err := base64.RawURLEncoding.DecodeString(in.Canonical)
			w.must(err)
			cs := sha256.Sum256(canon)
			if in.DocumentSHA256 != hex.EncodeToString(sum[:]) || in.Identity != "id-jane" || in.Options["reason"] != "Issued for construction" ||
				hex.EncodeToString(cs[:]) != in.SHA256 || in.CertificateSHA256 != hex.EncodeToString(w.thumbOf("id-jane")) {
				t.Errorf("intent %+v", in)
			}
			ch, err := passkeytest.Challenge(options(t, cer))
			w.must(err)
			if hex.EncodeToString(ch) != in.SHA256 {
				t.Fatalf("challenge %x, intent SHA-256 %s", ch, in.SHA256)
			}
			part := w.passkeyPart(a, cer)
			resp, sealed := w.sealAs(jane, "acme", "id-jane", sealParts{file: doc, options: opts, passkey: part})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("seal with a passkey: %d %s", resp.StatusCode, sealed)
			}
			es := w.seals()
			if len(es) != 1 || es[0].Details[audit.DetailMFAMethod] != audit.MethodWebAuthn || es[0].Details[audit.DetailIntentSHA256] != in.SHA256 {
				t.Fatalf("seal entries %+v", es)
			}
			w.chainsOK()
			path := filepath.Join(t.TempDir(), "sealed.pdf")
			w.must(os.WriteFile(path, sealed, 0o600))
			roots := x509.NewCertPool()
			roots.AddCert(w.ca.Cert)
			rep, err := verify.File(w.ctx, path, verify.Options{Roots: roots, Custody: receiptLookup{w.custody}})
			w.must(err)
			r := rep.Signatures[0].Receipt
			if rep.Verdict != verify.Valid || r == nil || !strings.Contains(r.Summary, `approved by jane's passkey "YubiKey 5C" over this document's SHA-256`) {
				t.Fatalf("verify: %s, receipt %+v", rep.Verdict, r)
			}
			// The same answer again seals nothing.
			resp, out = w.sealAs(jane, "acme", "id-jane", sealParts{file: doc, options: opts, passkey: part})
			if resp.StatusCode != http.StatusUnauthorized || len(w.seals()) != 1 {
				t.Fatalf("replayed passkey answer: %d %s, %d seal entries", resp.StatusCode, out, len(w.seals()))
			}
			resp, out = w.callAs(jane, "GET", "/api/v1/me/passkeys", nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"sign_count": 1`) || !strings.Contains(string(out), pk.ID) {
				t.Errorf("list: %d %s", resp.StatusCode, out)
			}
			gus := bearer(w.token("gus"))
			if resp, _ := w.callAs(gus, "DELETE", "/api/v1/me/passkeys/"+pk.ID, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("gus removes jane's passkey: %d, want 404", resp.StatusCode)
			}
			if resp, out := w.callAs(jane, "DELETE", "/api/v1/me/passkeys/"+pk.ID, nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("remove: %d %s", resp.StatusCode, out)
			}
			if resp, _ := w.callAs(jane, "DELETE", "/api/v1/me/passkeys/"+pk.ID, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("removed twice: %d, want 404", resp.StatusCode)
			}
			if resp, out := w.callAs(jane, "GET", "/api/v1/me/passkeys", nil); resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"passkeys": []`) {
				t.Errorf("list after removal: %d %s", resp.StatusCode, out)
			}
			if n := len(w.systemEntries(audit.ActionPasskeyRemove)); n != 1 {
				t.Errorf("%d passkey.remove entries", n)
			}
			w.chainsOK()
			w.checkNoLeaks()
		})
	}
}

// TestPasskeyAPIRefusals: a registration without, or with a wrong or
// replayed TOTP code; a passkey answer for document A sent with document
// B, or with other options; another user's passkey; a cloned
// authenticator (audited); a code and a passkey together; a seal begin
// without a passkey: each is refused and seals nothing.
func TestPasskeyAPIRefusals(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			jane, sam := bearer(w.token("jane")), bearer(w.token("sam"))
			janeKey, samKey := passkeytest.New(testOrigin), passkeytest.New(testOrigin)
			// Registration: no code, a wrong code, then a replayed one.
			cer := w.beginRegistration(jane)
			cred, err := janeKey.Create(options(t, cer))
			w.must(err)
			reg := map[string]any{"ceremony": cer.Ceremony, "name": "key", "credential": json.RawMessage(cred)}
			if resp, out := w.callAs(jane, "POST", "/api/v1/me/passkeys", reg); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("registration without a code: %d %s", resp.StatusCode, out)
			}
			reg["code"] = "000000"
			if resp, out := w.callAs(jane, "POST", "/api/v1/me/passkeys", reg); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("registration with a wrong code: %d %s", resp.StatusCode, out)
			}
			code := w.codeOf("jane")
			reg["code"] = code
			if resp, out := w.callAs(jane, "POST", "/api/v1/me/passkeys", reg); resp.StatusCode != http.StatusCreated {
				t.Fatalf("registration: %d %s", resp.StatusCode, out)
			}
			cer = w.beginRegistration(jane)
			cred2, err := passkeytest.New(testOrigin).Create(options(t, cer))
			w.must(err)
			if resp, out := w.callAs(jane, "POST", "/api/v1/me/passkeys", map[string]any{"ceremony": cer.Ceremony, "name": "second",
				"code": code, "credential": json.RawMessage(cred2)}); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("registration with a replayed code: %d %s", resp.StatusCode, out)
			}
			w.nextStep()
			// Sam cannot finish jane's registration ceremony.
			cer = w.beginRegistration(jane)
			cred3, err := passkeytest.New(testOrigin).Create(options(t, cer))
			w.must(err)
			if resp, out := w.callAs(sam, "POST", "/api/v1/me/passkeys", map[string]any{"ceremony": cer.Ceremony, "name": "stolen",
				"code": w.codeOf("sam"), "credential": json.RawMessage(cred3)}); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("sam finishes jane's ceremony: %d %s", resp.StatusCode, out)
			}
			w.nextStep()
			if n := len(w.systemEntries(audit.ActionPasskeyRegister)); n != 1 {
				t.Fatalf("%d passkey.register entries, want 1", n)
			}
			// No passkey: gus's seal begin is refused.
			gus := bearer(w.token("gus"))
			if resp, _, out := w.beginPasskeySeal(gus, "globex", "id-gus", []byte("x"), nil); resp.StatusCode != http.StatusForbidden ||
				!strings.Contains(problemOf(t, out).Detail, "passkey") {
				t.Errorf("seal begin without a passkey: %d %s", resp.StatusCode, out)
			}
			w.registerPasskey(sam, "sam", samKey, "sam's key")

			doc := document(t)
			other := append(bytes.Clone(doc), "\n% another revision\n"...)
			_, cer, _ = w.beginPasskeySeal(jane, "acme", "id-jane", doc, nil)
			part := w.passkeyPart(janeKey, cer)
			for _, c := range []struct {
				name  string
				parts sealParts
				want  int
			}{
				{"another document", sealParts{file: other, passkey: part}, http.StatusForbidden},
				{"other options", sealParts{file: doc, options: map[string]any{"reason": "changed"}, passkey: part}, http.StatusForbidden},
				{"a code and a passkey", sealParts{file: doc, code: "123456", passkey: part}, http.StatusUnprocessableEntity},
				{"a malformed passkey part", sealParts{file: doc, passkey: `{"ceremony":1}`}, http.StatusUnprocessableEntity},
			} {
				if resp, out := w.sealAs(jane, "acme", "id-jane", c.parts); resp.StatusCode != c.want {
					t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, out, c.want)
				}
			}
			// Sam's passkey answering jane's ceremony, sent by sam or by jane.
			ch, err := passkeytest.Challenge(options(t, cer))
			w.must(err)
			samCred, err := samKey.Assert(samKey.Credentials()[0], testRPID, base64.RawURLEncoding.EncodeToString(ch))
			w.must(err)
			samPart := string(must(json.Marshal(map[string]any{"ceremony": cer.Ceremony, "credential": json.RawMessage(samCred)}))(t))
			if resp, out := w.sealAs(jane, "acme", "id-jane", sealParts{file: doc, passkey: samPart}); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("sam's passkey for jane: %d %s", resp.StatusCode, out)
			}
			if resp, out := w.sealAs(gus, "globex", "id-gus", sealParts{file: doc, passkey: part}); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("jane's answer sent by gus for his identity: %d %s", resp.StatusCode, out)
			}
			// The answer is still good for what it approved.
			if resp, out := w.sealAs(jane, "acme", "id-jane", sealParts{file: doc, passkey: part}); resp.StatusCode != http.StatusOK {
				t.Fatalf("the approved seal: %d %s", resp.StatusCode, out)
			}
			// A clone of jane's authenticator repeats its counter.
			clone := janeKey.Clone()
			_, cer, _ = w.beginPasskeySeal(jane, "acme", "id-jane", doc, nil)
			if resp, out := w.sealAs(jane, "acme", "id-jane", sealParts{file: doc, passkey: w.passkeyPart(janeKey, cer)}); resp.StatusCode != http.StatusOK {
				t.Fatalf("second seal: %d %s", resp.StatusCode, out)
			}
			clone.Credentials()[0].Counter = 1
			_, cer, _ = w.beginPasskeySeal(jane, "acme", "id-jane", doc, nil)
			if resp, out := w.sealAs(jane, "acme", "id-jane", sealParts{file: doc, passkey: w.passkeyPart(clone, cer)}); resp.StatusCode != http.StatusUnauthorized ||
				!strings.Contains(problemOf(t, out).Detail, "counter") {
				t.Errorf("the clone's answer: %d %s", resp.StatusCode, out)
			}
			if n := len(w.systemEntries(audit.ActionSecurityPasskeyCounter)); n != 1 {
				t.Errorf("%d security.passkey_counter entries, want 1", n)
			}
			if n := len(w.seals()); n != 2 {
				t.Errorf("%d seal entries, want 2", n)
			}
			_, metrics := w.get("/metrics")
			want := `sealkeep_login_failures_total{reason="passkey"} `
			if i := strings.Index(string(metrics), want); i < 0 || strings.HasPrefix(string(metrics[i+len(want):]), "0\n") {
				t.Errorf("refused passkey answers not counted in %s", want)
			}
			w.chainsOK()
			w.checkNoLeaks()
		})
	}
}

// systemEntries returns the system chain's entries of action a.
func (w *world) systemEntries(a audit.Action) []audit.Entry {
	w.t.Helper()
	var out []audit.Entry
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == a {
				out = append(out, e)
			}
			return nil
		})
	}))
	return out
}

// thumbOf is the certificate SHA-256 of identity's active version.
func (w *world) thumbOf(identity string) []byte {
	t := w.thumb[identity]
	return t[:]
}

func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
