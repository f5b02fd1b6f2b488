package audit

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// sealDetails returns the details of a complete seal entry.
func sealDetails() map[string]string {
	return map[string]string{
		DetailDocumentSHA256:  strings.Repeat("a", 64),
		DetailSealedSHA256:    strings.Repeat("b", 64),
		DetailSignatureSHA256: strings.Repeat("c", 64),
		DetailThumbprint:      strings.Repeat("d", 64),
		DetailIntentSHA256:    strings.Repeat("e", 64),
		DetailField:           "Signature1",
		DetailPAdESLevel:      LevelBB,
		DetailMFAMethod:       "totp",
	}
}

func TestCheckSeal(t *testing.T) {
	good := Entry{Chain: "org-a", Actor: Actor{Kind: ActorUser, ID: "jane"}, Action: ActionSeal,
		Subject: Subject{Org: "org-a", Identity: "i", Version: 1}, Details: sealDetails()}
	if err := CheckSeal(good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(e *Entry)) Entry {
		e := good
		e.Details = maps.Clone(good.Details)
		f(&e)
		return e
	}
	cases := map[string]Entry{
		"cli actor":       edit(func(e *Entry) { e.Actor = Actor{Kind: ActorCLI, ID: "root"} }),
		"system actor":    edit(func(e *Entry) { e.Actor = Actor{Kind: ActorSystem} }),
		"no version":      edit(func(e *Entry) { e.Subject.Version = 0 }),
		"not a seal":      edit(func(e *Entry) { e.Action = ActionVersionActivate }),
		"upper-case hex":  edit(func(e *Entry) { e.Details[DetailSignatureSHA256] = strings.Repeat("C", 64) }),
		"short hash":      edit(func(e *Entry) { e.Details[DetailDocumentSHA256] = "abc" }),
		"level B-LT":      edit(func(e *Entry) { e.Details[DetailPAdESLevel] = "B-LT" }),
		"no mfa method":   edit(func(e *Entry) { delete(e.Details, DetailMFAMethod) }),
		"no field":        edit(func(e *Entry) { delete(e.Details, DetailField) }),
		"no sealed hash":  edit(func(e *Entry) { delete(e.Details, DetailSealedSHA256) }),
		"no intent hash":  edit(func(e *Entry) { delete(e.Details, DetailIntentSHA256) }),
		"no thumbprint":   edit(func(e *Entry) { delete(e.Details, DetailThumbprint) }),
		"no signature id": edit(func(e *Entry) { delete(e.Details, DetailSignatureSHA256) }),
	}
	for name, e := range cases {
		if err := CheckSeal(e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestFoldSeal: the fold accepts a complete seal by the active version
// and refuses a seal by a version that is not active at that point of the
// chain, or an incomplete one.
func TestFoldSeal(t *testing.T) {
	mk := func(a Action, v int, actor Actor, d map[string]string) Entry {
		return Entry{Chain: "org-a", Time: t0, Actor: actor, Action: a, Subject: Subject{Org: "org-a", Identity: "i", Version: v}, Details: d}
	}
	jane := Actor{Kind: ActorUser, ID: "jane"}
	other := sealDetails()
	other[DetailThumbprint] = strings.Repeat("f", 64)
	base := []Entry{
		mk(ActionCertImport, 1, jane, map[string]string{DetailThumbprint: strings.Repeat("d", 64)}),
		mk(ActionCertImport, 2, jane, nil),
		mk(ActionVersionActivate, 1, jane, nil),
	}
	for name, tc := range map[string]struct {
		tail []Entry
		want error
	}{
		"active":            {[]Entry{mk(ActionSeal, 1, jane, sealDetails())}, nil},
		"ready":             {[]Entry{mk(ActionSeal, 2, jane, sealDetails())}, ErrTransition},
		"superseded":        {[]Entry{mk(ActionVersionRotate, 2, jane, map[string]string{DetailOldVersion: "1", DetailReason: "r"}), mk(ActionSeal, 1, jane, sealDetails())}, ErrTransition},
		"after rotation":    {[]Entry{mk(ActionVersionRotate, 2, jane, map[string]string{DetailOldVersion: "1", DetailReason: "r"}), mk(ActionSeal, 2, jane, sealDetails())}, nil},
		"revoked":           {[]Entry{mk(ActionVersionRevoke, 1, jane, map[string]string{DetailReason: "r"}), mk(ActionSeal, 1, jane, sealDetails())}, ErrTransition},
		"other certificate": {[]Entry{mk(ActionSeal, 1, jane, other)}, ErrInvalidEntry},
		"by the cli":        {[]Entry{mk(ActionSeal, 1, Actor{Kind: ActorCLI, ID: "root"}, sealDetails())}, ErrInvalidEntry},
		"without signature": {[]Entry{mk(ActionSeal, 1, jane, map[string]string{DetailMFAMethod: "totp"})}, ErrInvalidEntry},
	} {
		c := relink(append(append([]Entry(nil), base...), tc.tail...))
		_, err := Fold(Slice(c))
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
