package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/testenv"
)

// call sends method path with body (nil: none) as login's bearer token
// and returns the status and the answer decoded into a map (problem
// details for an error).
func (w *world) call(method, path, bearer string, body any) (int, map[string]any, *http.Response) {
	w.t.Helper()
	resp, out := w.request(method, path, bearer, body)
	var m map[string]any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			w.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, out)
		}
	}
	return resp.StatusCode, m, resp
}

// want fails the test unless status is code; it returns the answer.
func (w *world) want(code int, method, path, bearer string, body any) map[string]any {
	w.t.Helper()
	status, m, _ := w.call(method, path, bearer, body)
	if status != code {
		w.t.Fatalf("%s %s: %d, want %d: %v", method, path, status, code, m)
	}
	return m
}

// entries returns the entries of chain.
func (w *world) entries(chain string) []audit.Entry {
	w.t.Helper()
	var out []audit.Entry
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(chain, 1, func(e audit.Entry) error {
			out = append(out, e)
			return nil
		})
	}))
	return out
}

// countEntries counts chain's entries with action about user ("": any).
func (w *world) countEntries(chain string, a audit.Action, user string) int {
	n := 0
	for _, e := range w.entries(chain) {
		if e.Action == a && (user == "" || e.Details[audit.DetailUser] == user) {
			n++
		}
	}
	return n
}

// verifyTrail checks every chain with the production verifier, that the
// stored accounts are the trail's, and that no entry holds a secret the
// world saw (6-digit codes apart: as digits of hashes and times they
// would match by chance).
func (w *world) verifyTrail() {
	w.t.Helper()
	w.must(w.auth.CheckAccounts(w.ctx))
	chains, err := w.custody.Chains(w.ctx)
	w.must(err)
	var hay bytes.Buffer
	for _, c := range chains {
		rep, err := w.custody.VerifyChain(w.ctx, c, nil, nil, nil)
		w.must(err)
		if !rep.OK() {
			w.t.Errorf("chain %s: %v", c, rep.Error())
		}
		for _, e := range w.entries(c) {
			e.Hash, e.PrevHash = audit.Hash{}, audit.Hash{}
			fmt.Fprintf(&hay, "%+v\n", e)
		}
	}
	for _, s := range w.secrets {
		if len(s) < 12 {
			continue
		}
		if form, found := redact.ScanForSecret(hay.Bytes(), s); found {
			w.t.Errorf("the audit trail holds a secret (%s)", form)
		}
	}
}

// secretCode is the current code of a base32 TOTP secret, registered.
func (w *world) secretCode(secret string) string {
	w.t.Helper()
	c, err := totp.GenerateCode(secret, w.clk.now())
	w.must(err)
	w.secret(c)
	return c
}

