package audit

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"time"
)

// VersionState is the folded status of one certificate version.
type VersionState struct {
	Identity string
	Version  int
	Status   Status
	Since    time.Time // time of the entry that set Status
	Seq      uint64    // seq of that entry
	// History is every status the version had, oldest first, Status last
	// ([VersionState.StatusAt] reads it). It is never changed in place, so
	// copies of a VersionState may share it.
	History []Transition
	// RevokedAt and RevokeReason are set by version.revoke and kept after a
	// later destroy. RevokedAt is the entry's revoked_at detail when given
	// (a compromise may predate the revocation), else the entry's time.
	RevokedAt    time.Time
	RevokeReason string
	// What the trail records of the version's custody, which the stored
	// version must match before it is used:
	//
	//	CertSHA256  thumbprint of cert.upload or cert.import (hex; "" while pending)
	//	SPKISHA256  spki_sha256 of the creating entry or cert.upload (hex; ""
	//	            when the entries predate it: the certificate's hash then
	//	            binds the key)
	//	KeyRef      key_ref of key.generate, key.external or cert.import
	//	DEKVersion  the org DEK version that encrypts the key blob: dek_version
	//	            of key.generate or cert.import, moved by a DEK rotation
	//	            (dek.create with a reencrypted detail), 0 for an external
	//	            or destroyed key
	CertSHA256 string
	SPKISHA256 string
	KeyRef     string
	DEKVersion uint32
}

// Transition is one change of a version's status: the status an entry
// set, the entry's seq, and the chain's time at that entry (the latest
// entry time up to and including it, so that times that step back within
// [MaxClockSkew] never move a transition before an earlier entry).
type Transition struct {
	Status Status
	Seq    uint64
	Time   time.Time
}

// StatusAt returns the status the version had at time t: the status set by
// the last of its transitions whose chain time is at or before t (that is,
// the fold of the chain's entries before the first one recorded after t),
// [StatusNone] if there is none. A revocation recorded later whose
// RevokedAt is at or before t counts too (a key compromise found after the
// fact), so a seal made after the compromise shows as made by a revoked
// version.
func (v VersionState) StatusAt(t time.Time) Status {
	st, revoked := StatusNone, false
	for _, tr := range v.History {
		if tr.Time.After(t) {
			break
		}
		st, revoked = tr.Status, revoked || tr.Status == StatusRevoked
	}
	if st != StatusNone && !revoked && !v.RevokedAt.IsZero() && !v.RevokedAt.After(t) {
		return StatusRevoked
	}
	return st
}

type versionKey struct {
	identity string
	version  int
}

// State is the status of every version of one chain, built by applying its
// entries in order. It enforces [Next] for each version plus the rules that
// span an identity: at most one version is active; version.activate needs
// none active; version.rotate names the active version in the old_version
// detail and supersedes it; version.revoke needs a reason; a seal is made
// by the active version, names its certificate and is a complete seal
// entry ([CheckSeal]). The
// zero State is empty and ready to use.
type State struct {
	versions map[versionKey]*VersionState
	active   map[string]int    // identity -> its active version
	owners   map[string]string // identity -> the owner identity.create recorded
	latest   time.Time         // the latest entry time applied
	// Rotation approval (rotation.go): the policy, the pending requests,
	// and each member's role as the membership entries record it.
	policy   Policy
	requests map[versionKey]ActivationRequest
	roles    map[string]string
}

// change is one version's new state, planned before it is applied.
type change struct {
	key versionKey
	to  VersionState
}

// Check reports whether e may be applied, without applying it. Entries
// whose action is not a lifecycle action (see [Action.IsLifecycle]) always
// pass.
func (s *State) Check(e Entry) error {
	_, err := s.plan(e)
	return err
}

