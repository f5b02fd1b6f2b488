package custody

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer/local"
	"sealkeep/internal/store"
)

// KeyRefLocal is the key reference of a key held encrypted in the database.
const KeyRefLocal = audit.KeyRefLocal

// maxReason bounds a reason's length (it is stored in the audit trail).
const maxReason = 1000

// next asks the lifecycle rule (audit.Next) for the status after action a.
func next(from string, a audit.Action) (string, error) {
	to, err := audit.Next(audit.Status(from), a)
	if err != nil {
		return "", err
	}
	return string(to), nil
}

// nextVersion returns the number the next version of an identity gets.
func nextVersion(tx store.ReadTx, identity string) (int, error) {
	vs, err := tx.Versions(identity)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vs {
		n = max(n, v.Version)
	}
	return n + 1, nil
}

// sealKey encrypts a private key for (org, identity, version) under the
// org's current DEK. The plaintext stored form is zeroed before it returns.
// It returns the blob and the DEK version to count the encryption against.
func (s *Service) sealKey(ctx context.Context, actor audit.Actor, ident store.Identity, version int, key crypto.Signer) ([]byte, uint32, error) {
	dek, err := s.encryptionDEK(ctx, actor, ident.OrgID)
	if err != nil {
		return nil, 0, err
	}
	defer dek.Zero()
	plain, err := local.Marshal(key)
	if err != nil {
		return nil, 0, invalid(err)
	}
	defer clear(plain)
	blob, err := dek.Seal(envelope.Binding{Org: ident.OrgID, Identity: ident.ID, Version: version}, plain)
	if err != nil {
		return nil, 0, err
	}
	return blob, dek.Version(), nil
}

// GenerateKey generates a local key of algorithm alg ("" for the policy
// default) for a new pending version of identity, and returns that version
// and a PKCS#10 CSR for subject, signed through the local signer (decrypting
// the already encrypted blob). Nothing is written before the key is
// encrypted.
func (s *Service) GenerateKey(ctx context.Context, actor audit.Actor, identity, alg string, subject pkix.Name) (VersionInfo, []byte, error) {
	if strings.TrimSpace(subject.CommonName) == "" {
		return VersionInfo{}, nil, invalidf("the CSR subject needs a common name")
	}
	if alg == "" {
		alg = keypolicy.Default
	}
	if _, err := s.identityOf(ctx, identity); err != nil {
		return VersionInfo{}, nil, err
	}
	key, err := keypolicy.Generate(alg)
	if err != nil {
		return VersionInfo{}, nil, invalid(err)
	}
	defer local.Wipe(key) // the encrypted blob is the only copy kept
	ident, v, err := s.addVersion(ctx, actor, identity, newVersion{
		action: audit.ActionKeyGenerate, point: "generate", key: key,
		details: map[string]string{audit.DetailAlgorithm: alg, audit.DetailKeyRef: KeyRefLocal},
		fill: func(ident store.Identity, v *store.Version) error {
			blob := v.KeyBlob
			sgn, err := local.New(key.Public(), func(ctx context.Context) ([]byte, error) {
				return s.decryptBlob(ctx, actor, ident, v.Version, blob)
			})
			if err != nil {
				return err
			}
			v.CSR, err = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, sgn)
			if err != nil {
				return fmt.Errorf("create CSR: %w", err)
			}
			return nil
		},
	})
	if err != nil {
		return VersionInfo{}, nil, fmt.Errorf("generate key: %w", err)
	}
	s.log.InfoContext(ctx, "key generated", "identity", ident.ID, "version", v.Version, "algorithm", alg)
	return describe(ident, v), v.CSR, nil
}

// errRace means a concurrent change took the version number or the DEK
// budget that a prepared blob relies on; addVersion retries.
var errRace = fmt.Errorf("changed concurrently; retry: %w", ErrConflict)

// maxRaceRetries bounds addVersion's retries: each lost race means another
// version was committed, so n concurrent callers lose at most n-1 times.
const maxRaceRetries = 16

