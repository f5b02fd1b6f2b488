package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/benchdata"
)

// runChild runs this test binary as sealkeep with args in dir and returns
// the exit code, stdout and stderr.
func runChild(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envRunMain+"=1", "SEALKEEP_HOME="+filepath.Join(dir, "no-home"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// TestOverProcessingLimit runs verify and seal on hostile files and with
// --max-decoded: a file over a limit is not judged, exit 2 exactly, JSON
// verdict "error", "over the processing limit" on stderr, and no output
// file; a bad --max-decoded is a usage error (exit 2).
func TestOverProcessingLimit(t *testing.T) {
	dir := t.TempDir()
	key, pass := filepath.Join("..", "..", "testdata", "demo", "demo-signer.p12"), filepath.Join("..", "..", "testdata", "demo", "demo-passphrase.txt")
	key, _ = filepath.Abs(key)
	pass, _ = filepath.Abs(pass)
	write := func(name string, f func(*bytes.Buffer) (int64, error)) string {
		var b bytes.Buffer
		if _, err := f(&b); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bomb := write("bomb.pdf", func(b *bytes.Buffer) (int64, error) { return benchdata.WriteFlateBomb(b, 1<<30) })
	// Well-formed, with 4 object streams of 300 KiB: fine by default,
	// over a budget of 1MiB.
	small := write("small.pdf", func(b *bytes.Buffer) (int64, error) { return benchdata.WriteInterleaved(b, 40, 4, 300<<10) })
	seal := func(in, out string, more ...string) []string {
		return append([]string{"seal", in, out, "--key", key, "--passphrase-file", pass}, more...)
	}

	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"verify bomb", []string{"verify", bomb, "--json"}, "the cap on one stream"},
		{"verify over --max-decoded", []string{"verify", small, "--json", "--max-decoded", "1MiB"}, "more than 1 MiB of decoded stream data"},
		{"seal bomb", seal(bomb, filepath.Join(dir, "out1.pdf")), "the cap on one stream"},
		{"seal over --max-decoded", seal(small, filepath.Join(dir, "out2.pdf"), "--max-decoded", "1048576"), "more than 1 MiB of decoded stream data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runChild(t, dir, c.args...)
			if code != exitUsage || !strings.Contains(stderr, "over the processing limit") || !strings.Contains(stderr, c.msg) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, c.msg)
			}
			if c.args[0] == "verify" {
				var rep struct{ Verdict, Error string }
				if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Verdict != "error" || !strings.Contains(rep.Error, "over the processing limit") {
					t.Errorf("JSON %q (%v), want verdict error", stdout, err)
				}
			}
		})
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "out*")); len(ents) != 0 {
		t.Errorf("seal left output behind: %v", ents)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".seal-*")); len(ents) != 0 {
		t.Errorf("seal left temporary files behind: %v", ents)
	}

	// Within the budget: sealed, and the sealed file verifies (untrusted:
	// no --trust) within the same budget.
	out := filepath.Join(dir, "sealed.pdf")
	if code, _, stderr := runChild(t, dir, seal(small, out, "--max-decoded", "2MiB")...); code != 0 {
		t.Fatalf("seal within the budget: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := runChild(t, dir, "verify", out, "--max-decoded", "2MiB"); code != exitVerify || !strings.Contains(stdout, "UNTRUSTED") {
		t.Fatalf("verify within the budget: exit %d: %s%s", code, stdout, stderr)
	}

	for _, bad := range []string{"0", "-1", "12 apples", "1TB", "9999999GiB"} {
		code, _, stderr := runChild(t, dir, "verify", small, "--max-decoded", bad)
		if code != exitUsage || !strings.Contains(stderr, "want a size such as 256MiB") {
			t.Errorf("--max-decoded %q: exit %d, %q; want a usage error", bad, code, stderr)
		}
	}
}

func TestMaxDecodedFlag(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "256MiB": 256 << 20, "1GiB": 1 << 30, " 64 KiB": 64 << 10, "1536KiB": 1536 << 10} {
		var v maxDecodedFlag
		if err := v.Set(in); err != nil || int64(v) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, v, err, want)
		}
		if l := v.limits(); l == nil || l.MaxDecodedTotal != want {
			t.Errorf("limits() for %q = %+v", in, l)
		}
	}
	var v maxDecodedFlag
	if v.limits() != nil || v.String() != "" {
		t.Error("the zero flag is not the default")
	}
	v = 1536 << 10
	if v.String() != "1536KiB" {
		t.Errorf("String() = %q", v.String())
	}
}