// Apply applies e, or returns why it may not and changes nothing.
func (s *State) Apply(e Entry) error {
	changes, err := s.plan(e)
	if err != nil {
		return err
	}
	if e.Time.After(s.latest) {
		s.latest = e.Time
	}
	s.applyRotation(e, changes)
	if e.Action == ActionDEKCreate {
		return s.applyDEKRotation(e)
	}
	if e.Action == ActionIdentityCreate {
		if s.owners == nil {
			s.owners = make(map[string]string)
		}
		s.owners[e.Subject.Identity] = e.Details[DetailOwner]
		return nil
	}
	if s.versions == nil {
		s.versions = make(map[versionKey]*VersionState)
		s.active = make(map[string]int)
	}
	for _, c := range changes {
		v := c.to
		s.versions[c.key] = &v
		if v.Status == StatusActive {
			s.active[c.key.identity] = c.key.version
		} else if n, ok := s.active[c.key.identity]; ok && n == c.key.version {
			delete(s.active, c.key.identity)
		}
	}
	return nil
}

// Clone returns a copy of s: applying entries to either leaves the other
// unchanged.
func (s *State) Clone() *State {
	c := &State{versions: make(map[versionKey]*VersionState, len(s.versions)), active: maps.Clone(s.active),
		owners: maps.Clone(s.owners), latest: s.latest,
		policy: s.policy, requests: maps.Clone(s.requests), roles: maps.Clone(s.roles)}
	for k, v := range s.versions {
		vv := *v
		c.versions[k] = &vv
	}
	return c
}

// Version returns the state of one version; Status is [StatusNone] if no
// entry created it.
func (s *State) Version(identity string, version int) VersionState {
	if v, ok := s.versions[versionKey{identity, version}]; ok {
		return *v
	}
	return VersionState{Identity: identity, Version: version}
}

// Owner returns the owner that the identity.create entry of identity
// recorded (its owner detail); ok is false if no entry created it.
func (s *State) Owner(identity string) (owner string, ok bool) {
	owner, ok = s.owners[identity]
	return owner, ok
}

// Active returns the active version of identity, if any.
func (s *State) Active(identity string) (int, bool) {
	n, ok := s.active[identity]
	return n, ok
}

