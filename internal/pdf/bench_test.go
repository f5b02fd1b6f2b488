package pdf

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// stubSign returns a fixed 2 KB blob: benchmarks measure the PDF work, not
// the signature algorithm.
func stubSign(context.Context, []byte) ([]byte, error) { return make([]byte, 2048), nil }

// copyHash is the baseline: copy the file to a temporary file in the
// output directory while hashing it with SHA-256 in the same pass, sync,
// rename and sync the directory, which is the least any durable sealer
// must do.
func copyHash(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), ".copy-*")
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), f); err != nil {
		return err
	}
	h.Sum(nil)
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(out))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func sealPath(in, out string) (*SealResult, error) {
	return SealFile(context.Background(), in, out, SealOptions{Time: sealTime}, stubSign)
}

// BenchmarkSeal346Pages seals the 6.8 MB, 346-page corpus file and reports
// the time against the copy-and-hash baseline measured in the same loop
// (metric "x-baseline"; the goal is at most 1.3).
func BenchmarkSeal346Pages(b *testing.B) {
	benchRatio(b, filepath.Join("testdata", "corpus", "pdftex-register-346pages.pdf"))
}

// BenchmarkSealLarge does the same for a generated 50 MB file.
func BenchmarkSealLarge(b *testing.B) {
	benchRatio(b, largePDF(b, 50<<20))
}

func benchRatio(b *testing.B, in string) {
	dir := b.TempDir()
	var seal, base time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := copyHash(in, filepath.Join(dir, "copy.pdf")); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := sealPath(in, filepath.Join(dir, "sealed.pdf")); err != nil {
			b.Fatal(err)
		}
		base += t1.Sub(t0)
		seal += time.Since(t1)
	}
	b.ReportMetric(float64(seal)/float64(base), "x-baseline")
	b.ReportMetric(float64(seal.Microseconds())/float64(b.N), "seal-µs/op")
	b.ReportMetric(float64(base.Microseconds())/float64(b.N), "baseline-µs/op")
}

// largePDF writes a valid PDF of about size bytes: pages whose content
// streams are padded with comments, a classic xref table.
func largePDF(tb testing.TB, size int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "large.pdf")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	const perPage = 64 << 10
	pages := size / perPage
	off := 0
	var offs []int
	write := func(s string) {
		w.WriteString(s)
		off += len(s)
	}
	obj := func(body string) {
		offs = append(offs, off)
		write(fmt.Sprintf("%d 0 obj\n%s\nendobj\n", len(offs), body))
	}
	write("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, pages)
	for i := range kids {
		kids[i] = fmt.Sprintf("%d 0 R", 3+2*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Count %d /Kids [%s] >>", pages, strings.Join(kids, " ")))
	pad := strings.Repeat("% padding to make the file large; a real file would hold images here\n", perPage/70)
	for i := 0; i < pages; i++ {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>", 4+2*i))
		content := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (page %d) Tj ET\n%s", i+1, pad)
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	x := off
	write(fmt.Sprintf("xref\n0 %d\n0000000000 65535 f \n", len(offs)+1))
	for _, o := range offs {
		write(fmt.Sprintf("%010d 00000 n \n", o))
	}
	write(fmt.Sprintf("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, x))
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestSealMemoryBounded seals a 5 MB and a 50 MB generated file and checks
// that the bytes allocated do not grow with the file: the ranges are
// streamed, not loaded. (The xref of the larger file has ten times the
// entries, so a small growth is expected; it must stay far below the
// 45 MB difference in size.)
func TestSealMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 55 MB")
	}
	alloc := func(size int) uint64 {
		in := largePDF(t, size)
		out := filepath.Join(t.TempDir(), "sealed.pdf")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := sealPath(in, out); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := alloc(5<<20), alloc(50<<20)
	t.Logf("allocated while sealing: 5 MB file %d KB, 50 MB file %d KB", small>>10, large>>10)
	if large > 8<<20 || large > small+4<<20 {
		t.Errorf("sealing allocates %d bytes for a 50 MB file (%d for 5 MB): memory grows with the file", large, small)
	}
}
