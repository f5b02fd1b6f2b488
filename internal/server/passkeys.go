package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/errs"
	"sealkeep/internal/intent"
	"sealkeep/internal/passkey"
	"sealkeep/internal/redact"
	"sealkeep/internal/seal"
	"sealkeep/internal/store"
)

// maxCredentialBody bounds a WebAuthn ceremony's answer (a credential
// with its attestation object, which may carry a certificate chain).
const maxCredentialBody = 256 << 10

// passkeyRoutes are the caller's own passkeys (register, list, remove)
// and the passkey approval of a seal: its ceremony begins here, with the
// seal intent as the WebAuthn challenge, and the seal route takes the
// answer ("passkey" form part).
func (s *Server) passkeyRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/me/passkeys/registration", Access: Authenticated, Handler: s.beginPasskeyRegistration},
		{Method: "POST", Path: "/api/v1/me/passkeys", Access: Authenticated, MaxBody: maxCredentialBody, Handler: s.finishPasskeyRegistration},
		{Method: "GET", Path: "/api/v1/me/passkeys", Access: Authenticated, Handler: s.listPasskeys},
		{Method: "DELETE", Path: "/api/v1/me/passkeys/{credential}", Access: Authenticated, Handler: s.removePasskey},
		{Method: "POST", Path: "/api/v1/orgs/{org}/identities/{identity}/seal/passkey", Access: Authorized, Op: auth.OpSeal,
			MaxBody: 2*maxImageBytes + maxJSONBody, Handler: s.beginPasskeySeal},
	}
}

// errNoPasskeys answers a passkey route on a server without WebAuthn.
var errNoPasskeys = errs.New(errs.Unavailable, "this server has no passkey (WebAuthn) service: start it with --webauthn-rp-id and --webauthn-origin")

// passkeyService returns the passkey service, or errNoPasskeys.
func (s *Server) passkeyService() (*passkey.Service, error) {
	if s.cfg.Passkeys == nil {
		return nil, errNoPasskeys
	}
	return s.cfg.Passkeys, nil
}

// ceremonyJSON is a begun WebAuthn ceremony: its handle and the options
// for navigator.credentials.create() or get() (options.publicKey is
// PublicKeyCredentialCreationOptionsJSON or RequestOptionsJSON).
type ceremonyJSON struct {
	Ceremony string    `json:"ceremony"`
	Expires  time.Time `json:"expires_at"`
	Options  any       `json:"options"`
	// Intent is, for a seal, what the passkey will sign the digest of.
	Intent *intentJSON `json:"intent,omitempty"`
}

// intentJSON is a seal intent as the page shows it before the user
// approves it: its SHA-256 is the WebAuthn challenge.
type intentJSON struct {
	SHA256            string            `json:"sha256"`
	Org               string            `json:"org"`
	User              string            `json:"user"`
	Identity          string            `json:"identity"`
	Version           int               `json:"version"`
	CertificateSHA256 string            `json:"certificate_sha256"`
	DocumentSHA256    string            `json:"document_sha256"`
	Options           map[string]string `json:"options"`
	Nonce             string            `json:"nonce"`
	Expires           time.Time         `json:"expires_at"`
	// Canonical is the canonical encoding (base64url) whose SHA-256 is the
	// challenge, for a page or client that checks it.
	Canonical string `json:"canonical"`
}

func intentOf(in intent.Intent) *intentJSON {
	d := in.Digest()
	opts := in.Options
	if opts == nil {
		opts = map[string]string{}
	}
	return &intentJSON{SHA256: hex.EncodeToString(d[:]), Org: in.Org, User: in.User, Identity: in.Identity, Version: in.Version,
		CertificateSHA256: hex.EncodeToString(in.Thumbprint[:]), DocumentSHA256: hex.EncodeToString(in.DocumentSHA256[:]),
		Options: opts, Nonce: hex.EncodeToString(in.Nonce[:]), Expires: in.Expires, Canonical: base64.RawURLEncoding.EncodeToString(in.Canonical())}
}