// Versions returns every version, ordered by identity then version.
func (s *State) Versions() []VersionState {
	out := make([]VersionState, 0, len(s.versions))
	for _, v := range s.versions {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b VersionState) int {
		return cmp.Or(cmp.Compare(a.Identity, b.Identity), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// applyDEKRotation moves every local key blob that a DEK rotation
// re-encrypted (every local version not destroyed) to the new DEK version.
// A dek.create without a reencrypted detail (a new org's first DEK, or a
// DEK replaced before its nonce budget) moves no blob.
func (s *State) applyDEKRotation(e Entry) error {
	if _, ok := e.Details[DetailReencrypted]; !ok {
		return nil
	}
	v, err := dekVersion(e)
	if err != nil {
		return err
	}
	for _, vs := range s.versions {
		if vs.KeyRef == KeyRefLocal && vs.Status != StatusDestroyed {
			vs.DEKVersion = v
		}
	}
	return nil
}

// dekVersion parses an entry's dek_version detail (0 when absent).
func dekVersion(e Entry) (uint32, error) {
	d, ok := e.Details[DetailDEKVersion]
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseUint(d, 10, 32)
	if err != nil || strconv.FormatUint(v, 10) != d {
		return 0, fmt.Errorf("%w: %s detail %.16q is not a decimal DEK version", ErrInvalidEntry, DetailDEKVersion, d)
	}
	return uint32(v), nil
}

// sha256Detail returns a SHA-256 detail ("" when absent) after checking it
// is 64 lower-case hex digits.
func sha256Detail(e Entry, key string) (string, error) {
	d := e.Details[key]
	if d == "" {
		return "", nil
	}
	ok := len(d) == 64
	for i := 0; ok && i < len(d); i++ {
		ok = ('0' <= d[i] && d[i] <= '9') || ('a' <= d[i] && d[i] <= 'f')
	}
	if !ok {
		return "", fmt.Errorf("%w: %s detail is not a lower-case hex SHA-256", ErrInvalidEntry, key)
	}
	return d, nil
}

// record fills in what a creating or upload entry records of a version's
// custody (see [VersionState]).
func record(e Entry, v *VersionState) error {
	cert, err := sha256Detail(e, DetailThumbprint)
	if err != nil {
		return err
	}
	spki, err := sha256Detail(e, DetailSPKISHA256)
	if err != nil {
		return err
	}
	switch e.Action {
	case ActionCertUpload:
		if spki != "" && v.SPKISHA256 != "" && spki != v.SPKISHA256 {
			return fmt.Errorf("%w: the uploaded certificate's %s is not the key the version was created with", ErrInvalidEntry, DetailSPKISHA256)
		}
		v.CertSHA256 = cert
		if spki != "" {
			v.SPKISHA256 = spki
		}
		return nil
	case ActionCertImport:
		v.CertSHA256 = cert
	}
	v.SPKISHA256, v.KeyRef = spki, e.Details[DetailKeyRef]
	v.DEKVersion, err = dekVersion(e)
	return err
}

func (s *State) plan(e Entry) ([]change, error) {
	if !e.Action.Known() {
		return nil, fmt.Errorf("%w: unknown action %.64q", ErrInvalidEntry, e.Action)
	}
	if e.Action == ActionDEKCreate {
		_, err := dekVersion(e)
		return nil, err
	}
	if err := s.planRotation(e); err != nil {
		return nil, err
	}
	if !e.Action.IsLifecycle() {
		return nil, nil
	}
	id, n := e.Subject.Identity, e.Subject.Version
	if id == "" || n < 1 {
		return nil, fmt.Errorf("%w: %s entry must name an identity and a version >= 1", ErrInvalidEntry, e.Action)
	}
	cur := s.Version(id, n)
	if e.Action == ActionSeal {
		if err := CheckSeal(e); err != nil {
			return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, err)
		}
		if cur.CertSHA256 != "" && e.Details[DetailThumbprint] != cur.CertSHA256 {
			return nil, fmt.Errorf("identity %.64q version %d: %w: the seal's %s is not the version's certificate", id, n, ErrInvalidEntry, DetailThumbprint)
		}
	}
	to, err := Next(cur.Status, e.Action)
	if err != nil {
		return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, err)
	}
	next := cur
	if to != cur.Status {
		s.transition(&next, to, e)
	}
	switch e.Action {
	case ActionKeyGenerate, ActionKeyExternal, ActionCertImport, ActionCertUpload:
		if err := record(e, &next); err != nil {
			return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, err)
		}
	case ActionVersionDestroy:
		next.DEKVersion = 0 // the blob is erased
	}
	changes := []change{{versionKey{id, n}, next}}
	active, hasActive := s.active[id]
	switch e.Action {
	case ActionVersionActivate:
		if hasActive {
			return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, &TransitionError{From: cur.Status, Action: e.Action,
				Hint: fmt.Sprintf("version %d is active; rotate to this version instead", active)})
		}
	case ActionVersionRotate:
		if cur.Status != StatusReady {
			// Next also moves active to superseded: that is the old version's
			// half of a rotation, never the subject's.
			return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, &TransitionError{From: cur.Status, Action: e.Action,
				Hint: "the version rotated to must be ready"})
		}
		old, err := s.planRotate(e, active, hasActive)
		if err != nil {
			return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, err)
		}
		changes = append(changes, old)
	case ActionVersionRevoke:
		reason := e.Details[DetailReason]
		if reason == "" {
			return nil, fmt.Errorf("identity %.64q version %d: %w: a revocation needs a %s detail", id, n, ErrInvalidEntry, DetailReason)
		}
		at := e.Time
		if v, ok := e.Details[DetailRevokedAt]; ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s detail is not an RFC 3339 time", ErrInvalidEntry, DetailRevokedAt)
			}
			if t.After(e.Time.Add(MaxClockSkew)) {
				return nil, fmt.Errorf("%w: %s is after the entry's time", ErrInvalidEntry, DetailRevokedAt)
			}
			at = t
		}
		changes[0].to.RevokedAt, changes[0].to.RevokeReason = at.UTC(), reason
	}
	return changes, nil
}

