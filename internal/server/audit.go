package server

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
)

// Paging of the audit entries: a page holds limit entries (default
// defaultAuditPage, at most custody.MaxEntriesPage), fewer past
// custody.MaxEntriesPageBytes; the export reads exportPage at a time.
const (
	defaultAuditPage = 100
	exportPage       = 256
)

// JSONLType is the media type of an audit export: JSON Lines, one entry
// per line.
const JSONLType = "application/jsonl"

// auditRoutes read and verify audit chains: an organization's chain (its
// owners and auditors: auth.OpAuditRead, auth.OpAuditVerify) and the
// system chain of platform events (the operator: auth.OpSystemAudit).
// Every route of one prefix serves the same chain, the path's {org} or the
// system chain, and nothing else: which chain is read is decided by the
// path that was authorized, never by a parameter.
func (s *Server) auditRoutes() []Route {
	var rs []Route
	for _, g := range []struct {
		prefix       string
		read, verify auth.Op
	}{
		{"/api/v1/orgs/{org}/audit", auth.OpAuditRead, auth.OpAuditVerify},
		{"/api/v1/system/audit", auth.OpSystemAudit, auth.OpSystemAudit},
	} {
		rs = append(rs,
			Route{Method: "GET", Path: g.prefix + "/entries", Access: Authorized, Op: g.read, Handler: s.auditEntries},
			Route{Method: "GET", Path: g.prefix + "/entries/{seq}", Access: Authorized, Op: g.read, Handler: s.auditEntry},
			Route{Method: "GET", Path: g.prefix + "/entries/{seq}/proof", Access: Authorized, Op: g.read, Handler: s.auditProof},
			Route{Method: "GET", Path: g.prefix + "/export", Access: Authorized, Op: g.read, Handler: s.auditExport},
			Route{Method: "GET", Path: g.prefix + "/verify", Access: Authorized, Op: g.verify, Handler: s.auditVerify},
			Route{Method: "GET", Path: g.prefix + "/checkpoint", Access: Authorized, Op: g.verify, Handler: s.auditCheckpoint},
		)
	}
	return rs
}

// chainOf is the chain an audit route's path names: its {org}, or the
// system chain on the /api/v1/system routes.
func chainOf(r *http.Request) string {
	if org := r.PathValue("org"); org != "" {
		return org
	}
	return audit.SystemChain
}

// auditKeys is the custody service of the audit routes.
func (s *Server) auditKeys() (*custody.Service, error) {
	if s.cfg.Keys == nil {
		return nil, errs.New(errs.Unavailable, "this server has no custody service")
	}
	return s.cfg.Keys, nil
}

// queryParams returns r's query parameters, refusing a malformed query,
// a parameter not in allowed and one given twice. Errors name the
// parameter the server knows, never what the client sent.
func queryParams(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errs.New(errs.Invalid, "the query string is malformed")
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, errs.New(errs.Invalid, "this endpoint takes no query parameters")
			}
			return nil, errs.New(errs.Invalid, "unknown query parameter (allowed: "+strings.Join(allowed, ", ")+")")
		}
		if len(v) > 1 {
			return nil, errs.New(errs.Invalid, fmt.Sprintf("the query parameter %s is given more than once", k))
		}
	}
	return q, nil
}

// uintParam reads the decimal parameter name of q, def if absent; a value
// outside lo..hi is refused.
func uintParam(q url.Values, name string, def, lo, hi uint64) (uint64, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errs.New(errs.Invalid, fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
	}
	return n, nil
}

// seqOf is the path's {seq}: an entry's sequence number, from 1.
func seqOf(r *http.Request) (uint64, error) {
	n, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || n < 1 || n > math.MaxInt64 {
		return 0, errs.New(errs.Invalid, fmt.Sprintf("an entry's sequence number is an integer from 1 to %d", uint64(math.MaxInt64)))
	}
	return n, nil
}

// exported is e as audit export writes it: UTC time, no empty details.
func exported(e audit.Entry) audit.Entry {
	e.Time = e.Time.UTC()
	if len(e.Details) == 0 {
		e.Details = nil
	}
	return e
}

// entriesPage is one page of a chain's entries.
type entriesPage struct {
	Chain   string        `json:"chain"`
	Entries []audit.Entry `json:"entries"`
	// NextAfter, when set, is the after of the next page: more entries
	// follow.
	NextAfter *uint64 `json:"next_after,omitempty"`
}

