package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/envelope"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// clock is a settable test clock shared by custody, auth and the
// pipeline.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// t0 is the start of the current TOTP step: the clock starts there (the
// test CA's certificates are valid from an hour before now).
var t0 = time.Unix(time.Now().Unix()/auth.TOTPPeriod*auth.TOTPPeriod, 0).UTC()

// cheap are argon2id parameters that keep the tests fast.
var cheap = auth.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// world is the auth layer over the fixture's store: the operator, acme's
// owner olive, and two sealers of acme with TOTP, jane (who owns jane-pe)
// and mallory. It keeps every error and code it saw, and the logs, and at
// the end of the test scans them and the audit trail for the codes.
type world struct {
	auth                 *auth.Service
	clk                  *clock
	op, olive, jane, mal store.User
	totpSecret           map[string]string // user ID: base32 secret
	mu                   sync.Mutex
	errs                 []error
	codes                [][]byte
	logs                 bytes.Buffer
	st                   store.Store
}

func newWorld(t *testing.T, ctx context.Context, st store.Store, kek envelope.KEK, clk *clock) *world {
	t.Helper()
	w := &world{clk: clk, st: st, totpSecret: map[string]string{}}
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(&syncWriter{w: w}, nil)))
	w.auth = auth.New(st, kek, auth.Options{Clock: clk.now, Logger: logger, Password: cheap})
	pw := func(s string) *redact.Secret { return redact.NewSecret([]byte(s)) }
	var err error
	if w.op, err = w.auth.Setup(ctx, "operator", pw("operator password 1")); err != nil {
		t.Fatal(err)
	}
	if w.olive, err = w.auth.CreateUser(ctx, w.op.ID, "olive", pw("owner password 22")); err != nil {
		t.Fatal(err)
	}
	if err := w.auth.SetMember(ctx, w.op.ID, "acme", w.olive.ID, auth.RoleOwner); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*store.User{&w.jane, &w.mal} {
		login := map[*store.User]string{&w.jane: "jane", &w.mal: "mallory"}[u]
		if *u, err = w.auth.CreateUser(ctx, w.olive.ID, login, pw(login+" password 333")); err != nil {
			t.Fatal(err)
		}
		if err := w.auth.SetMember(ctx, w.olive.ID, "acme", u.ID, auth.RoleSealer); err != nil {
			t.Fatal(err)
		}
		e, err := w.auth.BeginTOTP(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		uri, err := url.Parse(string(e.URI.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		w.totpSecret[u.ID] = uri.Query().Get("secret")
		if _, err := w.auth.ConfirmTOTP(ctx, u.ID, w.code(t, *u), ""); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { w.checkNoLeaks(t, ctx) })
	return w
}

// actor is u as an audit actor.
func (w *world) actor(u store.User) audit.Actor { return audit.Actor{Kind: audit.ActorUser, ID: u.ID} }

// code returns u's TOTP code of the clock's current step.
func (w *world) code(t *testing.T, u store.User) *redact.Secret {
	t.Helper()
	c, err := totp.GenerateCode(w.totpSecret[u.ID], w.clk.now())
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.codes = append(w.codes, []byte(c))
	w.mu.Unlock()
	return redact.NewSecret([]byte(c))
}

// nextCode moves the clock to the next TOTP step and returns u's code.
func (w *world) nextCode(t *testing.T, u store.User) *redact.Secret {
	t.Helper()
	w.clk.add(auth.TOTPPeriod * time.Second)
	return w.code(t, u)
}

// step is the TOTP time step of the clock.
func (w *world) step() int64 { return w.clk.now().Unix() / auth.TOTPPeriod }

// err records err for the leak scan and returns it.
func (w *world) err(err error) error {
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}
	return err
}

// checkNoLeaks fails the test if a code the test used is in an error, a
// log line or an audit entry's details (hashes left out: as hex they would
// match a 6-digit code by chance now and then).
func (w *world) checkNoLeaks(t *testing.T, ctx context.Context) {
	var hay bytes.Buffer
	w.mu.Lock()
	for _, err := range w.errs {
		fmt.Fprintf(&hay, "%s\n%+v\n%#v\n", err.Error(), err, err)
	}
	hay.Write(w.logs.Bytes())
	codes := w.codes
	w.mu.Unlock()
	err := w.st.View(ctx, func(tx store.ReadTx) error {
		chains, err := tx.AuditChains()
		for _, c := range chains {
			err = errors.Join(err, tx.AuditEntries(c, 1, func(e audit.Entry) error {
				for k, v := range e.Details {
					if !isHex64(v) {
						fmt.Fprintf(&hay, "%s=%s\n", k, v)
					}
				}
				return nil
			}))
		}
		return err
	})
	if err != nil {
		t.Errorf("leak scan: %v", err)
	}
	for _, c := range codes {
		if form, found := redact.ScanForSecret(hay.Bytes(), c); found {
			t.Errorf("a TOTP code leaked into errors, logs or the audit trail as %s", form)
		}
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// syncWriter is the world's log sink.
type syncWriter struct{ w *world }

func (s *syncWriter) Write(p []byte) (int, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.w.logs.Write(p)
}
