// Package benchdata makes the inputs and floors of sealkeep's large-file
// benchmarks: valid PDFs of a chosen size and page count, and the
// copy-and-hash floor that sealing is measured against.
//
// # Generated PDFs
//
// [WritePDF] writes a PDF 1.7 file with a classic cross-reference table and
// a few pages, each showing one uncompressed DeviceRGB image filled with
// pseudo-random bytes (seeded, so a given size and page count always gives
// the same file). Nearly all of the file is image data, as in a scanned
// drawing set, so the work of a sealer or verifier is dominated by
// streaming the bytes, which is what the benchmarks measure. The files
// pass qpdf --check.
//
// # The floors
//
// [CopyHash] copies a file to an output path while computing its SHA-256
// in the same pass (through a temporary file in the output directory,
// synced and renamed, as sealing writes its output). Nothing that seals a
// file by incremental update can do less. [ReadHash] reads a file once and
// computes its SHA-256: nothing that verifies a signature over the file can
// do less.
package benchdata

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"sealkeep/internal/errs"
)

// ErrInvalidInput reports a size or page count that cannot make a PDF.
var ErrInvalidInput = errs.New(errs.Invalid, "benchdata: invalid input")

// minImage is the least image data per page, so that every page shows a
// real image.
const minImage = 768

// pageOverhead is about the size of a page's objects other than the image
// data: page dictionary, content stream, image dictionary, xref entries.
const pageOverhead = 440

// countWriter counts the bytes written through it.
type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) printf(format string, args ...any) {
	if c.err != nil {
		return
	}
	n, err := fmt.Fprintf(c.w, format, args...)
	c.n += int64(n)
	c.err = err
}

func (c *countWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

// imageSize returns the width and height of an RGB image of about n bytes.
func imageSize(n int64) (w, h int64) {
	switch {
	case n >= 4<<20:
		w = 1024
	case n >= 64<<10:
		w = 64
	default:
		w = 16
	}
	return w, max(1, n/(3*w))
}

// WritePDF writes to w a valid PDF of about size bytes (within a few
// kilobytes plus 1%) with the given number of pages, each showing one
// image, and returns the number of bytes written.
func WritePDF(w io.Writer, size int64, pages int) (int64, error) {
	if pages < 1 || size/int64(pages) < minImage+1024 {
		return 0, fmt.Errorf("%w: %d pages in %d bytes", ErrInvalidInput, pages, size)
	}
	c := &countWriter{w: bufio.NewWriterSize(w, 1<<20)}
	var offsets []int64 // offsets[i] is the offset of object i+1
	object := func(format string, args ...any) {
		offsets = append(offsets, c.n)
		c.printf("%d 0 obj\n", len(offsets))
		c.printf(format, args...)
		c.printf("\nendobj\n")
	}
	// Objects: 1 catalog, 2 page tree, 3 font, then per page i (from 0):
	// page 4+3i, content 5+3i, image 6+3i.
	page := func(i int) int { return 4 + 3*i }
	c.printf("%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n")
	object("<< /Type /Catalog /Pages 2 0 R >>")
	offsets = append(offsets, c.n)
	c.printf("2 0 obj\n<< /Type /Pages /Count %d /Kids [", pages)
	for i := range pages {
		c.printf(" %d 0 R", page(i))
	}
	c.printf(" ] >>\nendobj\n")
	object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")

	// The xref table costs 20 bytes per object; the rest goes to images.
	per := (size - c.n - 20*int64(3*pages+4) - 128) / int64(pages)
	iw, ih := imageSize(per - pageOverhead)
	rng := rand.NewChaCha8([32]byte{'s', 'e', 'a', 'l', 'k', 'e', 'e', 'p'})
	buf := make([]byte, 1<<20)
	for i := range pages {
		object("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "+
			"/Resources << /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>",
			page(i)+2, page(i)+1)
		content := fmt.Sprintf("q 540 0 0 648 36 108 cm /Im0 Do Q\nBT /F1 12 Tf 36 72 Td (benchmark page %d of %d) Tj ET\n", i+1, pages)
		object("<< /Length %d >>\nstream\n%sendstream", len(content), content)
		n := iw * ih * 3
		offsets = append(offsets, c.n)
		c.printf("%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length %d >>\nstream\n",
			len(offsets), iw, ih, n)
		for n > 0 {
			chunk := buf[:min(n, int64(len(buf)))]
			rng.Read(chunk)
			c.write(chunk)
			n -= int64(len(chunk))
		}
		c.printf("\nendstream\nendobj\n")
	}
	xref := c.n
	c.printf("xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		c.printf("%010d 00000 n \n", off)
	}
	c.printf("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.n, c.err
}

// CreatePDF writes [WritePDF]'s file to path.
func CreatePDF(path string, size int64, pages int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := WritePDF(f, size, pages); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// ReadHash returns the SHA-256 of the file at path, read once in 256 KB
// blocks.
func ReadHash(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, make([]byte, 256<<10)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// CopyHash copies in to out while computing the SHA-256 of the bytes in
// the same pass: it writes a temporary file in out's directory, syncs it
// and renames it to out. It returns the digest.
func CopyHash(in, out string) (sum []byte, err error) {
	src, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), ".copyhash-*.tmp")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		n, rerr := src.Read(buf)
		h.Write(buf[:n])
		if _, err := tmp.Write(buf[:n]); err != nil {
			return nil, err
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
