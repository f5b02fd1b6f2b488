package server

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/store"
)

const (
	policyPath   = "/api/v1/orgs/acme/policy"
	requestsPath = "/api/v1/orgs/acme/activation-requests"
)

// readyVersion gives identity (owned by login) a new ready version, its
// certificate issued by the world's CA, and returns its number and
// certificate thumbprint.
func (w *world) readyVersion(login, identity string) (int, string) {
	w.t.Helper()
	actor := audit.Actor{Kind: audit.ActorUser, ID: w.users[login].id}
	v, _, err := w.custody.GenerateKey(w.ctx, actor, identity, keypolicy.ECDSAP256, pkix.Name{CommonName: login})
	w.must(err)
	var pub crypto.PublicKey
	w.must(w.st.View(w.ctx, func(tx store.ReadTx) error {
		sv, err := tx.Version(identity, v.Version)
		if err != nil {
			return err
		}
		pub, err = x509.ParsePKIXPublicKey(sv.PublicKey)
		return err
	}))
	leaf := pkitest.Issue(w.t, w.ca, pkitest.LeafTemplate(login), pub)
	_, err = w.custody.UploadCertificate(w.ctx, actor, identity, v.Version, leaf.Raw, [][]byte{w.ca.Cert.Raw})
	w.must(err)
	sum := sha256.Sum256(leaf.Raw)
	return v.Version, hex.EncodeToString(sum[:])
}

// secondOwner adds oscar, a second owner of acme with TOTP.
func (w *world) secondOwner() *member {
	w.t.Helper()
	olive := w.users["olive"]
	m := w.newUser(olive.id, "oscar")
	w.must(w.auth.SetMember(w.ctx, olive.id, "acme", m.id, auth.RoleOwner))
	w.enrol(m)
	return m
}

// requestActivation has jane ask for the activation of version n of
// id-jane (202) and returns the pending request.
func (w *world) requestActivation(jane string, n int, reason string) activationRequestJSON {
	w.t.Helper()
	resp, out := w.postJSON(versionPath("id-jane", n)+"/activate", jane, map[string]any{"code": w.codeOf("jane"), "reason": reason})
	want(w.t, "activation request", resp, out, 202)
	w.nextStep()
	return decode[activationRequestJSON](w.t, out)
}

// approval is the body of an approval or decline of r.
func approval(r activationRequestJSON, code string) map[string]any {
	return map[string]any{"request_seq": r.RequestSeq, "request_hash": r.RequestHash, "code": code}
}

