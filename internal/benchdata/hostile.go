package benchdata

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The hostile files of the bounded-cost benchmark (issue 7, FAULTS.md 13
// and 32): small files that cost a careless reader minutes or gigabytes.
// Each is a well-formed PDF apart from its one trick (the scaled-down
// versions pass qpdf --check, tested), so the reader is stopped by a limit,
// not by a syntax error.

// HostileFile is one generated hostile PDF.
type HostileFile struct {
	// Name is the file name without ".pdf".
	Name string
	// What says in a few words what the file does.
	What string
	// Write writes the file and returns the bytes written.
	Write func(io.Writer) (int64, error)
}

// HostileFiles lists the hostile files that scripts/bench measures: every
// one must end in at most 2 s and 128 MB of peak RSS, for verify and seal.
func HostileFiles() []HostileFile {
	return []HostileFile{
		{"objstm-interleaved", "10,000 form fields interleaved across 5 object streams of 100 MB each",
			func(w io.Writer) (int64, error) { return WriteInterleaved(w, 10000, 5, 100<<20) }},
		{"objstm-wide-update", "one xref-stream update with 20 object streams of 200 MB each",
			func(w io.Writer) (int64, error) { return WriteWideUpdate(w, 20, 200<<20) }},
		{"objstm-budget", "240 form fields interleaved across 12 object streams of 30 MB each (each under the cap, 360 MB in all)",
			func(w io.Writer) (int64, error) { return WriteInterleaved(w, 240, 12, 30<<20) }},
		{"flate-bomb", "the catalog in an object stream that inflates to 1 GiB",
			func(w io.Writer) (int64, error) { return WriteFlateBomb(w, 1<<30) }},
		{"deep-nesting", "an array nested 100,000 deep in the catalog",
			func(w io.Writer) (int64, error) { return WriteDeepNesting(w, 100000) }},
		{"prev-loop", "5,000 updates whose /Prev chain loops back to the newest",
			func(w io.Writer) (int64, error) { return WritePrevLoop(w, 5000) }},
	}
}

// pdfWriter writes PDF objects and remembers their offsets.
type pdfWriter struct {
	*countWriter
	offs map[int]int64 // object number -> offset
}

func newPDFWriter(w io.Writer) *pdfWriter {
	p := &pdfWriter{countWriter: &countWriter{w: bufio.NewWriterSize(w, 1<<20)}, offs: map[int]int64{}}
	p.printf("%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n")
	return p
}

// object writes object num with the given body.
func (p *pdfWriter) object(num int, body string) {
	p.offs[num] = p.n
	p.printf("%d 0 obj\n%s\nendobj\n", num, body)
}

// stream writes object num as a stream with dictionary entries dict and
// the given (already encoded) data.
func (p *pdfWriter) stream(num int, dict string, data []byte) {
	p.offs[num] = p.n
	p.printf("%d 0 obj\n<< %s /Length %d >>\nstream\n", num, dict, len(data))
	p.write(data)
	p.printf("\nendstream\nendobj\n")
}

// table writes a classic cross-reference table of objects 0..size-1 (the
// ones written are in use) with the trailer entries extra, and returns its
// offset.
func (p *pdfWriter) table(size int, extra string) int64 {
	x := p.n
	p.printf("xref\n0 %d\n0000000000 65535 f \n", size)
	for i := 1; i < size; i++ {
		if off, ok := p.offs[i]; ok {
			p.printf("%010d 00000 n \n", off)
		} else {
			p.printf("0000000000 00000 f \n")
		}
	}
	p.printf("trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n", size, extra, x)
	return x
}

// xrefStream writes object num as a cross-reference stream for the given
// entries (object number -> entry: type, field 2, field 3; numbers not
// listed are left out with /Index) with the trailer entries extra.
func (p *pdfWriter) xrefStream(num int, entries map[int][3]int64, extra string) int64 {
	x := p.n
	entries[num] = [3]int64{1, x, 0}
	nums := slices.Sorted(maps.Keys(entries))
	var rec bytes.Buffer
	var index strings.Builder
	for i, n := range nums {
		if i == 0 || nums[i-1] != n-1 { // a new subsection
			run := 1
			for i+run < len(nums) && nums[i+run] == n+run {
				run++
			}
			fmt.Fprintf(&index, " %d %d", n, run)
		}
		e := entries[n]
		rec.WriteByte(byte(e[0]))
		rec.Write(binary.BigEndian.AppendUint32(nil, uint32(e[1])))
		rec.Write(binary.BigEndian.AppendUint16(nil, uint16(e[2])))
	}
	data := zlibPadded(rec.Bytes(), 0)
	p.offs[num] = x
	p.printf("%d 0 obj\n<< /Type /XRef /Size %d /Index [%s ] /W [1 4 2] /Filter /FlateDecode %s /Length %d >>\nstream\n",
		num, nums[len(nums)-1]+1, index.String(), extra, len(data))
	p.write(data)
	p.printf("\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", x)
	return x
}

// objStm returns the deflated data and the dictionary entries of an object
// stream holding the given objects (number and body), padded with pad zero
// bytes (white space) after them.
func objStm(nums []int, bodies []string, pad int64) (dict string, data []byte) {
	var head, objs strings.Builder
	for i, n := range nums {
		fmt.Fprintf(&head, "%d %d ", n, objs.Len())
		objs.WriteString(bodies[i])
		objs.WriteByte('\n')
	}
	h := head.String()
	return fmt.Sprintf("/Type /ObjStm /N %d /First %d /Filter /FlateDecode", len(nums), len(h)),
		zlibPadded([]byte(h+objs.String()), pad)
}

func (p *pdfWriter) finish() (int64, error) {
	if p.err == nil {
		p.err = p.w.Flush()
	}
	return p.n, p.err
}

// basePages writes the catalog's page tree: objects 2 (pages) and 3 (one
// page).
func (p *pdfWriter) basePages() {
	p.object(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	p.object(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>")
}

// fieldList returns "[n 0 R ...]" for count objects from first.
func fieldList(first, count int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range count {
		fmt.Fprintf(&b, " %d 0 R", first+i)
	}
	b.WriteString(" ]")
	return b.String()
}

// WriteInterleaved writes a file whose form has fields text fields, the
// i-th stored in object stream i mod streams, each object stream padded to
// decode to about pad bytes. Listing the form (as verifying and sealing
// do) reads the fields in order, so a reader that keeps fewer decoded
// object streams than streams decodes one for every field.
func WriteInterleaved(w io.Writer, fields, streams int, pad int64) (int64, error) {
	if fields < 1 || streams < 1 || streams > fields || pad < 0 {
		return 0, fmt.Errorf("%w: %d fields in %d streams", ErrInvalidInput, fields, streams)
	}
	p := newPDFWriter(w)
	firstStm, firstField := 4, 4+streams
	p.object(1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields "+fieldList(firstField, fields)+" >> >>")
	p.basePages()
	entries := map[int][3]int64{}
	for s := range streams {
		var nums []int
		var bodies []string
		for i := s; i < fields; i += streams {
			entries[firstField+i] = [3]int64{2, int64(firstStm + s), int64(len(nums))}
			nums = append(nums, firstField+i)
			bodies = append(bodies, fmt.Sprintf("<< /FT /Tx /T (field %d) >>", i))
		}
		dict, data := objStm(nums, bodies, pad)
		p.stream(firstStm+s, dict, data)
	}
	for _, n := range []int{1, 2, 3} {
		entries[n] = [3]int64{1, p.offs[n], 0}
	}
	for s := range streams {
		entries[firstStm+s] = [3]int64{1, p.offs[firstStm+s], 0}
	}
	p.xrefStream(firstField+fields, entries, "/Root 1 0 R")
	return p.finish()
}

// WriteWideUpdate writes a small classic file and one xref-stream update
// of streams objects, each in an object stream of its own padded to
// inflate to about pad bytes: a new catalog whose form lists the other
// objects, which are text fields.
func WriteWideUpdate(w io.Writer, streams int, pad int64) (int64, error) {
	if streams < 1 || pad < 0 {
		return 0, fmt.Errorf("%w: %d streams", ErrInvalidInput, streams)
	}
	p := newPDFWriter(w)
	p.object(1, "<< /Type /Catalog /Pages 2 0 R >>")
	p.basePages()
	prev := p.table(4, "/Root 1 0 R")
	objs := []Obj{{1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields " + fieldList(4, streams-1) + " >> >>"}}
	for s := 1; s < streams; s++ {
		objs = append(objs, Obj{3 + s, fmt.Sprintf("<< /FT /Tx /T (field %d) >>", s)})
	}
	p.objStmUpdate(prev, 3+streams, objs, pad, "/Root 1 0 R")
	return p.finish()
}

// Obj is an object to store in an object stream: its number and body.
type Obj struct {
	Num  int
	Body string
}

// AppendObjStmUpdate writes base (a complete PDF, such as a sealed file)
// followed by one xref-stream update that stores each of objs in an
// object stream of its own, padded to inflate to about pad bytes. prev is
// the offset of base's last cross-reference section (its startxref
// value), the update's object streams and xref stream are numbered from
// next (base's /Size), and trailer holds the update's other trailer
// entries, such as "/Root 1 0 R".
func AppendObjStmUpdate(w io.Writer, base []byte, prev int64, next int, objs []Obj, pad int64, trailer string) (int64, error) {
	if len(objs) == 0 || pad < 0 || next < 1 {
		return 0, fmt.Errorf("%w: %d objects from %d", ErrInvalidInput, len(objs), next)
	}
	p := &pdfWriter{countWriter: &countWriter{w: bufio.NewWriterSize(w, 1<<20)}, offs: map[int]int64{}}
	p.write(base)
	p.objStmUpdate(prev, next, objs, pad, trailer)
	return p.finish()
}

// objStmUpdate writes the update of [AppendObjStmUpdate].
func (p *pdfWriter) objStmUpdate(prev int64, next int, objs []Obj, pad int64, trailer string) {
	entries := map[int][3]int64{}
	for i, o := range objs {
		stm := next + i
		entries[o.Num] = [3]int64{2, int64(stm), 0}
		dict, data := objStm([]int{o.Num}, []string{o.Body}, pad)
		p.stream(stm, dict, data)
		entries[stm] = [3]int64{1, p.offs[stm], 0}
	}
	p.xrefStream(next+len(objs), entries, fmt.Sprintf("%s /Prev %d", trailer, prev))
}

// WriteFlateBomb writes a file whose catalog is in an object stream
// padded to inflate to size bytes: about size/1000 bytes that the
// reader must inflate before it can read anything.
func WriteFlateBomb(w io.Writer, size int64) (int64, error) {
	if size < 0 {
		return 0, fmt.Errorf("%w: bomb of %d bytes", ErrInvalidInput, size)
	}
	p := newPDFWriter(w)
	p.basePages()
	dict, data := objStm([]int{1}, []string{"<< /Type /Catalog /Pages 2 0 R >>"}, size)
	p.stream(4, dict, data)
	entries := map[int][3]int64{1: {2, 4, 0}}
	for _, n := range []int{2, 3, 4} {
		entries[n] = [3]int64{1, p.offs[n], 0}
	}
	p.xrefStream(5, entries, "/Root 1 0 R")
	return p.finish()
}

// WriteDeepNesting writes a classic file whose catalog holds an array
// nested depth deep.
func WriteDeepNesting(w io.Writer, depth int) (int64, error) {
	if depth < 1 {
		return 0, fmt.Errorf("%w: depth %d", ErrInvalidInput, depth)
	}
	p := newPDFWriter(w)
	p.object(1, "<< /Type /Catalog /Pages 2 0 R /Deep "+strings.Repeat("[", depth)+strings.Repeat("]", depth)+" >>")
	p.basePages()
	p.table(4, "/Root 1 0 R")
	return p.finish()
}

// WritePrevLoop writes a classic file followed by updates empty updates
// (a table with no entries and a trailer) whose /Prev chain runs from the
// newest back to the oldest update, which points at the newest again
// instead of at the original file.
func WritePrevLoop(w io.Writer, updates int) (int64, error) {
	if updates < 1 {
		return 0, fmt.Errorf("%w: %d updates", ErrInvalidInput, updates)
	}
	p := newPDFWriter(w)
	p.object(1, "<< /Type /Catalog /Pages 2 0 R >>")
	p.basePages()
	prev := p.table(4, "/Root 1 0 R")
	// Every update section has the same length, so the newest one's
	// offset is known before it is written.
	const sect = "xref\n0 0\ntrailer\n<< /Size 4 /Root 1 0 R /Prev %010d >>\nstartxref\n%010d\n%%%%EOF\n"
	size := int64(len(fmt.Sprintf(sect, 0, 0)))
	newest := p.n + int64(updates-1)*size
	for i := range updates {
		x := p.n
		if i == 0 {
			prev = newest
		}
		p.printf(sect, prev, x)
		prev = x
	}
	return p.finish()
}

// zlibPadded returns a zlib stream (RFC 1950, deflate at the best
// compression) of head followed by pad zero bytes. Deflating a long run of
// zeros gives the same compressed block for every mebibyte once the
// window holds only zeros, so that block is computed once and repeated: a
// gigabyte of padding costs milliseconds. The window then holds zeros
// whichever way the block was made, so the writer can go on after the
// copies.
func zlibPadded(head []byte, pad int64) []byte {
	var out bytes.Buffer
	out.Write([]byte{0x78, 0xda})
	fw, _ := flate.NewWriter(&out, flate.BestCompression) // a valid level: no error
	fw.Write(head)
	fw.Flush()
	const block = 1 << 20
	zero := make([]byte, block)
	var last, steady []byte
	left := pad
	for ; left >= block; left -= block {
		if steady != nil {
			out.Write(steady)
			continue
		}
		n := out.Len()
		fw.Write(zero)
		fw.Flush()
		b := out.Bytes()[n:]
		if bytes.Equal(b, last) {
			steady = append([]byte{}, b...)
		}
		last = append(last[:0], b...)
	}
	fw.Write(zero[:left])
	fw.Close()
	out.Write(binary.BigEndian.AppendUint32(nil, adlerZeros(adler32.Checksum(head), pad)))
	return out.Bytes()
}

// adlerZeros returns the Adler-32 checksum (RFC 1950) of data whose
// checksum is sum, followed by n zero bytes: each zero adds nothing to the
// first sum and the first sum to the second.
func adlerZeros(sum uint32, n int64) uint32 {
	const mod = 65521
	a, b := uint64(sum&0xffff), uint64(sum>>16)
	b = (b + uint64(n%mod)*a) % mod
	return uint32(b<<16 | a)
}

// streamRE finds the streams of the generated files: every one is written
// as ".../Length N >>\nstream\n".
var streamRE = regexp.MustCompile(`/Length (\d+) >>\nstream\n`)

// InflatedStreams inflates, with compress/zlib, every FlateDecode stream
// of a file made by this package's hostile-file generators and returns
// their decoded sizes in file order: an oracle of how much a reader must
// decode, independent of any PDF reader.
func InflatedStreams(pdf []byte) ([]int64, error) {
	var sizes []int64
	for _, m := range streamRE.FindAllSubmatchIndex(pdf, -1) {
		n, err := strconv.Atoi(string(pdf[m[2]:m[3]]))
		if err != nil || m[1]+n > len(pdf) {
			return nil, fmt.Errorf("%w: bad stream /Length at byte %d", ErrInvalidInput, m[0])
		}
		zr, err := zlib.NewReader(bytes.NewReader(pdf[m[1] : m[1]+n]))
		if err != nil {
			return nil, fmt.Errorf("stream at byte %d: %w", m[1], err)
		}
		k, err := io.Copy(io.Discard, zr)
		if err != nil {
			return nil, fmt.Errorf("stream at byte %d: %w", m[1], err)
		}
		sizes = append(sizes, k)
	}
	return sizes, nil
}
