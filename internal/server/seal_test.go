package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/pdf"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/store"
	"sealkeep/internal/testenv"
)

// sealPath is the seal route of an identity.
func sealPath(org, identity string) string {
	return "/api/v1/orgs/" + org + "/identities/" + identity + "/seal"
}

// sealParts are the parts of a seal form; a nil part is left out.
type sealParts struct {
	file    []byte
	options any    // marshalled as the "options" part (application/json)
	code    string // "" leaves the part out
	// passkey is the "passkey" part (application/json); "" leaves it out.
	passkey string
	extra   map[string]string
}

// form encodes the parts as multipart/form-data.
func (p sealParts) form(t *testing.T) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if p.file != nil {
		fw, err := mw.CreateFormFile("file", "drawing.pdf")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(p.file)
	}
	if p.options != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="options"`)
		h.Set("Content-Type", "application/json")
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(pw).Encode(p.options)
	}
	if p.code != "" {
		mw.WriteField("code", p.code)
	}
	if p.passkey != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="passkey"`)
		h.Set("Content-Type", "application/json")
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(p.passkey))
	}
	for k, v := range p.extra {
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// sealReq posts a seal form with the bearer token and extra headers.
func (w *world) sealReq(path, bearer string, p sealParts, hdr ...string) (*http.Response, []byte) {
	w.t.Helper()
	ct, body := p.form(w.t)
	return w.post(path, ct, body, append([]string{"Authorization", "Bearer " + bearer}, hdr...)...)
}

// codeOf returns login's code now, registered for the leak scan.
func (w *world) codeOf(login string) string { return string(w.code(w.users[login]).Bytes()) }

// document is the test PDF.
func document(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../pdf/testdata/corpus/libreoffice-report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seals returns the seal entries of acme's chain.
func (w *world) seals() []audit.Entry {
	w.t.Helper()
	var out []audit.Entry
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries("acme", 1, func(e audit.Entry) error {
			if e.Action == audit.ActionSeal {
				out = append(out, e)
			}
			return nil
		})
	}))
	return out
}

// countSystem counts the system chain's entries with action a.
func (w *world) countSystem(a audit.Action) int {
	w.t.Helper()
	n := 0
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == a {
				n++
			}
			return nil
		})
	}))
	return n
}

// chainsOK verifies every chain with the production verifier.
func (w *world) chainsOK() {
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
}

// receiptLookup is `sealkeep verify`'s view of custody (cmd/sealkeep's
// storeCustody): the version by its certificate, the seal receipt by the
// signature value.
type receiptLookup struct{ svc *custody.Service }

func (l receiptLookup) StatusAt(ctx context.Context, thumb string, at time.Time) (verify.CustodyStatus, bool, error) {
	cs, found, err := l.svc.CertificateStatus(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "test"}, thumb, at)
	if err != nil || !found {
		return verify.CustodyStatus{}, found, err
	}
	return verify.CustodyStatus{Identity: cs.Identity, Version: cs.Version, Status: string(cs.At), Current: string(cs.Current)}, true, nil
}

func (l receiptLookup) SealReceipt(ctx context.Context, thumb, sig string) (verify.SealReceipt, bool, error) {
	r, found, err := l.svc.SealReceipt(ctx, thumb, sig)
	if err != nil || !found {
		return verify.SealReceipt{}, found, err
	}
	out := verify.SealReceipt{KeyOrigin: r.KeyOrigin, Org: r.Org, Identity: r.Identity, Version: r.Version}
	if e := r.Entry; e != nil {
		out.Found, out.Chain, out.Seq, out.EntryHash = true, e.Chain, e.Seq, e.Hash.String()
		out.Actor, out.MFAMethod, out.RequestID = e.Actor.ID, e.Details[audit.DetailMFAMethod], e.Details[audit.DetailRequestID]
		out.DocumentSHA256, out.SealedSHA256 = e.Details[audit.DetailDocumentSHA256], e.Details[audit.DetailSealedSHA256]
	}
	if a := r.Approval; a != nil && r.Entry != nil {
		out.Approval = &verify.SealApproval{Method: r.Entry.Details[audit.DetailMFAMethod], Approver: a.Login}
		if a.Passkey != nil {
			out.Approval.Passkey = a.Passkey.Name
		}
	}
	return out, true, nil
}

