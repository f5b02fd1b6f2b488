package server

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
	"sealkeep/internal/signer"
	"sealkeep/internal/store"
)

// Body limits of the custody routes.
const (
	// maxCertBody bounds an uploaded certificate chain (PEM).
	maxCertBody = 256 << 10
	// maxKeyFile bounds an imported PKCS#12 or PEM file (keyfile.MaxSize).
	maxKeyFile = 1 << 20
)

// identityBase is the path of an org's identities.
const identityBase = "/api/v1/orgs/{org}/identities"

// versionBase is the path of one certificate version.
const versionBase = identityBase + "/{identity}/versions/{version}"

// custodyRoutes are an org's signing identities and their certificate
// versions. Everyone in the org may read them (OpIdentityRead); only a
// sealer changes them, and only their own ({identity} is judged for
// ownership; a new identity is the caller's own). Activation needs the
// owner's fresh TOTP code in the request.
func (s *Server) custodyRoutes() []Route {
	read, manage := auth.OpIdentityRead, auth.OpIdentityManage
	return []Route{
		{Method: "GET", Path: identityBase, Access: Authorized, Op: read, Handler: s.listIdentities},
		{Method: "POST", Path: identityBase, Access: Authorized, Op: manage, Own: true, MaxBody: maxJSONBody, Handler: s.createIdentity},
		{Method: "GET", Path: identityBase + "/{identity}", Access: Authorized, Op: read, Handler: s.showIdentity},
		{Method: "GET", Path: identityBase + "/{identity}/versions", Access: Authorized, Op: read, Handler: s.listVersions},
		{Method: "POST", Path: identityBase + "/{identity}/versions", Access: Authorized, Op: manage, MaxBody: maxJSONBody, Handler: s.generateKey},
		{Method: "POST", Path: identityBase + "/{identity}/imports", Access: Authorized, Op: manage, MaxBody: maxKeyFile + multipartOverhead, Handler: s.importKey},
		{Method: "POST", Path: identityBase + "/{identity}/external-keys", Access: Authorized, Op: manage, MaxBody: maxJSONBody, Handler: s.externalKey},
		{Method: "GET", Path: versionBase, Access: Authorized, Op: read, Handler: s.showVersion},
		{Method: "GET", Path: versionBase + "/csr", Access: Authorized, Op: read, Handler: s.downloadCSR},
		{Method: "GET", Path: versionBase + "/certificate", Access: Authorized, Op: read, Handler: s.downloadCertificate},
		{Method: "PUT", Path: versionBase + "/certificate", Access: Authorized, Op: manage, MaxBody: maxCertBody, Handler: s.uploadCertificate},
		{Method: "POST", Path: versionBase + "/activate", Access: Authorized, Op: manage, MaxBody: maxJSONBody, Handler: s.activate},
		{Method: "POST", Path: versionBase + "/revoke", Access: Authorized, Op: manage, MaxBody: maxJSONBody, Handler: s.revoke},
		{Method: "POST", Path: versionBase + "/destroy", Access: Authorized, Op: manage, Handler: s.destroy},
	}
}

