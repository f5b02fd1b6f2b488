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

type versionKey struct {
	identity string
	version  int
}

// State is the status of every version of one chain, built by applying its
// entries in order. It enforces [Next] for each version plus the rules that
// span an identity: at most one version is active; version.activate needs
// none active; version.rotate names the active version in the old_version
// detail and supersedes it; version.revoke needs a reason. The zero State
// is empty and ready to use.
type State struct {
	versions map[versionKey]*VersionState
	active   map[string]int // identity -> its active version
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
	if e.Action == ActionDEKCreate {
		return s.applyDEKRotation(e)
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
	c := &State{versions: make(map[versionKey]*VersionState, len(s.versions)), active: maps.Clone(s.active)}
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
	if !e.Action.IsLifecycle() {
		return nil, nil
	}
	id, n := e.Subject.Identity, e.Subject.Version
	if id == "" || n < 1 {
		return nil, fmt.Errorf("%w: %s entry must name an identity and a version >= 1", ErrInvalidEntry, e.Action)
	}
	cur := s.Version(id, n)
	to, err := Next(cur.Status, e.Action)
	if err != nil {
		return nil, fmt.Errorf("identity %.64q version %d: %w", id, n, err)
	}
	next := cur
	if to != cur.Status {
		next.Status, next.Since, next.Seq = to, e.Time, e.Seq
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
	cur.Status, cur.Since, cur.Seq = to, e.Time, e.Seq
	return change{versionKey{e.Subject.Identity, old}, cur}, nil
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

// StatusAt returns the state that version of identity had at time t: the
// fold of the entries before the first one recorded after t. A revocation
// recorded later whose revoked_at is at or before t counts too (a key
// compromise found after the fact), so a seal made after the compromise
// shows as made by a revoked version. The whole chain is folded, so a
// lifecycle error anywhere is returned.
func StatusAt(entries iter.Seq2[Entry, error], identity string, version int, t time.Time) (VersionState, error) {
	var (
		s     State
		snap  VersionState
		taken bool
	)
	for e, err := range entries {
		if err != nil {
			return VersionState{}, fmt.Errorf("audit: fold: %w", err)
		}
		if !taken && e.Time.After(t) {
			snap, taken = s.Version(identity, version), true
		}
		if err := s.Apply(e); err != nil {
			return VersionState{}, fmt.Errorf("audit: fold: entry %d: %w", e.Seq, err)
		}
	}
	if !taken {
		return s.Version(identity, version), nil
	}
	final := s.Version(identity, version)
	if snap.Status != StatusNone && snap.RevokedAt.IsZero() && !final.RevokedAt.IsZero() && !final.RevokedAt.After(t) {
		snap.Status, snap.RevokedAt, snap.RevokeReason = StatusRevoked, final.RevokedAt, final.RevokeReason
	}
	return snap, nil
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
