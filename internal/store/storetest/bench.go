package storetest

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
	"sealkeep/internal/translog"
)

// BenchmarkAppend measures audit appends, one committed transaction per
// append: from one goroutine ("1"), from 8 concurrent goroutines on the same
// chain ("8"), and from 8 goroutines on 8 chains ("8chains", as 8
// organizations would). It reports appends/s.
func BenchmarkAppend(b *testing.B, be Backend) {
	for _, c := range []struct {
		name            string
		workers, chains int
	}{{"1", 1, 1}, {"8", 8, 1}, {"8chains", 8, 8}} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := fresh(b, be)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range c.workers {
				chain := "org-" + strconv.Itoa(w%c.chains)
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := s.Update(context.Background(), func(tx store.Tx) error {
							_, err := tx.AppendAudit(event(chain, "bench", int(i)))
							return err
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// Fill appends n entries to chain, batch per transaction, for read
// benchmarks.
func Fill(tb testing.TB, s store.Store, chain string, n, batch int) {
	tb.Helper()
	for done := 0; done < n; done += batch {
		update(tb, s, func(tx store.Tx) error {
			for i := done; i < min(done+batch, n); i++ {
				if _, err := tx.AppendAudit(event(chain, "fill", i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// Stream reads a whole chain with AuditEntries and returns how many
// entries it saw; with verify it also feeds them to audit.Verifier, as
// "sealkeep audit verify" does.
func Stream(tb testing.TB, s store.Store, chain string, verify bool) int {
	tb.Helper()
	n := 0
	v := audit.NewVerifier(chain)
	view(tb, s, func(tx store.ReadTx) error {
		return tx.AuditEntries(chain, 0, func(e audit.Entry) error {
			n++
			if verify {
				return v.Add(e)
			}
			return nil
		})
	})
	if rep := v.Report(); verify && !rep.OK() {
		tb.Fatalf("chain does not verify: %v", rep.Error())
	}
	return n
}

// BenchmarkAppendCheckpoint measures the cost of automatic checkpoints:
// each iteration makes one committed append to a plain store and one to
// the same store wrapped in a translog.Publisher (which signs and writes a
// checkpoint note after the commit), alternately, one goroutine, each on a
// chain of its own. It reports both rates and their ratio
// ("x-no-checkpoint", the time of a published append over a plain one),
// measured side by side so that the load of a shared machine hits both
// alike.
func BenchmarkAppendCheckpoint(b *testing.B, be Backend) {
	s, _ := fresh(b, be)
	key, err := audit.GenerateCheckpointKey()
	if err != nil {
		b.Fatal(err)
	}
	pub := translog.NewPublisher(s, key, translog.Dir(b.TempDir()), translog.Options{})
	var plain, published time.Duration
	ctx := context.Background()
	one := func(st store.Store, chain string, i int) time.Duration {
		t0 := time.Now()
		if err := st.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(event(chain, "bench", i))
			return err
		}); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			plain += one(s, "org-plain", i)
			published += one(pub, "org-published", i)
		} else {
			published += one(pub, "org-published", i)
			plain += one(s, "org-plain", i)
		}
	}
	b.ReportMetric(float64(b.N)/plain.Seconds(), "plain-appends/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "checkpointed-appends/s")
	b.ReportMetric(published.Seconds()/plain.Seconds(), "x-no-checkpoint")
}