// newVersion describes a version that GenerateKey or Import adds.
type newVersion struct {
	action  audit.Action  // key.generate or cert.import
	point   string        // fault-point prefix (tests)
	key     crypto.Signer // encrypted for the version's number
	details map[string]string
	// fill completes the version (certificate, CSR) once its number and
	// encrypted blob are known.
	fill func(ident store.Identity, v *store.Version) error
}

// addVersion encrypts nv.key for the next version number of identity and
// stores the version with its audit entry in one transaction. The key is
// encrypted before anything is written; if another version took the number
// (or the DEK changed) meanwhile, it encrypts again for the next number.
func (s *Service) addVersion(ctx context.Context, actor audit.Actor, identity string, nv newVersion) (store.Identity, store.Version, error) {
	st, err := next("", nv.action)
	if err != nil {
		return store.Identity{}, store.Version{}, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(nv.key.Public())
	if err != nil {
		return store.Identity{}, store.Version{}, invalid(err)
	}
	for attempt := 0; ; attempt++ {
		ident, n, err := s.identityAndNext(ctx, identity)
		if err != nil {
			return ident, store.Version{}, s.refused(ctx, actor, ident, 0, err)
		}
		blob, dekV, err := s.sealKey(ctx, actor, ident, n, nv.key)
		if err != nil {
			return ident, store.Version{}, s.refused(ctx, actor, ident, n, err)
		}
		now := s.now()
		v := store.Version{IdentityID: ident.ID, Version: n, Status: st, KeyRef: KeyRefLocal, KeyBlob: blob,
			PublicKey: pubDER, CreatedAt: now, UpdatedAt: now}
		if err := nv.fill(ident, &v); err != nil {
			return ident, store.Version{}, err
		}
		s.fault(nv.point + ".encrypted")
		details := maps.Clone(nv.details)
		details[audit.DetailDEKVersion] = strconv.FormatUint(uint64(dekV), 10)
		details[audit.DetailSPKISHA256] = thumbprint(pubDER)
		if v.CertDER != nil {
			details[audit.DetailThumbprint] = thumbprint(v.CertDER)
		}
		e := s.entry(ident.OrgID, actor, nv.action, audit.Subject{Org: ident.OrgID, Identity: ident.ID, Version: n}, details)
		err = s.st.Update(ctx, func(tx store.Tx) error {
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
			if err := checkNext(tx, ident.ID, n); err != nil {
				return err
			}
			if err := checkNotHeld(tx, ident.ID, n, v.CertDER, v.PublicKey); err != nil {
				return err
			}
			if err := state.Check(e); err != nil {
				return err
			}
			if err := s.countEncryption(tx, ident.OrgID, dekV); err != nil {
				return err
			}
			if err := putVersion(tx, v); err != nil {
				return err
			}
			s.fault(nv.point + ".in_tx")
			_, err = tx.AppendAudit(e)
			return err
		})
		if errors.Is(err, errRace) && attempt < maxRaceRetries {
			continue
		}
		if isHeld(err) {
			return ident, store.Version{}, s.reject(ctx, actor, ident, 0, nv.point, err)
		}
		if err != nil {
			return ident, store.Version{}, s.refused(ctx, actor, ident, n, err)
		}
		s.fault(nv.point + ".committed")
		return ident, v, nil
	}
}

// putVersion stores v; a certificate or key that another version took
// meanwhile (the store's unique thumbprints) is refused as held.
func putVersion(tx store.Tx, v store.Version) error {
	err := tx.PutVersion(v)
	if errors.Is(err, store.ErrConflict) {
		return heldError{"this certificate or key is already held in custody by another identity"}
	}
	return corrupt(err)
}

// identityOf reads an identity.
func (s *Service) identityOf(ctx context.Context, identity string) (store.Identity, error) {
	var ident store.Identity
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		ident, err = tx.Identity(identity)
		return lookup(err, "identity %q", identity)
	})
	return ident, err
}

// identityAndNext reads an identity and the number its next version gets.
func (s *Service) identityAndNext(ctx context.Context, identity string) (store.Identity, int, error) {
	var ident store.Identity
	var n int
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		n, err = nextVersion(tx, identity)
		return err
	})
	return ident, n, err
}