// strs returns a JSON array of strings.
func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestTOTPEnrolment: an account enrols TOTP over the API (its password
// again, the otpauth URI and a QR code of it, a first code, recovery
// codes shown once), gets new recovery codes and resets TOTP with a
// current code; replayed codes are refused and audited; the secret
// appears in the begin answer and nowhere else.
func TestTOTPEnrolment(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			op := w.users["operator"]
			tok := w.token("operator")
			const begin = "/api/v1/me/totp"

			// A stolen token alone cannot enrol: the password is checked.
			if s, p, _ := w.call("POST", begin, tok, map[string]any{"password": "not the password"}); s != 401 {
				t.Fatalf("begin with a wrong password: %d %v", s, p)
			}
			w.want(422, "POST", begin, tok, map[string]any{})
			w.want(401, "POST", begin, "", map[string]any{"password": op.password})
			first := w.want(201, "POST", begin, tok, map[string]any{"password": op.password})
			firstURI := first["otpauth_uri"].(string)
			w.secrets = append(w.secrets, []byte(firstURI))
			// Begun again before confirming: a new secret replaces it.
			s, e, resp := w.call("POST", begin, tok, map[string]any{"password": op.password})
			if s != 201 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("begin: %d %q %v", s, resp.Header.Get("Cache-Control"), e)
			}
			uri := e["otpauth_uri"].(string)
			w.secrets = append(w.secrets, []byte(uri))
			u, err := url.Parse(uri)
			w.must(err)
			secret := u.Query().Get("secret")
			w.secret(secret)
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "sealkeep" || !strings.Contains(u.Path, "operator") || len(secret) != 32 || uri == firstURI {
				t.Fatalf("otpauth URI %s", u.Redacted())
			}
			var pngBytes []byte
			w.must(json.Unmarshal(fmt.Appendf(nil, "%q", e["qr_png"]), &pngBytes))
			w.secrets = append(w.secrets, pngBytes)
			img, err := png.Decode(bytes.NewReader(pngBytes))
			if err != nil || img.Bounds().Dx() != 256 {
				t.Fatalf("QR PNG: %v", err)
			}
			// An independent QR decoder reads the URI back from the PNG.
			zbar := testenv.Tool(t, "zbarimg")
			f := filepath.Join(t.TempDir(), "qr.png")
			w.must(os.WriteFile(f, pngBytes, 0o600))
			if out, err := exec.Command(zbar, "--quiet", "--raw", f).Output(); err != nil || strings.TrimSpace(string(out)) != uri {
				t.Fatalf("zbarimg: %v, decoded %d bytes, want the URI", err, len(out))
			}

			// The first secret's code no longer confirms; a wrong code is
			// 401; the right one answers the recovery codes once.
			oldSecret := mustQuery(t, firstURI, "secret")
			w.secret(oldSecret)
			w.want(401, "POST", begin+"/confirm", tok, map[string]any{"code": w.secretCode(oldSecret)})
			w.want(422, "POST", begin+"/confirm", tok, map[string]any{"code": ""})
			code := w.secretCode(secret)
			s, rc, resp := w.call("POST", begin+"/confirm", tok, map[string]any{"code": code})
			if s != 200 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("confirm: %d %v", s, rc)
			}
			codes := strs(rc["recovery_codes"])
			for _, c := range codes {
				w.secret(c)
			}
			if len(codes) != auth.RecoveryCodes {
				t.Fatalf("%d recovery codes", len(codes))
			}
			w.want(409, "POST", begin, tok, map[string]any{"password": op.password})
			// The confirming code cannot sign in: its step was accepted.
			login := map[string]any{"login": "operator", "password": op.password, "name": "x", "code": code}
			if s, p, _ := w.call("POST", "/api/v1/tokens", "", login); s != 401 || !strings.Contains(p["detail"].(string), "already used") {
				t.Fatalf("sign-in with the confirming code: %d %v", s, p)
			}
			if w.countEntries(audit.SystemChain, audit.ActionSecurityTOTPReplay, op.id) != 1 {
				t.Error("the replay is not audited")
			}
			// Signing in now needs a code.
			delete(login, "code")
			w.want(401, "POST", "/api/v1/tokens", "", login)

			// New recovery codes: a recovery code is not enough, a replayed
			// TOTP code neither.
			w.want(401, "POST", "/api/v1/me/recovery-codes", tok, map[string]any{"code": codes[0]})
			w.want(401, "POST", "/api/v1/me/recovery-codes", tok, map[string]any{"code": code})
			w.nextStep()
			fresh := strs(w.want(201, "POST", "/api/v1/me/recovery-codes", tok, map[string]any{"code": w.secretCode(secret)})["recovery_codes"])
			for _, c := range fresh {
				w.secret(c)
			}
			if slices.ContainsFunc(fresh, func(c string) bool { return slices.Contains(codes, c) }) {
				t.Fatal("a new recovery code repeats an old one")
			}
			login["code"] = codes[1]
			w.want(401, "POST", "/api/v1/tokens", "", login) // replaced
			login["code"] = fresh[0]
			w.want(201, "POST", "/api/v1/tokens", "", login)

			// Reset with a recovery code; then no code is needed and none
			// works for a reset.
			w.want(401, "POST", begin+"/reset", tok, map[string]any{"code": fresh[0]}) // spent at sign-in
			w.want(204, "POST", begin+"/reset", tok, map[string]any{"code": fresh[1]})
			w.want(403, "POST", begin+"/reset", tok, map[string]any{"code": w.secretCode(secret)})
			delete(login, "code")
			w.want(201, "POST", "/api/v1/tokens", "", login)

			// An enrolled member's begin is 409; its reset needs its code.
			jane := w.users["jane"]
			jt := w.token("jane")
			w.want(409, "POST", begin, jt, map[string]any{"password": jane.password})
			w.want(401, "POST", begin+"/reset", jt, map[string]any{"code": "000000"})

			sys := audit.SystemChain
			for a, n := range map[audit.Action]int{audit.ActionMFAConfirm: 1, audit.ActionMFARecoveryNew: 2, audit.ActionMFARecoveryUsed: 2, audit.ActionMFAReset: 1} {
				if got := w.countEntries(sys, a, op.id); got != n {
					t.Errorf("%d %s entries for the operator, want %d", got, a, n)
				}
			}
			// The secret never comes back: not in /me, not in a listing.
			for _, path := range []string{"/api/v1/me", "/api/v1/tokens"} {
				_, out := w.request("GET", path, tok, nil)
				if _, found := redact.ScanForSecret(out, []byte(secret)); found {
					t.Errorf("GET %s shows the TOTP secret", path)
				}
			}
			w.checkNoLeaks()
			w.verifyTrail()
		})
	}
}

