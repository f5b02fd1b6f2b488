package server

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/errs"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// accountRoutes manage accounts: the caller's own MFA and password,
// activation with an invitation, organizations and their members.
//
// Accounts made here get no password from their creator: the answer that
// makes one holds a one-time invitation token for its person, who
// redeems it with POST /api/v1/activation (see auth.Service.AddMember).
func (s *Server) accountRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/me/totp", Access: Authenticated, MaxBody: maxJSONBody, Handler: s.beginTOTP},
		{Method: "POST", Path: "/api/v1/me/totp/confirm", Access: Authenticated, MaxBody: maxJSONBody, Handler: s.confirmTOTP},
		{Method: "POST", Path: "/api/v1/me/totp/reset", Access: Authenticated, MaxBody: maxJSONBody, Handler: s.resetTOTP},
		{Method: "POST", Path: "/api/v1/me/recovery-codes", Access: Authenticated, MaxBody: maxJSONBody, Handler: s.newRecoveryCodes},
		{Method: "POST", Path: "/api/v1/me/password", Access: Authenticated, MaxBody: maxJSONBody, Handler: s.changePassword},
		{Method: "POST", Path: "/api/v1/activation", Access: Public, MaxBody: maxJSONBody, Handler: s.activateAccount},
		{Method: "GET", Path: "/api/v1/orgs", Access: Authenticated, Handler: s.listOrgs},
		{Method: "POST", Path: "/api/v1/orgs", Access: Authorized, Op: auth.OpOrgCreate, MaxBody: maxJSONBody, Handler: s.createOrg},
		{Method: "POST", Path: "/api/v1/orgs/{org}/first-owner", Access: Authorized, Op: auth.OpOrgFirstOwner, MaxBody: maxJSONBody, Handler: s.firstOwner},
		{Method: "POST", Path: "/api/v1/orgs/{org}/first-owner/invitation", Access: Authorized, Op: auth.OpOrgFirstOwner, MaxBody: maxJSONBody, Handler: s.reinviteFirstOwner},
		{Method: "GET", Path: "/api/v1/orgs/{org}/members", Access: Authorized, Op: auth.OpMembersRead, Handler: s.listMembers},
		{Method: "POST", Path: "/api/v1/orgs/{org}/members", Access: Authorized, Op: auth.OpMembersManage, MaxBody: maxJSONBody, Handler: s.addMember},
		{Method: "PUT", Path: "/api/v1/orgs/{org}/members/{login}", Access: Authorized, Op: auth.OpMembersManage, MaxBody: maxJSONBody, Handler: s.setRole},
		{Method: "DELETE", Path: "/api/v1/orgs/{org}/members/{login}", Access: Authorized, Op: auth.OpMembersManage, Handler: s.removeMember},
		{Method: "POST", Path: "/api/v1/orgs/{org}/members/{login}/invitation", Access: Authorized, Op: auth.OpMembersManage, Handler: s.reinviteMember},
	}
}

// noStore marks an answer that holds a secret shown once.
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// ---- MFA and password

// passwordRequest re-proves the caller's password.
type passwordRequest struct {
	Password redact.Secret `json:"password"`
}

// totpEnrolmentJSON is what an authenticator app needs: the otpauth URI
// and a QR code of it (PNG, base64 in JSON). Both hold the TOTP secret;
// this answer is the only place it ever appears.
type totpEnrolmentJSON struct {
	OTPAuthURI string `json:"otpauth_uri"`
	QRPNG      []byte `json:"qr_png"`
}

