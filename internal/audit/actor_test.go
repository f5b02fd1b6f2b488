package audit

import (
	"errors"
	"testing"
)

// Every entry names who acted: a user or the CLI with an ID, or the system.
func TestValidateActor(t *testing.T) {
	for _, tc := range []struct {
		actor Actor
		ok    bool
	}{
		{Actor{Kind: ActorUser, ID: "u-1"}, true},
		{Actor{Kind: ActorCLI, ID: "root"}, true},
		{Actor{Kind: ActorSystem}, true},
		{Actor{}, false},
		{Actor{ID: "u-1"}, false},
		{Actor{Kind: ActorUser}, false},
		{Actor{Kind: ActorCLI}, false},
		{Actor{Kind: "operator", ID: "x"}, false},
	} {
		e := sampleEntry()
		e.Actor = tc.actor
		err := e.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidEntry)) {
			t.Errorf("Validate with actor %+v = %v, want ok=%v", tc.actor, err, tc.ok)
		}
	}
}
