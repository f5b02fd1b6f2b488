package custody

import (
	"bytes"
	"errors"
	"fmt"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Seal approvals are checked against the system chain: a passkey
// approval's assertion must verify under the public key the system chain
// registered for the seal's user ([audit.CheckSealApproval]), never under
// the credentials table's.

// loadPasskeys returns the passkey registry of the system chain as tx
// sees it, from a system chain that verifies (links, hashes, head
// record); an error says why there is none. It reads the whole system
// chain: a registry kept from an earlier read would not see an entry
// edited in place since.
func loadPasskeys(tx store.ReadTx) (*audit.Passkeys, error) {
	v := audit.NewVerifier(audit.SystemChain)
	switch rec, err := tx.AuditHeadRecord(audit.SystemChain); {
	case err == nil:
		v.ExpectHead(&rec)
	case errors.Is(err, store.ErrNotFound):
		v.ExpectHead(nil)
	default:
		return nil, err
	}
	reg := new(audit.Passkeys)
	var applyErr error
	err := tx.AuditEntries(audit.SystemChain, 1, func(e audit.Entry) error {
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
	return reg, nil
}

// approvalChecker checks the approvals of an org chain's seal entries
// against the system chain's registry, loaded once per check. Fed a
// chain's seal entries in order, it also requires each passkey's
// signature counter to grow from one seal entry to the next (unless the
// authenticator keeps none): an approval recorded twice, or by a cloned
// authenticator, does not pass.
type approvalChecker struct {
	reg    *audit.Passkeys
	regErr error
	last   map[string]uint32 // credential ID -> the counter of its last seal entry
}

// check returns the approval of seal entry e, or why it does not verify.
func (c *approvalChecker) check(e audit.Entry) (audit.SealApproval, error) {
	if e.Details[audit.DetailMFAMethod] == audit.MethodWebAuthn && c.regErr != nil {
		return audit.SealApproval{}, fmt.Errorf("the passkey approval cannot be checked: %w", c.regErr)
	}
	reg := c.reg
	if reg == nil {
		reg = new(audit.Passkeys)
	}
	a, err := audit.CheckSealApproval(e, reg)
	if err != nil || a.Passkey == nil {
		return a, err
	}
	if c.last == nil {
		c.last = map[string]uint32{}
	}
	id := string(a.Passkey.CredentialID)
	prev, seen := c.last[id]
	if seen && (a.SignCount != 0 || prev != 0) && a.SignCount <= prev {
		return audit.SealApproval{}, fmt.Errorf("%w: the passkey's signature counter %d does not advance past %d of an earlier seal entry: the approval was recorded twice, or the authenticator was cloned", audit.ErrInvalidEntry, a.SignCount, prev)
	}
	c.last[id] = a.SignCount
	return a, nil
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
