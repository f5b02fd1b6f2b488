package auth

import (
	"context"
	"fmt"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/store"
)

// TOTP secrets are sealed under the system data key: a random DEK of the
// reserved org store.SystemDEKOrg, wrapped by the KEK exactly as org DEKs
// are and stored with them (store.ReadTx.AllDEKs lists it), so that KEK
// rotation re-wraps it and KEK retirement waits for it. A user belongs to
// no org or to several, and the operator to none, so no org DEK fits; and a
// KMS-held KEK cannot derive keys, only wrap them. Each secret is bound
// (envelope.SecretBinding) to the purpose "totp" and the user ID, so a
// sealed secret copied to another user's row fails to open.

const secretPurposeTOTP = "totp"

// sealSecret seals plaintext for user under the newest system DEK, making
// version 1 on first use and a new version when the newest has used its
// random-nonce budget; it counts the encryption. It runs inside tx with
// the system chain locked (as KEK rotation locks it), so that DEK rows
// and counts do not race.
func (s *Service) sealSecret(ctx context.Context, tx store.Tx, user string, plaintext []byte) ([]byte, error) {
	if err := tx.LockChain(audit.SystemChain); err != nil {
		return nil, err
	}
	deks, err := tx.DEKs(store.SystemDEKOrg)
	if err != nil {
		return nil, err
	}
	var dek *envelope.DEK
	var row store.WrappedDEK
	if n := len(deks); n > 0 && deks[n-1].Encryptions < envelope.MaxEncryptionsPerDEK && deks[n-1].Wrapped != nil {
		row = deks[n-1]
		if dek, err = envelope.UnwrapDEK(ctx, s.kek, row.OrgID, row.Version, row.KEKVersion, row.Wrapped); err != nil {
			return nil, fmt.Errorf("unwrap the system data key %d: %w", row.Version, err)
		}
	} else {
		v := uint32(n + 1)
		if n > 0 {
			v = deks[n-1].Version + 1
		}
		if dek, err = envelope.NewDEK(store.SystemDEKOrg, v); err != nil {
			return nil, err
		}
		wrapped, kekV, err := envelope.WrapDEK(ctx, s.kek, dek)
		if err != nil {
			dek.Zero()
			return nil, fmt.Errorf("wrap the system data key: %w", err)
		}
		row = store.WrappedDEK{OrgID: store.SystemDEKOrg, Version: v, KEKVersion: kekV, Wrapped: wrapped, CreatedAt: s.now()}
		if _, err := tx.AppendAudit(s.entry(audit.SystemChain, audit.Actor{Kind: audit.ActorSystem}, audit.ActionDEKCreate, audit.Subject{}, map[string]string{
			audit.DetailDEKVersion: strconv.FormatUint(uint64(v), 10),
			audit.DetailKEKVersion: strconv.FormatUint(uint64(kekV), 10),
			"purpose":              "system secrets",
		})); err != nil {
			dek.Zero()
			return nil, err
		}
	}
	defer dek.Zero()
	sealed, err := dek.SealSecret(envelope.SecretBinding{Purpose: secretPurposeTOTP, Owner: user}, plaintext)
	if err != nil {
		return nil, err
	}
	row.Encryptions++
	if err := tx.PutDEK(row); err != nil {
		return nil, err
	}
	return sealed, nil
}

// openSecret opens a secret of user sealed by sealSecret; the caller
// zeroes the result.
func (s *Service) openSecret(ctx context.Context, row store.WrappedDEK, user string, sealed []byte) ([]byte, error) {
	var dek *envelope.DEK
	ok := false
	if s.dekCache != nil {
		dek, ok = s.dekCache.Get(row.OrgID, row.Version)
	}
	if !ok {
		var err error
		if dek, err = envelope.UnwrapDEK(ctx, s.kek, row.OrgID, row.Version, row.KEKVersion, row.Wrapped); err != nil {
			return nil, fmt.Errorf("unwrap the system data key %d: %w", row.Version, err)
		}
		if s.dekCache != nil {
			s.dekCache.Put(dek)
		}
	}
	defer dek.Zero()
	return dek.OpenSecret(envelope.SecretBinding{Purpose: secretPurposeTOTP, Owner: user}, sealed)
}

// secretDEK reads the system DEK row that opens sealed.
func secretDEK(tx store.ReadTx, sealed []byte) (store.WrappedDEK, error) {
	v, err := envelope.BlobDEKVersion(sealed)
	if err != nil {
		return store.WrappedDEK{}, err
	}
	return tx.DEK(store.SystemDEKOrg, v)
}
