//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/benchdata"
	"sealkeep/internal/store/postgres/pgtest"
)

// TestServeKilledMidSeal sends a seal of an 8 MB PDF to `sealkeep serve`,
// SIGKILLs the server a few milliseconds after the upload is complete
// (while it hashes, signs, records and writes), and then requires a
// consistent store: every chain verifies, the trail and the stored state
// agree, there is at most one seal entry, and a restarted server seals
// with the next code. SQLite and PostgreSQL.
func TestServeKilledMidSeal(t *testing.T) {
	pdf := filepath.Join(t.TempDir(), "big.pdf")
	must(t, benchdata.CreatePDF(pdf, 8<<20, 2))
	doc, err := os.ReadFile(pdf)
	must(t, err)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == "postgres" {
				dsn = pgtest.Fresh(t)
			}
			s := newSealService(t, dsn)
			tok := s.apiToken(t, 0)
			code := func(ahead time.Duration) string {
				c, err := totp.GenerateCode(s.secret, time.Now().Add(ahead))
				must(t, err)
				return c
			}
			// The seal, its body written through a pipe so that the test
			// knows when the last byte left.
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			req, err := http.NewRequest("POST", s.srv.url+"/api/v1/orgs/acme/identities/jane-pe/seal", pr)
			must(t, err)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+tok)
			sent := make(chan struct{})
			go func() {
				fw, _ := mw.CreateFormFile("file", "big.pdf")
				fw.Write(doc)
				mw.WriteField("code", code(30*time.Second))
				mw.Close()
				pw.Close()
				close(sent)
			}()
			answered := make(chan int, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answered <- 0
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered <- resp.StatusCode
			}()
			<-sent
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			must(t, s.srv.cmd.Process.Signal(syscall.SIGKILL))
			<-s.srv.done
			s.srv.cmd.Wait()
			status := <-answered
			t.Logf("killed %s; the client saw status %d", backend, status)

			// The store: every chain verifies (the trail against the
			// stored state too), at most one seal entry.
			env := []string{"SEALKEEP_HOME=" + s.home}
			mustSK(t, 0, env, "audit", "verify")
			out := mustSK(t, 0, env, "audit", "export", "--chain", "acme")
			seals := strings.Count(out, `"action":"seal"`)
			t.Logf("%d seal entries after the kill", seals)
			if seals > 1 || (status == 200 && seals != 1) {
				t.Fatalf("%d seal entries after the kill (client status %d)", seals, status)
			}
			// A restarted server seals with a fresh code: the killed seal's
			// own code if it recorded nothing (its step was not spent),
			// else the next step's, waiting for the window to move.
			next := 30 * time.Second
			if seals == 1 {
				time.Sleep(time.Until(time.Now().Truncate(30 * time.Second).Add(30 * time.Second)))
				next = 60 * time.Second
			}
			s.srv = startServe(t, s.home, "--trust", s.caFile)
			var form bytes.Buffer
			mw = multipart.NewWriter(&form)
			fw, _ := mw.CreateFormFile("file", "big.pdf")
			fw.Write(doc)
			mw.WriteField("code", code(next))
			mw.Close()
			req, _ = http.NewRequest("POST", s.srv.url+"/api/v1/orgs/acme/identities/jane-pe/seal", &form)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			sealed, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("seal after the restart: %d %s", resp.StatusCode, sealed)
			}
			outPDF := filepath.Join(t.TempDir(), "sealed.pdf")
			must(t, os.WriteFile(outPDF, sealed, 0o600))
			if b, err := exec.Command("qpdf", "--check", outPDF).CombinedOutput(); err != nil {
				t.Fatalf("qpdf --check: %v\n%s", err, b)
			}
			s.srv.stop(t)
			mustSK(t, 0, env, "audit", "verify")
		})
	}
}

// apiToken signs jane in with the code of the step at now+ahead and
// returns her API token.
func (s *sealService) apiToken(t *testing.T, ahead time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCode(s.secret, time.Now().Add(ahead))
	must(t, err)
	body, _ := json.Marshal(map[string]string{"login": "jane", "password": accountPassword, "code": c, "name": "kill test"})
	resp, err := http.Post(s.srv.url+"/api/v1/tokens", "application/json", bytes.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != 201 || tok.Token == "" {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	return tok.Token
}