func mustQuery(t *testing.T, uri, key string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(key)
}

// TestTOTPLockout: wrong codes at confirmation lock the account like
// wrong codes at sign-in (429).
func TestTOTPLockout(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	op := w.users["operator"]
	tok := w.token("operator")
	w.want(201, "POST", "/api/v1/me/totp", tok, map[string]any{"password": op.password})
	locked := false
	for range auth.DefaultLimits.AccountFailures + 1 {
		s, p, _ := w.call("POST", "/api/v1/me/totp/confirm", tok, map[string]any{"code": "000000"})
		if s == 429 {
			locked = strings.Contains(p["detail"].(string), "try again after")
			break
		}
		if s != 401 {
			t.Fatalf("a wrong code: %d %v", s, p)
		}
	}
	if !locked {
		t.Fatal("wrong codes did not lock the account")
	}
	if w.countEntries(audit.SystemChain, audit.ActionSecurityLockout, "") == 0 {
		t.Error("the lockout is not audited")
	}
	w.checkNoLeaks()
}

// TestPasswordChange: the old password is checked; the change ends every
// browser session (the caller's cookie is cleared) and keeps API tokens;
// only the new password signs in.
func TestPasswordChange(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			jane := w.users["jane"]
			tok := w.token("jane")
			b := w.session("jane")
			cookie := SessionCookie + "=" + b.cookie
			const path = "/api/v1/me/password"
			newPW := "jane's new password 6789"
			w.secret(newPW)
			w.want(401, "POST", path, tok, map[string]any{"old_password": "not her password", "new_password": newPW})
			w.want(422, "POST", path, tok, map[string]any{"old_password": jane.password, "new_password": "short"})
			w.want(422, "POST", path, tok, map[string]any{"old_password": jane.password})
			w.want(401, "POST", path, "", map[string]any{"old_password": jane.password, "new_password": newPW})
			// A session's change needs its CSRF token.
			resp, _ := w.request("POST", path, "", map[string]any{"old_password": jane.password, "new_password": newPW}, "Cookie", cookie)
			if resp.StatusCode != 403 {
				t.Fatalf("change without the CSRF token: %d", resp.StatusCode)
			}
			resp, out := w.request("POST", path, "", map[string]any{"old_password": jane.password, "new_password": newPW}, "Cookie", cookie, CSRFHeader, b.csrf)
			if resp.StatusCode != 204 {
				t.Fatalf("change: %d %s", resp.StatusCode, out)
			}
			cleared := false
			for _, c := range resp.Cookies() {
				cleared = cleared || (c.Name == SessionCookie && c.MaxAge < 0)
			}
			if !cleared {
				t.Error("the session cookie is not cleared")
			}
			if resp, _ := w.request("GET", "/api/v1/me", "", nil, "Cookie", cookie); resp.StatusCode != 401 {
				t.Errorf("the session after the change: %d", resp.StatusCode)
			}
			w.want(200, "GET", "/api/v1/me", tok, nil)
			login := map[string]any{"login": "jane", "password": jane.password, "name": "x", "code": string(w.code(jane).Bytes())}
			w.want(401, "POST", "/api/v1/tokens", "", login)
			w.nextStep()
			login["password"], login["code"] = newPW, string(w.code(jane).Bytes())
			w.want(201, "POST", "/api/v1/tokens", "", login)
			if n := w.countEntries(audit.SystemChain, audit.ActionUserPassword, jane.id); n != 1 {
				t.Errorf("%d user.password entries", n)
			}
			w.checkNoLeaks()
			w.verifyTrail()
		})
	}
}