// auditEntries lists a chain's entries after ?after (default 0), at most
// ?limit of them, as stored: /verify judges them.
func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.auditKeys()
	if err != nil {
		return err
	}
	q, err := queryParams(r, "after", "limit")
	if err != nil {
		return err
	}
	after, err := uintParam(q, "after", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	limit, err := uintParam(q, "limit", defaultAuditPage, 1, custody.MaxEntriesPage)
	if err != nil {
		return err
	}
	chain := chainOf(r)
	entries, more, err := keys.Entries(r.Context(), chain, after, int(limit))
	if err != nil {
		return err
	}
	out := entriesPage{Chain: chain, Entries: make([]audit.Entry, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, exported(e))
	}
	if more {
		next := entries[len(entries)-1].Seq
		out.NextAfter = &next
	}
	writeJSON(w, "application/json", http.StatusOK, out)
	return nil
}

// entryRequest reads a request for one entry of a chain: the custody
// service, no query parameters, the path's seq.
func (s *Server) entryRequest(r *http.Request) (*custody.Service, uint64, error) {
	keys, err := s.auditKeys()
	if err != nil {
		return nil, 0, err
	}
	if _, err := queryParams(r); err != nil {
		return nil, 0, err
	}
	seq, err := seqOf(r)
	return keys, seq, err
}

// auditEntry answers one entry of a chain by its seq, as stored.
func (s *Server) auditEntry(w http.ResponseWriter, r *http.Request) error {
	keys, seq, err := s.entryRequest(r)
	if err != nil {
		return err
	}
	e, err := keys.Entry(r.Context(), chainOf(r), seq)
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, exported(e))
	return nil
}

// auditProof answers the inclusion proof of one entry against the chain's
// newest checkpoint, as `sealkeep audit prove` prints it: checked by the
// server before it is sent, and by anyone with the chain's verifier key
// (`sealkeep audit verify-proof`) without the database.
func (s *Server) auditProof(w http.ResponseWriter, r *http.Request) error {
	keys, seq, err := s.entryRequest(r)
	if err != nil {
		return err
	}
	p, err := keys.Prove(r.Context(), chainOf(r), seq)
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, p)
	return nil
}

// auditExport streams a chain as JSON Lines, byte for byte what `sealkeep
// audit export` writes, from the entry after ?after (default 0). Pages
// are read one transaction each (a slow reader holds no transaction open)
// and written as they come, so memory does not grow with the chain. A
// failure after the answer has begun aborts the connection: the client
// sees a cut transfer, never an export that looks complete.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.auditKeys()
	if err != nil {
		return err
	}
	q, err := queryParams(r, "after")
	if err != nil {
		return err
	}
	after, err := uintParam(q, "after", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	chain := chainOf(r)
	// The first page before the answer begins: a chain that cannot be read
	// is still a problem answer.
	page, more, err := keys.Entries(r.Context(), chain, after, exportPage)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", JSONLType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	err = audit.WriteJSONL(w, audit.Walk(func(fn func(audit.Entry) error) error {
		for {
			for _, e := range page {
				if err := fn(e); err != nil {
					return err
				}
			}
			if !more {
				return nil
			}
			if page, more, err = keys.Entries(r.Context(), chain, page[len(page)-1].Seq, exportPage); err != nil {
				return err
			}
		}
	}))
	if err != nil {
		stateOf(r.Context()).err = err
		panic(http.ErrAbortHandler)
	}
	return nil
}

// auditVerify verifies the chain as `sealkeep audit verify --chain` does
// (custody.Service.VerifyChain: the hash chain, the head row, the newest
// checkpoint and the stored Merkle tree, and for an organization its
// stored certificate versions against the fold of the trail). A chain
// that does not verify is a 200 report with "ok": false, as the CLI
// reports it; an error that is not the chain's (the store failing) is a
// problem. The report is audit.ChainReport. Chain verifications in progress at once are bounded like PDF
// verifications (429 past the limit).
func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.auditKeys()
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	select {
	case s.auditSlots <- struct{}{}:
		defer func() { <-s.auditSlots }()
	default:
		s.metrics.RateLimited.WithLabelValues("audit_verify").Inc()
		return busyError{limit: cap(s.auditSlots)}
	}
	chain := chainOf(r)
	rep, err := keys.VerifyChain(r.Context(), chain, nil, nil, nil)
	if err != nil && errs.KindOf(err) != errs.Verification {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, rep.Summary(err))
	return nil
}

// auditCheckpoint answers the chain's newest signed checkpoint: the C2SP
// tlog-checkpoint note, as written to the checkpoint directory after the
// last append, checked under the checkpoint key before it is sent.
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.auditKeys()
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	note, err := keys.LatestCheckpoint(r.Context(), chainOf(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(note)
	return nil
}
