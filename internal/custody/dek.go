package custody

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// DEKRotation is the result of [Service.RotateDEK].
type DEKRotation struct {
	Org         string   `json:"org"`
	New         uint32   `json:"new_dek_version"`
	Reencrypted int      `json:"reencrypted"`
	Erased      []uint32 `json:"erased_dek_versions"`
}

// erased reports whether a DEK row was erased by [Service.RotateDEK].
func erased(d store.WrappedDEK) bool { return d.Wrapped == nil }

// RotateDEK gives org a new DEK version, re-encrypts every key blob of the
// org under it, and erases every older DEK version (its wrapped key is
// removed from the row), in one transaction audited as dek.create with the
// erased versions listed. It is the step that makes destroyed keys
// unrecoverable from old database backups: those backups hold the blobs
// under a DEK that, after this and a KEK rotation and retirement, exists
// nowhere (see the README's crypto-erasure procedure).
//
// Re-encryption is the one place where a private key is decrypted outside
// a signing call: each plaintext is re-sealed at once and zeroed.
func (s *Service) RotateDEK(ctx context.Context, actor audit.Actor, org string) (DEKRotation, error) {
	out := DEKRotation{Org: org}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		out = DEKRotation{Org: org}
		if err := tx.LockChain(org); err != nil {
			return err
		}
		if _, err := tx.Org(org); err != nil {
			return lookup(err, "org %q", org)
		}
		state, err := s.foldOrg(tx, org)
		if err != nil {
			return err
		}
		if err := checkOrg(tx, org, state); err != nil {
			return err
		}
		deks, err := tx.DEKs(org)
		if err != nil {
			return err
		}
		if len(deks) == 0 {
			return mismatchf("org %q has no data key row", org)
		}
		newV := deks[len(deks)-1].Version + 1
		fresh, err := envelope.NewDEK(org, newV)
		if err != nil {
			return err
		}
		defer fresh.Zero()
		wrapped, kekV, err := envelope.WrapDEK(ctx, s.kek, fresh)
		if err != nil {
			return err
		}
		old := map[uint32]*envelope.DEK{}
		defer func() {
			for _, d := range old {
				d.Zero()
			}
		}()
		ids, err := tx.Identities(org)
		if err != nil {
			return err
		}
		n := uint64(0)
		for _, id := range ids {
			vs, err := tx.Versions(id.ID)
			if err != nil {
				return err
			}
			for _, v := range vs {
				if len(v.KeyBlob) == 0 {
					continue
				}
				dv, err := envelope.BlobDEKVersion(v.KeyBlob)
				if err != nil {
					return fmt.Errorf("identity %q version %d: %w", id.ID, v.Version, err)
				}
				dek, ok := old[dv]
				if !ok {
					row, err := tx.DEK(org, dv)
					if err != nil {
						return fmt.Errorf("data key %d of org %q: %w", dv, org, err)
					}
					if dek, err = envelope.UnwrapDEK(ctx, s.kek, org, row.Version, row.KEKVersion, row.Wrapped); err != nil {
						return fmt.Errorf("data key %d of org %q: %w", dv, org, err)
					}
					old[dv] = dek
				}
				b := envelope.Binding{Org: org, Identity: id.ID, Version: v.Version}
				plain, err := dek.Open(b, v.KeyBlob)
				if err != nil {
					return fmt.Errorf("identity %q version %d: %w (run `cert check` on it)", id.ID, v.Version, err)
				}
				blob, err := fresh.Seal(b, plain)
				clear(plain)
				if err != nil {
					return err
				}
				v.KeyBlob = blob
				if err := tx.PutVersion(v); err != nil {
					return err
				}
				n++
			}
		}
		var gone []string
		for _, d := range deks {
			if erased(d) {
				continue
			}
			out.Erased = append(out.Erased, d.Version)
			gone = append(gone, strconv.FormatUint(uint64(d.Version), 10))
			d.Wrapped = nil
			if err := tx.PutDEK(d); err != nil {
				return err
			}
		}
		if err := tx.PutDEK(store.WrappedDEK{OrgID: org, Version: newV, KEKVersion: kekV, Wrapped: wrapped, Encryptions: n, CreatedAt: s.now()}); err != nil {
			return err
		}
		out.New, out.Reencrypted = newV, int(n)
		_, err = tx.AppendAudit(s.entry(org, actor, audit.ActionDEKCreate, audit.Subject{Org: org}, map[string]string{
			audit.DetailDEKVersion:  strconv.FormatUint(uint64(newV), 10),
			audit.DetailKEKVersion:  strconv.FormatUint(uint64(kekV), 10),
			audit.DetailReencrypted: strconv.FormatUint(n, 10),
			"erased_dek_versions":   strings.Join(gone, ","),
		}))
		return err
	})
	if err != nil {
		return DEKRotation{}, fmt.Errorf("rotate data key of org %q: %w", org, s.refused(ctx, actor, store.Identity{OrgID: org}, 0, err))
	}
	slices.Sort(out.Erased)
	if s.dekCache != nil {
		for _, v := range out.Erased {
			s.dekCache.Forget(org, v)
		}
	}
	return out, nil
}
