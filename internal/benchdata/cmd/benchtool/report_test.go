package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	sfx := ""
	if p := runtime.GOMAXPROCS(0); p > 1 {
		sfx = "-" + strconv.Itoa(p)
	}
	bench := strings.Join([]string{
		"goos: linux",
		"pkg: sealkeep/internal/signer/local",
		"BenchmarkLocalOverhead/RSA-3072" + sfx + " 100 9000000 ns/op 5000000 raw-cpu-ns/op 5600000 local-cpu-ns/op 1.12 cpu-ratio 1.13 ratio",
		"BenchmarkLocalOverhead/RSA-3072" + sfx + " 100 9000000 ns/op 5000000 raw-cpu-ns/op 5400000 local-cpu-ns/op 1.08 cpu-ratio 1.09 ratio",
		"BenchmarkLocalOverhead/RSA-3072" + sfx + " 100 9000000 ns/op 5000000 raw-cpu-ns/op 5500000 local-cpu-ns/op 1.09 cpu-ratio 1.10 ratio",
		"pkg: sealkeep/internal/audit",
		"BenchmarkVerify1M" + sfx + " 3 1500000000 ns/op 2.5 s/1M-entries 2.1 cpu-s/1M-entries 1.4 x-sha256-baseline",
		"pkg: sealkeep/internal/signer/awskms",
		"BenchmarkSign/ECDSA-P256/bare-sdk" + sfx + " 100 1000000 ns/op 300 cpu-us/op",
		"BenchmarkSign/ECDSA-P256/sealkeep" + sfx + " 100 1030000 ns/op 330 cpu-us/op",
		"pkg: sealkeep/internal/server",
		"BenchmarkSealThroughput/sqlite/clients=16" + sfx + " 96 10000000 ns/op 6.0 cpu-ms/seal 0.05 idle-share 150 p50-ms 300 p99-ms 4.5 raw-cpu-ms/sign 400 raw-signs/s 100 seals/s 0.25 x-raw 0.75 x-raw-cpu 0.87 x-raw-local-cpu",
		"PASS",
	}, "\n")
	dir := t.TempDir()
	goOut, cli, md := filepath.Join(dir, "bench.txt"), filepath.Join(dir, "cli.tsv"), filepath.Join(dir, "out.md")
	os.WriteFile(goOut, []byte(bench), 0o644)
	os.WriteFile(cli, []byte("50 MB\tfloor\t1.0\t8000\t0\t0.5\n50 MB\tseal\t1.2\t30000\t0\t0.6\n50 MB\treadhash\t1.0\t2000\t0\t0.3\n50 MB\tverify\t1.5\t20000\t0\n"+
		"hostile floor\tverify\t0.05\t30000\t0\t0.04\n"+
		"hostile bomb\tverify\t0.2\t60000\t2\t0.2\nhostile bomb\tverify\t2.5\t70000\t2\t0.3\nhostile bomb\tverify\t0.3\t65000\t2\t0.2\n"+
		"hostile bomb\tseal\t0.2\t140000\t2\t0.2\n"+
		"hostile loop\tverify\t0.1\t30000\t1\t0.1\n"), 0o644)
	hostile := filepath.Join(dir, "hostile.tsv")
	os.WriteFile(hostile, []byte("bomb\t1048576\ta bomb\nloop\t2048\ta loop\n"), 0o644)
	var out strings.Builder
	if err := report(&out, goOut, cli, "", hostile, "test machine", "", md); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| RSA-3072 | 5.000 ms | 5.500 ms | 1.090 | 1.100 | ≤ 1.10 (CPU) | PASS |", // medians of three runs
		"| audit.Verify, chain in memory | 2.50 s | 2.10 s | 1.40x bare SHA-256 (wall) | < 2 s (CPU) | **MISS** |",
		"| 50 MB | sealkeep seal (1 rounds) | 1.200 s | 1.200 (1.200; 1.200) | 0.60 s (1.20x) | 29.3 MB | ≤ 1.3x, ≤ 64 MB | PASS |",
		"| 50 MB | sealkeep verify (1 rounds) | 1.500 s | 1.500 (1.500; 1.500) |  | 19.5 MB | ≤ 1.3x, ≤ 64 MB | **MISS** |",
		"| awskms | ECDSA-P256 | 1.000 ms | 1.030 ms | +3.0% (+0.030 ms) | 300 → 330 µs | CPU: +3.0% (+0.030 ms) | < 5% and < 0.2 ms | PASS |",
		"| floor: a small valid file |  | the process's own cost | sealkeep verify | 0 | 0.050 s; 0.050 s | 0.04 s | 29.3 MB |  | info |",
		// judged on the median wall time and the largest RSS
		"| bomb | 1.0 MB | a bomb | sealkeep verify (3 runs) | 2 | 0.300 s; 2.500 s | 0.20 s | 68.4 MB | exit 2, ≤ 2 s, ≤ 128 MB | PASS |",
		"| bomb | 1.0 MB | a bomb | sealkeep seal (1 runs) | 2 | 0.200 s; 0.200 s | 0.20 s | 136.7 MB | exit 2, ≤ 2 s, ≤ 128 MB | **MISS** |",
		"| loop | 2 KB | a loop | sealkeep verify (1 runs) | 1 | 0.100 s; 0.100 s | 0.10 s | 29.3 MB | exit 2, ≤ 2 s, ≤ 128 MB | **MISS** |",
		"| loop | 2 KB | a loop | sealkeep seal |  |  |  |  | exit 2, ≤ 2 s, ≤ 128 MB | not measured |",
		"| sqlite | 16 | 100 /s | 150.00 ms | 300.00 ms | 400 /s | 0.250 | 6.00 ms | 4.50 ms | 0.750 | 0.870 | ≥ 0.85 | **MISS** |",
		"| postgres | 16 |  |  |  |  |  |  |  |  |  |  | not measured |",
		"test machine",
		"Goals: 4 PASS, 5 MISS.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q\n%s", want, got)
		}
	}
	if b, err := os.ReadFile(md); err != nil || string(b) != got {
		t.Errorf("-out file differs from stdout (%v)", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "50MB": 50 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "MB", "-5", "x"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}
