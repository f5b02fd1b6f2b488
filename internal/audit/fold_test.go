package audit

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// model is an independent statement of the lifecycle, written per
// operation rather than as a transition table: what a store's status column
// holds after custody applied the operations.
type model struct {
	status    map[versionKey]Status
	revokedAt map[versionKey]time.Time
	reason    map[versionKey]string
	maxVer    map[string]int
}

func newModel() *model {
	return &model{map[versionKey]Status{}, map[versionKey]time.Time{}, map[versionKey]string{}, map[string]int{}}
}

func (m *model) active(id string) (int, bool) {
	for k, s := range m.status {
		if k.identity == id && s == StatusActive {
			return k.version, true
		}
	}
	return 0, false
}

// apply returns whether the operation is legal and, if so, performs it.
func (m *model) apply(e Entry) bool {
	k := versionKey{e.Subject.Identity, e.Subject.Version}
	s, exists := m.status[k]
	set := func(to Status) bool { m.status[k] = to; return true }
	switch e.Action {
	case ActionKeyGenerate, ActionKeyExternal:
		if exists {
			return false
		}
		m.maxVer[k.identity] = max(m.maxVer[k.identity], k.version)
		return set(StatusPending)
	case ActionCertImport:
		if exists {
			return false
		}
		m.maxVer[k.identity] = max(m.maxVer[k.identity], k.version)
		return set(StatusReady)
	case ActionCertUpload:
		return s == StatusPending && set(StatusReady)
	case ActionVersionActivate:
		_, has := m.active(k.identity)
		return s == StatusReady && !has && set(StatusActive)
	case ActionVersionRotate:
		old, has := m.active(k.identity)
		if s != StatusReady || !has || e.Details[DetailOldVersion] != strconv.Itoa(old) {
			return false
		}
		m.status[versionKey{k.identity, old}] = StatusSuperseded
		return set(StatusActive)
	case ActionVersionRevoke:
		if (s != StatusReady && s != StatusActive && s != StatusSuperseded) || e.Details[DetailReason] == "" {
			return false
		}
		m.revokedAt[k] = e.Time
		if v, ok := e.Details[DetailRevokedAt]; ok {
			m.revokedAt[k], _ = time.Parse(time.RFC3339Nano, v)
		}
		m.reason[k] = e.Details[DetailReason]
		return set(StatusRevoked)
	case ActionVersionDestroy:
		return (s == StatusPending || s == StatusReady || s == StatusSuperseded || s == StatusRevoked) && set(StatusDestroyed)
	case ActionSeal:
		return s == StatusActive
	}
	return true // not a lifecycle action
}

func (m *model) snapshot() map[versionKey]Status {
	out := make(map[versionKey]Status, len(m.status))
	for k, v := range m.status {
		out[k] = v
	}
	return out
}

// randomOp proposes an operation, legal or not.
func randomOp(r *rand.Rand, m *model, now time.Time) Entry {
	id := fmt.Sprintf("id-%d", r.IntN(3))
	ver := 1 + r.IntN(m.maxVer[id]+1)
	e := Entry{
		Chain: "org-a", Time: now, Actor: Actor{Kind: "user", ID: "u"},
		Subject: Subject{Org: "org-a", Identity: id, Version: ver},
		Details: map[string]string{},
	}
	ops := []Action{ActionKeyGenerate, ActionKeyExternal, ActionCertImport, ActionCertUpload, ActionCertUpload,
		ActionVersionActivate, ActionVersionRotate, ActionVersionRotate, ActionVersionRevoke, ActionVersionDestroy,
		ActionSeal, ActionSeal, ActionDEKCreate}
	e.Action = ops[r.IntN(len(ops))]
	switch e.Action {
	case ActionKeyGenerate, ActionKeyExternal, ActionCertImport:
		if r.IntN(4) > 0 {
			e.Subject.Version = m.maxVer[id] + 1
		}
	case ActionVersionRotate:
		old, has := m.active(id)
		if !has || r.IntN(5) == 0 {
			old = 1 + r.IntN(m.maxVer[id]+1)
		}
		e.Details[DetailOldVersion] = strconv.Itoa(old)
		e.Details[DetailReason] = "scheduled"
	case ActionVersionRevoke:
		if r.IntN(6) > 0 {
			e.Details[DetailReason] = "keyCompromise"
		}
		if r.IntN(2) == 0 {
			e.Details[DetailRevokedAt] = now.Add(-time.Duration(r.IntN(4)) * time.Second).Format(time.RFC3339Nano)
		}
	case ActionDEKCreate:
		e.Subject = Subject{Org: "org-a"}
	case ActionSeal:
		e.Details = sealDetails()
	}
	if len(e.Details) == 0 {
		e.Details = nil
	}
	return e
}