// identityJSON is a signing identity as the API shows it.
type identityJSON struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	Owner     string    `json:"owner"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Versions are the identity's certificate versions (show only).
	Versions []custody.VersionInfo `json:"versions,omitempty"`
}

func identityOf(id store.Identity) identityJSON {
	return identityJSON{ID: id.ID, Org: id.OrgID, Owner: id.Owner, Name: id.Name, CreatedAt: id.CreatedAt.UTC()}
}

// actorOf is the audit actor of the caller.
func actorOf(r *http.Request) audit.Actor {
	p, _ := principal(r)
	return audit.Actor{Kind: audit.ActorUser, ID: p.User.ID}
}

// pathVersion is the path's {version}: a positive decimal number.
func pathVersion(r *http.Request) (int, error) {
	s := r.PathValue("version")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || strconv.Itoa(n) != s {
		return 0, errs.New(errs.NotFound, "no such version: a version is a positive decimal number")
	}
	return n, nil
}

// listIdentities lists the org's identities.
func (s *Server) listIdentities(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.cfg.Keys.Identities(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	out := make([]identityJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, identityOf(id))
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"identities": out})
	return nil
}

// identityRequest creates an identity.
type identityRequest struct {
	// Name is the name seals show, e.g. "Jane Doe, P.E. 12345, Texas".
	Name string `json:"name"`
}

// createIdentity creates an identity of the caller in the org: the owner
// is always the caller, and custody chooses the ID (identity IDs are
// unique across orgs, so one of the caller's choosing would tell whether
// another org uses it).
func (s *Server) createIdentity(w http.ResponseWriter, r *http.Request) error {
	var req identityRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, _ := principal(r)
	id, err := s.cfg.Keys.CreateIdentity(r.Context(), actorOf(r), custody.IdentitySpec{Org: r.PathValue("org"), Owner: p.User.ID, Name: req.Name})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/orgs/"+id.OrgID+"/identities/"+id.ID)
	writeJSON(w, "application/json", http.StatusCreated, identityOf(id))
	return nil
}

// showIdentity shows an identity and its versions, checked against the
// audit trail.
func (s *Server) showIdentity(w http.ResponseWriter, r *http.Request) error {
	info, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), r.PathValue("identity"))
	if err != nil {
		return err
	}
	out := identityOf(info.Identity)
	out.Versions = info.Versions
	if out.Versions == nil {
		out.Versions = []custody.VersionInfo{}
	}
	writeJSON(w, "application/json", http.StatusOK, out)
	return nil
}

// listVersions lists an identity's versions, checked against the trail.
func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	info, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), r.PathValue("identity"))
	if err != nil {
		return err
	}
	vs := info.Versions
	if vs == nil {
		vs = []custody.VersionInfo{}
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"versions": vs})
	return nil
}

// showVersion shows a version with its history, checked against the
// trail.
func (s *Server) showVersion(w http.ResponseWriter, r *http.Request) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	v, err := s.cfg.Keys.CheckedVersion(r.Context(), actorOf(r), r.PathValue("identity"), n)
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, v)
	return nil
}

// subjectJSON is a CSR's subject.
type subjectJSON struct {
	CommonName         string `json:"common_name"`
	Organization       string `json:"organization"`
	OrganizationalUnit string `json:"organizational_unit"`
	Country            string `json:"country"`
	Province           string `json:"province"`
	Locality           string `json:"locality"`
}

func (sj subjectJSON) name() pkix.Name {
	n := pkix.Name{CommonName: sj.CommonName}
	for _, p := range []struct {
		v   string
		dst *[]string
	}{{sj.Organization, &n.Organization}, {sj.OrganizationalUnit, &n.OrganizationalUnit}, {sj.Country, &n.Country},
		{sj.Province, &n.Province}, {sj.Locality, &n.Locality}} {
		if p.v != "" {
			*p.dst = []string{p.v}
		}
	}
	return n
}

// generateRequest asks for a key generated in custody.
type generateRequest struct {
	// Algorithm is a key policy name; "" means the policy default.
	Algorithm string      `json:"algorithm"`
	Subject   subjectJSON `json:"subject"`
}

// newVersionJSON answers the creation of a pending version: the version
// and its CSR (PEM) for the CA.
type newVersionJSON struct {
	Version custody.VersionInfo `json:"version"`
	CSR     string              `json:"csr,omitempty"`
}

// created answers a new version.
func created(w http.ResponseWriter, v custody.VersionInfo, csr []byte) {
	out := newVersionJSON{Version: v}
	if csr != nil {
		out.CSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/orgs/%s/identities/%s/versions/%d", v.Org, v.Identity, v.Version))
	writeJSON(w, "application/json", http.StatusCreated, out)
}

// generateKey generates a key in custody for a new pending version and
// answers with its CSR.
func (s *Server) generateKey(w http.ResponseWriter, r *http.Request) error {
	var req generateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	v, csr, err := s.cfg.Keys.GenerateKey(r.Context(), actorOf(r), r.PathValue("identity"), req.Algorithm, req.Subject.name())
	if err != nil {
		return err
	}
	created(w, v, csr)
	return nil
}

// externalRequest registers a key held in the customer's KMS or HSM.
type externalRequest struct {
	KeyURI  string      `json:"key_uri"`
	Subject subjectJSON `json:"subject"`
}

// errNoExternal refuses external keys on a server that accepts none.
var errNoExternal = errs.New(errs.Forbidden, "this server accepts no external keys over the API")

// checkExternalURI refuses a key URI the API does not accept: a scheme
// the server's operator has not allowed (Config.ExternalKeySchemes),
// pkcs11 always (its module path and PIN source name files on the server),
// and an endpoint override (it would aim the server's signed KMS requests
// at a host of the caller's choosing).
func (s *Server) checkExternalURI(raw string) error {
	u, err := signer.ParseURI(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "pkcs11":
		return fmt.Errorf("%w: pkcs11 keys name a module and a PIN file on the server; register them with sealkeep identity key on the data directory", errNoExternal)
	case !slices.Contains(s.cfg.ExternalKeySchemes, u.Scheme):
		return fmt.Errorf("%w: scheme %q is not enabled (sealkeep serve --external-key-schemes)", errNoExternal, u.Scheme)
	case u.Query.Has("endpoint"):
		return fmt.Errorf("%w: a key URI with an endpoint override is not accepted over the API", errNoExternal)
	}
	return nil
}

// externalKey registers a key held in the customer's KMS or HSM as a new
// pending version and answers with the CSR the provider signed.
func (s *Server) externalKey(w http.ResponseWriter, r *http.Request) error {
	var req externalRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.checkExternalURI(req.KeyURI); err != nil {
		return err
	}
	v, csr, err := s.cfg.Keys.ExternalKey(r.Context(), actorOf(r), r.PathValue("identity"), req.KeyURI, req.Subject.name())
	if err != nil {
		return err
	}
	created(w, v, csr)
	return nil
}

// importKey imports a PKCS#12 or PEM file (the multipart part "file") with
// its passphrase (the part "passphrase") as a new ready version. The file
// and the passphrase are read into memory only, never spooled to disk, and
// wiped once custody has encrypted the key.
func (s *Server) importKey(w http.ResponseWriter, r *http.Request) error {
	file, pass, err := readImport(r)
	defer clear(file)
	defer pass.Zero()
	if err != nil {
		return err
	}
	var passFn func() ([]byte, error)
	if pass.Len() > 0 {
		passFn = func() ([]byte, error) { return bytes.Clone(pass.Bytes()), nil } // keyfile wipes its copy
	}
	v, err := s.cfg.Keys.Import(r.Context(), actorOf(r), r.PathValue("identity"), file, passFn)
	if err != nil {
		return err
	}
	created(w, v, nil)
	return nil
}

// readImport reads the import form: exactly one "file" part and at most
// one "passphrase" part.
func readImport(r *http.Request) ([]byte, *redact.Secret, error) {
	pass := redact.NewSecret(nil)
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, pass, errs.New(errs.Invalid, `send multipart/form-data with the parts "file" and "passphrase"`)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var file []byte
	seen := map[string]bool{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return file, pass, formError(err)
		}
		name := p.FormName()
		if (name != "file" && name != "passphrase") || seen[name] {
			return file, pass, errs.New(errs.Invalid, fmt.Sprintf("the form may hold one \"file\" and one \"passphrase\" part, not %.64q", name))
		}
		seen[name] = true
		b, err := io.ReadAll(io.LimitReader(p, maxKeyFile+1))
		if err != nil {
			clear(b)
			return file, pass, formError(err)
		}
		if len(b) > maxKeyFile {
			clear(b)
			return file, pass, errs.New(errs.TooLarge, fmt.Sprintf("the %s part is over %d bytes", name, maxKeyFile))
		}
		if name == "file" {
			file = b
			continue
		}
		pass = redact.NewSecret(bytes.TrimRight(b, "\r\n"))
	}
	if !seen["file"] {
		return nil, pass, errs.New(errs.Invalid, `the form has no "file" part`)
	}
	return file, pass, nil
}

// downloadCSR answers a version's CSR as PEM, after checking the
// identity's versions against the trail.
func (s *Server) downloadCSR(w http.ResponseWriter, r *http.Request) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), r.PathValue("identity")); err != nil {
		return err
	}
	csr, err := s.cfg.Keys.CSR(r.Context(), r.PathValue("identity"), n)
	if err != nil {
		return err
	}
	writePEM(w, "application/x-pem-file", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	return nil
}

// downloadCertificate answers a version's certificate and chain as PEM,
// leaf first (RFC 8555's application/pem-certificate-chain), after
// checking the identity's versions against the trail.
func (s *Server) downloadCertificate(w http.ResponseWriter, r *http.Request) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Keys.CheckedIdentity(r.Context(), actorOf(r), r.PathValue("identity")); err != nil {
		return err
	}
	leaf, chain, err := s.cfg.Keys.Certificate(r.Context(), r.PathValue("identity"), n)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, der := range append([][]byte{leaf}, chain...) {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	writePEM(w, "application/pem-certificate-chain", b.Bytes())
	return nil
}

func writePEM(w http.ResponseWriter, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// uploadCertificate attaches the certificate issued for a pending version:
// the body is PEM, the leaf first and then its chain (issuer first).
func (s *Server) uploadCertificate(w http.ResponseWriter, r *http.Request) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/pem-certificate-chain" {
		return errs.New(errs.Invalid, "send the certificate as application/pem-certificate-chain: PEM, the leaf first, then its chain")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return formError(err)
	}
	certs, err := custody.DecodeCertificates(data)
	if err != nil {
		return err
	}
	v, err := s.cfg.Keys.UploadCertificate(r.Context(), actorOf(r), r.PathValue("identity"), n, certs[0], certs[1:])
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, v)
	return nil
}

// activateRequest activates a version with the owner's step-up.
type activateRequest struct {
	// Code is the identity owner's fresh TOTP code.
	Code redact.Secret `json:"code"`
	// Reason is recorded; required for a rotation.
	Reason string `json:"reason"`
	// Thumbprint, if given, is the certificate SHA-256 the caller saw and
	// approves: another one is a conflict.
	Thumbprint string `json:"thumbprint"`
}

// ActivationAction is the step-up action of activating version n of
// identity in org whose certificate's SHA-256 is thumbprint (hex): what
// the owner's code approves, and nothing else.
func ActivationAction(org, identity string, n int, thumbprint string) auth.Action {
	return auth.Action{Name: string(audit.ActionVersionActivate), Fields: []string{org, identity, strconv.Itoa(n), thumbprint}}
}

// activate makes a ready version the identity's active one (a rotation if
// another is active) on the owner's fresh TOTP code, which approves this
// activation only (org, identity, version, certificate thumbprint) and is
// accepted in the activation's transaction: a replay is 401 and audited,
// and the entry records the step-up's evidence and the request ID.
func (s *Server) activate(w http.ResponseWriter, r *http.Request) error {
	var req activateRequest
	defer req.Code.Zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	org, identity, actor := r.PathValue("org"), r.PathValue("identity"), actorOf(r)
	cur, err := s.cfg.Keys.CheckedVersion(r.Context(), actor, identity, n)
	if err != nil {
		return err
	}
	if cur.Thumbprint == "" {
		return fmt.Errorf("identity %q version %d has no certificate yet (%s); upload it first: %w", identity, n, cur.Status, audit.ErrTransition)
	}
	if req.Thumbprint != "" && !strings.EqualFold(req.Thumbprint, cur.Thumbprint) {
		return errs.New(errs.Conflict, fmt.Sprintf("identity %q version %d holds the certificate %s, not the one the request approves", identity, n, cur.Thumbprint))
	}
	if req.Code.Len() == 0 {
		return fmt.Errorf("%w: activating a version needs the identity owner's fresh TOTP code (\"code\")", auth.ErrMFARequired)
	}
	su, err := s.cfg.Auth.CheckStepUp(r.Context(), actor.ID, &req.Code, ActivationAction(org, identity, n, cur.Thumbprint), remoteHost(r.RemoteAddr))
	if err != nil {
		return err
	}
	act := custody.Activation{Reason: req.Reason, Thumbprint: cur.Thumbprint, Details: s.stepUpDetails(r.Context(), su), Commit: s.commitStepUp(su)}
	policy, err := s.cfg.Keys.RotationPolicy(r.Context(), org)
	if err != nil {
		return err
	}
	if policy.ApprovalRequired {
		// The org requires a second owner: the sealer's step-up makes a
		// request, and only an owner's approval activates.
		req, err := s.cfg.Keys.RequestActivation(r.Context(), actor, identity, n, act)
		if err != nil {
			return s.cfg.Auth.StepUpFailed(r.Context(), su, err)
		}
		writeJSON(w, "application/json", http.StatusAccepted, activationRequestOf(req))
		return nil
	}
	v, err := s.cfg.Keys.ActivateWith(r.Context(), actor, identity, n, act)
	if err != nil {
		return s.cfg.Auth.StepUpFailed(r.Context(), su, err)
	}
	writeJSON(w, "application/json", http.StatusOK, v)
	return nil
}

// revokeRequest revokes a version.
type revokeRequest struct {
	Reason string `json:"reason"`
}

// revoke revokes a version; the reason is required.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	var req revokeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	v, err := s.cfg.Keys.Revoke(r.Context(), actorOf(r), r.PathValue("identity"), n, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, v)
	return nil
}

// destroy crypto-erases a version's key.
func (s *Server) destroy(w http.ResponseWriter, r *http.Request) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	v, err := s.cfg.Keys.Destroy(r.Context(), actorOf(r), r.PathValue("identity"), n)
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusOK, v)
	return nil
}