// checkNext fails with ErrConflict if version n of identity was taken
// since it was chosen (the encrypted blob is bound to n).
func checkNext(tx store.ReadTx, identity string, n int) error {
	got, err := nextVersion(tx, identity)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("identity %q: version %d was created concurrently: %w", identity, n, errRace)
	}
	return nil
}

// reject records a rejected upload or import in the org's chain (its own
// transaction) and returns cause as invalid input.
func (s *Service) reject(ctx context.Context, actor audit.Actor, ident store.Identity, version int, what string, cause error) error {
	e := s.entry(ident.OrgID, actor, audit.ActionSecurityImportRejected,
		audit.Subject{Org: ident.OrgID, Identity: ident.ID, Version: version},
		map[string]string{audit.DetailReason: truncate(what+": "+cause.Error(), maxReason)})
	return errors.Join(invalid(cause), s.recordSecurityEvent(ctx, e))
}

// checkStillValid refuses to activate a version whose certificate has
// expired or is not yet valid since it was uploaded or imported: a version
// that cannot seal must not become the one that seals (FAULTS.md 6). A
// version without a certificate is left to the lifecycle check.
func checkStillValid(v *store.Version, now time.Time) error {
	if v.CertDER == nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(v.CertDER)
	if err != nil {
		return fmt.Errorf("stored certificate of version %d: %w", v.Version, err)
	}
	if err := keypolicy.CheckValidity(leaf, now); err != nil {
		return invalid(err)
	}
	return nil
}

