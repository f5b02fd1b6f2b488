package custody

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// KEKStatus describes the KEK keyring and what each version wraps.
type KEKStatus struct {
	Active    uint32        `json:"active"`
	Versions  []KEKVersion  `json:"versions"`
	Rotatable bool          `json:"rotatable"` // the source can add versions (a keyring file)
	DEKs      []DEKLocation `json:"deks"`
}

// KEKVersion is one version of the keyring.
type KEKVersion struct {
	Version uint32 `json:"version"`
	Active  bool   `json:"active"`
	DEKs    int    `json:"deks"` // org DEKs wrapped under it
}

// DEKLocation says which KEK version wraps an org DEK.
type DEKLocation struct {
	Org         string `json:"org"`
	DEKVersion  uint32 `json:"dek_version"`
	KEKVersion  uint32 `json:"kek_version"`
	Encryptions uint64 `json:"encryptions"`
}

// KEKStatus reports the keyring versions and the DEKs under each.
func (s *Service) KEKStatus(ctx context.Context) (KEKStatus, error) {
	var deks []store.WrappedDEK
	if err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		deks, err = tx.AllDEKs()
		return err
	}); err != nil {
		return KEKStatus{}, err
	}
	out := KEKStatus{Active: s.kek.ActiveVersion()}
	_, out.Rotatable = s.kek.(envelope.KEKRotator)
	count := map[uint32]int{}
	for _, d := range deks {
		if erased(d) {
			continue
		}
		count[d.KEKVersion]++
		out.DEKs = append(out.DEKs, DEKLocation{Org: d.OrgID, DEKVersion: d.Version, KEKVersion: d.KEKVersion, Encryptions: d.Encryptions})
	}
	for _, v := range s.kek.Versions() {
		out.Versions = append(out.Versions, KEKVersion{Version: v, Active: v == out.Active, DEKs: count[v]})
	}
	return out, nil
}

// KEKRotation is the result of [Service.RotateKEK].
type KEKRotation struct {
	// Added is the KEK version added by this call (0 if the call completed an
	// interrupted rotation instead).
	Added uint32 `json:"added,omitempty"`
	// Active is the KEK version every DEK is now wrapped under.
	Active uint32 `json:"active"`
	// Rewrapped is the number of DEKs re-wrapped.
	Rewrapped int `json:"rewrapped"`
}

// RotateKEK adds a KEK version and re-wraps every org DEK under it, in one
// transaction audited as kek.rotate in the system chain. Key blobs are not
// touched.
//
// The keyring file and the database cannot change atomically together, so
// the order is: add the version to the keyring (the old versions stay, so
// every DEK still unwraps), then re-wrap in one transaction. If the process
// dies between the two, a DEK is still wrapped under an older version; the
// next RotateKEK sees that and completes the re-wrap without adding another
// version. No order loses a key: a version is only removed by
// [Service.RetireKEK], which refuses while anything is wrapped under it.
//
// progress, if not nil, is called with (done, total) during the re-wrap.
func (s *Service) RotateKEK(ctx context.Context, actor audit.Actor, progress func(done, total int)) (KEKRotation, error) {
	var out KEKRotation
	pending, err := s.dekWrappedOutsideActive(ctx)
	if err != nil {
		return out, err
	}
	if !pending {
		rot, ok := s.kek.(envelope.KEKRotator)
		if !ok {
			return out, fmt.Errorf("the KEK comes from a source that cannot add versions (an environment variable); add a version to it by hand and restart: %w", ErrForbidden)
		}
		v, err := rot.AddVersion(ctx)
		if errors.Is(err, envelope.ErrReadOnly) {
			return out, fmt.Errorf("add KEK version: %w: %w", err, ErrForbidden)
		}
		if err != nil {
			return out, fmt.Errorf("add KEK version: %w", err)
		}
		out.Added = v
		s.fault("kek.added")
	}
	active := s.kek.ActiveVersion()
	out.Active = active
	err = s.st.Update(ctx, func(tx store.Tx) error {
		// Lock the system chain, then every org chain in order (the order
		// CreateOrg uses), so that no DEK is counted or added meanwhile.
		if err := tx.LockChain(audit.SystemChain); err != nil {
			return err
		}
		orgs, err := tx.Orgs()
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if err := tx.LockChain(o.ID); err != nil {
				return err
			}
		}
		deks, err := tx.AllDEKs()
		if err != nil {
			return err
		}
		n := 0
		from := map[uint32]bool{}
		for i, d := range deks {
			if progress != nil {
				progress(i, len(deks))
			}
			if d.KEKVersion == active || erased(d) {
				continue
			}
			dek, err := envelope.UnwrapDEK(ctx, s.kek, d.OrgID, d.Version, d.KEKVersion, d.Wrapped)
			if err != nil {
				return fmt.Errorf("unwrap DEK %d of org %q: %w", d.Version, d.OrgID, err)
			}
			wrapped, kv, err := envelope.WrapDEK(ctx, s.kek, dek)
			dek.Zero()
			if err != nil {
				return fmt.Errorf("wrap DEK %d of org %q: %w", d.Version, d.OrgID, err)
			}
			from[d.KEKVersion] = true
			d.Wrapped, d.KEKVersion = wrapped, kv
			if err := tx.PutDEK(d); err != nil {
				return err
			}
			n++
			if n == 1 {
				s.fault("kek.in_tx")
			}
		}
		if progress != nil {
			progress(len(deks), len(deks))
		}
		out.Rewrapped = n
		olds := make([]string, 0, len(from))
		for v := range from {
			olds = append(olds, strconv.FormatUint(uint64(v), 10))
		}
		slices.Sort(olds)
		details := map[string]string{
			audit.DetailKEKVersion: strconv.FormatUint(uint64(active), 10),
			"rewrapped":            strconv.Itoa(n),
			"from_kek_versions":    fmt.Sprint(olds),
		}
		if out.Added == 0 {
			details["completed_interrupted"] = "true"
		}
		_, err = tx.AppendAudit(s.entry(audit.SystemChain, actor, audit.ActionKEKRotate, audit.Subject{}, details))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("re-wrap data keys under KEK version %d (run `kek rotate` again to complete it): %w", active, err)
	}
	s.fault("kek.committed")
	s.log.InfoContext(ctx, "KEK rotated", "active", active, "rewrapped", out.Rewrapped)
	return out, nil
}