// passkeyJSON is a registered passkey.
type passkeyJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	SignCount      uint32     `json:"sign_count"`
	BackupEligible bool       `json:"backup_eligible"`
	BackupState    bool       `json:"backup_state"`
	AAGUID         string     `json:"aaguid"`
	Attestation    string     `json:"attestation"`
	Transports     []string   `json:"transports"`
	RegisteredSeq  uint64     `json:"registered_seq,omitempty"`
}

func passkeyOf(c passkey.Credential) passkeyJSON {
	out := passkeyJSON{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, CreatedAt: c.CreatedAt, SignCount: c.SignCount,
		BackupEligible: c.BackupEligible, BackupState: c.BackupState, AAGUID: hex.EncodeToString(c.AAGUID),
		Attestation: c.Attestation, Transports: c.Transports, RegisteredSeq: c.RegisteredSeq}
	if out.Transports == nil {
		out.Transports = []string{}
	}
	if !c.LastUsedAt.IsZero() {
		t := c.LastUsedAt
		out.LastUsedAt = &t
	}
	return out
}

// beginPasskeyRegistration starts registering a passkey of the caller.
func (s *Server) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.passkeyService()
	if err != nil {
		return err
	}
	p, _ := principal(r)
	b, err := svc.BeginRegistration(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, "application/json", http.StatusCreated, ceremonyJSON{Ceremony: b.Ceremony, Expires: b.Expires, Options: b.Options})
	return nil
}

// registrationJSON finishes a registration: the ceremony, the name, the
// caller's current TOTP code approving exactly this credential, and the
// browser's answer (RegistrationResponseJSON, credential.toJSON()).
type registrationJSON struct {
	Ceremony   string          `json:"ceremony"`
	Name       string          `json:"name"`
	Code       redact.Secret   `json:"code"`
	Credential json.RawMessage `json:"credential"`
}

// finishPasskeyRegistration verifies and records a new passkey of the
// caller, approved by the account's TOTP code: a passkey approves seals,
// so adding one takes the second factor the account already has (a
// stolen session alone cannot add one).
func (s *Server) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.passkeyService()
	if err != nil {
		return err
	}
	p, _ := principal(r)
	var req registrationJSON
	defer req.Code.Zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Code.Len() == 0 {
		return fmt.Errorf("%w: adding a passkey needs your current TOTP code (\"code\")", auth.ErrMFARequired)
	}
	n, err := svc.CheckRegistration(r.Context(), p.User.ID, req.Ceremony, req.Name, req.Credential)
	if err != nil {
		return err
	}
	su, err := s.cfg.Auth.CheckStepUp(r.Context(), p.User.ID, &req.Code,
		auth.Action{Name: string(audit.ActionPasskeyRegister), Fields: n.StepUpFields()}, remoteHost(r.RemoteAddr))
	if err != nil {
		return s.stepUpFailed(err)
	}
	if err := svc.CommitRegistration(r.Context(), n, totpStepUp{svc: s.cfg.Auth, su: su}); err != nil {
		return s.stepUpFailed(err)
	}
	list, err := svc.Credentials(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	for _, c := range list {
		if string(c.ID) == string(n.Credential.ID) {
			writeJSON(w, "application/json", http.StatusCreated, passkeyOf(c))
			return nil
		}
	}
	return errors.New("the registered passkey is not listed")
}

// totpStepUp is a TOTP step-up (auth.CheckStepUp) as a registration's
// passkey.StepUp.
type totpStepUp struct {
	svc *auth.Service
	su  auth.StepUp
}

func (t totpStepUp) Details() map[string]string { return t.su.Details() }
func (t totpStepUp) Commit(tx store.Tx) error   { return t.svc.CommitStepUp(tx, t.su) }
func (t totpStepUp) Failed(ctx context.Context, err error) error {
	return t.svc.StepUpFailed(ctx, t.su, err)
}

