//go:build unix

package audit

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

const benchEntries = 1_000_000

// benchChain is built once per test binary: a million seal entries with
// realistic details (256 distinct detail maps, shared to bound memory).
var benchChain = sync.OnceValue(func() []Entry {
	details := make([]map[string]string, 256)
	for i := range details {
		details[i] = map[string]string{
			DetailDocumentDigest: fmt.Sprintf("%064x", i*7919),
			DetailRequestID:      fmt.Sprintf("req-%08d", i),
			DetailLicence:        "TX PE 12345",
			DetailMFAMethod:      "totp",
		}
	}
	c := make([]Entry, 0, benchEntries)
	for i := range benchEntries {
		c = appendEntry(c, Entry{
			Chain:   "0b9d3c2e-6a51-4f1e-9c55-3a8f7d2e1b40",
			Time:    t0.Add(time.Duration(i) * time.Millisecond),
			Actor:   Actor{Kind: "user", ID: "user-42"},
			Action:  ActionSeal,
			Subject: Subject{Org: "0b9d3c2e-6a51-4f1e-9c55-3a8f7d2e1b40", Identity: "identity-7", Version: 3},
			Details: details[i%len(details)],
		})
	}
	return c
})

// sha256Baseline times SHA-256 over n buffers as long as an average
// canonical entry: the floor any verifier pays.
func sha256Baseline(n, size int) time.Duration {
	buf := make([]byte, size)
	start := time.Now()
	for i := range n {
		buf[0] = byte(i)
		sum := sha256.Sum256(buf)
		buf[1] = sum[0]
	}
	return time.Since(start)
}

// cpuTime returns the CPU time (user and system) this process has used.
// On a shared machine it says more than wall time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVerify1M verifies a million-entry chain built in memory
// beforehand (only Verify is timed). It reports wall and CPU seconds per
// million entries and the ratio to bare SHA-256 over the same number of
// bytes, measured right after each run so that both see the same machine
// load.
func BenchmarkVerify1M(b *testing.B) {
	c := benchChain()
	size := len(c[0].Canonical())
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed, cpu, base time.Duration
	for b.Loop() {
		start, startCPU := time.Now(), cpuTime(b)
		r := Verify(Slice(c))
		elapsed += time.Since(start)
		cpu += cpuTime(b) - startCPU
		if !r.OK() || r.Head.Seq != benchEntries {
			b.Fatalf("%+v", r.Break)
		}
		b.StopTimer()
		base += sha256Baseline(benchEntries, size)
		b.StartTimer()
	}
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/1M-entries")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/1M-entries")
	b.ReportMetric(float64(elapsed)/float64(base), "x-sha256-baseline")
}

// BenchmarkComputeHash hashes one entry; the metric x-sha256-baseline is
// the ratio to bare SHA-256 over its canonical bytes.
func BenchmarkComputeHash(b *testing.B) {
	e := buildChain(1)[0]
	e.Details[DetailLicence] = "TX PE 12345"
	canon := e.Canonical()
	b.ReportAllocs()
	var sink [32]byte
	start := time.Now()
	for b.Loop() {
		sink = e.ComputeHash()
	}
	per := float64(time.Since(start)) / float64(b.N)
	b.StopTimer()
	const n = 200_000
	t := time.Now()
	for range n {
		sink = sha256.Sum256(canon)
		canon[0] = sink[0]
	}
	base := float64(time.Since(t)) / n
	b.ReportMetric(per/base, "x-sha256-baseline")
	b.ReportMetric(float64(len(canon)), "canonical-bytes")
}