// parseChain parses DER certificates.
func parseCerts(ders [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			if perr := keypolicy.ExplainUnparsable(der); perr != nil {
				return nil, fmt.Errorf("certificate %d: %w", i+1, perr)
			}
			return nil, fmt.Errorf("certificate %d is malformed: %v", i+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// UploadCertificate attaches the certificate a CA issued for a pending
// version (certDER, byte-for-byte, and its chain, leaf's issuer first): its
// public key must equal the pending key's and it must pass the key policy.
// The version becomes ready. A rejected certificate stores nothing and is
// audited as security.import_rejected.
func (s *Service) UploadCertificate(ctx context.Context, actor audit.Actor, identity string, version int, certDER []byte, chainDER [][]byte) (VersionInfo, error) {
	ident, v, err := s.readChecked(ctx, actor, identity, version)
	if err != nil {
		return VersionInfo{}, err
	}
	if _, err := next(v.Status, audit.ActionCertUpload); err != nil {
		return VersionInfo{}, fmt.Errorf("upload to version %d: %w", version, err)
	}
	certs, err := parseCerts(append([][]byte{certDER}, chainDER...))
	if err != nil {
		return VersionInfo{}, s.reject(ctx, actor, ident, version, "certificate upload", err)
	}
	leaf := certs[0]
	pending, err := x509.ParsePKIXPublicKey(v.PublicKey)
	if err != nil {
		return VersionInfo{}, fmt.Errorf("stored public key of version %d: %w", version, err)
	}
	if !keypolicy.PublicKeysEqual(leaf.PublicKey, pending) {
		return VersionInfo{}, s.reject(ctx, actor, ident, version, "certificate upload",
			fmt.Errorf("%w: the certificate's public key is not the key generated for version %d (was the CSR of another version signed?)", keypolicy.ErrMismatch, version))
	}
	if err := keypolicy.CheckLeaf(leaf, s.clock()); err != nil {
		return VersionInfo{}, s.reject(ctx, actor, ident, version, "certificate upload", err)
	}
	if err := keypolicy.CheckChain(leaf, certs[1:]); err != nil {
		return VersionInfo{}, s.reject(ctx, actor, ident, version, "certificate upload", err)
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockChain(ident.OrgID); err != nil {
			return err
		}
		cur, state, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur.PublicKey, v.PublicKey) {
			return fmt.Errorf("identity %q version %d changed concurrently: %w", identity, version, ErrConflict)
		}
		if err := checkNotHeld(tx, identity, version, certDER, cur.PublicKey); err != nil {
			return err
		}
		e := s.entry(ident.OrgID, actor, audit.ActionCertUpload,
			audit.Subject{Org: ident.OrgID, Identity: ident.ID, Version: version},
			map[string]string{audit.DetailThumbprint: thumbprint(certDER), audit.DetailSPKISHA256: thumbprint(cur.PublicKey)})
		if err := state.Check(e); err != nil {
			return fmt.Errorf("upload to version %d: %w", version, err)
		}
		st, err := next(cur.Status, audit.ActionCertUpload)
		if err != nil {
			return err
		}
		cur.Status, cur.CertDER, cur.ChainDER, cur.UpdatedAt = st, certDER, chainDER, s.now()
		if err := putVersion(tx, cur); err != nil {
			return err
		}
		v = cur
		_, err = tx.AppendAudit(e)
		return err
	})
	if isHeld(err) {
		return VersionInfo{}, s.reject(ctx, actor, ident, version, "certificate upload", err)
	}
	if err != nil {
		return VersionInfo{}, fmt.Errorf("upload certificate: %w", s.refused(ctx, actor, ident, version, err))
	}
	return describe(ident, v), nil
}

// Import brings the customer's own key and certificate (PEM or PKCS#12 in
// data; pass supplies a passphrase when the file is encrypted) into a new
// ready version of identity. The file is parsed and validated against the
// key policy first; the certificate and chain are stored byte-for-byte. A
// rejected file (wrong passphrase, mismatch, weak key, expired, ...) stores
// nothing and is audited as security.import_rejected.
func (s *Service) Import(ctx context.Context, actor audit.Actor, identity string, data []byte, pass func() ([]byte, error)) (VersionInfo, error) {
	ident, err := s.identityOf(ctx, identity)
	if err != nil {
		return VersionInfo{}, err
	}
	b, err := keyfile.Parse(data, pass)
	if err != nil {
		return VersionInfo{}, s.reject(ctx, actor, ident, 0, "import", err)
	}
	defer b.Zero() // the encrypted blob is the only copy kept
	if err := b.Validate(s.clock()); err != nil {
		return VersionInfo{}, s.reject(ctx, actor, ident, 0, "import", err)
	}
	alg, err := keypolicy.CheckPublicKey(b.Leaf.PublicKey)
	if err != nil {
		return VersionInfo{}, s.reject(ctx, actor, ident, 0, "import", err)
	}
	chain := make([][]byte, 0, len(b.Chain))
	for _, c := range b.Chain {
		chain = append(chain, c.Raw)
	}
	ident, v, err := s.addVersion(ctx, actor, identity, newVersion{
		action: audit.ActionCertImport, point: "import", key: b.Key,
		details: map[string]string{audit.DetailAlgorithm: alg, audit.DetailKeyRef: KeyRefLocal},
		fill: func(_ store.Identity, v *store.Version) error {
			v.CertDER, v.ChainDER = b.Leaf.Raw, chain
			return nil
		},
	})
	if err != nil {
		return VersionInfo{}, fmt.Errorf("import: %w", err)
	}
	s.log.InfoContext(ctx, "certificate imported", "identity", ident.ID, "version", v.Version, "thumbprint", thumbprint(v.CertDER))
	return describe(ident, v), nil
}

// checkReason validates a reason ("" allowed unless required).
func checkReason(reason string, required bool, what string) error {
	if required && strings.TrimSpace(reason) == "" {
		return invalidf("%s needs a reason (--reason)", what)
	}
	if len(reason) > maxReason || !utf8.ValidString(reason) {
		return invalidf("reason too long (at most %d bytes)", maxReason)
	}
	return nil
}

// Activate makes a ready version the identity's active one. If another
// version is active this is a rotation: reason is required, the old version
// becomes superseded, and one version.rotate entry records the old and new
// thumbprints. Which version is active, and whether the change is allowed,
// is decided from the fold of the org's chain; the stored versions of the
// identity must agree with it.
func (s *Service) Activate(ctx context.Context, actor audit.Actor, identity string, version int, reason string) (VersionInfo, error) {
	return s.ActivateWith(ctx, actor, identity, version, Activation{Reason: reason})
}

// Activation is how [Service.ActivateWith] activates a version.
type Activation struct {
	// Reason is recorded; required for a rotation.
	Reason string
	// Thumbprint, if not "", is the SHA-256 (hex) of the certificate the
	// activation was approved for: a version holding another one is
	// refused (wrapping [ErrConflict]).
	Thumbprint string
	// Details are added to the entry (the step-up's evidence, the request
	// ID); a key that the entry already has is refused as invalid input.
	Details map[string]string
	// Commit, if not nil, runs in the activation's transaction once its
	// entry is appended, with the entry: the step-up's single-use record
	// goes there, so that the approval and the activation commit together
	// or not at all. Its error rolls everything back and is returned
	// wrapped.
	Commit func(tx store.Tx, e audit.Entry) error
	// Request, if not nil, makes the activation an owner's approval of
	// that pending activation request (org policy; see
	// [Service.RequestActivation]): the request's reason and certificate
	// are used, and the entry names the request and carries the
	// requester's step-up evidence. The actor must be an owner other
	// than the requester. Without it, an org whose policy requires
	// approval refuses the activation (wrapping [ErrForbidden]).
	Request *RequestRef
}

// entry returns the entry of an activation with a's details added.
func (a Activation) entry(e audit.Entry) (audit.Entry, error) {
	if len(a.Details) == 0 {
		return e, nil
	}
	d := maps.Clone(e.Details)
	if d == nil {
		d = map[string]string{}
	}
	for k, v := range a.Details {
		if _, ok := d[k]; ok {
			return e, invalidf("the activation detail %.64q is set by custody", k)
		}
		d[k] = v
	}
	e.Details = d
	return e, nil
}

// ActivateWith is [Service.Activate] as a describes it: bound to the
// certificate an approval was for, with extra details in the entry, and
// a hook that commits with it.
func (s *Service) ActivateWith(ctx context.Context, actor audit.Actor, identity string, version int, a Activation) (VersionInfo, error) {
	if err := checkReason(a.Reason, false, "activation"); err != nil {
		return VersionInfo{}, err
	}
	var ident store.Identity
	var out store.Version
	s.fault("activate.begin")
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		if err := tx.LockChain(ident.OrgID); err != nil {
			return err
		}
		target, state, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		a, err := approval(state, ident.OrgID, identity, version, a)
		if err != nil {
			return err
		}
		reason := a.Reason
		subj := audit.Subject{Org: ident.OrgID, Identity: identity, Version: version}
		now := s.now()
		if err := checkStillValid(&target, now); err != nil {
			return fmt.Errorf("activate version %d: %w", version, err)
		}
		if a.Thumbprint != "" && thumbprint(target.CertDER) != a.Thumbprint {
			return fmt.Errorf("identity %q version %d does not hold the certificate the activation was approved for: %w", identity, version, ErrConflict)
		}
		appendEntry := func(e audit.Entry) error {
			appended, err := tx.AppendAudit(e)
			if err != nil || a.Commit == nil {
				return err
			}
			return a.Commit(tx, appended)
		}
		activeN, hasActive := state.Active(identity)
		if !hasActive || activeN == version {
			details := map[string]string{audit.DetailThumbprint: thumbprint(target.CertDER)}
			if reason != "" {
				details[audit.DetailReason] = reason
			}
			e, err := a.entry(s.entry(ident.OrgID, actor, audit.ActionVersionActivate, subj, details))
			if err != nil {
				return err
			}
			if err := state.Check(e); err != nil {
				return fmt.Errorf("activate version %d: %w", version, forbiddenIfInvalid(err))
			}
			st, err := next(target.Status, audit.ActionVersionActivate)
			if err != nil {
				return fmt.Errorf("activate version %d: %w", version, err)
			}
			target.Status, target.UpdatedAt = st, now
			if err := tx.PutVersion(target); err != nil {
				return err
			}
			s.fault("activate.in_tx")
			out = target
			return appendEntry(e)
		}
		active, err := tx.Version(identity, activeN)
		if err != nil {
			return corrupt(err)
		}
		e, err := a.entry(s.entry(ident.OrgID, actor, audit.ActionVersionRotate, subj, map[string]string{
			audit.DetailOldVersion:    strconv.Itoa(activeN),
			audit.DetailOldThumbprint: thumbprint(active.CertDER),
			audit.DetailNewThumbprint: thumbprint(target.CertDER),
			audit.DetailReason:        reason,
		}))
		if err != nil {
			return err
		}
		if err := state.Check(e); err != nil {
			return fmt.Errorf("activate version %d: %w", version, forbiddenIfInvalid(err))
		}
		if err := checkReason(reason, true, fmt.Sprintf("rotation (version %d is active)", activeN)); err != nil {
			return err
		}
		newSt, err := next(target.Status, audit.ActionVersionRotate)
		if err != nil {
			return fmt.Errorf("activate version %d: %w", version, err)
		}
		oldSt, err := next(active.Status, audit.ActionVersionRotate)
		if err != nil {
			return fmt.Errorf("supersede version %d: %w", active.Version, err)
		}
		active.Status, active.UpdatedAt = oldSt, now
		target.Status, target.UpdatedAt = newSt, now
		if err := tx.PutVersion(active); err != nil {
			return err
		}
		s.fault("activate.in_tx")
		if err := tx.PutVersion(target); err != nil {
			return err
		}
		out = target
		return appendEntry(e)
	})
	if err != nil {
		return VersionInfo{}, s.refused(ctx, actor, ident, version, err)
	}
	s.fault("activate.committed")
	return describe(ident, out), nil
}

