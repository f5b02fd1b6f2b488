//go:build unix

package storetest

import (
	"syscall"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// BenchmarkStream streams a chain of n entries ("read") and streams it into
// audit.Verifier ("verify"), as "sealkeep audit verify" does. Besides wall
// time it reports process CPU seconds per million entries, which the load
// of a shared machine does not inflate, and the ratio of those to the CPU
// seconds of audit.Verify over the same entries held in memory ("memory",
// measured first in the same run): the floor any store can reach.
func BenchmarkStream(b *testing.B, be Backend, n int) {
	s, dsn := fresh(b, be)
	if be.Blob != nil {
		FillFast(b, be, dsn, "org-1", n)
	} else {
		Fill(b, s, "org-1", n, 20_000)
	}
	if got := verifyChainLen(b, s, "org-1"); got != n {
		b.Fatalf("filled %d entries, want %d", got, n)
	}
	perM := func(cpu time.Duration, loops int) float64 { return cpu.Seconds() / float64(loops) * 1e6 / float64(n) }
	var memoryCPU float64 // CPU seconds per million of the in-memory verification
	b.Run("memory", func(b *testing.B) {
		entries := make([]audit.Entry, 0, n)
		view(b, s, func(tx store.ReadTx) error {
			return tx.AuditEntries("org-1", 1, func(e audit.Entry) error {
				entries = append(entries, e)
				return nil
			})
		})
		b.ResetTimer()
		cpu0 := cpuTime(b)
		for b.Loop() {
			if r := audit.Verify(audit.Slice(entries)); !r.OK() || r.Head.Seq != uint64(n) {
				b.Fatalf("in-memory chain does not verify: %v", r.Error())
			}
		}
		memoryCPU = perM(cpuTime(b)-cpu0, b.N)
		b.ReportMetric(memoryCPU, "cpu-s/1M-entries")
	})
	for _, verify := range []bool{false, true} {
		name := map[bool]string{false: "read", true: "verify"}[verify]
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime(b)
			for b.Loop() {
				if got := Stream(b, s, "org-1", verify); got != n {
					b.Fatalf("streamed %d entries, want %d", got, n)
				}
			}
			cpu := perM(cpuTime(b)-cpu0, b.N)
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(cpu, "cpu-s/1M-entries")
			if memoryCPU > 0 {
				b.ReportMetric(cpu/memoryCPU, "x-memory-verify-cpu")
			}
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
