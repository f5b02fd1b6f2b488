//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sealkeep/internal/store/postgres/pgtest"
	"sealkeep/internal/testenv"
)

// sealService is a data directory with an org acme, its owner olive and a
// sealer jane with TOTP who owns the identity jane-pe (an ECDSA P-256 key
// generated in custody, certified by a test CA whose root is in caFile),
// made through the services the server runs, and `sealkeep serve` on it.
type sealService struct {
	home, caFile, pwFile, secret string
	srv                          *serveChild
	env                          []string
}

func newSealService(t *testing.T, dsn string) *sealService {
	t.Helper()
	dir := t.TempDir()
	s := &sealService{home: filepath.Join(dir, "data"), caFile: filepath.Join(dir, "ca.pem"), pwFile: filepath.Join(dir, "pw")}
	must(t, os.WriteFile(s.pwFile, []byte(accountPassword+"\n"), 0o600))
	args := []string{"--data-dir", s.home, "init"}
	if dsn != "" {
		args = append(args, "--database", dsn)
	}
	mustSK(t, 0, nil, args...)
	a := newAcme(t, s.home)
	jane := a.sealer("jane")
	s.secret = a.beginTOTP(jane)
	a.confirmTOTP(jane, s.secret)
	a.identity(jane, "jane-pe", 1)
	a.close()
	root := a.root
	must(t, os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw}), 0o644))
	s.srv = startServe(t, s.home, "--trust", s.caFile)
	s.env = []string{"SEALKEEP_CREDENTIALS=" + filepath.Join(dir, "config", "credentials.json"), "SEALKEEP_HOME=" + s.home}
	return s
}

// codeFile writes jane's TOTP code of the step at now+ahead to a file.
func (s *sealService) codeFile(t *testing.T, ahead time.Duration) string {
	t.Helper()
	code, err := totp.GenerateCode(s.secret, time.Now().Add(ahead))
	must(t, err)
	f, err := os.CreateTemp(t.TempDir(), "code")
	must(t, err)
	f.WriteString(code + "\n")
	f.Close()
	return f.Name()
}

// TestClientSeal: `sealkeep seal --server` seals with jane's custody
// identity on her TOTP code and writes the sealed PDF; pdfsig calls it
// valid and `sealkeep verify` on the data directory finds its seal
// receipt, the entry the command printed. The same code again is refused
// (exit 6) and writes nothing; flags of a local seal are refused.
func TestClientSeal(t *testing.T) {
	s := newSealService(t, "")
	mustSK(t, 0, s.env, "login", "--server", s.srv.url, "--login", "jane", "--password-file", s.pwFile, "--code-file", s.codeFile(t, 0))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "drawing.pdf"), filepath.Join(dir, "drawing-sealed.pdf")
	doc, err := os.ReadFile("../../internal/pdf/testdata/corpus/libreoffice-report.pdf")
	must(t, err)
	must(t, os.WriteFile(in, doc, 0o600))
	code := s.codeFile(t, 30*time.Second)
	res := mustSK(t, 0, s.env, "seal", in, out, "--server", s.srv.url, "--org", "acme", "--identity", "jane-pe",
		"--code-file", code, "--reason", "Issued for construction", "--json")
	var sealed struct {
		Output    string
		SealEntry struct {
			Chain     string
			Seq       uint64
			EntryHash string `json:"entry_hash"`
			RequestID string `json:"request_id"`
		} `json:"seal_entry"`
	}
	if err := json.Unmarshal([]byte(res), &sealed); err != nil || sealed.SealEntry.Chain != "acme" || sealed.SealEntry.Seq == 0 {
		t.Fatalf("seal --server --json: %v %s", err, res)
	}
	pdfsig, _ := exec.Command(testenv.Tool(t, "pdfsig"), out).CombinedOutput()
	if !strings.Contains(string(pdfsig), "Signature Validation: Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", pdfsig)
	}
	rep := mustSK(t, 0, s.env, "verify", out, "--trust", s.caFile, "--json")
	var report struct {
		Verdict    string
		Signatures []struct {
			Reason  string
			Receipt struct {
				Found     bool
				Chain     string
				Seq       uint64
				EntryHash string `json:"entry_hash"`
				RequestID string `json:"request_id"`
				MFAMethod string `json:"mfa_method"`
			} `json:"seal_receipt"`
		}
	}
	if err := json.Unmarshal([]byte(rep), &report); err != nil || report.Verdict != "valid" || len(report.Signatures) != 1 {
		t.Fatalf("verify: %v %s", err, rep)
	}
	r := report.Signatures[0].Receipt
	if !r.Found || r.Chain != "acme" || r.Seq != sealed.SealEntry.Seq || r.EntryHash != sealed.SealEntry.EntryHash ||
		r.RequestID != sealed.SealEntry.RequestID || r.MFAMethod != "totp" || report.Signatures[0].Reason != "Issued for construction" {
		t.Fatalf("receipt %+v, sealed %+v", r, sealed)
	}
	// verify --server: the service's public verification gives the same
	// report (its trust anchors, its custody store), no login needed; a
	// file it cannot judge exits 2 as locally; local-only flags refused.
	anon := []string{"SEALKEEP_CREDENTIALS=" + filepath.Join(dir, "nobody.json"), "SEALKEEP_HOME=" + filepath.Join(dir, "no-home")}
	remote := mustSK(t, 0, anon, "verify", out, "--server", s.srv.url, "--json")
	if got, want := reportJSON(t, []byte(remote)), reportJSON(t, []byte(rep)); !reflect.DeepEqual(got, want) {
		t.Fatalf("verify --server differs from the local report:\nserver: %s\nlocal:  %s", remote, rep)
	}
	if txt := mustSK(t, 0, anon, "verify", out, "--server", s.srv.url); !strings.Contains(txt, "sealed through sealkeep") {
		t.Errorf("verify --server report names no seal receipt:\n%s", txt)
	}
	if _, errOut, c := sk(t, anon, "verify", in, "--server", s.srv.url); c != 1 {
		t.Errorf("verify --server of an unsigned PDF: exit %d %s", c, errOut)
	}
	if _, errOut, c := sk(t, anon, "verify", s.caFile, "--server", s.srv.url); c != 2 {
		t.Errorf("verify --server of a non-PDF: exit %d %s", c, errOut)
	}
	if _, errOut, c := sk(t, anon, "verify", out, "--server", s.srv.url, "--trust", s.caFile); c != 2 || !strings.Contains(errOut, "local only") {
		t.Errorf("verify --server --trust: exit %d %s", c, errOut)
	}
	// The same code for another seal: refused, nothing written.
	again := filepath.Join(dir, "again.pdf")
	if _, errOut, c := sk(t, s.env, "seal", in, again, "--server", s.srv.url, "--org", "acme", "--identity", "jane-pe", "--code-file", code); c != 6 || !strings.Contains(errOut, "already used") {
		t.Fatalf("replayed code: exit %d %s", c, errOut)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("the refused seal left files: %v", ents)
	}
	for _, args := range [][]string{
		{"--key", in}, {"--tsa", "http://tsa.example/"}, {"--org", ""},
	} {
		full := append([]string{"seal", in, again, "--server", s.srv.url, "--org", "acme", "--identity", "jane-pe", "--code-file", code}, args...)
		if _, errOut, c := sk(t, s.env, full...); c != 2 {
			t.Errorf("seal --server %v: exit %d %s", args, c, errOut)
		}
	}
	if _, errOut, c := sk(t, s.env, "seal", in, again, "--org", "acme"); c != 2 || !strings.Contains(errOut, "--key") {
		t.Errorf("local seal with --org: exit %d %s", c, errOut)
	}
	if b, _ := os.ReadFile(code); strings.Contains(s.srv.log.String(), strings.TrimSpace(string(b))) {
		t.Error("the server log holds the TOTP code")
	}
}

