package audit

import (
	"errors"
	"strings"
	"testing"
)

var allActions = []Action{
	ActionOrgCreate, ActionIdentityCreate, ActionKeyGenerate, ActionKeyExternal, ActionCertUpload,
	ActionCertImport, ActionVersionActivate, ActionVersionRotate, ActionVersionRevoke, ActionVersionDestroy,
	ActionSeal, ActionDEKCreate, ActionKEKRotate, ActionKEKRetire, ActionSecurityDecryptFailed,
	ActionSecurityImportRejected, ActionSecuritySignFailed, ActionSecurityStateMismatch,
}

// TestNextTable checks every (status, action) pair against the lifecycle
// written out as a literal table; every pair not listed must be refused.
func TestNextTable(t *testing.T) {
	type pair struct {
		from Status
		a    Action
	}
	allowed := map[pair]Status{
		{StatusNone, ActionKeyGenerate}:          StatusPending,
		{StatusNone, ActionKeyExternal}:          StatusPending,
		{StatusNone, ActionCertImport}:           StatusReady,
		{StatusPending, ActionCertUpload}:        StatusReady,
		{StatusReady, ActionVersionActivate}:     StatusActive,
		{StatusReady, ActionVersionRotate}:       StatusActive,
		{StatusActive, ActionVersionRotate}:      StatusSuperseded,
		{StatusReady, ActionVersionRevoke}:       StatusRevoked,
		{StatusActive, ActionVersionRevoke}:      StatusRevoked,
		{StatusSuperseded, ActionVersionRevoke}:  StatusRevoked,
		{StatusPending, ActionVersionDestroy}:    StatusDestroyed,
		{StatusReady, ActionVersionDestroy}:      StatusDestroyed,
		{StatusSuperseded, ActionVersionDestroy}: StatusDestroyed,
		{StatusRevoked, ActionVersionDestroy}:    StatusDestroyed,
		{StatusActive, ActionSeal}:               StatusActive,
	}
	if len(allActions) != 18 {
		t.Fatal("update allActions")
	}
	statuses := append(Statuses[:], "bogus")
	actions := append(allActions, "bogus.action")
	for _, from := range statuses {
		for _, a := range actions {
			got, err := Next(from, a)
			want, ok := allowed[pair{from, a}]
			if ok {
				if err != nil || got != want {
					t.Errorf("Next(%q, %s) = %q, %v; want %q", from, a, got, err, want)
				}
				continue
			}
			var te *TransitionError
			if !errors.Is(err, ErrTransition) || !errors.As(err, &te) || te.From != from || te.Action != a || got != from {
				t.Errorf("Next(%q, %s) = %q, %v; want a refusal", from, a, got, err)
				continue
			}
			if !strings.Contains(err.Error(), string(a)) || (from != StatusNone && !strings.Contains(err.Error(), string(from))) {
				t.Errorf("message %q lacks status or action", err)
			}
		}
	}
	_, err := Next(StatusActive, ActionVersionDestroy)
	if err == nil || !strings.Contains(err.Error(), "revoke it or rotate to another version first") {
		t.Errorf("destroy active: %v", err)
	}
	for _, a := range actions {
		if _, err := Next(StatusDestroyed, a); err == nil || !strings.Contains(err.Error(), "destroyed") {
			t.Errorf("destroyed + %s: %v", a, err)
		}
	}
}

func TestActionSets(t *testing.T) {
	lifecycle := 0
	for _, a := range allActions {
		if !a.Known() {
			t.Errorf("%s not known", a)
		}
		if a.IsLifecycle() {
			lifecycle++
		}
	}
	if lifecycle != 9 || Action("x").Known() || Action("x").IsLifecycle() {
		t.Errorf("lifecycle count %d", lifecycle)
	}
}