// TestOrgs: the operator creates organizations and lists all of them by
// name; nobody else creates one; a member lists its own with its role.
func TestOrgs(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			op := w.token("operator")
			created := w.want(201, "POST", "/api/v1/orgs", op, map[string]any{"id": "initech", "name": "Initech"})
			if created["id"] != "initech" || created["name"] != "Initech" {
				t.Fatalf("created %v", created)
			}
			w.want(409, "POST", "/api/v1/orgs", op, map[string]any{"id": "initech"})
			w.want(422, "POST", "/api/v1/orgs", op, map[string]any{"id": "system"})
			w.want(422, "POST", "/api/v1/orgs", op, map[string]any{"id": "Bad Org"})
			w.want(422, "POST", "/api/v1/orgs", op, map[string]any{"id": "x", "owner": "olive"})
			for _, login := range []string{"olive", "jane", "pete", "audrey", "gina"} {
				w.want(403, "POST", "/api/v1/orgs", w.token(login), map[string]any{"id": "evil-" + login})
			}
			w.want(401, "POST", "/api/v1/orgs", "", map[string]any{"id": "anon"})

			list := func(tok string) []map[string]any {
				t.Helper()
				var out []map[string]any
				for _, o := range w.want(200, "GET", "/api/v1/orgs", tok, nil)["orgs"].([]any) {
					out = append(out, o.(map[string]any))
				}
				return out
			}
			all := list(op)
			if len(all) != 3 || all[0]["id"] != "acme" || all[2]["id"] != "initech" || all[2]["name"] != "Initech" {
				t.Fatalf("the operator's list: %v", all)
			}
			for _, o := range all {
				if len(o) != 2 {
					t.Errorf("the operator sees more than names: %v", o)
				}
			}
			if got := list(w.token("olive")); len(got) != 1 || got[0]["id"] != "acme" || got[0]["role"] != "owner" {
				t.Errorf("olive's list: %v", got)
			}
			if got := list(w.token("gus")); len(got) != 1 || got[0]["id"] != "globex" || got[0]["role"] != "sealer" {
				t.Errorf("gus's list: %v", got)
			}
			w.want(401, "GET", "/api/v1/orgs", "", nil)
			// org.create in the system chain and the new org's, by the operator.
			for _, chain := range []string{audit.SystemChain, "initech"} {
				n := 0
				for _, e := range w.entries(chain) {
					if e.Action == audit.ActionOrgCreate && e.Subject.Org == "initech" && e.Actor.ID == w.users["operator"].id {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d org.create entries for initech in %s", n, chain)
				}
			}
			w.checkNoLeaks()
			w.verifyTrail()
		})
	}
}

// invited returns the invitation token of an answer, registered.
func (w *world) invited(m map[string]any) string {
	w.t.Helper()
	inv, ok := m["invitation"].(map[string]any)
	if !ok {
		w.t.Fatalf("no invitation in %v", m)
	}
	tok := inv["token"].(string)
	w.secret(tok)
	return tok
}