// TestScaleOutSeal: two server processes on one PostgreSQL database are
// one service for seals: of four requests with one code, two on each,
// exactly one seals; the winner's retry with its Idempotency-Key on the
// other server gets the same sealed PDF back and seals nothing more; the
// trail stays valid.
func TestScaleOutSeal(t *testing.T) {
	s := newSealService(t, pgtest.Fresh(t))
	b := startServe(t, s.home)
	code0, err := totp.GenerateCode(s.secret, time.Now())
	must(t, err)
	body, _ := json.Marshal(map[string]string{"login": "jane", "password": accountPassword, "code": code0, "name": "scale-out"})
	resp, err := http.Post(s.srv.url+"/api/v1/tokens", "application/json", bytes.NewReader(body))
	must(t, err)
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	code, err := totp.GenerateCode(s.secret, time.Now().Add(30*time.Second))
	must(t, err)
	doc, err := os.ReadFile("../../internal/pdf/testdata/corpus/libreoffice-report.pdf")
	must(t, err)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "drawing.pdf")
	fw.Write(doc)
	mw.WriteField("code", code)
	mw.Close()
	send := func(srv *serveChild, key string) (int, []byte, http.Header) {
		req, _ := http.NewRequest("POST", srv.url+"/api/v1/orgs/acme/identities/jane-pe/seal", bytes.NewReader(form.Bytes()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil, nil
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out, resp.Header
	}
	type answer struct {
		status int
		body   []byte
		key    string
		srv    int
	}
	answers := make([]answer, 4)
	servers := []*serveChild{s.srv, b}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range answers {
		wg.Go(func() {
			key := fmt.Sprintf("drawing-%d", i)
			<-start
			st, out, _ := send(servers[i%2], key)
			answers[i] = answer{st, out, key, i % 2}
		})
	}
	close(start)
	wg.Wait()
	var won *answer
	for i, a := range answers {
		switch {
		case a.status == 200 && won == nil:
			won = &answers[i]
		case a.status == 401:
		default:
			t.Fatalf("answers %v", []int{answers[0].status, answers[1].status, answers[2].status, answers[3].status})
		}
	}
	if won == nil {
		t.Fatal("no request sealed")
	}
	st, again, hdr := send(servers[1-won.srv], won.key)
	if st != 200 || !bytes.Equal(again, won.body) || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the retry on the other server: %d, same PDF %v, %v", st, bytes.Equal(again, won.body), hdr)
	}
	s.srv.stop(t)
	b.stop(t)
	mustSK(t, 0, []string{"SEALKEEP_HOME=" + s.home}, "audit", "verify")
	seals := 0
	for _, line := range strings.Split(mustSK(t, 0, []string{"SEALKEEP_HOME=" + s.home}, "audit", "export"), "\n") {
		var e struct{ Action string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Action == "seal" {
			seals++
		}
	}
	if seals != 1 {
		t.Fatalf("%d seal entries, want 1", seals)
	}
}
