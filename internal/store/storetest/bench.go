package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

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

// FillFast writes a chain of n linked entries, its Merkle tree and its head
// straight into the database named by dsn with multi-row INSERTs (Exec,
// 1000 entries a statement), as AppendAudit would have written them: a
// million entries in a fraction of the time a million appends take on
// PostgreSQL. The chain must not exist yet.
func FillFast(tb testing.TB, be Backend, dsn, chain string, n int) {
	tb.Helper()
	const perStmt = 1000
	var (
		tr       audit.Tree
		prev     audit.Hash
		buf      [64]tlog.Hash
		ents, hs strings.Builder
		nEnts    int
		t0       = time.Now().UTC().Truncate(time.Microsecond)
		quote    = func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		flush    = func() {
			if nEnts == 0 {
				return
			}
			be.Exec(tb, dsn, `INSERT INTO audit_entries (chain, seq, time_us, actor_kind, actor_id, action,
				subject_org, subject_identity, subject_version, details, prev_hash, hash, canonical) VALUES `+ents.String())
			be.Exec(tb, dsn, `INSERT INTO audit_tree_hashes (chain, idx, hash) VALUES `+hs.String())
			ents.Reset()
			hs.Reset()
			nEnts = 0
		}
	)
	for i := 1; i <= n; i++ {
		e := event(chain, "fill", i)
		e.Seq, e.PrevHash, e.Time = uint64(i), prev, t0.Add(time.Duration(i)*time.Microsecond)
		e.Hash = e.ComputeHash()
		prev = e.Hash
		if nEnts > 0 {
			ents.WriteString(",")
			hs.WriteString(",")
		}
		details, _ := json.Marshal(e.Details)
		fmt.Fprintf(&ents, "(%s,%d,%d,%s,%s,%s,%s,%s,%d,%s,%s,%s,%s)", quote(e.Chain), e.Seq, e.Time.UnixMicro(),
			quote(e.Actor.Kind), quote(e.Actor.ID), quote(string(e.Action)), quote(e.Subject.Org), quote(e.Subject.Identity),
			e.Subject.Version, quote(string(details)), be.Blob(e.PrevHash[:]), be.Blob(e.Hash[:]), be.Blob(e.Canonical()))
		first := tlog.StoredHashIndex(0, tr.Size())
		for j, h := range tr.Append(buf[:0], e.Hash) {
			if j > 0 {
				hs.WriteString(",")
			}
			fmt.Fprintf(&hs, "(%s,%d,%s)", quote(chain), first+int64(j), be.Blob(h[:]))
		}
		if nEnts++; nEnts == perStmt {
			flush()
		}
	}
	flush()
	edge, _ := tr.MarshalBinary()
	be.Exec(tb, dsn, fmt.Sprintf(`INSERT INTO audit_heads (chain, seq, hash) VALUES (%s, %d, %s)`, quote(chain), n, be.Blob(prev[:])))
	be.Exec(tb, dsn, fmt.Sprintf(`INSERT INTO audit_trees (chain, size, edge) VALUES (%s, %d, %s)`, quote(chain), n, be.Blob(edge)))
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
// the same store wrapped in a translog.Publisher (whose writer goroutine
// signs and writes a checkpoint note after the commit), alternately, one
// goroutine, each on a chain of its own. It reports both rates, their
// ratio ("x-no-checkpoint", the time of a published append over a plain
// one), measured side by side so that the load of a shared machine hits
// both alike, and the checkpoints written per published append (below 1
// when the writer coalesced commits). The newest checkpoint must cover
// every append.
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
	pub.Flush()
	if signed, err := pub.Dir().Latest("org-published"); err != nil || signed == nil {
		b.Fatalf("no checkpoint was written: %v", err)
	} else if cp, err := translog.OpenChain(signed, key.Public(), "org-published"); err != nil || cp.N != int64(b.N) {
		b.Fatalf("the newest checkpoint is %+v (%v), want size %d", cp, err, b.N)
	}
	b.ReportMetric(float64(pub.Written())/float64(b.N), "checkpoints/append")
	b.ReportMetric(float64(b.N)/plain.Seconds(), "plain-appends/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "checkpointed-appends/s")
	b.ReportMetric(published.Seconds()/plain.Seconds(), "x-no-checkpoint")
}
