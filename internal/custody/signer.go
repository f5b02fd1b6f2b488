package custody

import (
	"bytes"
	"context"
	"crypto"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/local"
	"sealkeep/internal/store"
)

// Signer returns a [crypto.Signer] for a version's key. An external key
// (held in the customer's KMS or HSM) is opened through its provider by the
// stored reference; see [Service.ExternalKey]. For a local key, every Sign
// call reads the blob from the store, unwraps the org DEK, decrypts the
// blob with the binding of this org, identity and version, signs, and
// zeroes the plaintext: nothing is cached, so a destroy takes effect on the
// next call. A blob or DEK that fails authentication (copied from another
// org, identity or version, or tampered with) is audited as
// security.decrypt_failed and nothing is signed.
//
// Before the signer is built and again on every signature, the org's
// chain is verified and folded and the version checked against it (see
// [ErrStateMismatch]): a stored row that differs from the trail signs
// nothing, and the refusal is audited as security.state_mismatch.
//
// Signer refuses revoked and destroyed versions (by the trail's status).
// It does not require the version to be active: callers that seal
// documents (the MFA-gated service) check that themselves; the CSR path
// signs with a pending version.
func (s *Service) Signer(ctx context.Context, actor audit.Actor, identity string, version int) (crypto.Signer, error) {
	ident, v, err := s.usable(ctx, actor, identity, version)
	if err != nil {
		return nil, err
	}
	return s.signerFor(ctx, actor, ident, v)
}

// signerFor builds the signer of version v of ident, read and checked
// against the trail by the caller: through its provider for an external
// key; for a local key, one whose every signature reads the version
// again, checked, with its DEK ([Service.openKey]).
func (s *Service) signerFor(ctx context.Context, actor audit.Actor, ident store.Identity, v store.Version) (crypto.Signer, error) {
	if v.KeyRef != KeyRefLocal {
		return s.externalSigner(ctx, actor, ident, v)
	}
	pub, err := x509.ParsePKIXPublicKey(v.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("stored public key of version %d: %w", v.Version, err)
	}
	return local.New(pub, func(ctx context.Context) ([]byte, error) {
		// Checked on every signature, not only when the signer was built:
		// a revoke or destroy takes effect on the next call.
		return s.openKey(ctx, actor, ident.ID, v.Version, v.PublicKey)
	})
}

// usable reads a version for signing: the org's chain is verified and
// folded, the identity's stored versions are checked against it, and a
// revoked or destroyed version is refused. A state mismatch is audited.
func (s *Service) usable(ctx context.Context, actor audit.Actor, identity string, version int) (store.Identity, store.Version, error) {
	ident, v, err := s.readChecked(ctx, actor, identity, version)
	if err != nil {
		return ident, v, err
	}
	return ident, v, usableStatus(v)
}

// usableStatus refuses a revoked or destroyed version.
func usableStatus(v store.Version) error {
	if v.Status == string(audit.StatusRevoked) || v.Status == string(audit.StatusDestroyed) {
		return fmt.Errorf("version %d is %s: %w", v.Version, v.Status, ErrForbidden)
	}
	return nil
}

// openKey returns the plaintext stored key form of a local version for
// one signature; the caller (the local signer) zeroes it. In one
// read-only transaction it reads the version as [Service.usable] does
// (checked against the verified fold, revoked and destroyed refused),
// requires the public key the signer was built with (pubDER), and reads
// the DEK row the key blob is encrypted under; then it unwraps that DEK
// (or takes it from the DEK cache) and decrypts the blob with the binding
// of this org, identity and version. A state mismatch (a DEK row missing
// or erased included) is audited as security.state_mismatch, a blob or DEK
// that fails authentication as security.decrypt_failed.
func (s *Service) openKey(ctx context.Context, actor audit.Actor, identity string, version int, pubDER []byte) ([]byte, error) {
	var (
		ident  store.Identity
		v      store.Version
		row    store.WrappedDEK
		dekV   uint32
		badDEK error // the blob names no DEK version
	)
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		if v, _, err = s.checkedVersion(tx, ident, version); err != nil {
			return err
		}
		if err := usableStatus(v); err != nil {
			return err
		}
		if !bytes.Equal(v.PublicKey, pubDER) {
			return mismatchf("identity %q version %d: the public key changed since the signer was built", identity, version)
		}
		if dekV, badDEK = envelope.BlobDEKVersion(v.KeyBlob); badDEK != nil {
			return nil
		}
		row, err = dekRow(tx, ident, version, dekV)
		return err
	})
	if err != nil {
		return nil, s.refused(ctx, actor, ident, version, err)
	}
	if badDEK != nil {
		return nil, s.decryptFailed(ctx, actor, ident, version, 0, badDEK)
	}
	return s.decrypt(ctx, actor, ident, version, row, v.KeyBlob)
}