// Revoke revokes a version (reason required) and records the time.
func (s *Service) Revoke(ctx context.Context, actor audit.Actor, identity string, version int, reason string) (VersionInfo, error) {
	if err := checkReason(reason, true, "revocation"); err != nil {
		return VersionInfo{}, err
	}
	return s.change(ctx, actor, identity, version, audit.ActionVersionRevoke, func(v *store.Version, now string) map[string]string {
		return map[string]string{audit.DetailReason: reason, audit.DetailRevokedAt: now, audit.DetailThumbprint: thumbprint(v.CertDER)}
	})
}

// Destroy crypto-erases a version: its encrypted private key is deleted;
// the certificate, chain and audit entries stay so that old seals still
// verify. For an external key nothing remote is deleted: the version can no
// longer sign, and the entry says (provider detail, reason) that the
// customer revokes access by removing sealkeep's grant on the key.
func (s *Service) Destroy(ctx context.Context, actor audit.Actor, identity string, version int) (VersionInfo, error) {
	return s.change(ctx, actor, identity, version, audit.ActionVersionDestroy, func(v *store.Version, _ string) map[string]string {
		v.KeyBlob = nil
		d := map[string]string{audit.DetailThumbprint: thumbprint(v.CertDER), audit.DetailKeyRef: v.KeyRef}
		if v.KeyRef != KeyRefLocal {
			d[audit.DetailProvider], _, _ = strings.Cut(v.KeyRef, ":")
			d[audit.DetailReason] = "external key: nothing deleted in the customer's KMS or HSM; remove sealkeep's grant on the key to revoke its access"
		}
		return d
	})
}

