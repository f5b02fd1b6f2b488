//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"sealkeep/internal/store/postgres/pgtest"
)

// serveChild is `sealkeep serve` in a child process (the test binary run
// as sealkeep), with its JSON log.
type serveChild struct {
	cmd *exec.Cmd
	url string
	log *bytes.Buffer
	// lines ends when the child closes stderr.
	done chan struct{}
}

// startServe starts `sealkeep --data-dir home serve args...` on
// 127.0.0.1:0 and waits for its "listening" log line.
func startServe(t *testing.T, home string, args ...string) *serveChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--data-dir", home, "serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &serveChild{cmd: cmd, log: &bytes.Buffer{}, done: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.log.Write(append(sc.Bytes(), '\n'))
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				urls <- rec.URL
			}
		}
	}()
	select {
	case c.url = <-urls:
	case <-c.done:
		t.Fatalf("serve exited before listening:\n%s", c.log)
	case <-time.After(time.Minute):
		t.Fatalf("serve did not listen within a minute:\n%s", c.log)
	}
	return c
}

// stop sends SIGTERM and returns the exit code.
func (c *serveChild) stop(t *testing.T) int {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-c.done
	c.cmd.Wait()
	return c.cmd.ProcessState.ExitCode()
}

// reportJSON decodes a verify report without the fields that differ by
// nature between two runs (the file name and the validation time).
func reportJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a report: %v\n%s", err, b)
	}
	delete(m, "file")
	delete(m, "validated_at")
	return m
}

// TestServeVerify seals a PDF, verifies it with `sealkeep verify --json`
// and through POST /api/v1/verify of a `sealkeep serve` on the same data
// directory (SQLite, then PostgreSQL), and requires the same report; then
// SIGTERM stops the server with exit 0.
func TestServeVerify(t *testing.T) {
	t.Setenv("SEALKEEP_HOME", "")
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			sealPKI(t, dir)
			home := filepath.Join(dir, "home")
			initArgs := []string{"--data-dir", home, "init"}
			if backend == "postgres" {
				initArgs = append(initArgs, "--database", pgtest.Fresh(t))
			}
			if code, out := runOut(t, initArgs...); code != 0 {
				t.Fatalf("init exit %d: %s", code, out)
			}
			in := filepath.Join("..", "..", "internal", "pdf", "testdata", "corpus", "qpdf-linearized.pdf")
			sealed := filepath.Join(dir, "sealed.pdf")
			if code, _ := runOut(t, "seal", in, sealed, "--key", filepath.Join(dir, "key.pem")); code != 0 {
				t.Fatalf("seal exit %d", code)
			}
			trust := filepath.Join(dir, "root.pem")
			code, cli := runOut(t, "--data-dir", home, "verify", sealed, "--trust", trust, "--json")
			if code != 0 {
				t.Fatalf("verify exit %d:\n%s", code, cli)
			}

			srv := startServe(t, home, "--trust", trust)
			pdf, _ := os.ReadFile(sealed)
			var form bytes.Buffer
			mw := multipart.NewWriter(&form)
			fw, _ := mw.CreateFormFile("file", "sealed.pdf")
			fw.Write(pdf)
			mw.Close()
			resp, err := http.Post(srv.url+"/api/v1/verify", mw.FormDataContentType(), &form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("POST /api/v1/verify: %d %s", resp.StatusCode, body)
			}
			if got, want := reportJSON(t, body), reportJSON(t, []byte(cli)); !reflect.DeepEqual(got, want) {
				t.Fatalf("the server's report differs from the CLI's:\nserver: %s\ncli:    %s", body, cli)
			}
			if !strings.Contains(string(body), `"verdict": "valid"`) {
				t.Fatalf("not valid: %s", body)
			}
			resp, err = http.Get(srv.url + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("readyz: %d\n%s", resp.StatusCode, srv.log)
			}
			if code := srv.stop(t); code != 0 {
				t.Fatalf("serve exit %d after SIGTERM:\n%s", code, srv.log)
			}
			log := srv.log.String()
			if !strings.Contains(log, `"msg":"stopped"`) || !strings.Contains(log, `"route":"POST /api/v1/verify"`) {
				t.Fatalf("log:\n%s", log)
			}
			if backend == "postgres" && strings.Contains(log, "password") {
				t.Fatalf("the log names a password:\n%s", log)
			}
		})
	}
}

// TestServeRefusesPlainHTTP: plain HTTP on an address that is not loopback
// is a usage error (exit 2), on an initialised data directory.
func TestServeRefusesPlainHTTP(t *testing.T) {
	t.Setenv("SEALKEEP_HOME", "")
	home := filepath.Join(t.TempDir(), "home")
	if code, _ := runOut(t, "--data-dir", home, "init"); code != 0 {
		t.Fatalf("init exit %d", code)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		cmd := exec.Command(os.Args[0], "--data-dir", home, "serve", "--listen", addr)
		cmd.Env = append(os.Environ(), envRunMain+"=1")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "only served on a loopback address") {
			t.Fatalf("serve --listen %s: exit %d\n%s", addr, code, out)
		}
	}
	// The environment variable sets the flag; the flag wins over it.
	cmd := exec.Command(os.Args[0], "--data-dir", home, "serve")
	cmd.Env = append(os.Environ(), envRunMain+"=1", "SEALKEEP_LISTEN=0.0.0.0:0")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), `"0.0.0.0:0"`) {
		t.Fatalf("SEALKEEP_LISTEN=0.0.0.0:0: exit %d\n%s", code, out)
	}
}