// planRotate checks the old_version detail of a rotation and supersedes it.
func (s *State) planRotate(e Entry, active int, hasActive bool) (change, error) {
	if !hasActive {
		return change{}, &TransitionError{From: StatusReady, Action: e.Action, Hint: "no version is active; activate this one instead"}
	}
	old, err := strconv.Atoi(e.Details[DetailOldVersion])
	if err != nil || strconv.Itoa(old) != e.Details[DetailOldVersion] {
		return change{}, fmt.Errorf("%w: rotation needs the %s detail as a decimal version number", ErrInvalidEntry, DetailOldVersion)
	}
	if old != active {
		return change{}, fmt.Errorf("%w: %s is %d, but version %d is the active one", ErrInvalidEntry, DetailOldVersion, old, active)
	}
	cur := s.Version(e.Subject.Identity, old)
	to, err := Next(cur.Status, e.Action)
	if err != nil {
		return change{}, err
	}
	s.transition(&cur, to, e)
	return change{versionKey{e.Subject.Identity, old}, cur}, nil
}

// transition sets v's status to to, as entry e records it, and appends it
// to a copy of v's history.
func (s *State) transition(v *VersionState, to Status, e Entry) {
	at := s.latest
	if e.Time.After(at) {
		at = e.Time
	}
	v.Status, v.Since, v.Seq = to, e.Time, e.Seq
	v.History = append(slices.Clip(v.History), Transition{Status: to, Seq: e.Seq, Time: at})
}

// Fold applies entries (one chain, in order) to an empty [State]. It stops
// at the first entry that breaks a lifecycle rule, naming its seq. It does
// not check hashes: run [Verify] for that.
func Fold(entries iter.Seq2[Entry, error]) (*State, error) {
	s := new(State)
	for e, err := range entries {
		if err != nil {
			return nil, fmt.Errorf("audit: fold: %w", err)
		}
		if err := s.Apply(e); err != nil {
			return nil, fmt.Errorf("audit: fold: entry %d: %w", e.Seq, err)
		}
	}
	return s, nil
}

// StatusAt folds entries (one chain, in order) and returns the state of
// version of identity with Status as at time t ([VersionState.StatusAt]);
// RevokedAt and RevokeReason are kept only when the revocation counts at t
// (recorded by then, or dated at or before t).
// A lifecycle error anywhere in the chain is returned. A caller that holds
// the fold already asks its [State] instead of folding again.
func StatusAt(entries iter.Seq2[Entry, error], identity string, version int, t time.Time) (VersionState, error) {
	s, err := Fold(entries)
	if err != nil {
		return VersionState{}, err
	}
	v := s.Version(identity, version)
	v.Status = v.StatusAt(t)
	counts := v.Status == StatusRevoked
	for _, tr := range v.History {
		counts = counts || (tr.Status == StatusRevoked && !tr.Time.After(t))
	}
	if !counts {
		v.RevokedAt, v.RevokeReason = time.Time{}, ""
	}
	return v, nil
}

// Slice returns entries as the iterator [Verify], [Fold] and the others
// take.
func Slice(entries []Entry) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

var errStopWalk = errors.New("audit: iteration stopped")

// Walk adapts a callback-style reader, such as a store's AuditEntries, to
// an iterator:
//
//	audit.Verify(audit.Walk(func(fn func(audit.Entry) error) error {
//		return tx.AuditEntries(chain, 1, fn)
//	}))
//
// An error walk returns is yielded last; stopping the iteration early makes
// the callback return an internal error that Walk swallows.
func Walk(walk func(fn func(Entry) error) error) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		stopped := false
		err := walk(func(e Entry) error {
			if !yield(e, nil) {
				stopped = true
				return errStopWalk
			}
			return nil
		})
		if err != nil && !stopped {
			yield(Entry{}, err)
		}
	}
}
