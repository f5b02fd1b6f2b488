// Package testenv finds the external components that tests use (PostgreSQL,
// the local-kms emulator, SoftHSM2, pdfsig, qpdf, openssl, tmux, Chromium) and skips a test
// with instructions when one is missing. scripts/test starts all of them and
// sets SEALKEEP_TEST_REQUIRE_ALL=1, which turns every such skip into a
// failure: the full suite runs with nothing skipped.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const hint = "run scripts/test, which installs and starts every component"

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("SEALKEEP_TEST_REQUIRE_ALL") == "1" {
		t.Fatalf("%s is required (SEALKEEP_TEST_REQUIRE_ALL=1) but missing; %s", what, hint)
	}
	t.Skipf("%s is missing; %s", what, hint)
}

// Postgres returns the DSN of a throwaway PostgreSQL server
// (SEALKEEP_TEST_POSTGRES), or skips.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SEALKEEP_TEST_POSTGRES")
	if dsn == "" {
		missing(t, "PostgreSQL (SEALKEEP_TEST_POSTGRES)")
	}
	return dsn
}

// LocalKMS returns the endpoint of the local-kms AWS KMS emulator
// (SEALKEEP_TEST_LOCALKMS), or skips.
func LocalKMS(t testing.TB) string {
	t.Helper()
	ep := os.Getenv("SEALKEEP_TEST_LOCALKMS")
	if ep == "" {
		missing(t, "the local-kms emulator (SEALKEEP_TEST_LOCALKMS)")
	}
	return ep
}

// SoftHSM returns the path of the SoftHSM2 PKCS#11 module, or skips.
func SoftHSM(t testing.TB) string {
	t.Helper()
	for _, p := range []string{
		os.Getenv("SEALKEEP_TEST_SOFTHSM_MODULE"),
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			if _, err := exec.LookPath("softhsm2-util"); err == nil {
				return p
			}
		}
	}
	missing(t, "SoftHSM2 (apt-get install softhsm2)")
	return ""
}

// Tool returns the path of an external command (pdfsig, qpdf, openssl,
// certutil, tmux), or skips.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "the "+name+" command")
	}
	return p
}

// BuildTool builds the command pkg of the Go module in dir (a test-only
// module under testdata, so that its dependencies stay out of sealkeep's
// go.mod) into a temporary directory and returns the binary's path, or
// skips when it cannot be built (no go command, or the module proxy is
// out of reach for its first download).
func BuildTool(t testing.TB, dir, pkg string) string {
	t.Helper()
	gobin := Tool(t, "go")
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command(gobin, "build", "-mod=mod", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		missing(t, "the test tool "+pkg+" (go build in "+dir+" failed: "+strings.TrimSpace(string(b))+")")
	}
	return out
}

// Chromium returns the path of a Chromium (or Chrome) browser for the
// browser tests, or skips: on Debian, apt-get install
// --no-install-recommends chromium.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "Chromium (apt-get install --no-install-recommends chromium)")
	return ""
}
