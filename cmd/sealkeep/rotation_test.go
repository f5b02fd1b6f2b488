package main

import (
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/keypolicy/pkitest"
)

// TestClientRotationApproval: against a real `sealkeep serve`, an owner
// sets acme's policy to require approval (org policy, with a code); the
// sealer's cert activate --server then reports a pending request and the
// version stays ready; the local cert activate on the data directory
// refuses (exit 3, naming the policy); the sealer cannot approve (exit
// 3); the owner lists and approves it with a code (the version is
// active); a second approval is exit 3; the trail verifies.
func TestClientRotationApproval(t *testing.T) {
	cs := newCustodyServed(t)
	srv := cs.srv.url
	jane, olive := cs.users["jane"], cs.users["olive"]
	cs.login(t, jane)
	cs.login(t, olive)
	run := func(u *clientUser, want int, args ...string) string {
		t.Helper()
		return mustSK(t, want, u.env, append([]string{"--server", srv}, args...)...)
	}
	id := strings.TrimSpace(run(jane, 0, "identity", "create", "--org", "acme", "--name", "Jane Doe, P.E. 12345", "--json"))
	id = id[strings.Index(id, `"id": "`)+7:]
	id = id[:strings.Index(id, `"`)]
	csr, cert, caPEM := filepath.Join(cs.dir, "jane.csr"), filepath.Join(cs.dir, "jane.pem"), filepath.Join(cs.dir, "ca.pem")
	run(jane, 0, "cert", "generate", "--org", "acme", "--identity", id, "--alg", "ECDSA-P256", "--subject-cn", "Jane Doe", "--csr-out", csr)
	opensslIssue(t, pkitest.Root(t, "rotation test CA"), csr, caPEM, cert)
	run(jane, 0, "cert", "upload", "--org", "acme", "--identity", id, "--version", "1", "--cert", cert, "--chain", caPEM)

	if out := run(olive, 0, "org", "policy", "acme"); !strings.Contains(out, "rotation approval none") {
		t.Fatalf("policy: %s", out)
	}
	run(jane, 3, "org", "policy", "acme", "--rotation-approval", "required", "--code-file", cs.codeFile(t, cs.code(t, jane)))
	if out := run(olive, 0, "org", "policy", "acme", "--rotation-approval", "required", "--code-file", cs.codeFile(t, cs.code(t, olive))); !strings.Contains(out, "rotation approval required") {
		t.Fatalf("set policy: %s", out)
	}
	out := run(jane, 0, "cert", "activate", "--org", "acme", "--identity", id, "--version", "1", "--code-file", cs.codeFile(t, cs.code(t, jane)))
	if !strings.Contains(out, "pending approval") || !strings.Contains(out, "cert approve") {
		t.Fatalf("activate under the policy: %s", out)
	}
	if out := run(jane, 0, "cert", "show", "--org", "acme", "--identity", id, "--version", "1"); !strings.Contains(out, "ready") {
		t.Fatalf("requested version: %s", out)
	}
	// The data directory's own form cannot approve anything: it refuses.
	_, stderr, code := sk(t, jane.env, "--data-dir", cs.home, "cert", "activate", "--identity", id, "--version", "1")
	if code != 3 || !strings.Contains(stderr, "requires another owner's approval") {
		t.Fatalf("local activate under the policy: exit %d, %s", code, stderr)
	}
	run(jane, 3, "cert", "approve", "--org", "acme", "--identity", id, "--version", "1", "--code-file", cs.codeFile(t, cs.code(t, jane)))
	if out := run(olive, 0, "cert", "requests", "--org", "acme"); !strings.Contains(out, id) || !strings.Contains(out, jane.id) {
		t.Fatalf("requests: %s", out)
	}
	approveCode := cs.codeFile(t, cs.code(t, olive))
	if out := run(olive, 0, "cert", "approve", "--org", "acme", "--identity", id, "--version", "1", "--code-file", approveCode); !strings.Contains(out, "is active") {
		t.Fatalf("approve: %s", out)
	}
	run(olive, 3, "cert", "approve", "--org", "acme", "--identity", id, "--version", "1", "--code-file", approveCode)
	mustSK(t, 0, nil, "--data-dir", cs.home, "audit", "verify")
}