// dekWrappedOutsideActive reports whether any DEK is wrapped under a KEK
// version other than the active one (an interrupted rotation).
func (s *Service) dekWrappedOutsideActive(ctx context.Context) (bool, error) {
	active := s.kek.ActiveVersion()
	var found bool
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		deks, err := tx.AllDEKs()
		for _, d := range deks {
			found = found || (d.KEKVersion != active && !erased(d))
		}
		return err
	})
	return found, err
}

// RetireKEK removes KEK version v from the keyring, so that database
// backups whose DEKs are wrapped only under v become unreadable
// (crypto-erasure). It refuses while v is active or any DEK is still wrapped
// under v. The retirement is audited as kek.retire in the system chain after
// the keyring changes; a re-run after a crash in between writes the missing
// entry.
func (s *Service) RetireKEK(ctx context.Context, actor audit.Actor, v uint32) error {
	rot, ok := s.kek.(envelope.KEKRotator)
	if !ok {
		return fmt.Errorf("the KEK comes from a source that cannot retire versions (an environment variable): %w", ErrForbidden)
	}
	if v == s.kek.ActiveVersion() {
		return fmt.Errorf("KEK version %d is active; rotate first (`kek rotate`): %w", v, ErrConflict)
	}
	var users int
	var audited bool
	vs := strconv.FormatUint(uint64(v), 10)
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		deks, err := tx.AllDEKs()
		if err != nil {
			return err
		}
		for _, d := range deks {
			if d.KEKVersion == v && !erased(d) {
				users++
			}
		}
		return tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
			if e.Action == audit.ActionKEKRetire && e.Details[audit.DetailKEKVersion] == vs {
				audited = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if users > 0 {
		return fmt.Errorf("KEK version %d still wraps %d data key(s); run `kek rotate` first: %w", v, users, ErrConflict)
	}
	ring := s.kek.Versions()
	inRing := slices.Contains(ring, v)
	// Versions are numbered upwards, so a number below the newest that is
	// no longer in the ring was retired (perhaps without its entry yet).
	existed := inRing || (len(ring) > 0 && v < slices.Max(ring) && v > 0)
	switch {
	case !existed || (!inRing && audited):
		return fmt.Errorf("KEK version %d is not in the keyring: %w", v, ErrNotFound)
	case inRing:
		err := rot.Retire(ctx, v)
		if errors.Is(err, envelope.ErrReadOnly) {
			return fmt.Errorf("retire KEK version %d: %w: %w", v, err, ErrForbidden)
		}
		if err != nil {
			return fmt.Errorf("retire KEK version %d: %w", v, err)
		}
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(s.entry(audit.SystemChain, actor, audit.ActionKEKRetire, audit.Subject{},
			map[string]string{audit.DetailKEKVersion: vs}))
		return err
	})
	if err != nil {
		return fmt.Errorf("KEK version %d was retired but the audit entry failed (run `kek retire %d` again to record it): %w", v, v, err)
	}
	return nil
}