// beginTOTP starts the caller's TOTP enrolment, after checking the
// caller's password again: a stolen token or session alone cannot bind
// the account to someone else's authenticator.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req passwordRequest
	defer req.Password.Zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Password.Len() == 0 {
		return errs.New(errs.Invalid, "the request has no password")
	}
	if err := s.cfg.Auth.Reauthenticate(r.Context(), p.User.ID, &req.Password, remoteHost(r.RemoteAddr)); err != nil {
		return err
	}
	e, err := s.cfg.Auth.BeginTOTP(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	defer e.URI.Zero()
	defer e.QRPNG.Zero()
	noStore(w)
	writeJSON(w, "application/json", http.StatusCreated, totpEnrolmentJSON{OTPAuthURI: string(e.URI.Bytes()), QRPNG: e.QRPNG.Bytes()})
	return nil
}

// codeRequest carries a TOTP code (or, where allowed, a recovery code).
type codeRequest struct {
	Code redact.Secret `json:"code"`
}

// recoveryCodesJSON holds new recovery codes, shown once.
type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// readCode decodes a codeRequest; the caller zeroes it.
func readCode(r *http.Request, req *codeRequest) error {
	if err := decodeJSON(r, req); err != nil {
		return err
	}
	if req.Code.Len() == 0 {
		return errs.New(errs.Invalid, "the request has no code")
	}
	return nil
}

// writeRecoveryCodes answers new recovery codes and zeroes them.
func writeRecoveryCodes(w http.ResponseWriter, status int, codes []*redact.Secret) {
	out := recoveryCodesJSON{RecoveryCodes: make([]string, 0, len(codes))}
	for _, c := range codes {
		out.RecoveryCodes = append(out.RecoveryCodes, string(c.Bytes()))
		c.Zero()
	}
	noStore(w)
	writeJSON(w, "application/json", status, out)
}

// confirmTOTP completes the caller's enrolment with a first code and
// answers the recovery codes.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req codeRequest
	defer req.Code.Zero()
	if err := readCode(r, &req); err != nil {
		return err
	}
	codes, err := s.cfg.Auth.ConfirmTOTP(r.Context(), p.User.ID, &req.Code, remoteHost(r.RemoteAddr))
	if err != nil {
		return err
	}
	writeRecoveryCodes(w, http.StatusOK, codes)
	return nil
}

// resetTOTP removes the caller's TOTP enrolment, proven by a current
// code or a recovery code.
func (s *Server) resetTOTP(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req codeRequest
	defer req.Code.Zero()
	if err := readCode(r, &req); err != nil {
		return err
	}
	if err := s.cfg.Auth.ResetTOTP(r.Context(), p.User.ID, &req.Code, remoteHost(r.RemoteAddr)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// newRecoveryCodes replaces the caller's recovery codes, proven by a
// current TOTP code.
func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req codeRequest
	defer req.Code.Zero()
	if err := readCode(r, &req); err != nil {
		return err
	}
	codes, err := s.cfg.Auth.NewRecoveryCodes(r.Context(), p.User.ID, &req.Code, remoteHost(r.RemoteAddr))
	if err != nil {
		return err
	}
	writeRecoveryCodes(w, http.StatusCreated, codes)
	return nil
}

// passwordChange replaces the caller's password.
type passwordChange struct {
	OldPassword redact.Secret `json:"old_password"`
	NewPassword redact.Secret `json:"new_password"`
}

// changePassword replaces the caller's password and ends every browser
// session of the account (a session caller's cookie is cleared); API
// tokens stay valid.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req passwordChange
	defer req.OldPassword.Zero()
	defer req.NewPassword.Zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.cfg.Auth.ChangePassword(r.Context(), p.User.ID, &req.OldPassword, &req.NewPassword, remoteHost(r.RemoteAddr)); err != nil {
		return err
	}
	if p.Session != nil {
		clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// activationRequest redeems an invitation for the first password.
type activationRequest struct {
	Invitation redact.Secret `json:"invitation"`
	Password   redact.Secret `json:"password"`
}

// activateAccount redeems an invitation: the account gets its first password
// and the person signs in with it.
func (s *Server) activateAccount(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Auth == nil {
		return errNoAuth
	}
	var req activationRequest
	defer req.Invitation.Zero()
	defer req.Password.Zero()
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.cfg.Auth.Activate(r.Context(), &req.Invitation, &req.Password)
	if err != nil {
		return err
	}
	stateOf(r.Context()).user = u.ID
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"user": userOf(u)})
	return nil
}