// decryptBlob returns the plaintext stored key form of a blob bound to
// (ident, version), not necessarily stored yet (the CSR of a generated
// key). The caller (the local signer) zeroes it.
func (s *Service) decryptBlob(ctx context.Context, actor audit.Actor, ident store.Identity, version int, blob []byte) ([]byte, error) {
	dekV, err := envelope.BlobDEKVersion(blob)
	if err != nil {
		return nil, s.decryptFailed(ctx, actor, ident, version, 0, err)
	}
	var row store.WrappedDEK
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		row, err = dekRow(tx, ident, version, dekV)
		return err
	})
	if err != nil {
		return nil, s.refused(ctx, actor, ident, version, err)
	}
	return s.decrypt(ctx, actor, ident, version, row, blob)
}

// dekRow reads the DEK row (version dekV of ident's org) that a key blob
// of version of ident is encrypted under; one missing or erased is an
// [ErrStateMismatch].
func dekRow(tx store.ReadTx, ident store.Identity, version int, dekV uint32) (store.WrappedDEK, error) {
	row, err := tx.DEK(ident.OrgID, dekV)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && erased(row)):
		return row, mismatchf("identity %q version %d: its key blob is encrypted under data key %d of org %q, which is not stored",
			ident.ID, version, dekV, ident.OrgID)
	case err != nil:
		return row, fmt.Errorf("data key %d of org %q: %w", dekV, ident.OrgID, err)
	}
	return row, nil
}

// decrypt unwraps row's DEK (or takes it from the DEK cache) and opens
// blob with the binding of ident's org, ident and version; a blob that
// fails authentication is audited.
func (s *Service) decrypt(ctx context.Context, actor audit.Actor, ident store.Identity, version int, row store.WrappedDEK, blob []byte) ([]byte, error) {
	dek, err := s.unwrapDEK(ctx, actor, row)
	if err != nil {
		return nil, err
	}
	defer dek.Zero()
	plain, err := dek.Open(envelope.Binding{Org: ident.OrgID, Identity: ident.ID, Version: version}, blob)
	if err != nil {
		return nil, s.decryptFailed(ctx, actor, ident, version, row.Version, err)
	}
	return plain, nil
}

// decryptFailed audits a key blob that failed to decrypt and returns cause.
func (s *Service) decryptFailed(ctx context.Context, actor audit.Actor, ident store.Identity, version int, dekV uint32, cause error) error {
	e := s.entry(ident.OrgID, actor, audit.ActionSecurityDecryptFailed,
		audit.Subject{Org: ident.OrgID, Identity: ident.ID, Version: version}, map[string]string{
			audit.DetailDEKVersion: strconv.FormatUint(uint64(dekV), 10),
			audit.DetailError:      "key blob failed authentication",
		})
	return errors.Join(fmt.Errorf("identity %q version %d: %w", ident.ID, version, cause), s.recordSecurityEvent(ctx, e))
}

// CheckKey proves that a local version's key is intact and usable: it
// decrypts the blob through the same path as [Service.Signer], signs a
// random probe (never a document) and verifies the signature with the
// stored public key. A blob that fails authentication is audited as
// security.decrypt_failed.
func (s *Service) CheckKey(ctx context.Context, actor audit.Actor, identity string, version int) error {
	sgn, err := s.Signer(ctx, actor, identity, version)
	if err != nil {
		return err
	}
	var probe [32]byte
	if _, err := rand.Read(probe[:]); err != nil {
		return err
	}
	sum := sha256.Sum256(append([]byte("sealkeep key check\x00"), probe[:]...))
	msg, opts := sum[:], crypto.SignerOpts(crypto.SHA256)
	if _, isMLDSA := sgn.Public().(*mldsa.PublicKey); isMLDSA {
		opts = crypto.Hash(0) // ML-DSA signs the message itself
	}
	sig, err := signer.SignContext(ctx, sgn, rand.Reader, msg, opts)
	if err != nil {
		return err
	}
	return signer.VerifySignature(sgn.Public(), msg, sig, opts)
}
