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
// output exists. Then it kills a third run (SIGKILL) and checks that the
// next seal reports the temporary file that run left.
func TestSealSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 128 MB PDF (run without -short)")
	}
	t.Setenv("SEALKEEP_HOME", "")
	dir := t.TempDir()
	sealPKI(t, dir)
	in := filepath.Join(dir, "large.pdf")
	if err := benchdata.CreatePDF(in, 128<<20, 4); err != nil {
		t.Fatal(err)
	}
	inInfo, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pdf")
	args := []string{"seal", in, out, "--key", filepath.Join(dir, "key.pem")}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		if signal.Ignored(sig) {
			t.Logf("%v is ignored by this process (and so by its children): not tested", sig)
			continue
		}
		cmd, stderr, tmp := signalMidCopy(t, args, dir, inInfo.Size(), sig)
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != sig {
			t.Fatalf("%v: the seal ended with %v, want death by %v; stderr:\n%s", sig, cmd.ProcessState, sig, stderr)
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

	// SIGKILL cannot be caught: the temporary file stays, OUT does not
	// appear, and the next seal to OUT reports the leftover, leaves it,
	// and writes OUT.
	_, _, tmp := signalMidCopy(t, args, dir, inInfo.Size(), syscall.SIGKILL)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("SIGKILL: %s exists (%v)", out, err)
	}
	again := sealkeepCmd(args)
	var stderr strings.Builder
	again.Stderr = &stderr
	if err := again.Run(); err != nil {
		t.Fatalf("the seal after SIGKILL: %v\n%s", err, stderr.String())
	}
	if want := "sealkeep: warning: " + tmp + " was left by an interrupted seal; it is not a sealed document: remove it\n"; stderr.String() != want {
		t.Errorf("stderr after SIGKILL:\n%s\nwant:\n%s", stderr.String(), want)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("the leftover %s was not left alone: %v", tmp, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() <= inInfo.Size() {
		t.Errorf("%s after the second seal: %v, want more than the %d bytes of the input", out, err, inInfo.Size())
	}
}

// sealkeepCmd is the test binary run as sealkeep with args.
func sealkeepCmd(args []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	return cmd
}

// signalMidCopy runs sealkeep with args, sends it sig while its temporary
// file in dir holds some but not all of the input's size bytes (the input
// is still being copied), and waits for it to end. It returns the ended
// command, its stderr and the temporary file's path. A run that ends
// before it was seen mid-copy (a loaded machine) is run again, up to five
// times.
func signalMidCopy(t *testing.T, args []string, dir string, size int64, sig syscall.Signal) (*exec.Cmd, string, string) {
	t.Helper()
	for range 5 {
		cmd := sealkeepCmd(args)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if tmp := waitForPartial(dir, size, exited); tmp != "" {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-exited
			return cmd, stderr.String(), tmp
		}
		t.Logf("the seal ended (%v) before its temporary file was seen mid-copy; again", cmd.ProcessState)
		os.Remove(args[2])
	}
	t.Fatal("five seals ended before their temporary file was seen mid-copy")
	return nil, "", ""
}

// waitForPartial polls dir until a temporary file (.*.sealkeep-tmp-*)
// holds some but not all of size bytes, and returns its path, or "" once
// exited is closed.
func waitForPartial(dir string, size int64, exited chan struct{}) string {
	for {
		select {
		case <-exited:
			return ""
		default:
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), ".sealkeep-tmp-") {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.Size() > 0 && fi.Size() < size {
				return filepath.Join(dir, e.Name())
			}
		}
		time.Sleep(time.Millisecond)
	}
}
