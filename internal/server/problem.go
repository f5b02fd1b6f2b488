package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"sealkeep/internal/errs"
	"sealkeep/internal/signer/retry"
	"sealkeep/internal/textsafe"
)

// ProblemBase is the prefix of every problem type URI: the type of an
// error of kind k is ProblemBase + k.String(), for example
// https://sealkeep.dev/problems/not-found. RFC 9457 (section 3.1.1)
// recommends absolute type URIs; these are stable across deployments and
// documented in docs/problems.md.
const ProblemBase = "https://sealkeep.dev/problems/"

// ProblemType is the media type of problem details (RFC 9457).
const ProblemType = "application/problem+json"

// Problem is an RFC 9457 problem details object, with the request ID as an
// extension member.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id"`
}

// kindStatus is the one mapping from error kinds to HTTP statuses and
// problem titles; cmd/sealkeep maps the same kinds to exit codes.
var kindStatus = map[errs.Kind]struct {
	status int
	title  string
}{
	errs.Invalid:         {http.StatusUnprocessableEntity, "Invalid input"},
	errs.TooLarge:        {http.StatusRequestEntityTooLarge, "Request too large"},
	errs.NotFound:        {http.StatusNotFound, "Not found"},
	errs.Conflict:        {http.StatusConflict, "Conflict"},
	errs.Forbidden:       {http.StatusForbidden, "Forbidden"},
	errs.Unauthenticated: {http.StatusUnauthorized, "Authentication required"},
	errs.Verification:    {http.StatusInternalServerError, "Verification failed"},
	errs.Unavailable:     {http.StatusServiceUnavailable, "Service unavailable"},
	errs.TooManyRequests: {http.StatusTooManyRequests, "Too many requests"},
	errs.Internal:        {http.StatusInternalServerError, "Internal error"},
}

// internalDetail replaces the message of an internal error, which is
// logged but never sent.
const internalDetail = "the server failed; its log names this request ID"

// ProblemFor returns the problem details of err: the type, status and
// title of its kind ([errs.KindOf]) and err's message as the detail,
// except for an internal error, whose message stays in the server log.
func ProblemFor(err error, requestID string) Problem {
	k := errs.KindOf(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		k = errs.TooLarge
	}
	ks := kindStatus[k]
	p := Problem{Type: ProblemBase + k.String(), Title: ks.title, Status: ks.status, Detail: err.Error(), RequestID: requestID}
	if k == errs.Internal {
		p.Detail = internalDetail
	}
	return p
}

// writeError answers a request with the problem details of err: the one
// place where errors become HTTP responses. A Retry-After header goes
// with a 409 (a request still in progress), 429 or 503 when err carries a
// delay ([retry.RetryAfter]).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, r, ProblemFor(err, ""), err)
}

// writeProblem sends p with the request's ID; err, if not nil, is what it
// was made of (logged with the request).
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem, err error) {
	st := stateOf(r.Context())
	p.RequestID = st.id
	st.err = err
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sealkeep"`)
	}
	if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests || p.Status == http.StatusConflict {
		if d, ok := retry.RetryAfter(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(d.Seconds()+0.999))))
		}
	}
	writeJSON(w, ProblemType, p.Status, p)
}

// writeJSON writes v as JSON with the given content type and status.
// Strings keep their value; characters a terminal would interpret are \u
// escapes (textsafe.JSON), as in the CLI's --json output.
func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding the response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(textsafe.JSON(b), '\n'))
}
