// Package server is sealkeep's HTTP service: it translates HTTP to the
// custody, seal and verification APIs and back, and nothing more.
//
// # Routes
//
// Every endpoint is one [Route] in the table [Server.Routes] returns: its
// method and path pattern (Go's [http.ServeMux] syntax, "POST
// /api/v1/verify"), who may call it ([Access]), its request body limit
// and its handler. New registers exactly that table, the OpenAPI document
// (/api/v1/openapi.json) describes exactly that table (a test checks both
// ways), and the authorization tests iterate it. Authenticated routes are
// added there and nowhere else.
//
// # Errors
//
// A handler returns an error; [ProblemFor] turns it into RFC 9457 problem
// details (application/problem+json) by its kind (internal/errs): the
// one mapping from errors to HTTP statuses. An internal error's message
// is logged, never sent.
//
// # Middleware
//
// Around every request: a request ID (generated, never taken from the
// client; in the X-Request-Id header, the log line and [RequestID] for
// audit entries), panic recovery as a 500 problem, one JSON log line
// through the redacting handler (internal/redact) that never holds a body,
// header, cookie or query string, and the request metrics. Around each
// route: its body limit (413 past it) and its access check.
//
// # Listening
//
// [Listen] serves TLS 1.2 or later from a certificate and key file, and
// plain HTTP only on a loopback address. [Server.Serve] shuts down
// gracefully when its context ends: it stops accepting, lets in-flight
// requests finish for up to [Config.ShutdownTimeout], then closes what is
// left.
package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/idempotency"
	"sealkeep/internal/passkey"
	"sealkeep/internal/pdf"
	"sealkeep/internal/pdf/verify"
)

// Access says who may call a route.
type Access string

// Access levels (see access.go for Authenticated and Authorized); New
// refuses a route whose access it cannot check.
const (
	// Public routes need no credentials (health, metrics, the OpenAPI
	// document, verification).
	Public Access = "public"
)

// Route is one endpoint.
type Route struct {
	// Method and Path form the ServeMux pattern "METHOD PATH".
	Method, Path string
	// Access says who may call it.
	Access Access
	// Op is what an Authorized route does, judged by auth.Allowed; empty
	// for other routes.
	Op auth.Op
	// Own marks an Authorized route without {identity} that creates what
	// the caller will own (a new identity): an own-only Op is judged as
	// on the caller's own. The handler must make the caller the owner.
	Own bool
	// MaxBody bounds the request body in bytes; 0 means no body is read
	// (a body is refused past 0 bytes).
	MaxBody int64
	// Handler serves the request; an error becomes problem details.
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// Pattern returns the route's ServeMux pattern.
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// Check is one readiness check: it returns nil when what it checks (the
// store, the KEK) is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	// Logger receives the request log and the server's own messages; it
	// should be a JSON handler wrapped by redact.NewHandler. Nil discards.
	Logger *slog.Logger
	// Metrics holds the collectors; nil makes a new set ([NewMetrics]).
	Metrics *Metrics
	// Ready are the readiness checks of /readyz, each run with
	// ReadyTimeout.
	Ready []Check
	// ReadyTimeout bounds each readiness check; 0 means 5 seconds.
	ReadyTimeout time.Duration
	// Roots are the trust anchors of verification; nil trusts nothing.
	Roots *x509.CertPool
	// Custody, if not nil, adds the custody status (the server's store)
	// to verification reports.
	Custody verify.CustodyLookup
	// Auth is the account service: sessions, API tokens, roles, MFA. Nil
	// serves only the Public routes (the others answer 503).
	Auth *auth.Service
	// Keys is the custody service (identities, versions, keys, the audit
	// trail) that the authenticated routes act on; required with Auth.
	Keys *custody.Service
	// ExternalKeySchemes are the key URI schemes (awskms, azurekv,
	// gcpkms) that sealers may register as external keys through the API;
	// none by default. pkcs11 is never accepted over the API.
	ExternalKeySchemes []string
	// Limits bounds the reading of an uploaded PDF; nil means
	// pdf.DefaultLimits.
	Limits *pdf.Limits
	// MaxUpload bounds an uploaded document in bytes; 0 means
	// DefaultMaxUpload.
	MaxUpload int64
	// VerifyTimeout bounds one verification; 0 means DefaultVerifyTimeout.
	VerifyTimeout time.Duration
	// MaxVerifies bounds the verifications in progress at once (the
	// endpoint is public); one more is answered 429. 0 means twice the
	// number of CPUs. Audit chain verifications are bounded by the same
	// number, in a pool of their own.
	MaxVerifies int
	// TempDir holds uploads while they are verified; "" means os.TempDir.
	TempDir string
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// when it stops; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Idempotency keeps the seal route's Idempotency-Key records (nil: a
	// request with the header is answered 503).
	Idempotency *idempotency.Service
	// Passkeys is the WebAuthn service: passkey registration and passkey
	// approvals of seals (nil: those routes answer 503).
	Passkeys *passkey.Service
	// MaxSealsPerUser bounds the seals one user runs at once on this
	// instance; one more is answered 429. 0 means DefaultMaxSealsPerUser.
	MaxSealsPerUser int
	// SealTimeout bounds one seal; 0 means DefaultSealTimeout.
	SealTimeout time.Duration
	// TSA, if set, is the RFC 3161 timestamp authority of B-T seals; a
	// request cannot name one (the server would fetch any URL it named).
	TSA string
	// Clock is the time of seal intents; nil means time.Now. It must be
	// the account service's clock.
	Clock func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxUpload       = 64 << 20
	DefaultVerifyTimeout   = 60 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	defaultReadyTimeout    = 5 * time.Second
)