// checkSealed checks a 200 seal answer: a PDF that pdfsig calls valid,
// whose signature the verifier (with custody, as `sealkeep verify` runs
// it) finds the seal receipt of, and that receipt is the entry the headers
// name, made on jane's TOTP step-up for this request.
func (w *world) checkSealed(resp *http.Response, sealed []byte, requestID string) {
	w.t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" {
		w.t.Fatalf("seal: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), sealed)
	}
	path := filepath.Join(w.t.TempDir(), "sealed.pdf")
	w.must(os.WriteFile(path, sealed, 0o600))
	out, _ := exec.Command(testenv.Tool(w.t, "pdfsig"), path).CombinedOutput()
	if !strings.Contains(string(out), "Signature Validation: Signature is Valid.") {
		w.t.Errorf("pdfsig does not call the seal valid:\n%s", out)
	}
	roots := x509.NewCertPool()
	roots.AddCert(w.ca.Cert)
	rep, err := verify.File(w.ctx, path, verify.Options{Roots: roots, Custody: receiptLookup{w.custody}})
	w.must(err)
	if rep.Verdict != verify.Valid || len(rep.Signatures) != 1 {
		w.t.Fatalf("verify: %s, %d signatures", rep.Verdict, len(rep.Signatures))
	}
	r := rep.Signatures[0].Receipt
	seq, _ := strconv.ParseUint(resp.Header.Get(SealSeqHeader), 10, 64)
	if r == nil || !r.Found || r.Chain != resp.Header.Get(SealChainHeader) || r.Seq != seq || r.EntryHash != resp.Header.Get(SealEntryHashHeader) ||
		r.Actor != w.users["jane"].id || r.MFAMethod != "totp" || r.RequestID != requestID || resp.Header.Get(SealRequestHeader) != requestID {
		w.t.Fatalf("receipt %+v, headers %v, request %s", r, resp.Header, requestID)
	}
}

