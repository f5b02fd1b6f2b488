package server

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
)

// identities is the path of acme's identities.
const identities = "/api/v1/orgs/acme/identities"

// versionPath is the path of version n of identity in acme.
func versionPath(identity string, n int) string {
	return fmt.Sprintf("%s/%s/versions/%d", identities, identity, n)
}

// decode unmarshals a JSON answer.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer is not the expected JSON: %v\n%s", err, b)
	}
	return v
}

// want fails unless resp has status.
func want(t *testing.T, what string, resp *http.Response, out []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d, want %d: %s", what, resp.StatusCode, status, out)
	}
}

// send sends body with the content type and the bearer token.
func (w *world) send(method, path, bearer, contentType string, body []byte) (*http.Response, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.ts.URL+path, bytes.NewReader(body))
	w.must(err)
	req.Header.Set("Content-Type", contentType)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return w.do(req, body)
}

// importForm is the multipart form of an import.
func importForm(t *testing.T, file []byte, pass string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", "key.p12")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	if pass != "" {
		if err := mw.WriteField("passphrase", pass); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// pemChain is certificates as PEM, in order.
func pemChain(ders ...[]byte) []byte {
	var b bytes.Buffer
	for _, d := range ders {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	return b.Bytes()
}

// opensslSign has the world's CA issue a document-signing certificate for
// the PEM CSR with openssl (an independent CA), after openssl verified the
// CSR's self-signature, and returns the certificate's DER.
func (w *world) opensslSign(csrPEM string) []byte {
	w.t.Helper()
	dir := w.t.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(w.ca.Key)
	w.must(err)
	files := map[string][]byte{
		"csr.pem": []byte(csrPEM),
		"ca.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.ca.Cert.Raw}),
		"ca.key":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
		"leaf.ext": []byte("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n" +
			"extendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"),
	}
	for n, b := range files {
		w.must(os.WriteFile(filepath.Join(dir, n), b, 0o600))
	}
	for _, args := range [][]string{
		{"req", "-in", "csr.pem", "-verify", "-noout"},
		{"x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "0x5eed", "-days", "30",
			"-sha256", "-extfile", "leaf.ext", "-out", "leaf.pem"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			w.t.Fatalf("openssl %s: %v\n%s", args[0], err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "leaf.pem"))
	w.must(err)
	blk, _ := pem.Decode(b)
	if blk == nil {
		w.t.Fatal("openssl wrote no certificate")
	}
	return blk.Bytes
}

// count returns how many entries of chain have action.
func (w *world) count(chain string, a audit.Action) int {
	n := 0
	for _, e := range w.entries(chain) {
		if e.Action == a {
			n++
		}
	}
	return n
}

// consistent checks that every chain verifies and acme's stored state is
// the fold of its chain.
func (w *world) consistent() {
	w.t.Helper()
	chains, err := w.custody.Chains(w.ctx)
	w.must(err)
	for _, c := range chains {
		rep, err := w.custody.VerifyChain(w.ctx, c, nil, nil, nil)
		w.must(err)
		if !rep.OK() {
			w.t.Errorf("chain %s: %v", c, rep.Error())
		}
	}
	w.must(w.custody.CheckState(w.ctx, "acme"))
	w.must(w.auth.CheckAccounts(w.ctx))
}

// TestCustodyLifecycle: a sealer creates an identity of their own,
// generates a key in custody, has the CSR signed by a CA (openssl), uploads
// the certificate, activates it with a fresh TOTP code (the entry records
// the step-up's evidence and the request ID), is refused a replayed code
// (401, audited), rotates with the next code, revokes and destroys; every
// answer matches the OpenAPI document.
func TestCustodyLifecycle(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			sam := w.users["sam"]
			tok := w.token("sam")

			resp, out := w.postJSON(identities, tok, map[string]any{"name": "Sam Smith, P.E. 777"})
			want(t, "create identity", resp, out, 201)
			id := decode[identityJSON](t, out)
			if id.Owner != sam.id || id.Org != "acme" || resp.Header.Get("Location") != identities+"/"+id.ID {
				t.Fatalf("created %+v at %q", id, resp.Header.Get("Location"))
			}
			resp, out = w.request("GET", identities, tok, nil)
			want(t, "list identities", resp, out, 200)
			if l := decode[map[string][]identityJSON](t, out)["identities"]; len(l) != 3 {
				t.Fatalf("acme has %d identities: %s", len(l), out)
			}

			var csrs []string
			for i := range 2 {
				resp, out = w.postJSON(identities+"/"+id.ID+"/versions", tok, map[string]any{"algorithm": keypolicy.ECDSAP256,
					"subject": map[string]string{"common_name": "Sam Smith, P.E. 777", "organization": "Acme", "country": "US"}})
				want(t, "generate", resp, out, 201)
				nv := decode[newVersionJSON](t, out)
				if nv.Version.Status != "pending" || nv.Version.Version != i+1 || !strings.HasPrefix(nv.CSR, "-----BEGIN CERTIFICATE REQUEST-----") {
					t.Fatalf("generated %+v", nv)
				}
				csrs = append(csrs, nv.CSR)
				// The CSR download is the same request.
				resp, out = w.request("GET", versionPath(id.ID, i+1)+"/csr", tok, nil)
				want(t, "CSR download", resp, out, 200)
				if string(out) != nv.CSR {
					t.Fatalf("downloaded CSR differs from the generated one")
				}
			}
			// The encrypted key blobs must not reach the log either.
			w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
				vs, err := tx.Versions(id.ID)
				for _, v := range vs {
					w.secrets = append(w.secrets, bytes.Clone(v.KeyBlob))
				}
				return err
			}))
			blk, _ := pem.Decode([]byte(csrs[0]))
			req, err := x509.ParseCertificateRequest(blk.Bytes)
			w.must(err)
			w.must(req.CheckSignature())
			if req.Subject.CommonName != "Sam Smith, P.E. 777" || req.Subject.Country[0] != "US" {
				t.Errorf("CSR subject %v", req.Subject)
			}

			// Activation before the certificate: 409.
			resp, out = w.postJSON(versionPath(id.ID, 1)+"/activate", tok, map[string]any{"code": string(w.code(sam).Bytes())})
			want(t, "activate a pending version", resp, out, 409)

			var thumbs []string
			for i, csr := range csrs {
				leaf := w.opensslSign(csr)
				resp, out = w.send("PUT", versionPath(id.ID, i+1)+"/certificate", tok, "application/pem-certificate-chain", pemChain(leaf, w.ca.Cert.Raw))
				want(t, "upload", resp, out, 200)
				v := decode[custody.VersionInfo](t, out)
				sum := sha256.Sum256(leaf)
				if v.Status != "ready" || v.Thumbprint != hex.EncodeToString(sum[:]) || v.ChainLen != 1 {
					t.Fatalf("uploaded %+v", v)
				}
				thumbs = append(thumbs, v.Thumbprint)
				resp, out = w.request("GET", versionPath(id.ID, i+1)+"/certificate", tok, nil)
				want(t, "certificate download", resp, out, 200)
				if !bytes.Equal(out, pemChain(leaf, w.ca.Cert.Raw)) {
					t.Fatalf("the downloaded chain is not the uploaded one")
				}
			}
			// A second upload to a ready version: 409.
			resp, out = w.send("PUT", versionPath(id.ID, 1)+"/certificate", tok, "application/pem-certificate-chain", pemChain(w.opensslSign(csrs[0])))
			want(t, "second upload", resp, out, 409)

			// Activation needs a code; a wrong one is 401.
			resp, out = w.postJSON(versionPath(id.ID, 1)+"/activate", tok, map[string]any{})
			want(t, "activate without a code", resp, out, 401)
			resp, out = w.postJSON(versionPath(id.ID, 1)+"/activate", tok, map[string]any{"code": ""})
			want(t, "activate with an empty code", resp, out, 401)
			resp, out = w.postJSON(versionPath(id.ID, 1)+"/activate", tok, map[string]any{"code": "12345x"})
			want(t, "activate with a wrong code", resp, out, 401)
			// The thumbprint the caller approves must be the version's.
			resp, out = w.postJSON(versionPath(id.ID, 1)+"/activate", tok, map[string]any{"code": string(w.code(sam).Bytes()), "thumbprint": thumbs[1]})
			want(t, "activate another certificate", resp, out, 409)

			code := w.code(sam)
			resp, out = w.postJSON(versionPath(id.ID, 1)+"/activate", tok, map[string]any{"code": string(code.Bytes()), "thumbprint": strings.ToUpper(thumbs[0])})
			want(t, "activate", resp, out, 200)
			if v := decode[custody.VersionInfo](t, out); v.Status != "active" {
				t.Fatalf("activated %+v", v)
			}
			rid := resp.Header.Get(RequestIDHeader)
			es := w.entries("acme")
			act := es[len(es)-1]
			var ev map[string]string
			if err := json.Unmarshal([]byte(act.Details[audit.DetailMFAEvidence]), &ev); err != nil {
				t.Fatalf("mfa_evidence: %v", err)
			}
			digest := ActivationAction("acme", id.ID, 1, thumbs[0]).Digest()
			if act.Action != audit.ActionVersionActivate || act.Actor.ID != sam.id || act.Details[audit.DetailMFAMethod] != "totp" ||
				act.Details[audit.DetailRequestID] != rid || ev["action_sha256"] != hex.EncodeToString(digest[:]) || ev["user"] != sam.id ||
				act.Details[audit.DetailThumbprint] != thumbs[0] {
				t.Fatalf("activation entry %+v", act)
			}

			// The same code again, for the rotation to version 2: 401, audited.
			replays := w.count(audit.SystemChain, audit.ActionSecurityTOTPReplay)
			resp, out = w.postJSON(versionPath(id.ID, 2)+"/activate", tok, map[string]any{"code": string(code.Bytes()), "reason": "rotation"})
			want(t, "replayed code", resp, out, 401)
			if p := problemOf(t, out); !strings.Contains(p.Detail, "already used") {
				t.Errorf("replay detail %q", p.Detail)
			}
			if n := w.count(audit.SystemChain, audit.ActionSecurityTOTPReplay); n != replays+1 {
				t.Errorf("%d replay entries, want %d", n, replays+1)
			}
			w.nextStep()
			// A rotation needs a reason: refused without spending the code.
			code = w.code(sam)
			resp, out = w.postJSON(versionPath(id.ID, 2)+"/activate", tok, map[string]any{"code": string(code.Bytes())})
			want(t, "rotation without a reason", resp, out, 422)
			resp, out = w.postJSON(versionPath(id.ID, 2)+"/activate", tok, map[string]any{"code": string(code.Bytes()), "reason": "scheduled rotation"})
			want(t, "rotation", resp, out, 200)
			w.nextStep()
			if es := w.entries("acme"); es[len(es)-1].Action != audit.ActionVersionRotate || es[len(es)-1].Details[audit.DetailMFAMethod] != "totp" {
				t.Fatalf("rotation entry %+v", es[len(es)-1])
			}

			resp, out = w.postJSON(versionPath(id.ID, 2)+"/revoke", tok, map[string]any{"reason": " "})
			want(t, "revoke without a reason", resp, out, 422)
			resp, out = w.postJSON(versionPath(id.ID, 2)+"/revoke", tok, map[string]any{"reason": "key compromise"})
			want(t, "revoke", resp, out, 200)
			resp, out = w.request("POST", versionPath(id.ID, 2)+"/destroy", tok, nil)
			want(t, "destroy", resp, out, 200)
			if v := decode[custody.VersionInfo](t, out); v.Status != "destroyed" || v.KeyPresent {
				t.Fatalf("destroyed %+v", v)
			}
			resp, out = w.request("POST", versionPath(id.ID, 2)+"/destroy", tok, nil)
			want(t, "destroy twice", resp, out, 409)

			resp, out = w.request("GET", identities+"/"+id.ID, tok, nil)
			want(t, "show identity", resp, out, 200)
			shown := decode[identityJSON](t, out)
			if len(shown.Versions) != 2 || shown.Versions[0].Status != "superseded" || shown.Versions[1].Status != "destroyed" {
				t.Fatalf("identity %+v", shown)
			}
			resp, out = w.request("GET", versionPath(id.ID, 2), tok, nil)
			want(t, "show version", resp, out, 200)
			var actions []audit.Action
			for _, h := range decode[custody.VersionInfo](t, out).History {
				actions = append(actions, h.Action)
			}
			if fmt.Sprint(actions) != "[key.generate cert.upload version.rotate version.revoke version.destroy]" {
				t.Errorf("history %v", actions)
			}
			resp, out = w.request("GET", identities+"/"+id.ID+"/versions", tok, nil)
			want(t, "list versions", resp, out, 200)
			for _, bad := range []string{"0", "-1", "01", "x", "99"} {
				resp, out = w.request("GET", identities+"/"+id.ID+"/versions/"+bad, tok, nil)
				want(t, "version "+bad, resp, out, 404)
			}
			w.consistent()
			w.checkNoLeaks()
		})
	}
}