// activate redeems an invitation for password over the API and registers
// the account's member for w.token.
func (w *world) activate(login, invitation, password string) {
	w.t.Helper()
	w.secret(password)
	m := w.want(200, "POST", "/api/v1/activation", "", map[string]any{"invitation": invitation, "password": password})
	u := m["user"].(map[string]any)
	if u["login"] != login {
		w.t.Fatalf("activated %v, want %s", u, login)
	}
	w.users[login] = &member{login: login, password: password, id: u["id"].(string)}
}

// TestFirstOwner: the operator makes an org's first owner as a new
// account with an invitation (no password of the operator's choosing),
// redeemed once by its person; it can make no second owner and touch no
// member of an org with an owner, and it is never a member itself.
func TestFirstOwner(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			op := w.token("operator")
			w.want(201, "POST", "/api/v1/orgs", op, map[string]any{"id": "initech"})
			w.want(201, "POST", "/api/v1/orgs", op, map[string]any{"id": "hooli"})
			fo := "/api/v1/orgs/initech/first-owner"
			// Not the operator itself, not by anyone else.
			w.want(403, "POST", fo, op, map[string]any{"login": "operator"})
			w.want(403, "POST", fo, w.token("olive"), map[string]any{"login": "bill", "new_account": true})
			w.want(403, "POST", fo, w.token("pete"), map[string]any{"login": "pete"})
			w.want(404, "POST", "/api/v1/orgs/nope/first-owner", op, map[string]any{"login": "bill", "new_account": true})
			w.want(404, "POST", fo, op, map[string]any{"login": "nobody"})
			w.want(422, "POST", fo, op, map[string]any{"login": "bill", "new_account": true, "role": "sealer"})

			status, m, resp := w.call("POST", fo, op, map[string]any{"login": "bill", "new_account": true})
			if status != 201 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("first owner: %d %v", status, m)
			}
			inv := w.invited(m)
			mem := m["member"].(map[string]any)
			if mem["role"] != "owner" || mem["pending"] != true || mem["user"].(map[string]any)["login"] != "bill" {
				t.Fatalf("the first owner: %v", mem)
			}
			// The operator may not add a second owner while the first is
			// pending, nor members.
			w.want(403, "POST", fo, op, map[string]any{"login": "mallory", "new_account": true})
			w.want(403, "POST", "/api/v1/orgs/initech/members", op, map[string]any{"login": "mallory", "role": "owner", "new_account": true})
			// The operator may renew the pending owner's invitation; the
			// old one stops working.
			m = w.want(201, "POST", fo+"/invitation", op, map[string]any{"login": "bill"})
			inv2 := m["token"].(string)
			w.secret(inv2)
			w.want(401, "POST", "/api/v1/activation", "", map[string]any{"invitation": inv, "password": "bill's own password 1"})
			w.want(422, "POST", "/api/v1/activation", "", map[string]any{"invitation": inv2, "password": "short"})
			w.want(401, "POST", "/api/v1/activation", "", map[string]any{"invitation": "ski_" + strings.Repeat("A", 43), "password": "bill's own password 1"})
			w.activate("bill", inv2, "bill's own password 1")
			// Once: a second redemption is 401.
			w.want(401, "POST", "/api/v1/activation", "", map[string]any{"invitation": inv2, "password": "mallory's password 1"})
			bill := w.token("bill")
			w.want(200, "GET", "/api/v1/orgs/initech/members", bill, nil)
			// Now the org has an active owner: the operator renews nothing
			// and makes nobody owner.
			w.want(409, "POST", fo+"/invitation", op, map[string]any{"login": "bill"})
			w.want(403, "POST", fo, op, map[string]any{"login": "gina"})
			w.want(403, "POST", "/api/v1/orgs/acme/first-owner", op, map[string]any{"login": "mallory", "new_account": true})
			// The operator reads and changes no member of an org with an owner.
			w.want(403, "GET", "/api/v1/orgs/acme/members", op, nil)
			w.want(403, "PUT", "/api/v1/orgs/acme/members/jane", op, map[string]any{"role": "owner"})
			w.want(403, "DELETE", "/api/v1/orgs/acme/members/olive", op, nil)
			w.want(403, "POST", "/api/v1/orgs/acme/members/jane/invitation", op, nil)

			// An existing login as the first owner of another org.
			m = w.want(201, "POST", "/api/v1/orgs/hooli/first-owner", op, map[string]any{"login": "gina"})
			if _, ok := m["invitation"]; ok || m["member"].(map[string]any)["pending"] != false {
				t.Errorf("an existing login's answer: %v", m)
			}
			ms, err := w.auth.Memberships(w.ctx, w.users["operator"].id)
			w.must(err)
			if len(ms) != 0 {
				t.Errorf("the operator is a member: %v", ms)
			}
			sys := audit.SystemChain
			billID := w.users["bill"].id
			if w.countEntries(sys, audit.ActionUserCreate, billID) != 1 || w.countEntries(sys, audit.ActionUserInvite, billID) != 2 ||
				w.countEntries(sys, audit.ActionUserPassword, billID) != 1 || w.countEntries("initech", audit.ActionMemberAdd, billID) != 1 {
				t.Error("the first owner's entries are not all in the trail")
			}
			for _, e := range w.entries(sys) {
				if e.Action == audit.ActionUserPassword && e.Details[audit.DetailUser] == billID && e.Details[audit.DetailReason] != "activate" {
					t.Errorf("activation audited with reason %q", e.Details[audit.DetailReason])
				}
			}
			w.checkNoLeaks()
			w.verifyTrail()
		})
	}
}

