package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sealkeep/internal/benchdata"
	"sealkeep/internal/envelope"
	"sealkeep/internal/errs"
	"sealkeep/internal/fileperm"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres"
	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/store/sqlite"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// api is a server under test over real HTTP, with its log and the OpenAPI
// router that every response is validated against.
type api struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	log    *syncBuffer
	router routers.Router
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

func newAPI(t *testing.T, cfg Config) *api {
	t.Helper()
	buf := &syncBuffer{}
	cfg.Logger = testLogger(buf)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	router, err := legacy.NewRouter(loadDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &api{t: t, srv: srv, ts: ts, log: buf, router: router}
}

// do sends a request and checks the answer: a request ID, and a request
// and response that the OpenAPI document allows (for documented routes).
func (a *api) do(req *http.Request, body []byte) (*http.Response, []byte) {
	a.t.Helper()
	resp, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if id := resp.Header.Get(RequestIDHeader); !strings.HasPrefix(id, "r-") || len(id) != 26 {
		a.t.Errorf("%s %s: X-Request-Id %q", req.Method, req.URL.Path, id)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != ProblemType {
		a.t.Errorf("%s %s: status %d with Content-Type %q, want %s", req.Method, req.URL.Path, resp.StatusCode, ct, ProblemType)
	}
	a.validate(req, body, resp, out)
	return resp, out
}

// validate checks a request and its response against the OpenAPI document.
func (a *api) validate(req *http.Request, body []byte, resp *http.Response, out []byte) {
	a.t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := a.router.FindRoute(vreq)
	if err != nil {
		return // undocumented: TestRoutesDocumented covers the table
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	// A request the server accepted must be one the document allows; a
	// refused one (deliberately malformed by the tests) need not be.
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			a.t.Errorf("%s %s: request does not match the OpenAPI document: %v", req.Method, req.URL.Path, err)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(out)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		a.t.Errorf("%s %s: %d response does not match the OpenAPI document: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, out)
	}
}

func (a *api) get(path string) (*http.Response, []byte) {
	req, err := http.NewRequest("GET", a.ts.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.do(req, nil)
}

// post sends body with the content type.
func (a *api) post(path, contentType string, body []byte, hdr ...string) (*http.Response, []byte) {
	req, err := http.NewRequest("POST", a.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return a.do(req, body)
}

// multipartPDF is a form with pdf as its "file" part.
func multipartPDF(t *testing.T, name string, pdf []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(pdf)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func problemOf(t *testing.T, body []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not problem JSON: %v\n%s", err, body)
	}
	return p
}

// stores opens a fresh store of each kind: SQLite, and PostgreSQL when
// SEALKEEP_TEST_POSTGRES names a server.
func stores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sealkeep.db"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.Fresh(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
}

func keyring(t *testing.T) envelope.KEK {
	t.Helper()
	k, err := envelope.CreateKeyringFile(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHealthReady: /healthz always; /readyz while the store answers and
// the KEK works, 503 once the store is closed.
func TestHealthReady(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			a := newAPI(t, Config{Ready: []Check{StoreCheck(st), KEKCheck(keyring(t))}})
			if resp, body := a.get("/healthz"); resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
				t.Fatalf("healthz: %d %s", resp.StatusCode, body)
			}
			resp, body := a.get("/readyz")
			if resp.StatusCode != 200 {
				t.Fatalf("readyz: %d %s", resp.StatusCode, body)
			}
			var ready struct {
				Status string
				Checks map[string]string
			}
			json.Unmarshal(body, &ready)
			if ready.Status != "ready" || ready.Checks["store"] != "ok" || ready.Checks["kek"] != "ok" {
				t.Fatalf("readyz: %s", body)
			}
			st.Close()
			resp, body = a.get("/readyz")
			p := problemOf(t, body)
			if resp.StatusCode != 503 || p.Type != ProblemBase+"unavailable" || !strings.Contains(p.Detail, "store failed") || strings.Contains(p.Detail, "kek") {
				t.Fatalf("readyz with the store closed: %d %+v", resp.StatusCode, p)
			}
			if !strings.Contains(a.log.String(), `"check":"store"`) {
				t.Errorf("the failed check is not logged:\n%s", a.log)
			}
			if resp, _ := a.get("/healthz"); resp.StatusCode != 200 {
				t.Fatalf("healthz with the store closed: %d", resp.StatusCode)
			}
		})
	}
}

// TestReadyKEK: a KEK that cannot wrap makes the server not ready.
func TestReadyKEK(t *testing.T) {
	a := newAPI(t, Config{Ready: []Check{KEKCheck(brokenKEK{keyring(t)})}})
	resp, body := a.get("/readyz")
	if p := problemOf(t, body); resp.StatusCode != 503 || !strings.Contains(p.Detail, "kek failed") {
		t.Fatalf("readyz with a broken KEK: %d %s", resp.StatusCode, body)
	}
}

// brokenKEK unwraps to the wrong key.
type brokenKEK struct{ envelope.KEK }

func (b brokenKEK) Unwrap(ctx context.Context, v uint32, bind envelope.DEKBinding, w []byte) ([]byte, error) {
	k, err := b.KEK.Unwrap(ctx, v, bind, w)
	if err == nil {
		k[0] ^= 1
	}
	return k, err
}

// TestRoutesDocumented: every route of the table is in the OpenAPI
// document and every documented operation is a route. The pages of the
// web application (Page routes) are HTML for people, not API: the
// document leaves them out, docs/web.md describes them, and they must
// stay outside /api/.
func TestRoutesDocumented(t *testing.T) {
	doc := loadDoc(t)
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var routes, documented []string
	for _, rt := range srv.Routes() {
		if rt.Page {
			if strings.HasPrefix(rt.Path, "/api/") || rt.Method != "GET" {
				t.Errorf("page %s: pages are GETs outside /api/", rt.Pattern())
			}
			continue
		}
		routes = append(routes, rt.Pattern())
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	if !slices.Equal(routes, documented) {
		t.Fatalf("routes and the OpenAPI document differ:\nroutes:     %q\ndocumented: %q", routes, documented)
	}
	// The served document is the embedded one.
	a := newAPI(t, Config{})
	if resp, body := a.get("/api/v1/openapi.json"); resp.StatusCode != 200 || !bytes.Equal(body, openAPIDoc) {
		t.Fatalf("GET /api/v1/openapi.json: %d", resp.StatusCode)
	}
}

// TestNotFound: unknown paths and methods are problems too.
func TestNotFound(t *testing.T) {
	a := newAPI(t, Config{})
	resp, body := a.get("/api/v1/nothing")
	if p := problemOf(t, body); resp.StatusCode != 404 || p.Type != ProblemBase+"not-found" || p.RequestID != resp.Header.Get(RequestIDHeader) {
		t.Fatalf("unknown path: %d %+v", resp.StatusCode, p)
	}
	resp, body = a.get("/api/v1/verify")
	if p := problemOf(t, body); resp.StatusCode != http.StatusMethodNotAllowed || p.Type != ProblemBase+"method-not-allowed" || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET on a POST route: %d %+v Allow %q", resp.StatusCode, p, resp.Header.Get("Allow"))
	}
}

// TestVerify: a document is verified from a multipart form and from a raw
// body; what cannot be judged is 422, what is too large 413, and the
// metrics count each outcome.
func TestVerify(t *testing.T) {
	var doc bytes.Buffer
	if _, err := benchdata.WritePDF(&doc, 20<<10, 1); err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, Config{MaxUpload: 1 << 20, Limits: nil})
	ct, form := multipartPDF(t, "../../drawing.pdf", doc.Bytes())
	resp, body := a.post("/api/v1/verify", ct, form)
	var rep struct {
		File, Verdict string
		Size          int64
		Reasons       []string
	}
	if err := json.Unmarshal(body, &rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("verify: %d %v %s", resp.StatusCode, err, body)
	}
	if rep.File != "drawing.pdf" || rep.Verdict != "invalid" || rep.Size != int64(doc.Len()) {
		t.Fatalf("verify of an unsigned PDF: %+v", rep)
	}
	if resp, body := a.post("/api/v1/verify", "application/pdf", doc.Bytes()); resp.StatusCode != 200 || !strings.Contains(string(body), `"the file has no signatures"`) {
		t.Fatalf("raw verify: %d %s", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		name, ct string
		body     []byte
		status   int
		kind     string
	}{
		{"not a PDF", "application/pdf", []byte("%PDF-1.7\nnot really\n"), 422, "invalid-input"},
		{"truncated", "application/pdf", doc.Bytes()[:doc.Len()/2], 422, "invalid-input"},
		{"empty", "application/pdf", nil, 422, "invalid-input"},
		{"wrong type", "text/plain", doc.Bytes(), 422, "invalid-input"},
		{"no file part", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n"), 422, "invalid-input"},
		{"too large", "application/pdf", bytes.Repeat([]byte("x"), 2<<20), 413, "too-large"},
	} {
		resp, body := a.post("/api/v1/verify", tc.ct, tc.body)
		p := problemOf(t, body)
		if resp.StatusCode != tc.status || p.Status != tc.status || p.Type != ProblemBase+tc.kind || p.Detail == "" {
			t.Errorf("%s: %d %+v", tc.name, resp.StatusCode, p)
		}
	}
	// Too large without a Content-Length: the limit is enforced while
	// reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("x"), 3<<20))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", a.ts.URL+"/api/v1/verify", pr)
	req.Header.Set("Content-Type", "application/pdf")
	resp, err := a.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || problemOf(t, body).Type != ProblemBase+"too-large" {
		t.Fatalf("chunked upload over the limit: %d %s", resp.StatusCode, body)
	}

	resp, body = a.get("/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the metrics exposition does not parse: %v", err)
	}
	count := func(family string, labels map[string]string) float64 {
		for _, m := range families[family].GetMetric() {
			match := true
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					match = false
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
		return 0
	}
	if n := count("sealkeep_http_requests_total", map[string]string{"route": "POST /api/v1/verify", "status": "422"}); n != 5 {
		t.Errorf("sealkeep_http_requests_total{route=POST /api/v1/verify,status=422} = %v, want 5", n)
	}
	if n := count("sealkeep_verifications_total", map[string]string{"outcome": "invalid"}); n != 2 {
		t.Errorf("sealkeep_verifications_total{outcome=invalid} = %v, want 2", n)
	}
	for _, f := range []string{"sealkeep_seal_duration_seconds", "sealkeep_seals_total", "sealkeep_audit_append_duration_seconds",
		"sealkeep_login_failures_total", "sealkeep_rate_limit_rejections_total", "sealkeep_http_request_duration_seconds", "go_goroutines"} {
		if !strings.Contains(string(body), "# HELP "+f+" ") {
			t.Errorf("metric %s is not exposed", f)
		}
	}
}

// TestVerifyHostile: the hostile files of the bounded-cost benchmark are
// refused with 422 problems inside the reader's limits.
func TestVerifyHostile(t *testing.T) {
	a := newAPI(t, Config{MaxUpload: 64 << 20})
	for _, h := range benchdata.HostileFiles() {
		var b bytes.Buffer
		if _, err := h.Write(&b); err != nil {
			t.Fatal(err)
		}
		resp, body := a.post("/api/v1/verify", "application/pdf", b.Bytes())
		if resp.StatusCode == 200 {
			// A file the reader judges within its limits is a report,
			// never a valid one.
			if strings.Contains(string(body), `"verdict": "valid"`) {
				t.Errorf("%s: valid", h.Name)
			}
			continue
		}
		if p := problemOf(t, body); resp.StatusCode != 422 || p.Type != ProblemBase+"invalid-input" {
			t.Errorf("%s: %d %+v", h.Name, resp.StatusCode, p)
		}
	}
}

// TestVerifyTimeout: a verification over the time limit is 422, not a
// server failure.
func TestVerifyTimeout(t *testing.T) {
	var doc bytes.Buffer
	benchdata.WritePDF(&doc, 4<<20, 2)
	a := newAPI(t, Config{VerifyTimeout: time.Nanosecond})
	resp, body := a.post("/api/v1/verify", "application/pdf", doc.Bytes())
	if p := problemOf(t, body); resp.StatusCode != 422 || !strings.Contains(p.Detail, "took longer than") {
		t.Fatalf("verify over the time limit: %d %+v", resp.StatusCode, p)
	}
}

// TestLogsHoldNoSecrets sends credentials in headers, the query and the
// body, and checks the log: one line per request, with its request ID,
// and none of them.
func TestLogsHoldNoSecrets(t *testing.T) {
	a := newAPI(t, Config{MaxUpload: 1 << 20})
	secrets := []string{"Bearer-tok-3f9a1c", "session-cookie-77d2e", "body-marker-a81c0", "query-token-5be21", "Basic dXNlcjpodW50ZXIy"}
	body := []byte("%PDF-1.7\n" + secrets[2] + "\n")
	var ids []string
	for _, path := range []string{"/api/v1/verify", "/api/v1/verify?token=" + secrets[3], "/nowhere?password=" + secrets[3]} {
		req, _ := http.NewRequest("POST", a.ts.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/pdf")
		req.Header.Set("Authorization", "Bearer "+secrets[0])
		req.Header.Set("Cookie", "session="+secrets[1])
		req.Header.Set("Proxy-Authorization", secrets[4])
		resp, out := a.do(req, body)
		for _, s := range secrets {
			if strings.Contains(string(out), s) {
				t.Errorf("%s: the response holds %q:\n%s", path, s, out)
			}
		}
		ids = append(ids, resp.Header.Get(RequestIDHeader))
	}
	log := a.log.String()
	for _, s := range append(secrets, "dXNlcjpodW50ZXIy", "hunter2") {
		if strings.Contains(log, s) {
			t.Errorf("the log holds %q:\n%s", s, log)
		}
	}
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) != len(ids) {
		t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(ids), log)
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %d is not JSON: %v", i, err)
		}
		if rec["msg"] != "request" || rec["request_id"] != ids[i] || rec["status"] == nil || rec["route"] == nil {
			t.Errorf("log line %d: %v", i, rec)
		}
	}
}

// TestPanic: a panicking handler is a 500 problem that tells nothing, and
// the log names only the panic's type.
func TestPanic(t *testing.T) {
	buf := &syncBuffer{}
	srv, err := New(Config{Logger: testLogger(buf)})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "panic-secret-0c4e"
	h := srv.observe(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(errors.New(secret)) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	p := problemOf(t, rec.Body.Bytes())
	if rec.Code != 500 || p.Type != ProblemBase+"internal" || p.Detail != internalDetail || rec.Header().Get(RequestIDHeader) == "" {
		t.Fatalf("panic: %d %+v", rec.Code, p)
	}
	if strings.Contains(rec.Body.String()+buf.String(), secret) {
		t.Fatalf("the panic value leaked:\n%s\n%s", rec.Body, buf)
	}
	if !strings.Contains(buf.String(), `"panic_type":"*errors.errorString"`) {
		t.Fatalf("the panic is not logged:\n%s", buf)
	}
}

// TestProblemFor: every kind has a status and a type, and an internal
// error's message is never sent.
func TestProblemFor(t *testing.T) {
	want := map[errs.Kind]int{errs.Internal: 500, errs.Invalid: 422, errs.TooLarge: 413, errs.NotFound: 404, errs.Conflict: 409,
		errs.Forbidden: 403, errs.Unauthenticated: 401, errs.Verification: 500, errs.Unavailable: 503, errs.TooManyRequests: 429}
	for _, k := range errs.Kinds {
		p := ProblemFor(errs.New(k, "detail of "+k.String()), "r-1")
		if p.Status != want[k] || p.Type != ProblemBase+k.String() || p.Title == "" || p.RequestID != "r-1" {
			t.Errorf("%v: %+v", k, p)
		}
		if (k == errs.Internal) == strings.Contains(p.Detail, "detail of") {
			t.Errorf("%v: detail %q", k, p.Detail)
		}
	}
	if p := ProblemFor(&http.MaxBytesError{Limit: 10}, ""); p.Status != 413 {
		t.Errorf("MaxBytesError: %+v", p)
	}
}

// TestRetryAfter: an unavailable error with a delay sends Retry-After.
func TestRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/", nil), errs.With(errs.Unavailable, retryErr(1500*time.Millisecond)))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

type retryErr time.Duration

func (e retryErr) Error() string             { return "throttled" }
func (e retryErr) RetryAfter() time.Duration { return time.Duration(e) }

// selfSigned writes a certificate and key for 127.0.0.1 to dir.
func selfSigned(t *testing.T, dir string) (*TLSFiles, *x509.CertPool) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	f := &TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	os.WriteFile(f.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(f.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return f, pool
}

// serve runs srv on ln until the returned stop function is called; stop
// returns Serve's error.
func serve(t *testing.T, srv *Server, ln net.Listener) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestTLS: TLS 1.2 and 1.3 are served with the configured certificate;
// TLS 1.1 is refused.
func TestTLS(t *testing.T) {
	files, pool := selfSigned(t, t.TempDir())
	ln, url, err := Listen("127.0.0.1:0", files)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("url %q", url)
	}
	srv, _ := New(Config{})
	serve(t, srv, ln)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: v, MaxVersion: v}}}
		resp, err := c.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", tls.VersionName(v), err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS.Version != v {
			t.Fatalf("%s: %d over %s", tls.VersionName(v), resp.StatusCode, tls.VersionName(resp.TLS.Version))
		}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := c.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("TLS 1.1 was accepted (%s)", tls.VersionName(resp.TLS.Version))
	}
	// Plain HTTP to the TLS port gets no API answer.
	if resp, err := http.Get(strings.Replace(url, "https", "http", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	}
	if _, _, err := Listen("127.0.0.1:0", &TLSFiles{CertFile: files.CertFile, KeyFile: files.CertFile}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("a certificate as its own key: %v", err)
	}
	if err := os.Chmod(files.KeyFile, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen("127.0.0.1:0", files); !errors.Is(err, fileperm.ErrTooOpen) || errs.KindOf(err) != errs.Invalid {
		t.Fatalf("a TLS key readable by the group: %v", err)
	}
}

// TestPlainHTTPLoopbackOnly: plain HTTP listens on loopback only.
func TestPlainHTTPLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		ln, _, err := Listen(addr, nil)
		if err == nil {
			ln.Close()
			t.Errorf("plain HTTP on %q was allowed", addr)
			continue
		}
		if errs.KindOf(err) != errs.Invalid {
			t.Errorf("%q: %v is not invalid input", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, url, err := Listen(addr, nil)
		if err != nil {
			t.Fatalf("%q: %v", addr, err)
		}
		ln.Close()
		if !strings.HasPrefix(url, "http://127.0.0.1:") && !strings.HasPrefix(url, "http://[::1]:") {
			t.Errorf("%q: url %q", addr, url)
		}
	}
}

// TestGracefulShutdown: a verification whose upload is still arriving
// when the server is told to stop finishes with its report, and Serve
// returns cleanly; new connections are refused after.
func TestGracefulShutdown(t *testing.T) {
	var doc bytes.Buffer
	benchdata.WritePDF(&doc, 64<<10, 1)
	// One verification slot: a second request answered 429 proves that the
	// first one is inside its handler before shutdown starts.
	srv, _ := New(Config{ShutdownTimeout: time.Minute, MaxVerifies: 1})
	ln, url, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, srv, ln)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/api/v1/verify", pr)
	req.Header.Set("Content-Type", "application/pdf")
	req.ContentLength = int64(doc.Len())
	type result struct {
		status int
		body   []byte
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, b, err}
	}()
	half := doc.Len() / 2
	if _, err := pw.Write(doc.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := http.Post(url+"/api/v1/verify", "application/pdf", strings.NewReader("%PDF-"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Shutdown closes the listener first: wait until new connections fail.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned while a request was in flight: %v", err)
	default:
	}
	pw.Write(doc.Bytes()[half:])
	pw.Close()
	r := <-got
	if r.err != nil || r.status != 200 || !strings.Contains(string(r.body), `"verdict": "invalid"`) {
		t.Fatalf("in-flight request: %d %v %s", r.status, r.err, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestShutdownBounded: a request that does not finish within the shutdown
// timeout is cut off and Serve returns.
func TestShutdownBounded(t *testing.T) {
	srv, _ := New(Config{ShutdownTimeout: 50 * time.Millisecond})
	ln, url, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, srv, ln)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", url+"/api/v1/verify", pr)
	req.Header.Set("Content-Type", "application/pdf")
	req.ContentLength = 1 << 20
	go http.DefaultClient.Do(req)
	pw.Write([]byte("%PDF-1.7\n"))
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// testLogger is the JSON logger of a test server, through the redacting
// handler as in sealkeep serve.
func testLogger(w io.Writer) *slog.Logger {
	return slog.New(redact.NewHandler(slog.NewJSONHandler(w, nil)))
}

// TestValidatorCatches: the OpenAPI check of the tests rejects a response
// the document does not allow (a problem without its request ID, a report
// without its verdict), so that passing it means something.
func TestValidatorCatches(t *testing.T) {
	router, err := legacy.NewRouter(loadDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/verify", strings.NewReader("%PDF"))
	req.Header.Set("Content-Type", "application/pdf")
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		ct     string
		body   string
	}{
		{422, ProblemType, `{"type":"https://sealkeep.dev/problems/invalid-input","title":"x","status":422}`},
		{422, ProblemType, `{"type":"https://example.com/other","title":"x","status":422,"request_id":"r-000000000000000000000000"}`},
		{200, "application/json", `{"file":"","sha256":"00","size":1,"revisions":1,"signatures":[],"reasons":[],"warnings":[],"validated_at":"2026-01-01T00:00:00Z"}`},
	} {
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		hdr := http.Header{"Content-Type": {tc.ct}, RequestIDHeader: {"r-000000000000000000000000"}}
		err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{RequestValidationInput: in,
			Status: tc.status, Header: hdr, Body: io.NopCloser(strings.NewReader(tc.body))})
		if err == nil {
			t.Errorf("%d %s passed validation", tc.status, tc.body)
		}
	}
}

// TestVerifyConcurrency: past MaxVerifies verifications in progress, one
// more is 429 with Retry-After, and counted; the first still finishes.
func TestVerifyConcurrency(t *testing.T) {
	var doc bytes.Buffer
	benchdata.WritePDF(&doc, 16<<10, 1)
	a := newAPI(t, Config{MaxVerifies: 1})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", a.ts.URL+"/api/v1/verify", pr)
	req.Header.Set("Content-Type", "application/pdf")
	req.ContentLength = int64(doc.Len())
	first := make(chan int, 1)
	go func() {
		resp, err := a.ts.Client().Do(req)
		if err != nil {
			first <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	pw.Write(doc.Bytes()[:100])
	// Wait until the first request holds its slot.
	for len(a.srv.verifySlots) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	resp, body := a.post("/api/v1/verify", "application/pdf", doc.Bytes())
	if p := problemOf(t, body); resp.StatusCode != 429 || p.Type != ProblemBase+"too-many-requests" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d %+v Retry-After %q", resp.StatusCode, p, resp.Header.Get("Retry-After"))
	}
	pw.Write(doc.Bytes()[100:])
	pw.Close()
	if code := <-first; code != 200 {
		t.Fatalf("the first verification: %d", code)
	}
	if resp, _ := a.post("/api/v1/verify", "application/pdf", doc.Bytes()); resp.StatusCode != 200 {
		t.Fatalf("after the first finished: %d", resp.StatusCode)
	}
}