// TestRotationApproval: with acme's policy requiring an owner's approval,
// jane's activation (her step-up) answers 202 and records a request; the
// version stays ready; the requester cannot approve, even once an owner;
// another owner's code approves it and only that activates it (the
// rotation entry names the request and carries both step-ups); a
// replayed code is 401, a second approval 409, a declined or revoked
// request cannot be approved; the local path (custody without a request)
// is refused; every chain stays valid.
func TestRotationApproval(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			olive, jane := w.users["olive"], w.users["jane"]
			w.secondOwner()
			otok, jtok, stok := w.token("olive"), w.token("jane"), w.token("oscar")

			var p policyJSON
			if st, out := w.getJSON(policyPath, otok, &p); st != 200 || p.RotationApproval != "none" || p.Seq != 0 {
				t.Fatalf("initial policy %d %s", st, out)
			}
			resp, out := w.request("PUT", policyPath, otok, map[string]any{"rotation_approval": "required"})
			want(t, "policy without a code", resp, out, 401)
			resp, out = w.request("PUT", policyPath, otok, map[string]any{"rotation_approval": "maybe", "code": w.codeOf("olive")})
			want(t, "policy with a bad value", resp, out, 422)
			resp, out = w.request("PUT", policyPath, otok, map[string]any{"rotation_approval": "required", "code": w.codeOf("olive")})
			want(t, "set the policy", resp, out, 200)
			w.nextStep()
			if p := decode[policyJSON](t, out); p.RotationApproval != "required" || p.SetBy != olive.id || p.Seq == 0 {
				t.Fatalf("policy %+v", p)
			}
			es := w.entries("acme")
			if pe := es[len(es)-1]; pe.Action != audit.ActionOrgPolicy || pe.Details[audit.DetailRotationApproval] != "required" ||
				pe.Details[audit.DetailMFAMethod] != "totp" || pe.Actor.ID != olive.id {
				t.Fatalf("policy entry %+v", pe)
			}

			// Jane's activation of version 2 is a request; version 2 stays ready.
			n, thumb := w.readyVersion("jane", "id-jane")
			resp, out = w.postJSON(versionPath("id-jane", n)+"/activate", jtok, map[string]any{"code": w.codeOf("jane")})
			want(t, "rotation request without a reason", resp, out, 422)
			req := w.requestActivation(jtok, n, "scheduled rotation")
			if req.Status != "pending approval" || req.RequestedBy != jane.id || req.Thumbprint != thumb || req.Version != n {
				t.Fatalf("request %+v", req)
			}
			if v, err := w.custody.CheckedVersion(w.ctx, audit.Actor{Kind: audit.ActorUser, ID: jane.id}, "id-jane", n); err != nil || v.Status != "ready" {
				t.Fatalf("requested version %+v %v", v, err)
			}
			reqEntry := w.entries("acme")[req.RequestSeq-1]
			if reqEntry.Action != audit.ActionActivationRequest || reqEntry.Hash.String() != req.RequestHash || reqEntry.Actor.ID != jane.id {
				t.Fatalf("request entry %+v", reqEntry)
			}
			var list map[string][]activationRequestJSON
			if st, out := w.getJSON(requestsPath, otok, &list); st != 200 || len(list["requests"]) != 1 || list["requests"][0] != req {
				t.Fatalf("pending requests %d %s", st, out)
			}

			// The requester cannot approve, even as an owner: the server
			// refuses (403), and so does the fold through custody directly.
			w.must(w.auth.SetMember(w.ctx, olive.id, "acme", jane.id, auth.RoleOwner))
			jtok2 := w.token("jane")
			resp, out = w.postJSON(versionPath("id-jane", n)+"/approve", jtok2, approval(req, w.codeOf("jane")))
			want(t, "the requester approving", resp, out, 403)
			ref := custody.RequestRef{Seq: req.RequestSeq, Hash: reqEntry.Hash}
			_, err := w.custody.ActivateWith(w.ctx, audit.Actor{Kind: audit.ActorUser, ID: jane.id}, "id-jane", n, custody.Activation{
				Request: &ref, Details: map[string]string{audit.DetailMFAMethod: "totp", audit.DetailMFAEvidence: "{}"}})
			if errs.KindOf(err) != errs.Forbidden || !errors.Is(err, audit.ErrInvalidEntry) {
				t.Fatalf("custody approval by the requester: %v", err)
			}
			w.must(w.auth.SetMember(w.ctx, olive.id, "acme", jane.id, auth.RoleSealer))
			// Nor does custody activate without the request (the local
			// CLI's path): forbidden, naming the policy.
			_, err = w.custody.Activate(w.ctx, audit.Actor{Kind: audit.ActorCLI, ID: "root"}, "id-jane", n, "local")
			if errs.KindOf(err) != errs.Forbidden || !strings.Contains(err.Error(), "requires another owner's approval") {
				t.Fatalf("local activation under the policy: %v", err)
			}

			// A request named wrongly: 409; olive approves with her code.
			bad := req
			bad.RequestHash = strings.Repeat("0", 64)
			resp, out = w.postJSON(versionPath("id-jane", n)+"/approve", otok, approval(bad, w.codeOf("olive")))
			want(t, "approve another request", resp, out, 409)
			code := w.codeOf("olive")
			resp, out = w.postJSON(versionPath("id-jane", n)+"/approve", otok, approval(req, code))
			want(t, "approve", resp, out, 200)
			if v := decode[custody.VersionInfo](t, out); v.Status != "active" {
				t.Fatalf("approved %+v", v)
			}
			es = w.entries("acme")
			act := es[len(es)-1]
			var ev map[string]string
			w.must(json.Unmarshal([]byte(act.Details[audit.DetailMFAEvidence]), &ev))
			digest := ApprovalAction(audit.ActionActivationApprove, "acme", audit.ActivationRequest{Identity: "id-jane", Version: n,
				Thumbprint: thumb, Seq: req.RequestSeq, Hash: reqEntry.Hash}).Digest()
			if act.Action != audit.ActionVersionRotate || act.Actor.ID != olive.id || act.Seq <= req.RequestSeq ||
				act.Details[audit.DetailRequestSeq] != strconv.FormatUint(req.RequestSeq, 10) || act.Details[audit.DetailRequestHash] != req.RequestHash ||
				act.Details[audit.DetailRequester] != jane.id || act.Details[audit.DetailRequestEvidence] != reqEntry.Details[audit.DetailMFAEvidence] ||
				act.Details[audit.DetailReason] != "scheduled rotation" || ev["user"] != olive.id || ev["action_sha256"] != hex.EncodeToString(digest[:]) {
				t.Fatalf("approval entry %+v", act)
			}
			// A second approval of the same request: 409.
			w.nextStep()
			resp, out = w.postJSON(versionPath("id-jane", n)+"/approve", stok, approval(req, w.codeOf("oscar")))
			want(t, "second approval", resp, out, 409)

			// A replayed code on the next request: 401; a fresh one approves.
			n3, _ := w.readyVersion("jane", "id-jane")
			req3 := w.requestActivation(jtok, n3, "again")
			resp, out = w.postJSON(versionPath("id-jane", n3)+"/approve", otok, approval(req3, code))
			want(t, "replayed code", resp, out, 401)
			resp, out = w.postJSON(versionPath("id-jane", n3)+"/approve", stok, approval(req3, w.codeOf("oscar")))
			want(t, "approve with a fresh code", resp, out, 200)
			w.nextStep()

			// Declined, or revoked after the request: not approvable.
			n4, _ := w.readyVersion("jane", "id-jane")
			req4 := w.requestActivation(jtok, n4, "declined")
			resp, out = w.postJSON(versionPath("id-jane", n4)+"/decline", stok, approval(req4, w.codeOf("oscar")))
			want(t, "decline", resp, out, 200)
			w.nextStep()
			resp, out = w.postJSON(versionPath("id-jane", n4)+"/approve", otok, approval(req4, w.codeOf("olive")))
			want(t, "approve a declined request", resp, out, 409)
			n5, _ := w.readyVersion("jane", "id-jane")
			req5 := w.requestActivation(jtok, n5, "revoked")
			resp, out = w.postJSON(versionPath("id-jane", n5)+"/revoke", jtok, map[string]any{"reason": "key compromise"})
			want(t, "revoke a requested version", resp, out, 200)
			resp, out = w.postJSON(versionPath("id-jane", n5)+"/approve", otok, approval(req5, w.codeOf("olive")))
			want(t, "approve a revoked request", resp, out, 409)
			if st, out := w.getJSON(requestsPath, otok, &list); st != 200 || len(list["requests"]) != 0 {
				t.Fatalf("pending requests after all: %d %s", st, out)
			}
			var actions []string
			for _, e := range w.entries("acme")[req.RequestSeq-1:] {
				if e.Subject.Identity == "id-jane" && e.Action != audit.ActionKeyGenerate && e.Action != audit.ActionCertUpload {
					actions = append(actions, string(e.Action)+":"+strconv.Itoa(e.Subject.Version))
				}
			}
			if got := strings.Join(actions, " "); got != "version.activation_request:2 version.rotate:2 version.activation_request:3 version.rotate:3 "+
				"version.activation_request:4 version.activation_decline:4 version.activation_request:5 version.revoke:5" {
				t.Errorf("entries %s", got)
			}
			w.consistent()
			w.checkNoLeaks()
		})
	}
}

