package custody

import (
	"fmt"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/store"
)

// BenchmarkSignChainLength measures one signature (build the signer, sign)
// with a local key in an org whose chain holds n seal entries besides the
// lifecycle ones, on SQLite. Every signature checks the stored version
// against the fold of the org's chain, before and while it signs; the
// service keeps the verified fold and reads only new entries, so after the
// first use the cost must not grow with the chain: compare the
// sub-benchmarks of one run.
func BenchmarkSignChainLength(b *testing.B) {
	for _, n := range []int{0, 10_000, 100_000} {
		b.Run(fmt.Sprintf("seals=%d", n), func(b *testing.B) {
			f := newFixture(b, openSQLite(b), Options{})
			f.orgIdentity(b, "acme", "jane")
			v := f.ready(b, "jane")
			if _, err := f.svc.Activate(f.ctx, testActor, "jane", v.Version, ""); err != nil {
				b.Fatal(err)
			}
			for done := 0; done < n; {
				err := f.st.Update(f.ctx, func(tx store.Tx) error {
					for i := 0; i < 5000 && done+i < n; i++ {
						if _, err := tx.AppendAudit(f.svc.entry("acme", testActor, audit.ActionSeal,
							audit.Subject{Org: "acme", Identity: "jane", Version: v.Version}, map[string]string{audit.DetailDocumentDigest: "bench"})); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				done += 5000
			}
			sign := func() {
				s, err := f.svc.Signer(f.ctx, testActor, "jane", v.Version)
				if err != nil {
					b.Fatal(err)
				}
				if err := signWith(s); err != nil {
					b.Fatal(err)
				}
			}
			sign() // the first use of the chain folds all of it
			for b.Loop() {
				sign()
			}
		})
	}
}
