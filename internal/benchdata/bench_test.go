package benchdata

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/pdf"
)

// BenchmarkSeal1MB100Pages seals a generated 1 MB, 100-page PDF with a real
// RSA-3072 PAdES B-B signature (cms.SignDetached, a root → intermediate →
// leaf chain) through pdf.SealFile, and in the same loop times the floor:
// one SHA-256 pass over the file plus one RSA-3072 PKCS #1 v1.5 signature
// with the already-parsed key. Metrics: "x-baseline" (total seal time over
// total floor time; goal ≤ 1.2), "pair-ratio" (median of the per-iteration
// ratios, steadier on a loaded machine), "x-copyhash-sign" (seal over the
// floor that also writes and syncs the output), and the medians in µs.
func BenchmarkSeal1MB100Pages(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := CreatePDF(in, 1<<20, 100); err != nil {
		b.Fatal(err)
	}
	chain := pkitest.NewChain(b, keypolicy.RSA3072, "bench 1 MB")
	key := chain.Leaf.Key.(*rsa.PrivateKey)
	so := cms.SignOptions{Signer: key, Certificate: chain.Leaf.Cert,
		Chain: []*x509.Certificate{chain.Intermediate.Cert}, Digest: crypto.SHA256}
	size, err := cms.EstimateSize(so)
	if err != nil {
		b.Fatal(err)
	}
	opts := pdf.SealOptions{ContentsSize: size, Digest: crypto.SHA256}
	sign := func(ctx context.Context, digest []byte) ([]byte, error) {
		return cms.SignDetached(ctx, digest, so)
	}
	out := filepath.Join(dir, "sealed.pdf")
	var seals, floors, copies []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		sum, err := ReadHash(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := pdf.SealFile(context.Background(), in, out, opts, sign); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		sum, err = CopyHash(in, filepath.Join(dir, "copy.pdf"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum); err != nil {
			b.Fatal(err)
		}
		floors, seals, copies = append(floors, t1.Sub(t0)), append(seals, t2.Sub(t1)), append(copies, time.Since(t2))
	}
	reportRatios(b, seals, floors, copies)
}

// reportRatios reports the seal time against the floor (total and median
// pair ratio) and against the floor that copies and syncs.
func reportRatios(b *testing.B, seals, floors, copies []time.Duration) {
	var s, f, c time.Duration
	pairs := make([]float64, len(seals))
	for i := range seals {
		s, f, c = s+seals[i], f+floors[i], c+copies[i]
		pairs[i] = float64(seals[i]) / float64(floors[i])
	}
	slices.Sort(pairs)
	median := func(d []time.Duration) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds())
	}
	b.ReportMetric(float64(s)/float64(f), "x-baseline")
	b.ReportMetric(pairs[len(pairs)/2], "pair-ratio")
	b.ReportMetric(float64(s)/float64(c), "x-copyhash-sign")
	b.ReportMetric(median(seals), "seal-µs")
	b.ReportMetric(median(floors), "floor-µs")
}
