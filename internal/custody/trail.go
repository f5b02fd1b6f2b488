package custody

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"sealkeep/internal/audit"
	"sealkeep/internal/envelope"
	"sealkeep/internal/errs"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
)

// ErrStateMismatch means stored state differs from what the audit trail
// records (a version's status, certificate, public key, key reference or
// key blob's DEK version, or an org's data key row), or the trail itself
// cannot be verified or folded: the database was edited outside sealkeep.
// Nothing is done on such state; the refusal is audited as
// security.state_mismatch where it can be.
var ErrStateMismatch = errs.New(errs.Verification, "stored state differs from the audit trail")

// mismatchf formats an [ErrStateMismatch] error.
func mismatchf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrStateMismatch, fmt.Sprintf(format, args...))
}

// corrupt reports a stored row that reads as inconsistent
// (store.ErrCorrupt) as a state mismatch; other errors pass through.
func corrupt(err error) error {
	if errors.Is(err, store.ErrCorrupt) && !errors.Is(err, ErrStateMismatch) {
		return fmt.Errorf("%w: %w", ErrStateMismatch, err)
	}
	return err
}

// feed verifies and folds org's chain from seq from on (as tx reads it)
// into v and state, which hold the chain up to from-1, and returns the last
// entry verified. A chain that does not verify or fold is an
// [ErrStateMismatch]: nothing may be decided from it.
func feed(tx store.ReadTx, org string, v *audit.Verifier, state *audit.State, from uint64) (audit.Entry, error) {
	var foldErr error
	err := tx.AuditEntries(org, from, func(e audit.Entry) error {
		if err := v.Add(e); err != nil {
			return err
		}
		if foldErr == nil {
			if err := state.Apply(e); err != nil {
				foldErr = fmt.Errorf("entry %d: %w", e.Seq, err)
			}
		}
		return nil
	})
	rep := v.Report()
	if rep.Break != nil {
		return audit.Entry{}, fmt.Errorf("%w: the audit trail of org %q does not verify: %w", ErrStateMismatch, org, rep.Break)
	}
	if err != nil {
		return audit.Entry{}, corrupt(err)
	}
	if foldErr != nil {
		return audit.Entry{}, fmt.Errorf("%w: the audit trail of org %q does not fold: %w", ErrStateMismatch, org, foldErr)
	}
	return rep.Head, nil
}

// foldAll verifies and folds org's whole chain.
func foldAll(tx store.ReadTx, org string) (*audit.State, error) {
	state := new(audit.State)
	_, err := feed(tx, org, audit.NewVerifier(org), state, 1)
	return state, err
}

// maxCachedFolds bounds how many org chains [foldCache] keeps.
const maxCachedFolds = 256

// foldCache keeps the verified fold of recently used org chains, so that a
// use reads only the entries appended since the last one: the cost of a
// signature does not grow with the chain. What it holds was verified entry
// by entry; every use checks that the chain still ends with (hash and
// contents), or links on from, the entry it ended with. An entry edited in
// place further back is not read again, and does not change what the
// service decides: audit verify (and any process that folds afresh)
// reports it.
type foldCache struct {
	mu     sync.Mutex
	chains map[string]*chainFold
}

// chainFold is one chain's verified fold up to head.
type chainFold struct {
	mu    sync.Mutex
	v     *audit.Verifier // nil until the chain was read
	state *audit.State
	head  audit.Entry
}

// get returns org's entry, creating it (and evicting another when full).
func (c *foldCache) get(org string) *chainFold {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chains == nil {
		c.chains = make(map[string]*chainFold)
	}
	cf, ok := c.chains[org]
	if !ok {
		if len(c.chains) >= maxCachedFolds {
			for k := range c.chains {
				delete(c.chains, k)
				break
			}
		}
		cf = &chainFold{}
		c.chains[org] = cf
	}
	return cf
}