// TestFoldMatchesModel: for random operation sequences, State accepts
// exactly the operations the model allows, the fold of the written chain
// equals the model's status for every version (also after a JSON Lines round
// trip), and StatusAt equals the model's snapshot at any time.
func TestFoldMatchesModel(t *testing.T) {
	accepted := map[Action]int{}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 99))
		m, st := newModel(), new(State)
		var chain []Entry
		var snaps []map[versionKey]Status // snaps[i]: after chain[i]
		for i := range 300 {
			e := randomOp(r, m, t0.Add(time.Duration(i)*time.Second))
			before := st.Versions()
			err := st.Check(e)
			if !reflect.DeepEqual(st.Versions(), before) {
				t.Fatal("Check changed the state")
			}
			legal := m.apply(e)
			if legal != (err == nil) {
				t.Fatalf("seed %d op %d %s %s v%d %v: model says %v, State says %v", seed, i, e.Action,
					e.Subject.Identity, e.Subject.Version, e.Details, legal, err)
			}
			if err != nil {
				if !errors.Is(err, ErrTransition) && !errors.Is(err, ErrInvalidEntry) {
					t.Fatalf("untyped refusal: %v", err)
				}
				if st.Apply(e) == nil {
					t.Fatal("Apply accepted what Check refused")
				}
				continue
			}
			if err := st.Apply(e); err != nil {
				t.Fatal(err)
			}
			accepted[e.Action]++
			chain = appendEntry(chain, e)
			snaps = append(snaps, m.snapshot())
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, Slice(chain)); err != nil {
			t.Fatal(err)
		}
		if r := Verify(DecodeJSONL(&buf)); !r.OK() || r.Head.Seq != uint64(len(chain)) {
			t.Fatalf("verify: %+v", r)
		}
		buf.Reset()
		_ = WriteJSONL(&buf, Slice(chain))
		folded, err := Fold(DecodeJSONL(&buf))
		if err != nil {
			t.Fatal(err)
		}
		got := map[versionKey]Status{}
		for _, v := range folded.Versions() {
			k := versionKey{v.Identity, v.Version}
			got[k] = v.Status
			if !v.RevokedAt.Equal(m.revokedAt[k]) || v.RevokeReason != m.reason[k] {
				t.Fatalf("seed %d %v: revoked %v %q, model %v %q", seed, k, v.RevokedAt, v.RevokeReason, m.revokedAt[k], m.reason[k])
			}
		}
		if !reflect.DeepEqual(got, m.status) {
			t.Fatalf("seed %d: fold %v\nmodel %v", seed, got, m.status)
		}
		for id := range 3 {
			identity := fmt.Sprintf("id-%d", id)
			a1, ok1 := folded.Active(identity)
			a2, ok2 := m.active(identity)
			if a1 != a2 || ok1 != ok2 {
				t.Fatalf("active %s: %d %v vs %d %v", identity, a1, ok1, a2, ok2)
			}
		}
		checkStatusAt(t, r, chain, snaps, m)
	}
	// The generator must reach every lifecycle action.
	for _, a := range allActions {
		if a.IsLifecycle() && accepted[a] < 20 {
			t.Errorf("only %d legal %s operations", accepted[a], a)
		}
	}
	t.Logf("legal operations: %v", accepted)
}