// TestMembers: owners add (a new account with an invitation, or an
// existing login), re-role and remove members; owners and auditors list
// them; sealers, preparers, another org's owner and the operator are
// refused; the last owner stays (409).
func TestMembers(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			olive, audrey, jane, pete, gina, op := w.token("olive"), w.token("audrey"), w.token("jane"), w.token("pete"), w.token("gina"), w.token("operator")
			const members = "/api/v1/orgs/acme/members"
			list := func(tok string) map[string]map[string]any {
				t.Helper()
				out := map[string]map[string]any{}
				for _, x := range w.want(200, "GET", members, tok, nil)["members"].([]any) {
					m := x.(map[string]any)
					out[m["user"].(map[string]any)["login"].(string)] = m
				}
				return out
			}
			got := list(olive)
			if len(got) != 5 || got["olive"]["role"] != "owner" || got["jane"]["role"] != "sealer" || got["audrey"]["role"] != "auditor" || got["jane"]["pending"] != false {
				t.Fatalf("members: %v", got)
			}
			if len(list(audrey)) != 5 {
				t.Error("the auditor's listing differs")
			}
			for who, tok := range map[string]string{"sealer": jane, "preparer": pete, "globex's owner": gina, "operator": op} {
				if s, p, _ := w.call("GET", members, tok, nil); s != 403 {
					t.Errorf("%s listing acme's members: %d %v", who, s, p)
				}
			}
			w.want(401, "GET", members, "", nil)

			// Adding.
			m := w.want(201, "POST", members, olive, map[string]any{"login": "Nina", "role": "sealer", "new_account": true})
			inv := w.invited(m)
			if mem := m["member"].(map[string]any); mem["pending"] != true || mem["invitation_expires_at"] == nil || mem["role"] != "sealer" {
				t.Fatalf("new member %v", mem)
			}
			w.want(201, "POST", members, olive, map[string]any{"login": "gus", "role": "auditor"})
			for _, c := range []struct {
				who  string
				tok  string
				body map[string]any
				want int
			}{
				{"a sealer managing members", jane, map[string]any{"login": "x1", "role": "sealer", "new_account": true}, 403},
				{"a preparer escalating to owner", pete, map[string]any{"login": "pete2", "role": "owner", "new_account": true}, 403},
				{"an auditor adding", audrey, map[string]any{"login": "x2", "role": "auditor", "new_account": true}, 403},
				{"globex's owner adding to acme", gina, map[string]any{"login": "x3", "role": "owner", "new_account": true}, 403},
				{"the operator adding", op, map[string]any{"login": "x4", "role": "owner", "new_account": true}, 403},
				{"the operator as a member", olive, map[string]any{"login": "operator", "role": "auditor"}, 403},
				{"a member twice", olive, map[string]any{"login": "jane", "role": "auditor"}, 409},
				{"a taken login as a new account", olive, map[string]any{"login": "jane", "role": "auditor", "new_account": true}, 409},
				{"an unknown login", olive, map[string]any{"login": "nobody", "role": "auditor"}, 404},
				{"an unknown role", olive, map[string]any{"login": "x5", "role": "admin", "new_account": true}, 422},
				{"a bad login", olive, map[string]any{"login": "bad login", "role": "auditor", "new_account": true}, 422},
			} {
				if s, p, _ := w.call("POST", members, c.tok, c.body); s != c.want {
					t.Errorf("%s: %d, want %d: %v", c.who, s, c.want, p)
				}
			}
			// A pending account stays in its org: globex's owner cannot
			// take nina in, nor renew her invitation.
			w.want(409, "POST", "/api/v1/orgs/globex/members", gina, map[string]any{"login": "nina", "role": "sealer"})
			w.want(404, "POST", "/api/v1/orgs/globex/members/nina/invitation", gina, nil)
			w.want(403, "POST", members+"/nina/invitation", gina, nil)
			m = w.want(201, "POST", members+"/nina/invitation", olive, nil)
			inv2 := m["token"].(string)
			w.secret(inv2)
			w.want(401, "POST", "/api/v1/activation", "", map[string]any{"invitation": inv, "password": "nina's password 1234"})
			w.activate("nina", inv2, "nina's password 1234")
			w.want(409, "POST", members+"/nina/invitation", olive, nil)
			if list(olive)["nina"]["pending"] != false {
				t.Error("nina is still pending")
			}
			// gus, a member of two orgs, cannot be reinvited anywhere.
			w.want(409, "POST", members+"/gus/invitation", olive, nil)

			// Roles.
			w.want(200, "PUT", members+"/jane", olive, map[string]any{"role": "auditor"})
			w.want(403, "PUT", members+"/pete", pete, map[string]any{"role": "owner"})
			w.want(403, "PUT", members+"/jane", jane, map[string]any{"role": "owner"})
			w.want(403, "PUT", members+"/jane", gina, map[string]any{"role": "sealer"})
			w.want(409, "PUT", members+"/olive", olive, map[string]any{"role": "sealer"})
			w.want(404, "PUT", members+"/nobody", olive, map[string]any{"role": "sealer"})
			w.want(404, "PUT", "/api/v1/orgs/globex/members/jane", gina, map[string]any{"role": "owner"})
			w.want(422, "PUT", members+"/jane", olive, map[string]any{"role": "admin"})
			w.want(422, "PUT", members+"/jane", olive, map[string]any{"role": "sealer", "extra": 1})
			if r := w.want(200, "PUT", members+"/JANE", olive, map[string]any{"role": "sealer"}); r["role"] != "sealer" {
				t.Errorf("role change answer %v", r)
			}

			// Removal.
			w.want(409, "DELETE", members+"/olive", olive, nil)
			w.want(403, "DELETE", members+"/jane", gina, nil)
			w.want(403, "DELETE", members+"/jane", audrey, nil)
			w.want(204, "DELETE", members+"/sam", olive, nil)
			w.want(404, "DELETE", members+"/sam", olive, nil)
			w.want(404, "DELETE", members+"/gina", olive, nil)
			// Removed: sam's token reads nothing of acme any more.
			w.want(200, "GET", "/api/v1/orgs", w.token("sam"), nil)
			if got := list(olive); got["sam"] != nil || len(got) != 6 {
				t.Errorf("after removal: %v", got)
			}

			acme := func(a audit.Action, login string) int { return w.countEntries("acme", a, w.users[login].id) }
			if acme(audit.ActionMemberAdd, "nina") != 1 || acme(audit.ActionMemberAdd, "gus") != 1 || acme(audit.ActionMemberRole, "jane") != 2 || acme(audit.ActionMemberRemove, "sam") != 1 {
				t.Error("the membership entries are not all in acme's chain")
			}
			if w.countEntries("globex", audit.ActionMemberAdd, "") != 2 {
				t.Error("globex's chain changed")
			}
			w.checkNoLeaks()
			w.verifyTrail()
		})
	}
}