// listPasskeys lists the caller's passkeys.
func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.passkeyService()
	if err != nil {
		return err
	}
	p, _ := principal(r)
	list, err := svc.Credentials(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := make([]passkeyJSON, 0, len(list))
	for _, c := range list {
		out = append(out, passkeyOf(c))
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"passkeys": out})
	return nil
}

// removePasskey removes one of the caller's passkeys.
func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.passkeyService()
	if err != nil {
		return err
	}
	p, _ := principal(r)
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("credential"))
	if err != nil || len(id) == 0 {
		return fmt.Errorf("passkey: %w", store.ErrNotFound)
	}
	if err := svc.RemoveCredential(r.Context(), p.User.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passkeySealJSON asks to begin a passkey approval of a seal: the
// document's SHA-256 and the options (and image) the seal request will
// send.
type passkeySealJSON struct {
	DocumentSHA256 string          `json:"document_sha256"`
	Options        sealOptionsJSON `json:"options"`
	// Image is a visible seal's image, base64.
	Image []byte `json:"image,omitempty"`
}

// beginPasskeySeal computes the seal intent, as the seal route does for a
// TOTP code, and begins a WebAuthn ceremony whose challenge is its
// SHA-256. The seal route then seals exactly that intent on the
// passkey's answer.
func (s *Server) beginPasskeySeal(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.passkeyService()
	if err != nil {
		return err
	}
	if s.cfg.Keys == nil {
		return errs.New(errs.Unavailable, "this server has no custody service")
	}
	p, _ := principal(r)
	var req passkeySealJSON
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	doc, err := hex.DecodeString(req.DocumentSHA256)
	if err != nil || len(doc) != 32 || hex.EncodeToString(doc) != req.DocumentSHA256 {
		return errs.New(errs.Invalid, "document_sha256 must be the document's SHA-256 as 64 lower-case hex digits")
	}
	if len(req.Image) > maxImageBytes {
		return errs.New(errs.TooLarge, fmt.Sprintf("the image is over its limit of %d bytes", maxImageBytes))
	}
	opts, err := s.sealOptions(&sealForm{options: req.Options, image: req.Image})
	if err != nil {
		return err
	}
	key, err := s.cfg.Keys.ActiveKey(r.Context(), audit.Actor{Kind: audit.ActorUser, ID: p.User.ID}, r.PathValue("identity"))
	if err != nil {
		return err
	}
	in, err := seal.IntentFor(key, p.User.ID, [32]byte(doc), opts, s.now(), intent.MaxLifetime)
	if err != nil {
		return errs.With(errs.Invalid, err)
	}
	b, err := svc.BeginSeal(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, "application/json", http.StatusCreated, ceremonyJSON{Ceremony: b.Ceremony, Expires: b.Expires, Options: b.Options, Intent: intentOf(in)})
	return nil
}

// passkeyAnswerJSON is the seal form's "passkey" part: the ceremony begun
// by POST .../seal/passkey and the browser's answer
// (AuthenticationResponseJSON, credential.toJSON()).
type passkeyAnswerJSON struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// passkeyApproval turns a seal form's passkey answer into the seal's
// approval: [seal.CheckPasskey] for user. The seal route calls it for a
// request with a "passkey" part instead of a "code".
func (s *Server) passkeyApproval(ctx context.Context, user string, answer []byte) (seal.Approval, error) {
	svc, err := s.passkeyService()
	if err != nil {
		return nil, err
	}
	var a passkeyAnswerJSON
	if err := decodeStrict(answer, &a); err != nil {
		return nil, errs.New(errs.Invalid, "the passkey part is not valid: "+err.Error())
	}
	return seal.CheckPasskey(ctx, svc, user, a.Ceremony, a.Credential)
}

// decodeStrict reads one JSON value from b into v: unknown members and
// anything after the value are refused.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}