func checkStatusAt(t *testing.T, r *rand.Rand, chain []Entry, snaps []map[versionKey]Status, m *model) {
	t.Helper()
	for range 20 {
		i := r.IntN(len(chain))
		at := chain[i].Time
		if r.IntN(2) == 0 {
			at = at.Add(500 * time.Millisecond) // between entries
		}
		if r.IntN(10) == 0 {
			i, at = -1, t0.Add(-time.Hour) // before the chain
		}
		var keys []versionKey
		for k := range m.status {
			keys = append(keys, k)
		}
		for range 3 {
			k := keys[r.IntN(len(keys))]
			want := StatusNone
			if i >= 0 {
				want = snaps[i][k]
			}
			// A revocation backdated to at or before the time counts.
			if ra, ok := m.revokedAt[k]; ok && want != StatusNone && want != StatusRevoked && !ra.After(at) {
				revokedLater := true
				for _, e := range chain[:i+1] {
					if e.Action == ActionVersionRevoke && e.Subject.Identity == k.identity && e.Subject.Version == k.version {
						revokedLater = false
					}
				}
				if revokedLater {
					want = StatusRevoked
				}
			}
			got, err := StatusAt(Slice(chain), k.identity, k.version, at)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != want {
				t.Fatalf("StatusAt(%v, %s) = %s, want %s", k, at, got.Status, want)
			}
		}
	}
}