// foldOrg returns the verified fold of org's chain as tx reads it (see
// [feed]), from the fold cache where it can. A chain whose last verified
// entry changed is an [ErrStateMismatch]. A transaction that finds the
// chain shorter than the cache (an older snapshot, or cached entries of a
// transaction that rolled back) folds from the start and resets the cache.
func (s *Service) foldOrg(tx store.ReadTx, org string) (*audit.State, error) {
	cf := s.folds.get(org)
	cf.mu.Lock()
	defer cf.mu.Unlock()
	head, err := tx.AuditHead(org)
	if errors.Is(err, store.ErrNotFound) {
		head, err = audit.Entry{}, nil
	}
	if err != nil {
		return nil, corrupt(err)
	}
	switch {
	case cf.v != nil && head.Seq < cf.head.Seq:
		// Behind the cache: an older snapshot, or a cached entry whose
		// transaction rolled back afterwards (a retried Update). Fold
		// afresh and start the cache again; a cut-off tail is caught by
		// the head record, the Merkle tree and the checkpoints instead.
		cf.v = nil
		return foldAll(tx, org)
	case cf.v != nil && head.Seq == cf.head.Seq:
		if head.Hash != cf.head.Hash || head.ComputeHash() != head.Hash {
			cf.v = nil
			return nil, mismatchf("entry %d of the audit trail of org %q changed after it was verified", head.Seq, org)
		}
		return cf.state.Clone(), nil
	case cf.v == nil:
		cf.v, cf.state, cf.head = audit.NewVerifier(org), new(audit.State), audit.Entry{}
	}
	last, err := feed(tx, org, cf.v, cf.state, cf.head.Seq+1)
	if err != nil {
		cf.v = nil
		return nil, err
	}
	cf.head = last
	return cf.state.Clone(), nil
}

// orNone shows an empty hash as "none".
func orNone(h string) string {
	if h == "" {
		return "none"
	}
	return h
}

// checkVersion checks a stored version against the trail's record of it:
// status, key reference, certificate SHA-256, public key SHA-256 (when the
// trail recorded it), that the certificate holds the stored public key,
// and that a local key blob exists exactly while the version is not
// destroyed, encrypted under the DEK version the trail recorded.
func checkVersion(v store.Version, rec audit.VersionState) error {
	bad := func(format string, args ...any) error {
		return mismatchf("identity %q version %d %s", v.IdentityID, v.Version, fmt.Sprintf(format, args...))
	}
	if rec.Status == audit.StatusNone {
		return bad("is stored, but the audit trail never created it")
	}
	if v.Status != string(rec.Status) {
		return bad("is stored as %q, the audit trail says %q", v.Status, rec.Status)
	}
	if v.KeyRef != rec.KeyRef {
		return bad("has key reference %q, the audit trail recorded %q", v.KeyRef, rec.KeyRef)
	}
	if got := thumbprint(v.CertDER); got != rec.CertSHA256 {
		return bad("holds certificate %s, the audit trail recorded %s", orNone(got), orNone(rec.CertSHA256))
	}
	if rec.SPKISHA256 != "" {
		if got := thumbprint(v.PublicKey); got != rec.SPKISHA256 {
			return bad("holds public key %s, the audit trail recorded %s", orNone(got), rec.SPKISHA256)
		}
	}
	if v.CertDER != nil && !certHoldsKey.known(v.CertDER, v.PublicKey) {
		cert, err := x509.ParseCertificate(v.CertDER)
		if err != nil {
			return bad("holds a certificate that does not parse: %v", err)
		}
		pub, err := x509.ParsePKIXPublicKey(v.PublicKey)
		if err != nil || !keypolicy.PublicKeysEqual(cert.PublicKey, pub) {
			return bad("holds a certificate and a public key that do not match")
		}
		certHoldsKey.add(v.CertDER, v.PublicKey)
	}
	switch {
	case v.KeyRef != KeyRefLocal:
		if len(v.KeyBlob) != 0 {
			return bad("names an external key but holds a key blob")
		}
	case rec.Status == audit.StatusDestroyed:
		if len(v.KeyBlob) != 0 {
			return bad("is destroyed but still holds a key blob")
		}
	default:
		if len(v.KeyBlob) == 0 {
			return bad("has lost its key blob, which the audit trail never destroyed")
		}
		dv, err := envelope.BlobDEKVersion(v.KeyBlob)
		if err != nil {
			return bad("holds a malformed key blob: %v", err)
		}
		if dv != rec.DEKVersion {
			return bad("has a key blob under data key %d, the audit trail recorded data key %d", dv, rec.DEKVersion)
		}
	}
	return nil
}

// maxKnownPairs bounds [pairSet].
const maxKnownPairs = 4096

// certHoldsKey remembers the (certificate, public key) DER pairs found to
// parse and match, so that checking a version again (on every signature,
// seal and lookup) does not parse them again. It is a cache of a pure
// function of the two byte strings, keyed by their SHA-256: a row whose
// certificate or key changed is a new pair and is parsed.
var certHoldsKey pairSet

// pairSet is a bounded set of byte-string pairs, by SHA-256; when full,
// it starts empty again.
type pairSet struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

func pairKey(a, b []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(a)))
	h.Write(n[:])
	h.Write(a)
	h.Write(b)
	return [sha256.Size]byte(h.Sum(nil))
}

// known reports whether (a, b) was added.
func (p *pairSet) known(a, b []byte) bool {
	k := pairKey(a, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.seen[k]
	return ok
}

// add adds (a, b).
func (p *pairSet) add(a, b []byte) {
	k := pairKey(a, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil || len(p.seen) >= maxKnownPairs {
		p.seen = make(map[[sha256.Size]byte]struct{})
	}
	p.seen[k] = struct{}{}
}

// checkIdentity checks the stored identity and every stored version of it
// against state: the identity.create entry of the org's chain must have
// created it with the stored owner (who alone may manage and seal with
// it), each version must match the trail's record, and every version the
// trail records of it must be stored.
func checkIdentity(tx store.ReadTx, state *audit.State, identity string) error {
	ident, err := tx.Identity(identity)
	if err != nil {
		return corrupt(err)
	}
	switch owner, ok := state.Owner(identity); {
	case !ok:
		return mismatchf("identity %q is stored in org %q, whose audit trail never created it", identity, ident.OrgID)
	case owner != ident.Owner:
		return mismatchf("identity %q is stored as owned by %q, the audit trail says %q", identity, ident.Owner, owner)
	}
	vs, err := tx.Versions(identity)
	if err != nil {
		return corrupt(err)
	}
	stored := make(map[int]bool, len(vs))
	for _, v := range vs {
		stored[v.Version] = true
		if err := checkVersion(v, state.Version(identity, v.Version)); err != nil {
			return err
		}
	}
	for _, rec := range state.Versions() {
		if rec.Identity == identity && !stored[rec.Version] {
			return mismatchf("the audit trail records identity %q version %d (%s), which is not stored", identity, rec.Version, rec.Status)
		}
	}
	return nil
}

// checkOrg checks every stored version of org's identities against state,
// and that every version the trail records is stored.
func checkOrg(tx store.ReadTx, org string, state *audit.State) error {
	ids, err := tx.Identities(org)
	if err != nil {
		return corrupt(err)
	}
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id.ID] = true
		if err := checkIdentity(tx, state, id.ID); err != nil {
			return err
		}
	}
	for _, rec := range state.Versions() {
		if !known[rec.Identity] {
			return mismatchf("the audit trail of org %q records identity %q version %d (%s), which is not stored", org, rec.Identity, rec.Version, rec.Status)
		}
	}
	return nil
}

// checkedVersion reads a version of identity inside tx after folding its
// org's chain and checking the identity's stored versions against it.
func (s *Service) checkedVersion(tx store.ReadTx, ident store.Identity, version int) (store.Version, *audit.State, error) {
	state, err := s.foldOrg(tx, ident.OrgID)
	if err != nil {
		return store.Version{}, nil, err
	}
	v, err := checkedVersionIn(tx, state, ident, version)
	return v, state, err
}