// TestLastOwnerRace: two owners of acme demote or remove themselves (the
// last-owner check races) or each other (the authorization races) at
// once. One request wins; the other is 409 (it would remove the last
// owner) or 403 (its caller is no owner any more); acme always keeps
// exactly one owner.
func TestLastOwnerRace(t *testing.T) {
	for name, open := range stores(t) {
		for _, c := range []struct {
			method, target string // target "": the caller itself
			loser          int
		}{{"PUT", "", 409}, {"DELETE", "", 409}, {"PUT", "other", 403}, {"DELETE", "other", 403}} {
			t.Run(fmt.Sprintf("%s/%s/%d", name, c.method, c.loser), func(t *testing.T) {
				w := newWorld(t, open(t), Config{})
				const members = "/api/v1/orgs/acme/members"
				olive := w.token("olive")
				w.want(200, "PUT", members+"/audrey", olive, map[string]any{"role": "owner"})
				audrey := w.token("audrey")
				reqs := []struct{ path, tok string }{{members + "/olive", olive}, {members + "/audrey", audrey}}
				if c.target == "other" {
					reqs[0].path, reqs[1].path = reqs[1].path, reqs[0].path
				}
				codes := make([]int, 2)
				var wg sync.WaitGroup
				for i, rq := range reqs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var body any
						if c.method == "PUT" {
							body = map[string]any{"role": "auditor"}
						}
						resp, _ := w.request(c.method, rq.path, rq.tok, body)
						codes[i] = resp.StatusCode
					}()
				}
				wg.Wait()
				slices.Sort(codes)
				if codes[1] != c.loser || (codes[0] != 200 && codes[0] != 204) {
					t.Fatalf("statuses %v, want one success and one %d", codes, c.loser)
				}
				ms, err := w.auth.Members(w.ctx, "acme")
				w.must(err)
				owners := 0
				for _, m := range ms {
					if m.Role == auth.RoleOwner {
						owners++
					}
				}
				if owners != 1 {
					t.Fatalf("%d owners after the race", owners)
				}
				w.checkNoLeaks()
				w.verifyTrail()
			})
		}
	}
}