// Server is the HTTP service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	routes  []Route
	handler http.Handler
	// verifySlots holds one token per verification in progress.
	verifySlots chan struct{}
	// auditSlots holds one token per audit chain verification in
	// progress, apart from verifySlots so that neither kind starves the
	// other.
	auditSlots chan struct{}
	// sealing counts each user's seals in progress.
	sealMu  sync.Mutex
	sealing map[string]int
}

// errPanic answers a request whose handler panicked.
var errPanic = errors.New("handler panicked")

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.MaxUpload < 0 {
		return nil, errs.New(errs.Invalid, "server: the upload limit must be positive")
	}
	if cfg.VerifyTimeout == 0 {
		cfg.VerifyTimeout = DefaultVerifyTimeout
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxVerifies <= 0 {
		cfg.MaxVerifies = 2 * runtime.GOMAXPROCS(0)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = defaultReadyTimeout
	}
	if cfg.Auth != nil && cfg.Keys == nil {
		return nil, errs.New(errs.Invalid, "server: an account service needs a custody service (Keys)")
	}
	if cfg.MaxSealsPerUser <= 0 {
		cfg.MaxSealsPerUser = DefaultMaxSealsPerUser
	}
	if cfg.SealTimeout <= 0 {
		cfg.SealTimeout = DefaultSealTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, verifySlots: make(chan struct{}, cfg.MaxVerifies),
		auditSlots: make(chan struct{}, cfg.MaxVerifies), sealing: map[string]int{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.routes = s.table()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		switch {
		case rt.Own && (rt.Access != Authorized || strings.Contains(rt.Path, "{identity}")):
			return nil, fmt.Errorf("server: route %s: only an Authorized route without {identity} creates what its caller owns", rt.Pattern())
		case rt.Access == Authorized && rt.Op != "",
			(rt.Access == Public || rt.Access == Authenticated) && rt.Op == "":
		default:
			return nil, fmt.Errorf("server: route %s: access %q with op %q cannot be checked", rt.Pattern(), rt.Access, rt.Op)
		}
		mux.Handle(rt.Pattern(), s.route(rt))
	}
	s.handler = s.observe(unmatched(mux))
	return s, nil
}

// table is the route table: every endpoint of the server, the public
// ones here and each group of authenticated ones in its own file.
func (s *Server) table() []Route {
	return slices.Concat(s.publicRoutes(), s.sessionRoutes(), s.accountRoutes(), s.sealRoutes(), s.custodyRoutes(), s.auditRoutes(), s.passkeyRoutes(), s.rotationRoutes())
}

// publicRoutes need no credentials.
func (s *Server) publicRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Access: Public, Handler: s.healthz},
		{Method: "GET", Path: "/readyz", Access: Public, Handler: s.readyz},
		{Method: "GET", Path: "/metrics", Access: Public, Handler: s.metricsHandler},
		{Method: "GET", Path: "/api/v1/openapi.json", Access: Public, Handler: s.openapi},
		{Method: "POST", Path: "/api/v1/verify", Access: Public, MaxBody: s.cfg.MaxUpload + multipartOverhead, Handler: s.verify},
	}
}

// Routes returns the route table (a copy).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// route wraps a route's handler: it names the route for the log and the
// metrics, enforces the body limit, checks the route's access, and turns
// an error into problem details.
func (s *Server) route(rt Route) http.Handler {
	pattern := rt.Pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateOf(r.Context()).route = pattern
		if r.ContentLength > rt.MaxBody {
			writeError(w, r, errs.New(errs.TooLarge, fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, rt.MaxBody)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, rt.MaxBody)
		ar, err := s.checkAccess(r, rt)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if err := rt.Handler(w, ar); err != nil {
			writeError(w, r, err)
		}
	})
}

// unmatched answers the requests no route matches with problem details:
// 404 for an unknown path, 405 (with Allow) for a known path and another
// method.
func unmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer: learn its status and Allow header only.
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeProblem(w, r, Problem{Type: ProblemBase + "method-not-allowed", Title: "Method not allowed",
				Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here; allowed: " + rec.header.Get("Allow")}, nil)
			return
		}
		writeError(w, r, errs.New(errs.NotFound, "no such endpoint: the API is described at /api/v1/openapi.json"))
	})
}

// headerRecorder keeps a handler's status and headers and drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }
