package custody

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Seal approvals are checked against the system chain: a passkey
// approval's assertion must verify under the public key the system chain
// registered for the seal's user ([audit.CheckSealApproval]), never under
// the credentials table's.

// passkeyCache keeps the passkey registry of the system chain as it was
// at one head record, so that verifying every org chain reads the system
// chain once.
type passkeyCache struct {
	mu   sync.Mutex
	head audit.Head
	reg  *audit.Passkeys
}

// passkeys returns the passkey registry of the system chain as tx sees
// it, from a system chain that verifies (links, hashes, head record); an
// error says why there is none.
func (s *Service) passkeys(tx store.ReadTx) (*audit.Passkeys, error) {
	rec, err := tx.AuditHeadRecord(audit.SystemChain)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return new(audit.Passkeys), nil
	case err != nil:
		return nil, err
	}
	c := &s.pkCache
	c.mu.Lock()
	if c.reg != nil && c.head == rec {
		reg := c.reg
		c.mu.Unlock()
		return reg, nil
	}
	c.mu.Unlock()
	v := audit.NewVerifier(audit.SystemChain)
	v.ExpectHead(&rec)
	reg := new(audit.Passkeys)
	var applyErr error
	err = tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
		if err := v.Add(e); err != nil {
			return err
		}
		if applyErr == nil {
			applyErr = reg.Apply(e)
		}
		return nil
	})
	if err != nil && !errors.Is(err, audit.ErrBroken) {
		return nil, err
	}
	if rep := v.Report(); !rep.OK() {
		return nil, fmt.Errorf("the system chain, which registers passkeys, does not verify: %w", rep.Error())
	}
	if applyErr != nil {
		return nil, fmt.Errorf("the system chain, which registers passkeys: %w", applyErr)
	}
	c.mu.Lock()
	c.head, c.reg = rec, reg
	c.mu.Unlock()
	return reg, nil
}

// approvalChecker checks the approvals of an org chain's seal entries
// against the system chain's registry, loaded once per check.
type approvalChecker struct {
	reg    *audit.Passkeys
	regErr error
}

// check returns the approval of seal entry e, or why it does not verify.
func (c approvalChecker) check(e audit.Entry) (audit.SealApproval, error) {
	if e.Details[audit.DetailMFAMethod] == audit.MethodWebAuthn && c.regErr != nil {
		return audit.SealApproval{}, fmt.Errorf("the passkey approval cannot be checked: %w", c.regErr)
	}
	reg := c.reg
	if reg == nil {
		reg = new(audit.Passkeys)
	}
	return audit.CheckSealApproval(e, reg)
}

// checkCredentials compares the credentials table with the registry of a
// system chain that verified: every row must be a registered credential
// of its user with its key, and every registered credential must have a
// row (a deleted row was removed outside sealkeep). A difference wraps
// [ErrStateMismatch].
func checkCredentials(tx store.ReadTx, reg *audit.Passkeys) error {
	users, err := tx.Users()
	if err != nil {
		return err
	}
	rows := 0
	for _, u := range users {
		cs, err := tx.WebAuthnCredentials(u.ID)
		if err != nil {
			return err
		}
		for _, c := range cs {
			rows++
			p := reg.Current(c.ID)
			switch {
			case p == nil:
				return fmt.Errorf("%w: a passkey of user %q is stored that the system chain does not register (or removed)", ErrStateMismatch, c.UserID)
			case p.User != c.UserID:
				return fmt.Errorf("%w: a passkey the system chain registers to user %q (seq %d) is stored for user %q", ErrStateMismatch, p.User, p.Seq, c.UserID)
			case !bytes.Equal(p.PublicKey, c.PublicKey):
				return fmt.Errorf("%w: the stored public key of a passkey of user %q is not the one the system chain registered (seq %d)", ErrStateMismatch, c.UserID, p.Seq)
			}
		}
	}
	if n := len(reg.Registered()); n != rows {
		return fmt.Errorf("%w: the system chain registers %d passkeys and %d are stored: a row was deleted outside sealkeep", ErrStateMismatch, n, rows)
	}
	return nil
}
