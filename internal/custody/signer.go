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
	if v.KeyRef != KeyRefLocal {
		return s.externalSigner(ctx, actor, ident, v)
	}
	pub, err := x509.ParsePKIXPublicKey(v.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("stored public key of version %d: %w", version, err)
	}
	return local.New(pub, func(ctx context.Context) ([]byte, error) {
		// Checked on every signature, not only when the signer was built:
		// a revoke or destroy takes effect on the next call.
		_, cur, err := s.usable(ctx, actor, identity, version)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(cur.PublicKey, v.PublicKey) {
			return nil, s.refused(ctx, actor, ident, version,
				mismatchf("identity %q version %d: the public key changed since the signer was built", identity, version))
		}
		return s.decryptBlob(ctx, actor, ident, version, cur.KeyBlob)
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
	if v.Status == string(audit.StatusRevoked) || v.Status == string(audit.StatusDestroyed) {
		return ident, v, fmt.Errorf("version %d is %s: %w", version, v.Status, ErrForbidden)
	}
	return ident, v, nil
}

// decryptBlob returns the plaintext stored key form of a blob bound to
// (ident, version). The caller (the local signer) zeroes it.
func (s *Service) decryptBlob(ctx context.Context, actor audit.Actor, ident store.Identity, version int, blob []byte) ([]byte, error) {
	dekV, err := envelope.BlobDEKVersion(blob)
	if err != nil {
		return nil, s.decryptFailed(ctx, actor, ident, version, 0, err)
	}
	var row store.WrappedDEK
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		row, err = tx.DEK(ident.OrgID, dekV)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && erased(row)) {
		err = mismatchf("identity %q version %d: its key blob is encrypted under data key %d of org %q, which is not stored",
			ident.ID, version, dekV, ident.OrgID)
		return nil, s.refused(ctx, actor, ident, version, err)
	}
	if err != nil {
		return nil, fmt.Errorf("data key %d of org %q: %w", dekV, ident.OrgID, err)
	}
	dek, err := s.unwrapDEK(ctx, actor, row)
	if err != nil {
		return nil, err
	}
	defer dek.Zero()
	plain, err := dek.Open(envelope.Binding{Org: ident.OrgID, Identity: ident.ID, Version: version}, blob)
	if err != nil {
		return nil, s.decryptFailed(ctx, actor, ident, version, dekV, err)
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
