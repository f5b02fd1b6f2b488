package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// Recovery codes: RecoveryCodes per set, each 80 random bits written as
// four groups of four lower-case base32 characters ("abcd-efgh-ijkl-mnop").
// Only the SHA-256 of the normalised code is stored: at 80 bits a code
// cannot be found from its hash, so a slow hash adds nothing. A code is
// spent by one conditional UPDATE, so two instances cannot both accept it.
const (
	RecoveryCodes    = 10
	recoveryCodeLen  = 16 // base32 characters
	recoveryGroupLen = 4
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// normRecovery removes dashes and spaces and upper-cases a recovery code
// for hashing; ok is false if it is not one.
func normRecovery(code *redact.Secret) (norm []byte, ok bool) {
	c := code.Bytes()
	norm = make([]byte, 0, recoveryCodeLen)
	for _, b := range c {
		switch {
		case b == '-' || b == ' ':
			continue
		case b >= 'a' && b <= 'z':
			b -= 'a' - 'A'
		case (b >= 'A' && b <= 'Z') || (b >= '2' && b <= '7'):
		default:
			clear(norm)
			return nil, false
		}
		if len(norm) == recoveryCodeLen {
			clear(norm)
			return nil, false
		}
		norm = append(norm, b)
	}
	if len(norm) != recoveryCodeLen {
		clear(norm)
		return nil, false
	}
	return norm, true
}

// isRecoveryCode reports whether code has the form of a recovery code (a
// TOTP code is all digits and shorter).
func isRecoveryCode(code *redact.Secret) bool {
	n, ok := normRecovery(code)
	clear(n)
	return ok
}

func recoveryHash(norm []byte) []byte {
	return digest(append([]byte("sealkeep/recovery-code\x00"), norm...))
}

// putRecoveryCodes replaces the user's recovery codes with a new set and
// audits it; it returns the codes, which are never stored.
func (s *Service) putRecoveryCodes(tx store.Tx, userID string) ([]*redact.Secret, error) {
	now := s.now()
	codes := make([]*redact.Secret, 0, RecoveryCodes)
	rows := make([]store.RecoveryCode, 0, RecoveryCodes)
	for range RecoveryCodes {
		var raw [10]byte
		_, _ = rand.Read(raw[:])
		enc := []byte(recoveryEncoding.EncodeToString(raw[:]))
		clear(raw[:])
		rows = append(rows, store.RecoveryCode{Hash: recoveryHash(enc), CreatedAt: now})
		shown := make([]byte, 0, recoveryCodeLen+3)
		for i := 0; i < recoveryCodeLen; i += recoveryGroupLen {
			if i > 0 {
				shown = append(shown, '-')
			}
			shown = append(shown, strings.ToLower(string(enc[i:i+recoveryGroupLen]))...)
		}
		clear(enc)
		codes = append(codes, redact.NewSecret(shown))
	}
	if err := tx.PutRecoveryCodes(userID, rows); err != nil {
		return nil, err
	}
	if _, err := tx.AppendAudit(s.entry(audit.SystemChain, userActor(userID), audit.ActionMFARecoveryNew, audit.Subject{},
		map[string]string{audit.DetailUser: userID, "count": fmt.Sprint(RecoveryCodes)})); err != nil {
		return nil, err
	}
	return codes, nil
}

// useRecoveryCode spends one of the user's unused recovery codes and
// audits it; a wrong or spent code is ErrUnauthenticated. The stored hash
// is found by the database and compared again in constant time.
func (s *Service) useRecoveryCode(tx store.Tx, userID string, code *redact.Secret, now time.Time) error {
	norm, ok := normRecovery(code)
	if !ok {
		return ErrUnauthenticated
	}
	h := recoveryHash(norm)
	clear(norm)
	rows, err := tx.RecoveryCodes(userID)
	if err != nil {
		return err
	}
	found := false
	for _, r := range rows {
		if subtle.ConstantTimeCompare(r.Hash, h) == 1 && r.UsedAt.IsZero() {
			found = true
		}
	}
	if !found {
		return ErrUnauthenticated
	}
	if err := tx.UseRecoveryCode(userID, h, now); errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated // spent by another instance meanwhile
	} else if err != nil {
		return err
	}
	left := 0
	for _, r := range rows {
		if r.UsedAt.IsZero() {
			left++
		}
	}
	_, err = tx.AppendAudit(s.entry(audit.SystemChain, userActor(userID), audit.ActionMFARecoveryUsed, audit.Subject{},
		map[string]string{audit.DetailUser: userID, "left": fmt.Sprint(left - 1)}))
	return err
}

// checkClient accepts an empty client (no address counter) or an IP
// address.
func checkClient(client string) error {
	if client == "" {
		return nil
	}
	if _, err := netip.ParseAddr(client); err != nil {
		return fmt.Errorf("%w: the client address is not an IP address", ErrInvalidInput)
	}
	return nil
}