// ---- organizations

// orgItemJSON is an organization in a listing; Role is the caller's
// (absent for the operator, who is a member of none).
type orgItemJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// errNoCustody answers an organization route on a server without the
// custody service.
var errNoCustody = errs.New(errs.Unavailable, "this server has no custody service")

// listOrgs lists the organizations the caller is a member of, with the
// role; the operator sees every organization, by ID and name only.
func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Keys == nil {
		return errNoCustody
	}
	p, _ := principal(r)
	orgs, err := s.cfg.Keys.Orgs(r.Context())
	if err != nil {
		return err
	}
	out := make([]orgItemJSON, 0, len(orgs))
	if p.User.Operator {
		for _, o := range orgs {
			out = append(out, orgItemJSON{ID: o.ID, Name: o.Name})
		}
	} else {
		ms, err := s.cfg.Auth.Memberships(r.Context(), p.User.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			i := slices.IndexFunc(orgs, func(o store.Org) bool { return o.ID == m.OrgID })
			if i < 0 {
				continue // created meanwhile: the next listing has it
			}
			out = append(out, orgItemJSON{ID: m.OrgID, Name: orgs[i].Name, Role: m.Role})
		}
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"orgs": out})
	return nil
}

// orgCreate names a new organization.
type orgCreate struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// orgJSON is a created organization.
type orgJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// createOrg creates an organization (the operator only): its audit chain
// and first data key. It has no owner yet: POST .../first-owner.
func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Keys == nil {
		return errNoCustody
	}
	p, _ := principal(r)
	var req orgCreate
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	o, err := s.cfg.Keys.CreateOrg(r.Context(), audit.Actor{Kind: audit.ActorUser, ID: p.User.ID}, req.ID, req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, "application/json", http.StatusCreated, orgJSON{ID: o.ID, Name: o.Name, CreatedAt: o.CreatedAt.UTC()})
	return nil
}

// ---- members

// memberJSON is a member as the API shows it. Pending says the account
// was never activated; InvitationExpiresAt is then when its invitation
// ends.
type memberJSON struct {
	User                userJSON   `json:"user"`
	Role                string     `json:"role"`
	Since               time.Time  `json:"since"`
	Pending             bool       `json:"pending"`
	InvitationExpiresAt *time.Time `json:"invitation_expires_at,omitempty"`
}

func memberOf(m auth.Member) memberJSON {
	out := memberJSON{User: userOf(m.User), Role: string(m.Role), Since: m.Since.UTC(), Pending: m.Pending}
	if m.Pending {
		t := m.InvitationExpires.UTC()
		out.InvitationExpiresAt = &t
	}
	return out
}

// invitationJSON is an invitation token, shown once, to hand to the
// account's person.
type invitationJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// memberAddedJSON answers a new member; Invitation is set for a new
// account.
type memberAddedJSON struct {
	Member     memberJSON      `json:"member"`
	Invitation *invitationJSON `json:"invitation,omitempty"`
}

// memberAdd names a member to add: a new account (NewAccount) with an
// invitation, or an existing login.
type memberAdd struct {
	Login      string `json:"login"`
	Role       string `json:"role"`
	NewAccount bool   `json:"new_account"`
}

// firstOwnerRequest names an org's first owner.
type firstOwnerRequest struct {
	Login      string `json:"login"`
	NewAccount bool   `json:"new_account"`
}

// writeInvitation answers an invitation and zeroes it.
func writeInvitation(w http.ResponseWriter, inv *auth.Invitation) {
	defer inv.Token.Zero()
	noStore(w)
	writeJSON(w, "application/json", http.StatusCreated, invitationJSON{Token: string(inv.Token.Bytes()), ExpiresAt: inv.ExpiresAt.UTC()})
}

