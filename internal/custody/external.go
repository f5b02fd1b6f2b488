package custody

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"strings"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/store"
)

// providerKey is what every registered provider's signer tells about its
// key: the scheme and a key URI that holds no secret.
type providerKey interface {
	Provider() string
	KeyRef() string
}

// uriKey describes a provider's key by its parsed URI, for signers that do
// not report a reference of their own.
type uriKey struct{ u *signer.URI }

func (k uriKey) Provider() string { return k.u.Scheme }
func (k uriKey) KeyRef() string   { return k.u.String() }

// ExternalKey records a key held in the customer's KMS or HSM, named by
// keyURI (see package signer; a URI carrying a secret is refused), as a new
// pending version of identity, and returns that version and a PKCS#10 CSR
// for subject signed through the provider.
//
// The provider's public key must pass the key policy. The version stores
// the provider's safe key reference (its KeyRef, never the URI as given),
// (or, for a provider that reports none, the parsed URI, which
// [signer.ParseURI] has checked holds no secret), no key blob and the
// provider's public key; one key.external entry (key
// reference, provider, algorithm) is written in the same transaction.
// Upload, activation, rotation and revocation then work as for a generated
// key. Destroying such a version deletes nothing in the customer's KMS: the
// customer cuts sealkeep off by removing its grant.
func (s *Service) ExternalKey(ctx context.Context, actor audit.Actor, identity, keyURI string, subject pkix.Name) (VersionInfo, []byte, error) {
	if strings.TrimSpace(subject.CommonName) == "" {
		return VersionInfo{}, nil, invalidf("the CSR subject needs a common name")
	}
	if _, err := s.identityOf(ctx, identity); err != nil {
		return VersionInfo{}, nil, err
	}
	sgn, err := signer.Open(ctx, keyURI)
	if err != nil {
		return VersionInfo{}, nil, externalErr("open external key", err)
	}
	pk, ok := sgn.(providerKey)
	if !ok {
		// The URI passed signer.ParseURI, which refuses secrets.
		u, err := signer.ParseURI(keyURI)
		if err != nil {
			return VersionInfo{}, nil, externalErr("external key", err)
		}
		pk = uriKey{u}
	}
	alg, err := keypolicy.CheckPublicKey(sgn.Public())
	if err != nil {
		return VersionInfo{}, nil, invalid(fmt.Errorf("external key %s: %w", pk.KeyRef(), err))
	}
	pubDER, err := x509.MarshalPKIXPublicKey(sgn.Public())
	if err != nil {
		return VersionInfo{}, nil, invalid(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject},
		ctxSigner{ctx: ctx, s: signer.Verified(sgn)})
	if err != nil {
		return VersionInfo{}, nil, externalErr("sign the CSR through "+pk.Provider(), err)
	}
	st, err := next("", audit.ActionKeyExternal)
	if err != nil {
		return VersionInfo{}, nil, err
	}
	var ident store.Identity
	var v store.Version
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		if err := tx.LockChain(ident.OrgID); err != nil {
			return err
		}
		state, err := s.foldOrg(tx, ident.OrgID)
		if err != nil {
			return err
		}
		if err := checkIdentity(tx, state, ident.ID); err != nil {
			return err
		}
		n, err := nextVersion(tx, identity)
		if err != nil {
			return err
		}
		if err := checkNotHeld(tx, ident.ID, n, nil, pubDER); err != nil {
			return err
		}
		e := s.entry(ident.OrgID, actor, audit.ActionKeyExternal,
			audit.Subject{Org: ident.OrgID, Identity: ident.ID, Version: n}, map[string]string{
				audit.DetailKeyRef: pk.KeyRef(), audit.DetailProvider: pk.Provider(), audit.DetailAlgorithm: alg,
				audit.DetailSPKISHA256: thumbprint(pubDER),
			})
		if err := state.Check(e); err != nil {
			return err
		}
		now := s.now()
		v = store.Version{IdentityID: ident.ID, Version: n, Status: st, KeyRef: pk.KeyRef(),
			PublicKey: pubDER, CSR: csr, CreatedAt: now, UpdatedAt: now}
		if err := putVersion(tx, v); err != nil {
			return err
		}
		_, err = tx.AppendAudit(e)
		return err
	})
	if isHeld(err) {
		return VersionInfo{}, nil, s.reject(ctx, actor, ident, 0, "external key", err)
	}
	if err != nil {
		return VersionInfo{}, nil, fmt.Errorf("external key: %w", s.refused(ctx, actor, ident, 0, err))
	}
	s.log.InfoContext(ctx, "external key recorded", "identity", ident.ID, "version", v.Version,
		"provider", pk.Provider(), "key_ref", pk.KeyRef(), "algorithm", alg)
	return describe(ident, v), csr, nil
}

