//go:build unix

package main

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sealkeep/internal/benchdata"
)

// TestSealSignal seals a 128 MB PDF with the CLI binary (the test binary
// run as sealkeep) in a child process, sends it SIGTERM (then, in a second
// run, SIGINT) while the temporary output is being written, and checks
// that the process ended by that signal, the temporary file is gone and no
// output exists.
func TestSealSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 128 MB PDF (run without -short)")
	}
	t.Setenv("SEALKEEP_HOME", "")
	dir := t.TempDir()
	sealPKI(t, dir)
	in := filepath.Join(dir, "large.pdf")
	const size = 128 << 20
	if err := benchdata.CreatePDF(in, size, 4); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		if signal.Ignored(sig) {
			t.Logf("%v is ignored by this process (and so by its children): not tested", sig)
			continue
		}
		out := filepath.Join(dir, "out.pdf")
		cmd := exec.Command(os.Args[0], "seal", in, out, "--key", filepath.Join(dir, "key.pem"))
		cmd.Env = append(os.Environ(), envRunMain+"=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		tmp := waitForPartial(t, dir, ".out.pdf.sealkeep-tmp-", size, exited)
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		<-exited
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != sig {
			t.Fatalf("%v: the seal ended with %v, want death by %v; stderr:\n%s", sig, cmd.ProcessState, sig, stderr.String())
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Fatalf("%v: %s is still there (%v)", sig, tmp, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%v: %s exists (%v)", sig, out, err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".*sealkeep-tmp-*")); len(m) != 0 {
			t.Fatalf("%v: left behind: %v", sig, m)
		}
	}
}

// waitForPartial polls dir until a file whose name starts with prefix holds
// some but not all of size bytes, and returns its path. It fails if the
// process exits first.
func waitForPartial(t *testing.T, dir, prefix string, size int64, exited chan error) string {
	t.Helper()
	for {
		select {
		case err := <-exited:
			t.Fatalf("the seal ended (%v) before its temporary file was seen being written", err)
		default:
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), prefix) {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.Size() > 0 && fi.Size() < size {
				return filepath.Join(dir, e.Name())
			}
		}
		time.Sleep(time.Millisecond)
	}
}
