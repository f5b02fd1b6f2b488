package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// Limits are the lockout rules of password and MFA attempts. Failures are
// counted in the store, per account (by login, whether or not it exists)
// and per client address, so that every server instance sees the same
// counters. A counter that reaches its limit within Window locks its
// account or address for Lockout; the lockout is audited once, in the
// system chain. A success clears the account's counter but not the
// address's, so one valid account does not reset an attacker's address.
//
// Locking an account on failed attempts lets anyone who knows a login
// lock its owner out for Lockout at a time; that is the price of stopping
// online guessing, and why the account limit is a count of failures in a
// window rather than a permanent lock.
type Limits struct {
	AccountFailures int64         // per login within Window (default 5)
	AddrFailures    int64         // per client address within Window (default 50)
	Window          time.Duration // default 15 minutes
	Lockout         time.Duration // default 15 minutes
}

// DefaultLimits are the default lockout rules.
var DefaultLimits = Limits{AccountFailures: 5, AddrFailures: 50, Window: 15 * time.Minute, Lockout: 15 * time.Minute}

// limitKey is a counter with its limit and its name in audit entries.
type limitKey struct {
	key   string
	limit int64
	name  string
}

// accountKey is the counter of a login: "account:" and the hex SHA-256 of
// the normalised login, the same whether the account exists or not (so a
// lockout tells nobody which logins exist), and never the login itself,
// which may be a password typed into the wrong field.
func accountKey(login string) string {
	return "account:" + hex.EncodeToString(digest([]byte("sealkeep/login-limit\x00"+login)))
}

// limitKeys returns the counters of an attempt on login from client
// (client may be empty: no address counter).
func (s *Service) limitKeys(login, client string) []limitKey {
	keys := []limitKey{{accountKey(login), s.limits.AccountFailures, "account"}}
	if a := clientKey(client); a != "" {
		keys = append(keys, limitKey{a, s.limits.AddrFailures, a})
	}
	return keys
}

// clientKey is the counter of a client address: "addr:" and the IPv4
// address (IPv4-mapped IPv6 unmapped), or the IPv6 /64 prefix, which is
// what one client usually holds; "" for no or an unparsable address
// (checkClient refuses those first).
func clientKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// checkLocked refuses while any counter is locked.
func (s *Service) checkLocked(ctx context.Context, keys []limitKey) error {
	now := s.now()
	return s.st.View(ctx, func(tx store.ReadTx) error { return lockedIn(tx, keys, now) })
}

// lockedIn refuses, as tx reads the counters, while any of them is locked
// at now.
func lockedIn(tx store.ReadTx, keys []limitKey, now time.Time) error {
	for _, k := range keys {
		l, err := tx.Limit(k.key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if l.LockedUntil.After(now) {
			return &LockedError{Until: l.LockedUntil}
		}
	}
	return nil
}

// countFailure counts a failed attempt on every counter, locks those that
// reach their limit and audits each new lockout, all in one transaction.
// user is the account's ID when known, for the audit entry. It returns nil
// or the error of the store, never the reason the attempt failed.
func (s *Service) countFailure(ctx context.Context, keys []limitKey, user string) error {
	now := s.now()
	var locked []string
	err := s.st.Update(ctx, func(tx store.Tx) error {
		locked = locked[:0]
		for _, k := range keys {
			l, err := tx.CountFailure(k.key, now, now.Add(-s.limits.Window))
			if err != nil {
				return err
			}
			if l.Failures < k.limit {
				continue
			}
			until := now.Add(s.limits.Lockout)
			ok, err := tx.LockLimit(k.key, until, now)
			if err != nil || !ok {
				return err
			}
			details := map[string]string{
				audit.DetailLimit: k.name,
				"until":           until.Format(time.RFC3339),
				"failures":        strconv.FormatInt(l.Failures, 10),
			}
			if user != "" {
				details[audit.DetailUser] = user
			}
			if _, err := tx.AppendAudit(s.entry(audit.SystemChain, audit.Actor{Kind: audit.ActorSystem}, audit.ActionSecurityLockout, audit.Subject{}, details)); err != nil {
				return err
			}
			locked = append(locked, k.key)
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "could not count a failed attempt", "err", err)
		return fmt.Errorf("count failed attempt: %w", err)
	}
	for range locked {
		s.log.WarnContext(ctx, "lockout", "user", user)
	}
	return nil
}

// clearAccount resets the account counter after a success.
func (s *Service) clearAccount(tx store.Tx, login string) error {
	return tx.DeleteLimit(accountKey(login))
}