// addMember adds a member (owners): a new account with an invitation, or
// an existing login.
func (s *Server) addMember(w http.ResponseWriter, r *http.Request) error {
	var req memberAdd
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	return s.add(w, r, req)
}

// firstOwner makes the first owner of an org that has none (the
// operator): a new account with an invitation, or an existing login.
func (s *Server) firstOwner(w http.ResponseWriter, r *http.Request) error {
	var req firstOwnerRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	return s.add(w, r, memberAdd{Login: req.Login, Role: string(auth.RoleOwner), NewAccount: req.NewAccount})
}

// add adds a member of the path's org and answers it.
func (s *Server) add(w http.ResponseWriter, r *http.Request, req memberAdd) error {
	p, _ := principal(r)
	m, inv, err := s.cfg.Auth.AddMember(r.Context(), p.User.ID, r.PathValue("org"), req.Login, auth.Role(req.Role), req.NewAccount)
	if err != nil {
		return err
	}
	out := memberAddedJSON{Member: memberOf(m)}
	if inv != nil {
		defer inv.Token.Zero()
		out.Invitation = &invitationJSON{Token: string(inv.Token.Bytes()), ExpiresAt: inv.ExpiresAt.UTC()}
		noStore(w)
	}
	writeJSON(w, "application/json", http.StatusCreated, out)
	return nil
}

// listMembers lists the org's members (owners and auditors).
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.cfg.Auth.Members(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberOf(m))
	}
	writeJSON(w, "application/json", http.StatusOK, map[string]any{"members": out})
	return nil
}

// pathMember finds the member of the path's org named by {login}. An
// unknown login and an account that is not a member are the same 404, so
// that an org's owner learns nothing of other orgs' accounts here.
func (s *Server) pathMember(r *http.Request) (auth.Member, error) {
	org, login := r.PathValue("org"), r.PathValue("login")
	ms, err := s.cfg.Auth.Members(r.Context(), org)
	if err != nil {
		return auth.Member{}, err
	}
	for _, m := range ms {
		if m.User.Login == strings.ToLower(login) {
			return m, nil
		}
	}
	return auth.Member{}, errs.New(errs.NotFound, "org "+org+" has no member with that login")
}

// roleRequest is a member's new role.
type roleRequest struct {
	Role string `json:"role"`
}

// setRole changes a member's role; the last owner cannot be demoted
// (409).
func (s *Server) setRole(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req roleRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	m, err := s.pathMember(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Auth.SetRole(r.Context(), p.User.ID, r.PathValue("org"), m.User.ID, auth.Role(req.Role)); err != nil {
		return err
	}
	m.Role = auth.Role(req.Role)
	writeJSON(w, "application/json", http.StatusOK, memberOf(m))
	return nil
}

// removeMember removes a member; the last owner stays (409).
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	m, err := s.pathMember(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Auth.RemoveMember(r.Context(), p.User.ID, r.PathValue("org"), m.User.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reinviteMember renews the invitation of a member who never activated
// (owners).
func (s *Server) reinviteMember(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	m, err := s.pathMember(r)
	if err != nil {
		return err
	}
	inv, err := s.cfg.Auth.Reinvite(r.Context(), p.User.ID, r.PathValue("org"), m.User.ID)
	if err != nil {
		return err
	}
	writeInvitation(w, inv)
	return nil
}

// reinviteFirstOwner renews the invitation of the first owner (the
// operator), while no owner of the org is active.
func (s *Server) reinviteFirstOwner(w http.ResponseWriter, r *http.Request) error {
	p, _ := principal(r)
	var req struct {
		Login string `json:"login"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.cfg.Auth.UserByLogin(r.Context(), req.Login)
	if err != nil {
		return err
	}
	inv, err := s.cfg.Auth.Reinvite(r.Context(), p.User.ID, r.PathValue("org"), u.ID)
	if err != nil {
		return err
	}
	writeInvitation(w, inv)
	return nil
}
