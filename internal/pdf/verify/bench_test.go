package verify

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// writeLargePDF writes a valid PDF of about size bytes to path: four pages,
// each drawing one large grey image of incompressible bytes, with a classic
// xref table. Memory stays constant while writing.
func writeLargePDF(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	const pages = 4
	side := int64(1)
	for side*side*pages < size {
		side *= 2
	}
	for (side-64)*side*pages >= size && side > 64 {
		side -= 64
	}
	imgLen := side * side
	var off int64
	var offs []int64
	write := func(s string) {
		w.WriteString(s)
		off += int64(len(s))
	}
	obj := func(body string) {
		offs = append(offs, off)
		write(fmt.Sprintf("%d 0 obj\n%s\nendobj\n", len(offs), body))
	}
	write("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := ""
	for i := 0; i < pages; i++ {
		kids += fmt.Sprintf("%d 0 R ", 3+3*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Count %d /Kids [%s] >>", pages, kids))
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for i := 0; i < pages; i++ {
		n := 3 + 3*i
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources << /XObject << /Im0 %d 0 R >> >> >>", n+1, n+2))
		content := "q 540 0 0 720 36 36 cm /Im0 Do Q"
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
		offs = append(offs, off)
		write(fmt.Sprintf("%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n", n+2, side, side, imgLen))
		for left := imgLen; left > 0; {
			k := min(left, int64(len(buf)))
			rng.Read(buf[:k])
			w.Write(buf[:k])
			off += k
			left -= k
		}
		write("\nendstream\nendobj\n")
	}
	x := off
	write(fmt.Sprintf("xref\n0 %d\n0000000000 65535 f \n", len(offs)+1))
	for _, o := range offs {
		write(fmt.Sprintf("%010d 00000 n \n", o))
	}
	write(fmt.Sprintf("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, x))
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// TestGenerateLargePDF writes a large PDF for scripts/bench-pdf when
// SEALKEEP_BENCH_PDF_OUT names the output (SEALKEEP_BENCH_PDF_MB its size,
// default 50), and otherwise checks the generator on a 2 MB file.
func TestGenerateLargePDF(t *testing.T) {
	out, mb := os.Getenv("SEALKEEP_BENCH_PDF_OUT"), int64(2)
	if out == "" {
		out = filepath.Join(t.TempDir(), "large.pdf")
	} else {
		mb = 50
		if s := os.Getenv("SEALKEEP_BENCH_PDF_MB"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			mb = n
		}
	}
	if err := writeLargePDF(out, mb<<20); err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(t.TempDir(), "sealed.pdf")
	sealFile(t, out, sealed, sealCfg{})
	rep, err := File(context.Background(), sealed, Options{Roots: pki(t).roots()})
	if err != nil || rep.Verdict != Valid {
		t.Fatalf("%v %+v", err, rep)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < mb<<20*9/10 || fi.Size() > mb<<20*11/10 {
		t.Fatalf("size %v (want about %d MB): %v", fi.Size(), mb, err)
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readHash is the baseline: read the file once and SHA-256 it.
func readHash(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	_, err = io.CopyBuffer(h, f, make([]byte, 1<<20))
	return err
}

// benchVerify reports verification time against the read-and-hash
// baseline measured in the same loop (metric "x-baseline"; goal ≤ 1.3).
func benchVerify(b *testing.B, in string) {
	sealed := filepath.Join(b.TempDir(), "sealed.pdf")
	sealFile(b, in, sealed, sealCfg{})
	opts := Options{Roots: pki(b).roots()}
	var ver, base, verCPU, baseCPU time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		if err := readHash(sealed); err != nil {
			b.Fatal(err)
		}
		t1, c1 := time.Now(), cpuTime()
		rep, err := File(context.Background(), sealed, opts)
		if err != nil || rep.Verdict != Valid {
			b.Fatalf("%v %+v", err, rep)
		}
		base += t1.Sub(t0)
		ver += time.Since(t1)
		baseCPU += c1 - c0
		verCPU += cpuTime() - c1
	}
	b.ReportMetric(float64(ver)/float64(base), "x-baseline")
	// The shared build machine makes wall time noisy; CPU time is not.
	b.ReportMetric(float64(verCPU)/float64(baseCPU), "cpu-x-baseline")
	b.ReportMetric(float64(ver.Microseconds())/float64(b.N), "verify-µs/op")
	b.ReportMetric(float64(base.Microseconds())/float64(b.N), "baseline-µs/op")
}

// BenchmarkVerify346Pages verifies the sealed 6.8 MB, 346-page corpus
// file.
func BenchmarkVerify346Pages(b *testing.B) {
	benchVerify(b, filepath.Join(corpusDir, "pdftex-register-346pages.pdf"))
}

// BenchmarkVerifyLarge verifies generated 50 MB and (with
// SEALKEEP_BENCH_LARGE=1) 500 MB files.
func BenchmarkVerifyLarge(b *testing.B) {
	for _, mb := range []int64{50, 500} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			if mb > 50 && os.Getenv("SEALKEEP_BENCH_LARGE") != "1" {
				b.Skip("set SEALKEEP_BENCH_LARGE=1 for the 500 MB file")
			}
			in := filepath.Join(b.TempDir(), "large.pdf")
			if err := writeLargePDF(in, mb<<20); err != nil {
				b.Fatal(err)
			}
			benchVerify(b, in)
		})
	}
}

// TestBenchBaseline is scripts/bench-pdf's floor, run as its own process
// under /usr/bin/time: with SEALKEEP_BENCH_BASELINE=copy it copies
// SEALKEEP_BENCH_IN to SEALKEEP_BENCH_OUT while hashing it with SHA-256 in
// the same pass, then syncs (what any sealer must at least do); with =read
// it reads and hashes the input (what any verifier must at least do).
// Without the variables it checks copyHash on a small file.
func TestBenchBaseline(t *testing.T) {
	in, out := os.Getenv("SEALKEEP_BENCH_IN"), os.Getenv("SEALKEEP_BENCH_OUT")
	switch os.Getenv("SEALKEEP_BENCH_BASELINE") {
	case "copy":
		if _, err := copyHash(in, out); err != nil {
			t.Fatal(err)
		}
		return
	case "read":
		if err := readHash(in); err != nil {
			t.Fatal(err)
		}
		return
	}
	dir := t.TempDir()
	in, out = filepath.Join(dir, "in"), filepath.Join(dir, "out")
	data := make([]byte, 3<<20+1)
	for i := range data {
		data[i] = byte(i * 7)
	}
	writeFile(t, in, data)
	sum, err := copyHash(in, out)
	if want := sha256.Sum256(data); err != nil || string(sum) != string(want[:]) || string(readFile(t, out)) != string(data) {
		t.Fatalf("copyHash: %v", err)
	}
}

// copyHash copies in to out while hashing, and syncs out.
func copyHash(in, out string) ([]byte, error) {
	src, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(dst, h), src, make([]byte, 1<<20)); err != nil {
		return nil, err
	}
	if err := dst.Sync(); err != nil {
		return nil, err
	}
	return h.Sum(nil), dst.Close()
}