// TestSealAPI: jane seals her document with her identity and a fresh
// code over real HTTP; the answer is the sealed PDF with its seal entry
// in the headers, and the entry records the request, the TOTP step and the
// intent, never the code. The same code is then refused (401, audited)
// and seals nothing.
func TestSealAPI(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			w := newWorld(t, open(t), Config{TempDir: tmp})
			tok := w.token("jane")
			code := w.codeOf("jane")
			doc := document(t)
			resp, sealed := w.sealReq(sealPath("acme", "id-jane"), tok, sealParts{file: doc, code: code,
				options: map[string]any{"reason": "Issued for construction", "location": "Austin"}})
			w.checkSealed(resp, sealed, resp.Header.Get(RequestIDHeader))
			if !bytes.HasPrefix(sealed, doc) {
				t.Error("the sealed PDF does not begin with the document")
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=drawing-sealed.pdf` {
				t.Errorf("Content-Disposition %q", cd)
			}
			es := w.seals()
			if len(es) != 1 {
				t.Fatalf("%d seal entries", len(es))
			}
			e := es[0]
			docSum, sealedSum := sha256.Sum256(doc), sha256.Sum256(sealed)
			step := w.clk.now().Unix() / 30
			for k, want := range map[string]string{
				audit.DetailRequestID: resp.Header.Get(RequestIDHeader), audit.DetailMFAMethod: "totp",
				audit.DetailMFAEvidence:    fmt.Sprintf(`{"totp_step":"%d"}`, step),
				audit.DetailDocumentSHA256: hex.EncodeToString(docSum[:]), audit.DetailSealedSHA256: hex.EncodeToString(sealedSum[:]),
			} {
				if e.Details[k] != want {
					t.Errorf("seal entry %s = %q, want %q", k, e.Details[k], want)
				}
			}
			// The same code again, for another seal: refused and audited.
			resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, sealParts{file: doc, code: code})
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(problemOf(t, out).Detail, "already used") {
				t.Fatalf("replayed code: %d %s", resp.StatusCode, out)
			}
			if len(w.seals()) != 1 || w.countSystem(audit.ActionSecurityTOTPReplay) != 1 {
				t.Fatalf("%d seal entries, %d replays audited", len(w.seals()), w.countSystem(audit.ActionSecurityTOTPReplay))
			}
			w.chainsOK()
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("the server left %d files in its temporary directory", len(ents))
			}
			w.checkNoLeaks()
		})
	}
}

// TestSealConcurrentOneCode: two requests with one code at once: exactly
// one seals, the other is refused and gets no PDF.
func TestSealConcurrentOneCode(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			tok := w.token("jane")
			code := w.codeOf("jane")
			doc := document(t)
			ct, body := sealParts{file: doc, code: code}.form(t)
			type answer struct {
				status int
				ctype  string
			}
			answers := make([]answer, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", w.ts.URL+sealPath("acme", "id-jane"), bytes.NewReader(body))
					req.Header.Set("Content-Type", ct)
					req.Header.Set("Authorization", "Bearer "+tok)
					<-start
					resp, err := w.ts.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					answers[i] = answer{resp.StatusCode, resp.Header.Get("Content-Type")}
				})
			}
			close(start)
			wg.Wait()
			ok, refused := 0, 0
			for _, a := range answers {
				switch {
				case a.status == http.StatusOK && a.ctype == "application/pdf":
					ok++
				case a.status == http.StatusUnauthorized && a.ctype == ProblemType:
					refused++
				default:
					t.Errorf("answer %+v", a)
				}
			}
			if ok != 1 || refused != 1 || len(w.seals()) != 1 {
				t.Fatalf("%d sealed, %d refused, %d seal entries", ok, refused, len(w.seals()))
			}
			w.chainsOK()
			w.checkNoLeaks()
		})
	}
}

// TestSealIdempotent: a retry with the same Idempotency-Key and request
// gets the same sealed PDF and seals nothing more (the code is not
// checked again); the same key with another request is 422; another key
// with the spent code is refused. Two retries at once while the first
// runs: one seal.
func TestSealIdempotent(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			tok := w.token("jane")
			code := w.codeOf("jane")
			doc := document(t)
			parts := sealParts{file: doc, code: code, options: map[string]any{"reason": "IFC"}}
			first, sealed := w.sealReq(sealPath("acme", "id-jane"), tok, parts, IdempotencyKeyHeader, "drawing-42")
			w.checkSealed(first, sealed, first.Header.Get(RequestIDHeader))
			again, resealed := w.sealReq(sealPath("acme", "id-jane"), tok, parts, IdempotencyKeyHeader, `"drawing-42"`)
			if again.StatusCode != http.StatusOK || !bytes.Equal(resealed, sealed) || again.Header.Get(IdempotentReplayHeader) != "true" {
				t.Fatalf("retry: %d, same bytes %v, replayed %q", again.StatusCode, bytes.Equal(resealed, sealed), again.Header.Get(IdempotentReplayHeader))
			}
			for _, h := range []string{SealChainHeader, SealSeqHeader, SealEntryHashHeader, SealRequestHeader} {
				if again.Header.Get(h) != first.Header.Get(h) {
					t.Errorf("retry %s = %q, first %q", h, again.Header.Get(h), first.Header.Get(h))
				}
			}
			if again.Header.Get(RequestIDHeader) == first.Header.Get(RequestIDHeader) {
				t.Error("the retry has the first request's ID")
			}
			other := parts
			other.options = map[string]any{"reason": "something else"}
			resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, other, IdempotencyKeyHeader, "drawing-42")
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(problemOf(t, out).Detail, "another request") {
				t.Fatalf("same key, other options: %d %s", resp.StatusCode, out)
			}
			other.options, other.file = parts.options, append(bytes.Clone(doc), '\n')
			if resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, other, IdempotencyKeyHeader, "drawing-42"); resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("same key, other document: %d %s", resp.StatusCode, out)
			}
			if resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, parts, IdempotencyKeyHeader, "drawing-43"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("another key with the spent code: %d %s", resp.StatusCode, out)
			}
			if resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, parts, IdempotencyKeyHeader, strings.Repeat("k", 256)); resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("malformed key: %d %s", resp.StatusCode, out)
			}
			if n := len(w.seals()); n != 1 {
				t.Fatalf("%d seal entries", n)
			}
			// Keys are per user: sam's request with jane's key is his own
			// (refused: his identity has no active version), not her PDF.
			w.nextStep()
			if resp, out := w.sealReq(sealPath("acme", "id-sam"), w.token("sam"), sealParts{file: doc, code: w.codeOf("sam"), options: parts.options},
				IdempotencyKeyHeader, "drawing-42"); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("sam with jane's key: %d %.200s", resp.StatusCode, out)
			}

			// Three requests with one new key and code at once.
			w.nextStep()
			parts.code = w.codeOf("jane")
			ct, body := parts.form(t)
			statuses := make([]int, 3)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range statuses {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", w.ts.URL+sealPath("acme", "id-jane"), bytes.NewReader(body))
					req.Header.Set("Content-Type", ct)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set(IdempotencyKeyHeader, "drawing-44")
					<-start
					resp, err := w.ts.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
					if resp.StatusCode == http.StatusConflict && resp.Header.Get("Retry-After") == "" {
						t.Error("409 without Retry-After")
					}
				})
			}
			close(start)
			wg.Wait()
			for _, s := range statuses {
				if s != http.StatusOK && s != http.StatusConflict {
					t.Errorf("statuses %v", statuses)
				}
			}
			if n := len(w.seals()); n != 2 {
				t.Fatalf("%d seal entries after the concurrent retries (statuses %v)", n, statuses)
			}
			w.chainsOK()
			w.checkNoLeaks()
		})
	}
}

// TestSealNotYours: nobody seals with jane's identity but jane, whatever
// code they send: the other sealer of her org, a sealer of another org,
// the owner, the preparer, the auditor, the operator, no credentials;
// and jane only with her own org's identities.
func TestSealNotYours(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			doc := document(t)
			for _, login := range []string{"sam", "gus", "olive", "pete", "audrey", "operator"} {
				code := "123456"
				if w.users[login].totp != "" {
					code = w.codeOf(login)
				}
				resp, out := w.sealReq(sealPath("acme", "id-jane"), w.token(login), sealParts{file: doc, code: code})
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s: %d %s", login, resp.StatusCode, out)
				}
			}
			resp, out := w.post(sealPath("acme", "id-jane"), "multipart/form-data; boundary=x", nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("no credentials: %d %s", resp.StatusCode, out)
			}
			tok := w.token("jane")
			for path, want := range map[string]int{
				sealPath("globex", "id-jane"): http.StatusForbidden, // not a member
				sealPath("acme", "id-gus"):    http.StatusNotFound,  // not acme's
				sealPath("globex", "id-gus"):  http.StatusForbidden, // not hers
				sealPath("acme", "id-sam"):    http.StatusForbidden, // not hers
			} {
				if resp, out := w.sealReq(path, tok, sealParts{file: doc, code: w.codeOf("jane")}); resp.StatusCode != want {
					t.Errorf("jane at %s: %d %s, want %d", path, resp.StatusCode, out, want)
				}
			}
			if n := len(w.seals()); n != 0 {
				t.Fatalf("%d seal entries", n)
			}
			w.checkNoLeaks()
		})
	}
}

// TestSealRefusals: malformed requests are problem details with the
// status their kind says, and seal nothing: no code (401), a wrong code
// (401), an upload over the limit (413), not a PDF (422), options the
// pipeline does not take (422), an unknown part (422), B-T without a TSA
// (422), jane's identity with no active version... (sam's own, 403).
func TestSealRefusals(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{MaxUpload: 256 << 10})
	tok := w.token("jane")
	small := document(t)
	if len(small) > 256<<10 {
		t.Fatalf("the test document is %d bytes", len(small))
	}
	big := append(bytes.Clone(small), make([]byte, 256<<10)...)
	for name, tc := range map[string]struct {
		parts sealParts
		want  int
	}{
		"no code":        {sealParts{file: small}, http.StatusUnauthorized},
		"wrong code":     {sealParts{file: small, code: "000000"}, http.StatusUnauthorized},
		"no file":        {sealParts{code: "123456"}, http.StatusUnprocessableEntity},
		"too large":      {sealParts{file: big, code: "123456"}, http.StatusRequestEntityTooLarge},
		"not a PDF":      {sealParts{file: []byte("hello"), code: w.codeOf("jane")}, http.StatusUnprocessableEntity},
		"bad subfilter":  {sealParts{file: small, code: "123456", options: map[string]any{"subfilter": "x"}}, http.StatusUnprocessableEntity},
		"bad docmdp":     {sealParts{file: small, code: "123456", options: map[string]any{"docmdp": 4}}, http.StatusUnprocessableEntity},
		"unknown option": {sealParts{file: small, code: "123456", options: map[string]any{"tsa": "http://evil.example/"}}, http.StatusUnprocessableEntity},
		"B-T, no TSA":    {sealParts{file: small, code: "123456", options: map[string]any{"level": "B-T"}}, http.StatusUnprocessableEntity},
		"unknown part":   {sealParts{file: small, code: "123456", extra: map[string]string{"user": "olive"}}, http.StatusUnprocessableEntity},
	} {
		resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, tc.parts)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, out, tc.want)
		}
	}
	// sam's identity has no active version.
	w.nextStep()
	if resp, out := w.sealReq(sealPath("acme", "id-sam"), w.token("sam"), sealParts{file: small, code: w.codeOf("sam")}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no active version: %d %s", resp.StatusCode, out)
	}
	if n := len(w.seals()); n != 0 {
		t.Fatalf("%d seal entries", n)
	}
	w.checkNoLeaks()
}

// TestSealOverProcessingLimit: a document over a reading limit is 422
// "over the processing limit" and seals nothing.
func TestSealOverProcessingLimit(t *testing.T) {
	limits := pdf.DefaultLimits
	limits.MaxObjects = 3
	w := newWorld(t, stores(t)["sqlite"](t), Config{Limits: &limits})
	resp, out := w.sealReq(sealPath("acme", "id-jane"), w.token("jane"), sealParts{file: document(t), code: w.codeOf("jane")})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(problemOf(t, out).Detail, "over the processing limit") {
		t.Fatalf("over the limit: %d %s", resp.StatusCode, out)
	}
	if n := len(w.seals()); n != 0 {
		t.Fatalf("%d seal entries", n)
	}
}

// TestSealBusy: over the per-user number of seals in progress, 429 with
// Retry-After; another user is not held up.
func TestSealBusy(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{MaxSealsPerUser: 1})
	release, err := w.srv.sealSlot(w.users["jane"].id)
	w.must(err)
	tok := w.token("jane")
	resp, out := w.sealReq(sealPath("acme", "id-jane"), tok, sealParts{file: document(t), code: w.codeOf("jane")})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v %s", resp.StatusCode, resp.Header, out)
	}
	release()
	resp, sealed := w.sealReq(sealPath("acme", "id-jane"), tok, sealParts{file: document(t), code: w.codeOf("jane")})
	w.checkSealed(resp, sealed, resp.Header.Get(RequestIDHeader))
}

// failingAppend makes every seal entry append fail, as a database failing
// at that moment would.
type failingAppend struct{ store.Store }

var errInjected = errors.New("injected audit failure")

func (s failingAppend) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(failingAppendTx{tx}) })
}

type failingAppendTx struct{ store.Tx }

func (tx failingAppendTx) AppendAudit(e audit.Entry) (audit.Entry, error) {
	if e.Action == audit.ActionSeal {
		return audit.Entry{}, errInjected
	}
	return tx.Tx.AppendAudit(e)
}

// TestSealEntryFails: when the seal entry cannot be written the answer is
// a 500 problem without the PDF, no entry is written, the server keeps no
// file, and the idempotency key is released: the retry seals once.
func TestSealEntryFails(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			w := newWorld(t, open(t), Config{})
			broken := newAPI(t, Config{Auth: w.auth, Keys: custody.New(failingAppend{w.st}, w.kek, custody.Options{Clock: w.clk.now}),
				Clock: w.clk.now, Idempotency: w.srv.cfg.Idempotency, TempDir: tmp})
			tok := w.token("jane")
			parts := sealParts{file: document(t), code: w.codeOf("jane")}
			ct, body := parts.form(t)
			resp, out := broken.post(sealPath("acme", "id-jane"), ct, body, "Authorization", "Bearer "+tok, IdempotencyKeyHeader, "k-1")
			if resp.StatusCode != http.StatusInternalServerError || bytes.Contains(out, []byte("%PDF")) {
				t.Fatalf("append failing: %d %.200s", resp.StatusCode, out)
			}
			if n := len(w.seals()); n != 0 {
				t.Fatalf("%d seal entries", n)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("the server left %d files in its temporary directory", len(ents))
			}
			resp, sealed := w.sealReq(sealPath("acme", "id-jane"), tok, parts, IdempotencyKeyHeader, "k-1")
			w.checkSealed(resp, sealed, resp.Header.Get(RequestIDHeader))
			w.chainsOK()
		})
	}
}