// TestRotationTrailDecides: the policy and the requests live in the trail
// only, so an insider's database edit cannot waive the approval. Edited to
// "none", the org.policy entry no longer verifies: audit verify names it
// (edited, at its seq), a service that folds the chain afresh refuses to
// act on it (verification failed), and the running one still holds the
// policy it verified; jane's activation never activates. A stored status
// set to active, as if the request had been approved, is refused naming
// the difference, and audit verify reports it as the state cross-check
// does; restored, the approval goes through.
func TestRotationTrailDecides(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			st, edit := insiderStore(t, kind)
			w := newWorld(t, st, Config{})
			otok, jtok := w.token("olive"), w.token("jane")
			resp, out := w.request("PUT", policyPath, otok, map[string]any{"rotation_approval": "required", "code": w.codeOf("olive")})
			want(t, "set the policy", resp, out, 200)
			w.nextStep()
			policySeq := decode[policyJSON](t, out).Seq
			n, _ := w.readyVersion("jane", "id-jane")
			req := w.requestActivation(jtok, n, "rotation")

			edit(`UPDATE audit_entries SET details = replace(details, '"required"', '"none"') WHERE chain = 'acme' AND action = 'org.policy'`)
			if rep := w.verifyReport("/api/v1/orgs/acme/audit", otok); rep.OK || rep.Problem != "edited" || rep.BrokenSeq != policySeq {
				t.Fatalf("audit verify after the policy edit: %+v", rep)
			}
			fresh := custody.New(st, w.kek, custody.Options{Clock: w.clk.now})
			if _, err := fresh.RotationPolicy(w.ctx, "acme"); errs.KindOf(err) != errs.Verification {
				t.Fatalf("a fresh fold of the edited chain: %v", err)
			}
			if _, err := fresh.Activate(w.ctx, audit.Actor{Kind: audit.ActorCLI, ID: "root"}, "id-jane", n, "rotation"); errs.KindOf(err) != errs.Verification {
				t.Fatalf("a fresh service activating on the edited chain: %v", err)
			}
			resp, out = w.postJSON(versionPath("id-jane", n)+"/activate", jtok, map[string]any{"code": w.codeOf("jane"), "reason": "rotation"})
			// The running service verified the entry before the edit and
			// keeps the policy it verified: the activation is a request.
			want(t, "activation after the policy edit", resp, out, 202)
			if v, err := w.custody.CheckedVersion(w.ctx, audit.Actor{Kind: audit.ActorUser, ID: w.users["jane"].id}, "id-jane", n); err != nil || v.Status != "ready" {
				t.Fatalf("version after the policy edit %+v %v", v, err)
			}
			w.nextStep()
			edit(`UPDATE audit_entries SET details = replace(details, '"none"', '"required"') WHERE chain = 'acme' AND action = 'org.policy'`)
			if rep := w.verifyReport("/api/v1/orgs/acme/audit", otok); !rep.OK {
				t.Fatalf("audit verify after the restore: %+v", rep)
			}
			// The latest request is the one that counts (a newer one replaced req).
			var list map[string][]activationRequestJSON
			if st, out := w.getJSON(requestsPath, otok, &list); st != 200 || len(list["requests"]) != 1 {
				t.Fatalf("pending requests: %d %s", st, out)
			}
			latest := list["requests"][0]
			if latest.RequestSeq == req.RequestSeq {
				latest = req
			}

			// The version marked active in the database, as if approved.
			edit(`UPDATE cert_versions SET status = 'superseded' WHERE identity_id = 'id-jane' AND version = 1`)
			edit(`UPDATE cert_versions SET status = 'active' WHERE identity_id = 'id-jane' AND version = ` + strconv.Itoa(n))
			resp, out = w.request("GET", versionPath("id-jane", n), jtok, nil)
			want(t, "show the edited version", resp, out, 500)
			if p := problemOf(t, out); !strings.Contains(p.Detail, `version 1 is stored as "superseded", the audit trail says "active"`) {
				t.Fatalf("edited version: %s", p.Detail)
			}
			if rep := w.verifyReport("/api/v1/orgs/acme/audit", otok); rep.OK || !strings.Contains(rep.Error, "differs from the audit trail") {
				t.Fatalf("audit verify after the status edit: %+v", rep)
			}
			resp, out = w.postJSON(versionPath("id-jane", n)+"/approve", otok, approval(latest, w.codeOf("olive")))
			want(t, "approve on an edited store", resp, out, 500)
			w.nextStep()
			edit(`UPDATE cert_versions SET status = 'active' WHERE identity_id = 'id-jane' AND version = 1`)
			edit(`UPDATE cert_versions SET status = 'ready' WHERE identity_id = 'id-jane' AND version = ` + strconv.Itoa(n))
			resp, out = w.postJSON(versionPath("id-jane", n)+"/approve", otok, approval(latest, w.codeOf("olive")))
			want(t, "approve after the restore", resp, out, 200)
			w.consistent()
			w.checkNoLeaks()
		})
	}
}

