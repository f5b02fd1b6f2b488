//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/testenv"
)

// TestTerminalRender shows the verify report of a hostile PDF (hostilePDF)
// on a real terminal emulator, tmux, and reads back the screen it renders:
// the independent oracle of what a person sees. The raw hostile name,
// printed on the same terminal after a header line, erases the header and
// puts its fake "VALID" verdict on the first line (the control experiment
// that proves the oracle sees the attack); sealkeep's report keeps its
// header on the first line and shows one verdict line, the real one.
func TestTerminalRender(t *testing.T) {
	tmux := testenv.Tool(t, "tmux")
	t.Setenv("SEALKEEP_HOME", "")
	dir := t.TempDir()
	twice, _ := hostilePDF(t, dir)
	raw := filepath.Join(dir, "raw.txt")
	if err := os.WriteFile(raw, []byte("File:      header\n"+evil+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	screen := renderInTmux(t, tmux, filepath.Join(dir, "control.sock"), "cat "+raw)
	if strings.Contains(screen, "File:") || !strings.Contains(firstLine(screen), "VALID (1 signature(s), 2 revision(s))") {
		t.Fatalf("control: the raw name should erase the header and put its fake verdict first; the screen is:\n%s", screen)
	}

	screen = renderInTmux(t, tmux, filepath.Join(dir, "report.sock"), "env "+envRunMain+"=1 SEALKEEP_HOME= "+os.Args[0]+" verify "+twice)
	if first := firstLine(screen); !strings.HasPrefix(first, "File:      "+twice) {
		t.Errorf("the report's first line is %q, want the File: line; screen:\n%s", first, screen)
	}
	var verdicts []string
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Verdict:") {
			verdicts = append(verdicts, l)
		}
	}
	if len(verdicts) != 1 || !strings.HasPrefix(verdicts[0], "Verdict:   UNTRUSTED (2 signature(s)") {
		t.Errorf("the screen shows the verdict lines %q, want only the real UNTRUSTED one; screen:\n%s", verdicts, screen)
	}
	if !strings.Contains(screen, "  Name:          "+escapedEvil) {
		t.Errorf("the screen does not show the escaped name; screen:\n%s", screen)
	}
}

// renderInTmux runs the shell command in a new tmux server (listening on
// sock) on a 400x100 terminal, waits for it to end and returns the
// rendered screen.
func renderInTmux(t *testing.T, tmux, sock, command string) string {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	const done = "__render_done__"
	run("new-session", "-d", "-x", "400", "-y", "100", "sh -c '"+command+"; printf "+done+"; exec cat'")
	defer exec.Command(tmux, "-S", sock, "kill-server").Run()
	for {
		screen := run("capture-pane", "-p", "-J")
		if strings.Contains(screen, done) {
			return strings.ReplaceAll(screen, done, "")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstLine returns the first line of screen that is not blank.
func firstLine(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.TrimSpace(l) != "" {
			return l
		}
	}
	return ""
}