// checkedVersionIn reads a version of identity inside tx after checking
// the identity's stored versions against state, the verified fold of its
// org's chain as tx reads it.
func checkedVersionIn(tx store.ReadTx, state *audit.State, ident store.Identity, version int) (store.Version, error) {
	if err := checkIdentity(tx, state, ident.ID); err != nil {
		return store.Version{}, err
	}
	v, err := tx.Version(ident.ID, version)
	if err != nil {
		return store.Version{}, lookup(corrupt(err), "identity %q version %d", ident.ID, version)
	}
	return v, nil
}

// readChecked reads a version of identity in a read-only transaction, as
// [Service.checkedVersion] checks it; a state mismatch is audited.
func (s *Service) readChecked(ctx context.Context, actor audit.Actor, identity string, version int) (store.Identity, store.Version, error) {
	var ident store.Identity
	var v store.Version
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if ident, err = tx.Identity(identity); err != nil {
			return lookup(err, "identity %q", identity)
		}
		v, _, err = s.checkedVersion(tx, ident, version)
		return err
	})
	if err != nil {
		return ident, v, s.refused(ctx, actor, ident, version, err)
	}
	return ident, v, nil
}

// refused records err as security.state_mismatch in ident's org chain (its
// own transaction, after the refused one rolled back) when it is an
// [ErrStateMismatch] (or a row that reads as store.ErrCorrupt, which it
// then wraps), and returns it joined with any failure to record.
func (s *Service) refused(ctx context.Context, actor audit.Actor, ident store.Identity, version int, err error) error {
	err = corrupt(err)
	if !errors.Is(err, ErrStateMismatch) || ident.OrgID == "" {
		return err
	}
	e := s.entry(ident.OrgID, actor, audit.ActionSecurityStateMismatch,
		audit.Subject{Org: ident.OrgID, Identity: ident.ID, Version: version},
		map[string]string{audit.DetailError: truncate(err.Error(), audit.MaxDetailValueLen)})
	// The record must not be cut short by the caller's expired deadline.
	return errors.Join(err, s.recordSecurityEvent(context.WithoutCancel(ctx), e))
}

// heldError refuses a certificate or key that custody already holds; it
// wraps [ErrConflict].
type heldError struct{ msg string }

func (e heldError) Error() string { return e.msg }
func (e heldError) Unwrap() error { return ErrConflict }

// isHeld reports whether err refuses a certificate or key already held.
func isHeld(err error) bool {
	var h heldError
	return errors.As(err, &h)
}

// checkNotHeld refuses a certificate (certDER, nil for none) or public key
// (pubDER) that a version other than (identity, version) already holds, in
// any org and any status, destroyed included: one that a version row holds,
// or that the audit trail records (so that a version row deleted outside
// sealkeep makes no room for the certificate or key elsewhere). The
// message names the holder only when it is the same identity.
func checkNotHeld(tx store.ReadTx, identity string, version int, certDER, pubDER []byte) error {
	for _, c := range []struct {
		what  string
		der   []byte
		row   func([32]byte) (store.Version, error)
		trail func([32]byte) ([]audit.Entry, error)
	}{
		{"certificate", certDER, tx.VersionByCertSHA256, tx.AuditByCertSHA256},
		{"key", pubDER, tx.VersionBySPKISHA256, tx.AuditBySPKISHA256},
	} {
		if len(c.der) == 0 {
			continue
		}
		sum := sha256.Sum256(c.der)
		type holder struct {
			identity string
			version  int
		}
		var holders []holder
		switch held, err := c.row(sum); {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return corrupt(err)
		default:
			holders = append(holders, holder{held.IdentityID, held.Version})
		}
		es, err := c.trail(sum)
		if err != nil {
			return corrupt(err)
		}
		for _, e := range es {
			holders = append(holders, holder{e.Subject.Identity, e.Subject.Version})
		}
		for _, h := range holders {
			switch {
			case h.identity == identity && h.version == version:
				continue
			case h.identity == identity:
				return heldError{fmt.Sprintf("this %s is already held in custody as version %d of this identity", c.what, h.version)}
			}
			return heldError{fmt.Sprintf("this %s is already held in custody by another identity", c.what)}
		}
	}
	return nil
}
