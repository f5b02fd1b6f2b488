//go:build unix

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/auth"
	"sealkeep/internal/config"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// addAccounts creates accounts with passwords (no TOTP) in the data
// directory's store and makes them members, as the operator and the
// owners would through the service: login -> org and role (the first
// owner of each org first). It returns each login's password file.
func addAccounts(t *testing.T, home string, members [][3]string) map[string]string {
	t.Helper()
	ctx := context.Background()
	env, err := config.Open(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := env.Publisher(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close() // writes the checkpoints of these appends
	a := auth.New(pub, env.KEK, auth.Options{})
	var op store.User
	if err := env.Store.View(ctx, func(tx store.ReadTx) error {
		op, err = tx.UserByLogin("admin")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{} // org -> its first owner's ID
	files := map[string]string{}
	for _, m := range members {
		login, org, role := m[0], m[1], auth.Role(m[2])
		pw := login + " password 12345"
		u, err := a.CreateUser(ctx, op.ID, login, redact.NewSecret([]byte(pw)))
		if err != nil {
			t.Fatal(err)
		}
		by := owner[org]
		if by == "" {
			by, owner[org] = op.ID, u.ID
		}
		if err := a.SetMember(ctx, by, org, u.ID, role); err != nil {
			t.Fatal(err)
		}
		files[login] = filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(files[login], []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestClientAudit: audit list, verify, export, checkpoint and prove with
// --server print what they print on the data directory and exit with the
// same codes, for an org's owner and auditor; the proof from the service
// verifies offline with audit verify-proof and the operator's key, and an
// edited one does not; an entry edited in the database is reported at its
// seq with exit 1, like locally; sealers, preparers, the operator and
// other orgs' members are refused (exit 3); the operator reads the system
// chain.
func TestClientAudit(t *testing.T) {
	s := newServed(t)
	local := func(want int, args ...string) string {
		t.Helper()
		out, _, code := sk(t, nil, append([]string{"--data-dir", s.home}, args...)...)
		if code != want {
			t.Fatalf("sealkeep %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	local(0, "org", "create", "acme")
	local(0, "org", "create", "globex")
	pw := addAccounts(t, s.home, [][3]string{{"olive", "acme", "owner"}, {"audrey", "acme", "auditor"},
		{"jane", "acme", "sealer"}, {"pete", "acme", "preparer"}, {"gina", "globex", "owner"}})
	pw["admin"] = s.pwFile
	env := map[string][]string{}
	for login, file := range pw {
		e := []string{"SEALKEEP_CREDENTIALS=" + filepath.Join(t.TempDir(), "credentials.json"), "SEALKEEP_HOME=" + filepath.Join(t.TempDir(), "none")}
		mustSK(t, 0, e, "login", "--server", s.srv.url, "--login", login, "--password-file", file)
		env[login] = e
	}
	remote := func(login string, want int, args ...string) string {
		t.Helper()
		out, errOut, code := sk(t, env[login], append([]string{"--server", s.srv.url}, args...)...)
		if code != want {
			t.Fatalf("%s: sealkeep %s --server: exit %d, want %d\nstdout: %s\nstderr: %s", login, strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	for _, who := range []string{"olive", "audrey"} {
		for _, args := range [][]string{
			{"audit", "verify", "--chain", "acme"},
			{"--json", "audit", "verify", "--chain", "acme"},
			{"audit", "list", "--chain", "acme"},
			{"--json", "audit", "list", "--chain", "acme", "--after", "2", "--limit", "3"},
			{"audit", "export", "--chain", "acme"},
			{"audit", "prove", "--chain", "acme", "--seq", "2"},
		} {
			if got, want := remote(who, 0, args...), local(0, args...); got != want {
				t.Errorf("%s: %q over the API:\n%s\nlocally:\n%s", who, args, got, want)
			}
		}
	}
	if out := remote("audrey", 0, "audit", "verify", "--chain", "acme"); !strings.Contains(out, "chain acme: OK") {
		t.Fatalf("verify: %s", out)
	}
	// Export and checkpoint to files; the checkpoint is the directory's.
	remote("audrey", 0, "audit", "export", "--chain", "acme", "-o", file("acme.jsonl"))
	if !bytes.Equal(read(file("acme.jsonl")), []byte(local(0, "audit", "export", "--chain", "acme"))) {
		t.Error("export -o over the API differs from audit export")
	}
	remote("audrey", 2, "audit", "export", "--chain", "acme", "-o", file("acme.jsonl")) // exists: refused
	remote("audrey", 0, "audit", "checkpoint", "--chain", "acme", "-o", file("acme.cp"))
	if !bytes.Equal(read(file("acme.cp")), read(filepath.Join(s.home, "checkpoints", "acme", "checkpoint"))) {
		t.Error("checkpoint over the API is not the newest checkpoint")
	}
	// The proof verifies offline with the operator's key; edited, it does not.
	remote("audrey", 0, "audit", "prove", "--chain", "acme", "--seq", "3", "-o", file("p3.json"))
	if err := os.WriteFile(file("acme.vkey"), []byte(local(0, "audit", "log-key", "--chain", "acme")), 0o644); err != nil {
		t.Fatal(err)
	}
	offline := append([]string{"SEALKEEP_HOME=" + filepath.Join(dir, "none")}, env["audrey"]...)
	if out := mustSK(t, 0, offline, "audit", "verify-proof", file("p3.json"), "--key-file", file("acme.vkey")); !strings.Contains(out, "proof: OK: entry 3 of chain acme") {
		t.Fatalf("verify-proof: %s", out)
	}
	var p map[string]any
	if err := json.Unmarshal(read(file("p3.json")), &p); err != nil {
		t.Fatal(err)
	}
	p["entry"].(map[string]any)["details"] = map[string]any{"role": "owner", "user": "u-mallory"}
	edited, _ := json.Marshal(p)
	os.WriteFile(file("edited.json"), edited, 0o644)
	if out := mustSK(t, 1, offline, "audit", "verify-proof", file("edited.json"), "--key-file", file("acme.vkey")); !strings.Contains(out, "INVALID") {
		t.Fatalf("verify-proof of an edited proof: %s", out)
	}
	if out := mustSK(t, 1, offline, "audit", "verify-proof", file("p3.json"), "--key", strings.TrimSpace(local(0, "audit", "log-key", "--chain", "globex"))); !strings.Contains(out, "INVALID") {
		t.Fatalf("verify-proof under globex's key: %s", out)
	}

	// Refused: a sealer, a preparer, the operator, another org's owner;
	// the system chain is the operator's.
	for _, who := range []string{"jane", "pete", "admin", "gina"} {
		for _, args := range [][]string{{"audit", "verify", "--chain", "acme"}, {"audit", "list", "--chain", "acme"},
			{"audit", "export", "--chain", "acme", "-o", file(who + ".jsonl")}, {"audit", "prove", "--chain", "acme", "--seq", "1"},
			{"audit", "checkpoint", "--chain", "acme", "-o", file(who + ".cp")}} {
			remote(who, 3, args...)
		}
		if _, err := os.Stat(file(who + ".jsonl")); !os.IsNotExist(err) {
			t.Errorf("a refused export left %s: %v", file(who+".jsonl"), err)
		}
	}
	remote("gina", 0, "audit", "verify", "--chain", "globex")
	remote("audrey", 3, "audit", "verify", "--chain", "globex")
	remote("audrey", 3, "audit", "verify", "--chain", "nope")
	remote("audrey", 3, "audit", "list", "--chain", "system")
	if got, want := remote("admin", 0, "audit", "verify", "--chain", "system"), local(0, "audit", "verify", "--chain", "system"); got != want || !strings.Contains(got, "chain system: OK") {
		t.Errorf("system chain over the API: %s, locally %s", got, want)
	}
	// Usage errors (exit 2) and no credentials (exit 6).
	remote("audrey", 2, "audit", "verify")
	remote("audrey", 2, "audit", "verify", "--all")
	remote("audrey", 2, "audit", "verify", "--chain", "acme", "--checkpoint", file("acme.cp"))
	remote("audrey", 2, "audit", "export")
	remote("audrey", 2, "audit", "list", "--chain", "acme", "--limit", "5000")
	remote("audrey", 2, "audit", "prove", "--chain", "acme", "--seq", "0")
	remote("audrey", 2, "audit", "log-key", "--chain", "acme")
	remote("audrey", 2, "audit", "verify-proof", file("p3.json"), "--key-file", file("acme.vkey"))
	remote("audrey", 3, "audit", "prove", "--chain", "acme", "--seq", "999")
	nobody := []string{"SEALKEEP_CREDENTIALS=" + file("none.json"), "SEALKEEP_HOME=" + file("none")}
	if _, _, code := sk(t, nobody, "--server", s.srv.url, "audit", "verify", "--chain", "acme"); code != 6 {
		t.Errorf("verify without credentials: exit %d", code)
	}

	// An insider edits entry 3 of acme's chain: reported at seq 3 over the
	// API exactly as locally, exit 1; no proof of it (exit 1).
	db, err := sql.Open("sqlite", filepath.Join(s.home, config.SQLiteName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_entries SET details = '{"role":"owner","user":"u-mallory"}' WHERE chain = 'acme' AND seq = 3`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"audit", "verify", "--chain", "acme"}, {"--json", "audit", "verify", "--chain", "acme"}} {
		got, want := remote("audrey", 1, args...), local(1, args...)
		if got != want || !strings.Contains(got, "3") {
			t.Errorf("%q after the edit over the API:\n%s\nlocally:\n%s", args, got, want)
		}
	}
	if out := remote("audrey", 1, "audit", "verify", "--chain", "acme"); !strings.Contains(out, "chain acme: BROKEN at seq 3 (edited)") {
		t.Fatalf("verify after the edit: %s", out)
	}
	remote("audrey", 1, "audit", "prove", "--chain", "acme", "--seq", "3", "-o", file("p3-edited.json"))
	if _, err := os.Stat(file("p3-edited.json")); !os.IsNotExist(err) {
		t.Errorf("a refused proof left a file: %v", err)
	}
	remote("gina", 0, "audit", "verify", "--chain", "globex")
}
