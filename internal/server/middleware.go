package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// RequestIDHeader is the response header that carries the request ID.
const RequestIDHeader = "X-Request-Id"

// reqState is what the middleware learns about one request: its ID, the
// route that matched (set by the route's own handler, since the mux
// matches below the middleware), the authenticated user, and the error a
// problem answer was made of (for the log).
type reqState struct {
	id    string
	route string
	user  string // the authenticated caller's user ID, if any
	err   error
}

type stateKey struct{}

// stateOf returns the request's state; a context the middleware did not
// make gets an empty one.
func stateOf(ctx context.Context) *reqState {
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// RequestID returns the ID of the request ctx belongs to ("" outside a
// request): the ID in its X-Request-Id response header and its log line,
// for audit entries.
func RequestID(ctx context.Context) string { return stateOf(ctx).id }

// newRequestID returns "r-" and 24 random hex digits. The server never
// takes an ID from the client: a client-chosen ID in an audit entry would
// let it name, or collide with, another request.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "r-" + hex.EncodeToString(b[:])
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives each request an ID (context and X-Request-Id), recovers a
// panic as a 500 problem, and writes one log line and the request metrics
// when the request ends. The log line holds the request ID, method, route,
// path (never the query, which may carry a token), status, size, duration,
// client address and, for a failure, the error: never a header, a body or
// a cookie.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &reqState{id: newRequestID()}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		w.Header().Set(RequestIDHeader, st.id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					// A handler cut its answer short (a stream that
					// failed midway): log the request, then let net/http
					// close the connection.
					s.finish(r, sw, st, time.Since(start))
					panic(v)
				}
				// The panic value may hold anything, a secret included:
				// only its type is logged.
				s.log.ErrorContext(r.Context(), "panic recovered", "request_id", st.id, "panic_type", typeName(v))
				if sw.status == 0 {
					writeError(sw, r, errPanic)
				}
			}
			s.finish(r, sw, st, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// finish logs a request and counts it.
func (s *Server) finish(r *http.Request, sw *statusWriter, st *reqState, d time.Duration) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	route := st.route
	if route == "" {
		route = "unmatched"
	}
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
	attrs := []slog.Attr{
		slog.String("request_id", st.id), slog.String("method", r.Method), slog.String("route", route),
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.Int64("bytes", sw.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", remoteHost(r.RemoteAddr)),
	}
	if st.user != "" {
		attrs = append(attrs, slog.String("user", st.user))
	}
	lvl := slog.LevelInfo
	if st.err != nil {
		attrs = append(attrs, slog.String("error", st.err.Error()))
		if status >= 500 {
			lvl = slog.LevelError
		}
	}
	s.log.LogAttrs(r.Context(), lvl, "request", attrs...)
}

// remoteHost is the client's address without its port.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// typeName is the dynamic type of a panic value.
func typeName(v any) string { return fmt.Sprintf("%T", v) }