// demo reads a file of testdata/demo.
func demo(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCustodyImport: the demo PKCS#12 imports as a ready version and
// activates; a wrong passphrase, a missing one, a weak key, a certificate
// that does not match its key and a file custody already holds are 422,
// audited, and never echo the passphrase; no key byte or passphrase
// reaches the log.
func TestCustodyImport(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			sam := w.users["sam"]
			tok := w.token("sam")
			p12 := demo(t, "demo-signer.p12")
			pass := strings.TrimSpace(string(demo(t, "demo-passphrase.txt")))
			w.secret(pass)
			b, err := keyfile.Parse(p12, func() ([]byte, error) { return []byte(pass), nil })
			w.must(err)
			der, err := x509.MarshalPKCS8PrivateKey(b.Key)
			w.must(err)
			w.secrets = append(w.secrets, der, b.Key.(*rsa.PrivateKey).D.Bytes(), b.Key.(*rsa.PrivateKey).Primes[0].Bytes())
			b.Zero()
			path := identities + "/id-sam/imports"

			rejected := w.count("acme", audit.ActionSecurityImportRejected)
			for what, c := range map[string]struct {
				file []byte
				pass string
			}{
				"wrong passphrase": {p12, "not the " + pass},
				"no passphrase":    {p12, ""},
				"truncated file":   {p12[:len(p12)/2], pass},
			} {
				ct, body := importForm(t, c.file, c.pass)
				resp, out := w.send("POST", path, tok, ct, body)
				want(t, what, resp, out, 422)
				if strings.Contains(string(out), pass) {
					t.Errorf("%s: the answer echoes the passphrase: %s", what, out)
				}
			}
			if n := w.count("acme", audit.ActionSecurityImportRejected); n != rejected+3 {
				t.Errorf("%d rejected imports audited, want %d", n-rejected, 3)
			}
			for _, e := range w.entries("acme") {
				if strings.Contains(fmt.Sprint(e.Details), pass) {
					t.Errorf("an audit entry holds the passphrase: %v", e.Details)
				}
			}

			ct, body := importForm(t, p12, pass)
			resp, out := w.send("POST", path, tok, ct, body)
			want(t, "import", resp, out, 201)
			nv := decode[newVersionJSON](t, out)
			if nv.Version.Status != "ready" || nv.Version.Algorithm != keypolicy.RSA3072 || nv.CSR != "" || nv.Version.KeyRef != "local" {
				t.Fatalf("imported %+v", nv)
			}
			resp, out = w.request("GET", versionPath("id-sam", 1)+"/csr", tok, nil)
			want(t, "CSR of an imported version", resp, out, 404)
			resp, out = w.postJSON(versionPath("id-sam", 1)+"/activate", tok, map[string]any{"code": string(w.code(sam).Bytes())})
			want(t, "activate the import", resp, out, 200)
			w.nextStep()

			// The same file again, into sam's or jane's identity: custody
			// holds it already (422, without naming the holder to jane).
			resp, out = w.send("POST", path, tok, ct, body)
			want(t, "import twice", resp, out, 422)
			jane := w.token("jane")
			resp, out = w.send("POST", identities+"/id-jane/imports", jane, ct, body)
			want(t, "jane imports sam's key", resp, out, 422)
			if strings.Contains(string(out), "id-sam") {
				t.Errorf("the refusal names the holder: %s", out)
			}

			// A weak key with a matching certificate, and a certificate of
			// another key.
			small, err := rsa.GenerateKey(rand.Reader, 1024)
			w.must(err)
			smallCert := pkitest.Issue(t, w.ca, pkitest.LeafTemplate("small"), small.Public())
			other := pkitest.Key(t, keypolicy.ECDSAP256, "other")
			mine := pkitest.Key(t, keypolicy.ECDSAP256, "mine")
			otherCert := pkitest.Issue(t, w.ca, pkitest.LeafTemplate("other"), other.Public())
			for what, f := range map[string][]byte{
				"RSA-1024":              pemBundle(t, small, smallCert.Raw, w.ca.Cert.Raw),
				"another key's cert":    pemBundle(t, mine, otherCert.Raw, w.ca.Cert.Raw),
				"a file with no key":    pemChain(otherCert.Raw),
				"not a key file at all": []byte("hello"),
			} {
				ct, body := importForm(t, f, "")
				resp, out := w.send("POST", path, tok, ct, body)
				want(t, what, resp, out, 422)
			}
			// Forms that are not an import.
			for what, c := range map[string]struct {
				ct   string
				body []byte
				code int
			}{
				"JSON":              {"application/json", []byte(`{"file":"x"}`), 422},
				"no file part":      form(t, 422, "passphrase", pass),
				"an unknown part":   form(t, 422, "file", "x", "key", "y"),
				"two file parts":    form(t, 422, "file", "x", "file", "y"),
				"over the body cap": {"multipart/form-data; boundary=x", bytes.Repeat([]byte("x"), maxKeyFile+multipartOverhead+1), 413},
			} {
				resp, out := w.send("POST", path, tok, c.ct, c.body)
				want(t, what, resp, out, c.code)
			}
			w.consistent()
			w.checkNoLeaks()
		})
	}
}

// form is a multipart form of name, value pairs, and the status it gets.
func form(t *testing.T, code int, kv ...string) struct {
	ct   string
	body []byte
	code int
} {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		if err := mw.WriteField(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return struct {
		ct   string
		body []byte
		code int
	}{mw.FormDataContentType(), b.Bytes(), code}
}

// pemBundle is key (PKCS#8) and certificates as one PEM file.
func pemBundle(t *testing.T, key crypto.Signer, certs ...[]byte) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pemChain(certs...)...)
}