// externalErr wraps a provider error: a malformed URI is invalid input, a
// refusal is forbidden; both keep the provider's sentinel in the chain.
func externalErr(what string, err error) error {
	switch {
	case errors.Is(err, signer.ErrInvalidURI), errors.Is(err, signer.ErrUnsupported), errors.Is(err, signer.ErrKeyNotFound):
		return invalid(fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, signer.ErrAccessDenied):
		return fmt.Errorf("%s: the customer's key provider refused: %w", what, errors.Join(err, ErrForbidden))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// externalSigner opens the external key of version v by its stored
// reference, checks that the provider still holds the key the version was
// created for, and returns it wrapped so that every signature is verified
// and every refusal is audited as security.sign_failed. Nothing falls back
// to another key.
func (s *Service) externalSigner(ctx context.Context, actor audit.Actor, ident store.Identity, v store.Version) (crypto.Signer, error) {
	stored, err := x509.ParsePKIXPublicKey(v.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("stored public key of version %d: %w", v.Version, err)
	}
	sf := signFailure{s: s, actor: actor, ident: ident, version: v.Version, ref: v.KeyRef}
	sgn, err := signer.Open(ctx, v.KeyRef)
	if err != nil {
		return nil, sf.record(ctx, externalErr("open external key "+v.KeyRef, err))
	}
	if !keypolicy.PublicKeysEqual(sgn.Public(), stored) {
		return nil, sf.record(ctx, fmt.Errorf("external key %s of version %d no longer has the public key the version was created with: %w: %w",
			v.KeyRef, v.Version, keypolicy.ErrMismatch, ErrForbidden))
	}
	return &auditedSigner{s: signer.Verified(sgn), sf: sf}, nil
}

// signFailure records a failed external signature of one version.
type signFailure struct {
	s       *Service
	actor   audit.Actor
	ident   store.Identity
	version int
	ref     string
}

// record audits err as security.sign_failed if it is a refusal, a key
// mismatch or a bad signature, and returns err (joined with a failure to
// record). Unavailability and cancellation are not security events.
func (f signFailure) record(ctx context.Context, err error) error {
	var why string
	switch {
	case errors.Is(err, signer.ErrAccessDenied):
		why = "the customer's key provider refused"
	case errors.Is(err, signer.ErrBadSignature):
		why = "the key provider returned a signature that does not verify"
	case errors.Is(err, ErrForbidden):
		why = "the external key's public key differs from the stored one"
	case errors.Is(err, signer.ErrKeyNotFound):
		why = "the external key was not found"
	default:
		return err
	}
	provider, _, _ := strings.Cut(f.ref, ":")
	e := f.s.entry(f.ident.OrgID, f.actor, audit.ActionSecuritySignFailed,
		audit.Subject{Org: f.ident.OrgID, Identity: f.ident.ID, Version: f.version}, map[string]string{
			audit.DetailKeyRef: f.ref, audit.DetailProvider: provider, audit.DetailError: why,
		})
	// The audit write must not be cut short by the caller's expired deadline.
	return errors.Join(err, f.s.recordSecurityEvent(context.WithoutCancel(ctx), e))
}

// auditedSigner is a verified external signer whose failures are audited.
type auditedSigner struct {
	s  crypto.Signer
	sf signFailure
}

var _ signer.ContextSigner = (*auditedSigner)(nil)

// Public returns the external key's public key (no I/O).
func (a *auditedSigner) Public() crypto.PublicKey { return a.s.Public() }

// Sign signs digest through the provider without a deadline.
func (a *auditedSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return a.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest through the provider within ctx.
func (a *auditedSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := signer.SignContext(ctx, a.s, rand.Reader, digest, opts)
	if err != nil {
		return nil, a.sf.record(ctx, err)
	}
	return sig, nil
}

// ctxSigner binds a context to a signer for APIs (x509) that take a plain
// [crypto.Signer].
type ctxSigner struct {
	ctx context.Context
	s   crypto.Signer
}

func (c ctxSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c ctxSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return signer.SignContext(c.ctx, c.s, r, digest, opts)
}
