//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/store"
	"sealkeep/internal/store/postgres/pgtest"
)

// TestScaleOutSealsAndRotations: two `sealkeep serve` processes on one
// PostgreSQL database under concurrent seals and rotations. Four sealers,
// each with an active version 1 and a ready version 2, seal on one server
// while they rotate to version 2 on the other, and the first sealer's seal
// is also sent, with the same code, to the other server. Every request
// succeeds or is refused cleanly (never a 5xx: a seal that loses to the
// rotation is refused because its version is no longer active, or its
// earlier code no longer fresh), at most one of the two
// seals with one code is made, every seal recorded names the version that
// was active when it committed, every rotation happens once, and every
// chain stays linear and valid.
func TestScaleOutSealsAndRotations(t *testing.T) {
	const sealers = 4
	dir := t.TempDir()
	home := filepath.Join(dir, "data")
	mustSK(t, 0, nil, "--data-dir", home, "init", "--database", pgtest.Fresh(t))
	fx := newAcme(t, home)
	type sealer struct {
		user                           store.User
		login, identity, secret, token string
		thumb                          []string // of versions 1 and 2
	}
	ss := make([]*sealer, sealers)
	for i := range ss {
		s := &sealer{login: fmt.Sprintf("sealer%d", i), identity: fmt.Sprintf("pe-%d", i)}
		s.user = fx.sealer(s.login)
		s.thumb = fx.identity(s.user, s.identity, 2)
		s.secret = fx.beginTOTP(s.user)
		ss[i] = s
	}
	a, b := startServe(t, home), startServe(t, home)
	// Sign in before TOTP is confirmed (no code needed yet), then confirm
	// with the previous step's code: the current and the next step are
	// left for a seal and a rotation of each sealer.
	for i, s := range ss {
		srv := []*serveChild{a, b}[i%2]
		body, _ := json.Marshal(map[string]string{"login": s.login, "password": accountPassword, "name": "scale-out"})
		resp, err := http.Post(srv.url+"/api/v1/tokens", "application/json", bytes.NewReader(body))
		must(t, err)
		var tok struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("sign-in of %s: %d", s.login, resp.StatusCode)
		}
		s.token = tok.Token
		fx.confirmTOTP(s.user, s.secret)
	}
	fx.close()

	doc, err := os.ReadFile("../../internal/pdf/testdata/corpus/libreoffice-report.pdf")
	must(t, err)
	sealReq := func(srv *serveChild, s *sealer, code string) (int, string) {
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		fw, _ := mw.CreateFormFile("file", "report.pdf")
		fw.Write(doc)
		mw.WriteField("code", code)
		mw.Close()
		req, _ := http.NewRequest("POST", srv.url+"/api/v1/orgs/acme/identities/"+s.identity+"/seal", &form)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+s.token)
		return do(t, req)
	}
	rotate := func(srv *serveChild, s *sealer, code string) (int, string) {
		body, _ := json.Marshal(map[string]string{"code": code, "reason": "rotation under load", "thumbprint": s.thumb[1]})
		req, _ := http.NewRequest("POST", srv.url+"/api/v1/orgs/acme/identities/"+s.identity+"/versions/2/activate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.token)
		return do(t, req)
	}
	type result struct {
		what   string
		status int
		body   string
	}
	results := make(chan result, 3*sealers)
	var wg sync.WaitGroup
	for i, s := range ss {
		now, err := totp.GenerateCode(s.secret, time.Now())
		must(t, err)
		next, err := totp.GenerateCode(s.secret, time.Now().Add(30*time.Second))
		must(t, err)
		one, other := []*serveChild{a, b}[i%2], []*serveChild{a, b}[(i+1)%2]
		wg.Go(func() { st, b := sealReq(one, s, now); results <- result{s.login + " seal", st, b} })
		wg.Go(func() { st, b := rotate(other, s, next); results <- result{s.login + " rotate", st, b} })
		if i == 0 {
			wg.Go(func() { st, b := sealReq(other, s, now); results <- result{s.login + " seal again", st, b} })
		}
	}
	wg.Wait()
	close(results)
	sealed := map[string]int{}
	for r := range results {
		t.Logf("%s: %d", r.what, r.status)
		rotation := strings.HasSuffix(r.what, "rotate")
		switch {
		case r.status >= 500 || r.status == 0:
			t.Errorf("%s: %d %s", r.what, r.status, r.body)
		case rotation && r.status != 200:
			t.Errorf("%s: %d %s (a rotation with a fresh code must succeed)", r.what, r.status, r.body)
		case rotation:
		case r.status == 200:
			sealed[strings.Fields(r.what)[0]]++
		case r.status != 401 && r.status != 403 && r.status != 409:
			t.Errorf("%s: %d is not a clean refusal: %s", r.what, r.status, r.body)
		}
	}
	if sealed["sealer0"] > 1 {
		t.Errorf("two seals were made with one code")
	}
	a.stop(t)
	b.stop(t)
	envHome := []string{"SEALKEEP_HOME=" + home}
	mustSK(t, 0, envHome, "audit", "verify")
	// The trail: one rotation per sealer, one seal entry per 200, each
	// naming the version active when it committed.
	out := mustSK(t, 0, envHome, "audit", "export", "--chain", "acme")
	active := map[string]int{}
	seals := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Action  string
			Subject struct {
				Identity string
				Version  int
			}
		}
		must(t, json.Unmarshal([]byte(line), &e))
		switch e.Action {
		case "version.activate", "version.rotate":
			active[e.Subject.Identity] = e.Subject.Version
		case "seal":
			seals++
			if v := active[e.Subject.Identity]; v != e.Subject.Version {
				t.Errorf("a seal entry of %s names version %d while version %d was active", e.Subject.Identity, e.Subject.Version, v)
			}
		}
	}
	total := 0
	for _, n := range sealed {
		total += n
	}
	if seals != total {
		t.Errorf("%d seal entries, %d seals answered 200", seals, total)
	}
	for _, s := range ss {
		if active[s.identity] != 2 {
			t.Errorf("%s: version %d active after the rotation", s.identity, active[s.identity])
		}
	}
}

// do sends req and returns the status and the body (a PDF is not kept).
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") == "application/pdf" {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, string(b)
}