// change applies a single-version transition: edit may change the version
// and returns the entry's details.
func (s *Service) change(ctx context.Context, actor audit.Actor, identity string, version int, a audit.Action, edit func(v *store.Version, now string) map[string]string) (VersionInfo, error) {
	var ident store.Identity
	var out store.Version
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		if err := tx.LockChain(ident.OrgID); err != nil {
			return err
		}
		v, state, err := s.checkedVersion(tx, ident, version)
		if err != nil {
			return err
		}
		st, err := next(v.Status, a)
		if err != nil {
			return fmt.Errorf("%s version %d: %w", a, version, err)
		}
		now := s.now()
		details := edit(&v, now.Format("2006-01-02T15:04:05.000000Z07:00"))
		e := s.entry(ident.OrgID, actor, a, audit.Subject{Org: ident.OrgID, Identity: identity, Version: version}, details)
		e.Time = now
		if err := state.Check(e); err != nil {
			return fmt.Errorf("%s version %d: %w", a, version, err)
		}
		v.Status, v.UpdatedAt = st, now
		if err := tx.PutVersion(v); err != nil {
			return err
		}
		out = v
		_, err = tx.AppendAudit(e)
		return err
	})
	if err != nil {
		return VersionInfo{}, s.refused(ctx, actor, ident, version, err)
	}
	return describe(ident, out), nil
}

// truncate shortens s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