func TestFoldRejects(t *testing.T) {
	mk := func(a Action, id string, v int, details map[string]string) Entry {
		return Entry{Chain: "org-a", Time: t0, Actor: Actor{Kind: "user", ID: "u"}, Action: a,
			Subject: Subject{Org: "org-a", Identity: id, Version: v}, Details: details}
	}
	base := []Entry{
		mk(ActionCertImport, "i", 1, nil),
		mk(ActionVersionActivate, "i", 1, nil),
		mk(ActionCertImport, "i", 2, nil),
	}
	cases := map[string]struct {
		e    Entry
		want error
	}{
		"activate second":       {mk(ActionVersionActivate, "i", 2, nil), ErrTransition},
		"rotate no old_version": {mk(ActionVersionRotate, "i", 2, nil), ErrInvalidEntry},
		"rotate wrong old":      {mk(ActionVersionRotate, "i", 2, map[string]string{DetailOldVersion: "2"}), ErrInvalidEntry},
		"rotate old not number": {mk(ActionVersionRotate, "i", 2, map[string]string{DetailOldVersion: "01"}), ErrInvalidEntry},
		"revoke no reason":      {mk(ActionVersionRevoke, "i", 1, nil), ErrInvalidEntry},
		"revoke bad time":       {mk(ActionVersionRevoke, "i", 1, map[string]string{DetailReason: "x", DetailRevokedAt: "yesterday"}), ErrInvalidEntry},
		"revoke future":         {mk(ActionVersionRevoke, "i", 1, map[string]string{DetailReason: "x", DetailRevokedAt: t0.Add(time.Hour).Format(time.RFC3339)}), ErrInvalidEntry},
		"destroy active":        {mk(ActionVersionDestroy, "i", 1, nil), ErrTransition},
		"seal ready":            {mk(ActionSeal, "i", 2, sealDetails()), ErrTransition},
		"no identity":           {mk(ActionSeal, "", 1, sealDetails()), ErrInvalidEntry},
		"seal no details":       {mk(ActionSeal, "i", 1, nil), ErrInvalidEntry},
		"version 0":             {mk(ActionCertImport, "i", 0, nil), ErrInvalidEntry},
		"unknown action":        {mk("version.resurrect", "i", 1, nil), ErrInvalidEntry},
		"import twice":          {mk(ActionCertImport, "i", 1, nil), ErrTransition},
	}
	for name, tc := range cases {
		c := relink(append(append([]Entry(nil), base...), tc.e))
		_, err := Fold(Slice(c))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Rotation supersedes the active version; the new one is active.
	c := relink(append(append([]Entry(nil), base...),
		mk(ActionVersionRotate, "i", 2, map[string]string{DetailOldVersion: "1"})))
	s, err := Fold(Slice(c))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version("i", 1).Status != StatusSuperseded || s.Version("i", 2).Status != StatusActive || s.Version("i", 2).Seq != 4 {
		t.Fatalf("%+v", s.Versions())
	}
	if n, ok := s.Active("i"); !ok || n != 2 {
		t.Fatal("active")
	}
	// Read errors surface.
	boom := errors.New("boom")
	if _, err := Fold(Walk(func(func(Entry) error) error { return boom })); !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

// TestStatusAtBackdatedRevocation: a seal made after the compromise date but
// before the revocation was recorded shows as made by a revoked version.
func TestStatusAtBackdatedRevocation(t *testing.T) {
	var c []Entry
	add := func(a Action, at time.Duration, details map[string]string) {
		c = appendEntry(c, Entry{Chain: "org-a", Time: t0.Add(at), Actor: Actor{Kind: "user", ID: "u"}, Action: a,
			Subject: Subject{Org: "org-a", Identity: "i", Version: 1}, Details: details})
	}
	add(ActionCertImport, 0, nil)
	add(ActionVersionActivate, time.Minute, nil)
	add(ActionSeal, 2*time.Hour, sealDetails())
	add(ActionVersionRevoke, 3*time.Hour, map[string]string{DetailReason: "keyCompromise",
		DetailRevokedAt: t0.Add(90 * time.Minute).Format(time.RFC3339)})
	for _, tc := range []struct {
		at   time.Duration
		want Status
	}{
		{-time.Second, StatusNone}, {0, StatusReady}, {30 * time.Second, StatusReady}, {time.Minute, StatusActive},
		{89 * time.Minute, StatusActive}, {90 * time.Minute, StatusRevoked}, {2 * time.Hour, StatusRevoked},
		{4 * time.Hour, StatusRevoked},
	} {
		got, err := StatusAt(Slice(c), "i", 1, t0.Add(tc.at))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tc.want {
			t.Errorf("at %v: %s, want %s", tc.at, got.Status, tc.want)
		}
		if tc.want == StatusRevoked && (!got.RevokedAt.Equal(t0.Add(90*time.Minute)) || got.RevokeReason != "keyCompromise") {
			t.Errorf("at %v: %+v", tc.at, got)
		}
	}
}

// TestFoldRecordsCustody: the fold keeps what the trail records of each
// version's custody (certificate and key hashes, key reference, DEK
// version), moves local blobs with a DEK rotation and refuses malformed
// records.
func TestFoldRecordsCustody(t *testing.T) {
	h := func(c byte) string { return string(bytes.Repeat([]byte{c}, 64)) }
	ent := func(a Action, id string, v int, d map[string]string) Entry {
		return Entry{Chain: "org-a", Time: t0, Actor: Actor{Kind: "user", ID: "u"}, Action: a,
			Subject: Subject{Org: "org-a", Identity: id, Version: v}, Details: d}
	}
	st := new(State)
	for i, e := range []Entry{
		ent(ActionKeyGenerate, "jane", 1, map[string]string{DetailKeyRef: KeyRefLocal, DetailDEKVersion: "1", DetailSPKISHA256: h('a')}),
		ent(ActionCertUpload, "jane", 1, map[string]string{DetailThumbprint: h('1'), DetailSPKISHA256: h('a')}),
		ent(ActionCertImport, "jane", 2, map[string]string{DetailKeyRef: KeyRefLocal, DetailDEKVersion: "1", DetailThumbprint: h('2'), DetailSPKISHA256: h('b')}),
		ent(ActionKeyExternal, "jane", 3, map[string]string{DetailKeyRef: "awskms:key/x", DetailSPKISHA256: h('c')}),
		// An entry from before spki_sha256 was recorded.
		ent(ActionKeyGenerate, "jane", 4, map[string]string{DetailKeyRef: KeyRefLocal, DetailDEKVersion: "1"}),
		ent(ActionVersionDestroy, "jane", 2, map[string]string{DetailThumbprint: h('2')}),
		// A new DEK (budget) moves no blob; a rotation moves every local one.
		ent(ActionDEKCreate, "", 0, map[string]string{DetailDEKVersion: "2"}),
		ent(ActionDEKCreate, "", 0, map[string]string{DetailDEKVersion: "3", DetailReencrypted: "2"}),
	} {
		if err := st.Apply(e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	want := []VersionState{
		{Identity: "jane", Version: 1, Status: StatusReady, CertSHA256: h('1'), SPKISHA256: h('a'), KeyRef: KeyRefLocal, DEKVersion: 3},
		{Identity: "jane", Version: 2, Status: StatusDestroyed, CertSHA256: h('2'), SPKISHA256: h('b'), KeyRef: KeyRefLocal},
		{Identity: "jane", Version: 3, Status: StatusPending, SPKISHA256: h('c'), KeyRef: "awskms:key/x"},
		{Identity: "jane", Version: 4, Status: StatusPending, KeyRef: KeyRefLocal, DEKVersion: 3},
	}
	for i, got := range st.Versions() {
		got.Since, got.Seq, got.History = time.Time{}, 0, nil
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("version %d:\n got %+v\nwant %+v", got.Version, got, want[i])
		}
	}
	for name, e := range map[string]Entry{
		"an upload of another key": ent(ActionCertUpload, "jane", 3, map[string]string{DetailThumbprint: h('3'), DetailSPKISHA256: h('d')}),
		"an upper-case thumbprint": ent(ActionCertUpload, "jane", 4, map[string]string{DetailThumbprint: strings.ToUpper(h('e'))}),
		"a short spki_sha256":      ent(ActionKeyGenerate, "jane", 5, map[string]string{DetailSPKISHA256: "abc"}),
		"a DEK version of -1":      ent(ActionKeyGenerate, "jane", 5, map[string]string{DetailDEKVersion: "-1"}),
		"a DEK version of 01":      ent(ActionDEKCreate, "", 0, map[string]string{DetailDEKVersion: "01", DetailReencrypted: "0"}),
		"a DEK version of 2^32":    ent(ActionDEKCreate, "", 0, map[string]string{DetailDEKVersion: "4294967296"}),
	} {
		if err := st.Check(e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: Check = %v, want ErrInvalidEntry", name, err)
		}
	}
}

// TestStateClone: applying entries to a clone leaves the original as it was.
func TestStateClone(t *testing.T) {
	e := func(a Action, v int, d map[string]string) Entry {
		return Entry{Chain: "org-a", Time: t0, Actor: Actor{Kind: "user", ID: "u"}, Action: a,
			Subject: Subject{Org: "org-a", Identity: "jane", Version: v}, Details: d}
	}
	st := new(State)
	for _, x := range []Entry{e(ActionCertImport, 1, nil), e(ActionVersionActivate, 1, nil)} {
		if err := st.Apply(x); err != nil {
			t.Fatal(err)
		}
	}
	c := st.Clone()
	if err := c.Apply(e(ActionVersionRevoke, 1, map[string]string{DetailReason: "compromise"})); err != nil {
		t.Fatal(err)
	}
	if got := st.Version("jane", 1).Status; got != StatusActive {
		t.Fatalf("original changed to %s", got)
	}
	if _, ok := st.Active("jane"); !ok {
		t.Fatal("original lost its active version")
	}
	if got := c.Version("jane", 1).Status; got != StatusRevoked {
		t.Fatalf("clone is %s", got)
	}
	if _, ok := c.Active("jane"); ok {
		t.Fatal("clone still has an active version")
	}
}

// TestFoldOwners: identity.create records each identity's owner; a clone
// keeps its own copy.
func TestFoldOwners(t *testing.T) {
	var s State
	if _, ok := s.Owner("jane"); ok {
		t.Fatal("an empty fold knows an owner")
	}
	for _, e := range []Entry{
		{Action: ActionIdentityCreate, Subject: Subject{Org: "acme", Identity: "jane"}, Details: map[string]string{DetailOwner: "u-jane"}},
		{Action: ActionIdentityCreate, Subject: Subject{Org: "acme", Identity: "sam"}, Details: map[string]string{DetailOwner: "u-sam"}},
	} {
		if err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	c := s.Clone()
	if err := c.Apply(Entry{Action: ActionIdentityCreate, Subject: Subject{Identity: "gus"}, Details: map[string]string{DetailOwner: "u-gus"}}); err != nil {
		t.Fatal(err)
	}
	if o, ok := s.Owner("jane"); !ok || o != "u-jane" {
		t.Errorf("jane's owner %q %v", o, ok)
	}
	if _, ok := s.Owner("gus"); ok {
		t.Error("applying to a clone changed the original")
	}
	if o, _ := c.Owner("sam"); o != "u-sam" {
		t.Errorf("the clone lost sam's owner: %q", o)
	}
}
