package auth

import (
	"context"
	"errors"

	"sealkeep/internal/store"
)

// The questions the web pages ask to decide what to offer; the routes
// that act still check everything themselves.

// HasOperator reports whether the platform operator exists (first-run
// setup, `sealkeep setup`, has been done).
func (s *Service) HasOperator(ctx context.Context) (bool, error) {
	var found bool
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		us, err := tx.Users()
		for _, u := range us {
			found = found || (u.Operator && u.DisabledAt.IsZero())
		}
		return err
	})
	return found, err
}

// HasTOTP reports whether the user has a confirmed TOTP enrolment.
func (s *Service) HasTOTP(ctx context.Context, userID string) (bool, error) {
	var ok bool
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		e, err := tx.TOTP(userID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		ok = err == nil && !e.ConfirmedAt.IsZero()
		return err
	})
	return ok, err
}

// Role returns the user's role in org ([RoleIn]): RoleOperator for the
// operator, RoleNone for a non-member.
func (s *Service) Role(ctx context.Context, userID, org string) (Role, error) {
	var r Role
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		r, err = RoleIn(tx, userID, org)
		return err
	})
	return r, err
}