// TestRotationForgedApproval: an insider who writes a well-formed, hashed
// and linked activation entry through the store itself (no approval named)
// and marks the version active gains nothing: the fold refuses the entry,
// so every custody route on acme refuses (verification failed), and
// audit verify reports the fold's refusal naming that entry (the hash
// chain itself is intact: the state cross-check catches it).
func TestRotationForgedApproval(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t), Config{})
			otok, jtok := w.token("olive"), w.token("jane")
			resp, out := w.request("PUT", policyPath, otok, map[string]any{"rotation_approval": "required", "code": w.codeOf("olive")})
			want(t, "set the policy", resp, out, 200)
			w.nextStep()
			n, thumb := w.readyVersion("jane", "id-jane")
			w.requestActivation(jtok, n, "rotation")
			jane := audit.Actor{Kind: audit.ActorUser, ID: w.users["jane"].id}
			var forged audit.Entry
			w.must(w.st.Update(w.ctx, func(tx store.Tx) error {
				var err error
				forged, err = tx.AppendAudit(audit.Entry{Chain: "acme", Time: w.clk.now(), Actor: jane, Action: audit.ActionVersionRotate,
					Subject: audit.Subject{Org: "acme", Identity: "id-jane", Version: n},
					Details: map[string]string{audit.DetailOldVersion: "1", audit.DetailNewThumbprint: thumb, audit.DetailReason: "rotation",
						audit.DetailOldThumbprint: hex.EncodeToString(func() []byte { s := w.thumb["id-jane"]; return s[:] }())}})
				if err != nil {
					return err
				}
				for _, v := range []struct {
					n  int
					st string
				}{{1, "superseded"}, {n, "active"}} {
					sv, err := tx.Version("id-jane", v.n)
					if err != nil {
						return err
					}
					sv.Status = v.st
					if err := tx.PutVersion(sv); err != nil {
						return err
					}
				}
				return nil
			}))
			resp, out = w.request("GET", versionPath("id-jane", n), jtok, nil)
			want(t, "show the forged version", resp, out, 500)
			if p := problemOf(t, out); !strings.Contains(p.Detail, "requires an owner's approval") {
				t.Fatalf("forged activation: %s", p.Detail)
			}
			if rep := w.verifyReport("/api/v1/orgs/acme/audit", otok); rep.OK || !strings.Contains(rep.Error, "entry "+strconv.FormatUint(forged.Seq, 10)+":") ||
				!strings.Contains(rep.Error, "requires an owner's approval") {
				t.Fatalf("audit verify after the forged activation: %+v", rep)
			}
		})
	}
}
