package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres/pgtest"
)

// activation is the step-up action of activating jane's version n with
// certificate thumbprint thumb.
func activation(n, thumb string) auth.Action {
	return auth.Action{Name: "version.activate", Fields: []string{"acme", "id-jane", n, thumb}}
}

// TestActionDigest: the digest separates fields (no two field lists share
// an encoding), names and versions, and is stable.
func TestActionDigest(t *testing.T) {
	a := auth.Action{Name: "x", Fields: []string{"ab", "c"}}
	for _, b := range []auth.Action{
		{Name: "x", Fields: []string{"a", "bc"}},
		{Name: "x", Fields: []string{"abc"}},
		{Name: "y", Fields: []string{"ab", "c"}},
		{Name: "xab", Fields: []string{"c"}},
	} {
		if a.Digest() == b.Digest() {
			t.Errorf("%+v and %+v share a digest", a, b)
		}
	}
	// The canonical encoding, recomputed independently.
	var enc []byte
	for _, f := range []string{"sealkeep/action/v1", "x", "ab", "c"} {
		enc = append(enc, 0, 0, 0, byte(len(f)))
		enc = append(enc, f...)
	}
	want := sha256Hex(enc)
	if d := a.Digest(); hex.EncodeToString(d[:]) != want {
		t.Errorf("digest %x, want %s", d, want)
	}
}

// TestApproveAction: a fresh code approves one action once; the same code
// for another action, for the same action again, or on another instance is
// a replay (401-kind, audited with the action's purpose); a recovery
// code, a wrong code, no code, a malformed action and an account without
// TOTP are refused; the evidence names the action, step and user and
// holds no code.
func TestApproveAction(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := newFixture(t, openPostgres(t, dsn), auth.Options{})
	w := a.world()
	secret, codes := a.enrol(w.jane.ID)
	b := a.sibling(openPostgres(t, dsn))
	a.nextStep()

	act := activation("2", strings.Repeat("ab", 32))
	code := a.code(secret)
	su, err := a.svc.ApproveAction(a.ctx, w.jane.ID, code, act, "203.0.113.9")
	a.must(err)
	if su.User != w.jane.ID || su.Method != "totp" || su.Action != "version.activate" || su.ActionSHA256 != act.Digest() ||
		su.Step != a.clk.now().Unix()/auth.TOTPPeriod {
		t.Errorf("step-up = %+v", su)
	}
	d := su.Details()
	var ev map[string]string
	if err := json.Unmarshal([]byte(d[audit.DetailMFAEvidence]), &ev); err != nil || d[audit.DetailMFAMethod] != "totp" ||
		ev["action"] != "version.activate" || ev["user"] != w.jane.ID || ev["step"] == "" || len(ev["action_sha256"]) != 64 {
		t.Errorf("details = %v (%v)", d, err)
	}
	if strings.Contains(d[audit.DetailMFAEvidence], string(code.Bytes())) {
		t.Error("the evidence holds the code")
	}
	var purpose string
	a.must(a.st.View(a.ctx, func(tx store.ReadTx) error {
		u, err := tx.LastTOTPStep(w.jane.ID)
		purpose = u.Purpose
		return err
	}))
	dg := act.Digest()
	if purpose != "action:version.activate:"+hex.EncodeToString(dg[:]) {
		t.Errorf("recorded purpose %q", purpose)
	}

	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, code, act, "203.0.113.9")
	a.wantErr("the same code, the same action", err, auth.ErrReplay)
	_, err = b.svc.ApproveAction(b.ctx, w.jane.ID, code, activation("3", strings.Repeat("cd", 32)), "")
	b.wantErr("the same code, another action, another instance", err, auth.ErrReplay)
	if n := a.count(audit.SystemChain, audit.ActionSecurityTOTPReplay); n != 2 {
		t.Errorf("%d replay entries, want 2", n)
	}
	a.must(a.st.View(a.ctx, func(tx store.ReadTx) error {
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == audit.ActionSecurityTOTPReplay && !strings.HasPrefix(e.Details["purpose"], "action:version.") {
				t.Errorf("replay entry purpose %q", e.Details["purpose"])
			}
			return nil
		})
	}))

	a.nextStep()
	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, codes[0], act, "")
	a.wantErr("a recovery code", err, auth.ErrUnauthenticated)
	a.clk.add(10 * time.Minute)
	wrong := a.code(secret) // a code of a step ten minutes away
	a.clk.add(-10 * time.Minute)
	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, wrong, act, "")
	a.wantErr("a wrong code", err, auth.ErrUnauthenticated)
	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, nil, act, "")
	a.wantErr("no code", err, auth.ErrMFARequired)
	_, err = a.svc.ApproveAction(a.ctx, w.owner.ID, a.code(secret), act, "")
	a.wantErr("an account without TOTP", err, auth.ErrForbidden)
	for what, bad := range map[string]auth.Action{
		"no name":      {Fields: []string{"x"}},
		"upper case":   {Name: "Version.Activate", Fields: []string{"x"}},
		"no fields":    {Name: "version.activate"},
		"empty field":  {Name: "version.activate", Fields: []string{"acme", ""}},
		"long field":   {Name: "version.activate", Fields: []string{strings.Repeat("x", 1025)}},
		"seal's colon": {Name: "intent:x", Fields: []string{"x"}},
	} {
		_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, a.code(secret), bad, "")
		a.wantErr(what, err, auth.ErrInvalidInput)
	}
	// The refusals above accepted no step: this step's code still works.
	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, a.code(secret), act, "")
	a.must(err)
	// Seals and actions share the single-use rule: a code that approved a
	// seal is a replay for an action, and the other way round.
	a.nextStep()
	sealCode := a.code(secret)
	_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, sealCode, a.intentFor(w.jane.ID, "sheet"), "")
	a.must(err)
	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, sealCode, act, "")
	a.wantErr("a seal's code for an action", err, auth.ErrReplay)
	a.nextStep()
	actCode := a.code(secret)
	_, err = a.svc.ApproveAction(a.ctx, w.jane.ID, actCode, act, "")
	a.must(err)
	_, err = a.svc.ApproveIntent(a.ctx, w.jane.ID, actCode, a.intentFor(w.jane.ID, "sheet 2"), "")
	a.wantErr("an action's code for a seal", err, auth.ErrReplay)
	a.verifyChains()
}