// TestAccountBodiesNotQuoted: malformed bodies of the account routes are
// 422, and no answer or log line quotes the secret they carried.
func TestAccountBodiesNotQuoted(t *testing.T) {
	w := newWorld(t, stores(t)["sqlite"](t), Config{})
	tok := w.token("jane")
	const pw = "secret-pw-9876543"
	w.secret(pw)
	for _, c := range []struct{ path, body string }{
		{"/api/v1/me/totp", `{"password":"` + pw + `","extra":1}`},
		{"/api/v1/me/totp", `{"password":["` + pw + `"]}`},
		{"/api/v1/me/totp/confirm", `{"code":"` + pw + `"} {}`},
		{"/api/v1/me/recovery-codes", `{"code":` + pw[10:] + `}`},
		{"/api/v1/me/password", `{"old_password":"` + pw + `","new_password":"` + pw + `","x":0}`},
		{"/api/v1/activation", `{"invitation":"ski_` + pw + `","password":"` + pw + `","login":"jane"}`},
		{"/api/v1/activation", `{"invitation":"ski_` + pw + `","password":"` + pw + `"`},
	} {
		resp, out := w.post(c.path, "application/json", []byte(c.body), "Authorization", "Bearer "+tok)
		if resp.StatusCode != 422 || bytes.Contains(out, []byte(pw)) || bytes.Contains(out, []byte(pw[10:])) {
			t.Errorf("%s %s: %d %s", c.path, c.body, resp.StatusCode, out)
		}
	}
	w.checkNoLeaks()
}
