package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"

	"sealkeep/internal/envelope"
	"sealkeep/internal/errs"
	"sealkeep/internal/store"
)

// StoreCheck is the readiness check "store": a read transaction on st.
func StoreCheck(st store.Store) Check {
	return Check{Name: "store", Fn: func(ctx context.Context) error {
		return st.View(ctx, func(tx store.ReadTx) error {
			_, err := tx.AuditChains()
			return err
		})
	}}
}

// readyOrg is the binding of the KEK readiness probe: a name no
// organization can have (org IDs are lowercase), so its wrap fits no
// stored data key.
const readyOrg = "READYZ-PROBE"

// KEKCheck is the readiness check "kek": it wraps a random key under the
// active KEK version and unwraps it again (two KMS calls for a KEK held
// in AWS KMS).
func KEKCheck(kek envelope.KEK) Check {
	return Check{Name: "kek", Fn: func(ctx context.Context) error {
		probe := make([]byte, 32)
		_, _ = rand.Read(probe)
		defer clear(probe)
		b := envelope.DEKBinding{Org: readyOrg, DEKVersion: 1}
		w, err := kek.Wrap(ctx, kek.ActiveVersion(), b, probe)
		if err != nil {
			return fmt.Errorf("KEK wrap: %w", err)
		}
		got, err := kek.Unwrap(ctx, kek.ActiveVersion(), b, w)
		if err != nil {
			return fmt.Errorf("KEK unwrap: %w", err)
		}
		defer clear(got)
		if !bytes.Equal(got, probe) {
			return errs.New(errs.Verification, "KEK unwrap returned another key")
		}
		return nil
	}}
}