// TestCommitStepUpWithAction: a step-up committed in the transaction of
// what it approves is accepted only if that commits; of two requests with
// one code (two instances), one commits and the other is a replay, rolled
// back and audited.
func TestCommitStepUpWithAction(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := newFixture(t, openPostgres(t, dsn), auth.Options{})
	w := a.world()
	secret, _ := a.enrol(w.jane.ID)
	b := a.sibling(openPostgres(t, dsn))
	a.nextStep()
	code := a.code(secret)
	act := activation("1", hex.EncodeToString(a.thumb[:]))
	failing := errors.New("the action failed")

	su, err := a.svc.CheckStepUp(a.ctx, w.jane.ID, code, act, "")
	a.must(err)
	err = a.st.Update(a.ctx, func(tx store.Tx) error {
		if err := a.svc.CommitStepUp(tx, su); err != nil {
			return err
		}
		return failing
	})
	if err := a.svc.StepUpFailed(a.ctx, su, err); !errors.Is(err, failing) {
		t.Fatalf("a failing action: %v", err)
	}
	// Rolled back with the action: the code was not spent.
	suA, err := a.svc.CheckStepUp(a.ctx, w.jane.ID, code, act, "")
	a.must(err)
	suB, err := b.svc.CheckStepUp(b.ctx, w.jane.ID, redact.NewSecret(bytes.Clone(code.Bytes())), act, "")
	b.must(err)
	commit := func(f *fixture, su auth.StepUp) error {
		return f.st.Update(f.ctx, func(tx store.Tx) error { return f.svc.CommitStepUp(tx, su) })
	}
	a.must(commit(a, suA))
	err = commit(b, suB)
	b.wantErr("the second commit of one step", b.svc.StepUpFailed(b.ctx, suB, err), auth.ErrReplay)
	if n := a.count(audit.SystemChain, audit.ActionSecurityTOTPReplay); n != 1 {
		t.Errorf("%d replay entries, want 1", n)
	}
	b.wantErr("an unchecked step-up", b.st.Update(b.ctx, func(tx store.Tx) error { return b.svc.CommitStepUp(tx, auth.StepUp{}) }), auth.ErrInvalidInput)
	a.verifyChains()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
