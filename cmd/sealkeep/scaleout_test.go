//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/auth"
	"sealkeep/internal/store/postgres/pgtest"
)

// cluster is one data directory on PostgreSQL served by two `sealkeep
// serve` processes, with an org acme, its owner olive and a sealer jane
// with TOTP, made through the same services the servers run.
type cluster struct {
	home       string
	a, b       *serveChild
	janeSecret string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{home: filepath.Join(dir, "data")}
	mustSK(t, 0, nil, "--data-dir", c.home, "init", "--database", pgtest.Fresh(t))
	a := newAcme(t, c.home)
	jane := a.sealer("jane")
	c.janeSecret = a.beginTOTP(jane)
	a.confirmTOTP(jane, c.janeSecret)
	a.close()
	c.a, c.b = startServe(t, c.home), startServe(t, c.home)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// login posts a token request to srv and returns the status and the
// problem detail.
func login(t *testing.T, srv *serveChild, login, password, code string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": login, "password": password, "code": code, "name": "cluster"})
	resp, err := http.Post(srv.url+"/api/v1/tokens", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct{ Detail string }
	json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p.Detail
}

// TestScaleOutAccounts: two server processes on one PostgreSQL database
// are one service for accounts: a TOTP code accepted by one is refused by
// the other, of concurrent sign-ins with one code on both exactly one
// succeeds, failed passwords on both count towards one lockout, and the
// trail stays valid.
func TestScaleOutAccounts(t *testing.T) {
	c := newCluster(t)
	code, err := totp.GenerateCode(c.janeSecret, time.Now())
	must(t, err)
	if s, d := login(t, c.a, "jane", accountPassword, code); s != 201 {
		t.Fatalf("sign-in on A: %d %s", s, d)
	}
	if s, d := login(t, c.b, "jane", accountPassword, code); s != 401 || !strings.Contains(d, "already used") {
		t.Fatalf("the same code on B: %d %s", s, d)
	}
	// Eight sign-ins with the next step's code, four on each server, at
	// once: one wins.
	next, err := totp.GenerateCode(c.janeSecret, time.Now().Add(30*time.Second))
	must(t, err)
	var wg sync.WaitGroup
	results := make(chan int, 8)
	for i := range 8 {
		srv := c.a
		if i%2 == 1 {
			srv = c.b
		}
		wg.Go(func() {
			s, _ := login(t, srv, "jane", accountPassword, next)
			results <- s
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for s := range results {
		switch s {
		case 201:
			won++
		case 401:
		default:
			t.Errorf("a concurrent sign-in answered %d", s)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 8 concurrent sign-ins with one code succeeded, want 1", won)
	}
	// Failed passwords alternate between the servers; the account locks
	// after the same number as on one server.
	locked := 0
	for i := range auth.DefaultLimits.AccountFailures + 1 {
		srv := c.a
		if i%2 == 1 {
			srv = c.b
		}
		if s, _ := login(t, srv, "olive", "wrong password", ""); s == 429 {
			locked = int(i) + 1
			break
		}
	}
	if locked != int(auth.DefaultLimits.AccountFailures)+1 {
		t.Fatalf("the lockout came at attempt %d, want %d", locked, auth.DefaultLimits.AccountFailures+1)
	}
	if s, _ := login(t, c.a, "olive", accountPassword, ""); s != 429 {
		t.Fatalf("the locked account on A: %d", s)
	}
	c.a.stop(t)
	c.b.stop(t)
	mustSK(t, 0, []string{"SEALKEEP_HOME=" + c.home}, "audit", "verify")
	if strings.Contains(c.a.log.String()+c.b.log.String(), accountPassword) {
		t.Fatal("a server log holds a password")
	}
}
