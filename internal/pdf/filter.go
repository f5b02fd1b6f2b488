package pdf

import (
	"bufio"
	"compress/zlib"
	"errors"
	"io"
	"strconv"
)

// Decoding is streamed: [Reader.decoder] returns an io.Reader of a
// stream's decoded bytes, and every byte it yields is counted against the
// stream's cap (Limits.MaxDecoded) and the Reader's budget
// (Limits.MaxDecodedTotal). Cross-reference streams are read record by
// record from it; object streams are read into a [chunks] buffer, so a
// large stream is never copied to grow one slice.

// decoder returns a reader of the decoded data of the stream whose
// dictionary is d and whose raw data is the rawLen bytes at the absolute
// offset at. Only the filters needed for the file structure are supported:
// FlateDecode with PNG predictors (xref and object streams) and no filter.
func (r *Reader) decoder(d Dict, at, rawLen int64) (io.Reader, error) {
	if r.decoded > r.lim.MaxDecodedTotal {
		return nil, r.spend(0, at) // the budget is spent: refuse at once
	}
	filter, parms, err := oneFilter(d, at)
	if err != nil {
		return nil, err
	}
	lim := r.lim.MaxDecoded
	dr := &decodedReader{r: r, at: at, max: lim}
	raw := io.NewSectionReader(r.ra, at, rawLen)
	switch filter {
	case nil:
		// The decoded size is known: refuse before reading.
		if rawLen > lim {
			return nil, limit("stream at byte %d is larger than %s (the cap on one stream)", at, sizeText(lim))
		}
		if err := r.spend(rawLen, at); err != nil {
			return nil, err
		}
		dr.src, dr.counted, dr.want = raw, true, rawLen
		r.decodes++
		return dr, nil
	case Name("FlateDecode"):
	default:
		return nil, malformed(at, "stream filter %s is not supported here", kindName(filter))
	}
	zr, err := zlib.NewReader(bufio.NewReaderSize(raw, 32<<10))
	if err != nil {
		return nil, malformed(at, "FlateDecode: %v", err)
	}
	dr.src = zr
	r.decodes++
	switch p := parms.(type) {
	case nil:
		return dr, nil
	case Dict:
		return newPredictor(dr, p, at)
	}
	return nil, malformed(at, "/DecodeParms is a %s, not a direct dictionary", kindName(parms))
}

// oneFilter returns the stream's filter (nil for none) and its parameters
// (nil or a Dict, unchecked). Filter chains are not supported.
func oneFilter(d Dict, at int64) (filter, parms Object, err error) {
	filter, parms = d["Filter"], d["DecodeParms"]
	if a, ok := filter.(Array); ok {
		if len(a) > 1 {
			return nil, nil, malformed(at, "stream with %d filters is not supported here", len(a))
		}
		filter = nil
		if len(a) == 1 {
			filter = a[0]
		}
		if p, ok := parms.(Array); ok {
			parms = nil
			if len(p) > 0 {
				parms = p[0]
			}
		}
	}
	if _, ok := filter.(Null); ok {
		filter = nil
	}
	if _, ok := parms.(Null); ok {
		parms = nil
	}
	return filter, parms, nil
}

// spend counts n decoded bytes against the Reader's budget.
func (r *Reader) spend(n, at int64) error {
	r.decoded += n
	if r.decoded > r.lim.MaxDecodedTotal {
		return limit("more than %s of decoded stream data in this file (every decoding of a stream counts; the stream at byte %d went over)",
			sizeText(r.lim.MaxDecodedTotal), at)
	}
	return nil
}

// sizeText writes a byte count in MiB or KiB when it is a whole number of
// them.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// decodedReader yields a stream's decoded bytes within its cap and the
// Reader's budget.
type decodedReader struct {
	r       *Reader
	src     io.Reader
	at      int64 // the stream's data offset, for messages
	n, max  int64 // bytes yielded so far; the cap on one stream
	counted bool  // the whole stream was counted against the budget up front
	want    int64 // the size of a counted stream
	err     error // sticky
}

func (d *decodedReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	// Read at most one byte past the cap: enough to know it is exceeded.
	if room := d.max - d.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := d.src.Read(p)
	d.n += int64(n)
	if d.n > d.max {
		d.err = limit("stream at byte %d decompresses to more than %s (the cap on one stream)", d.at, sizeText(d.max))
		return 0, d.err
	}
	if !d.counted {
		if serr := d.r.spend(int64(n), d.at); serr != nil {
			d.err = serr
			return 0, d.err
		}
	}
	switch {
	case err == nil:
	case err == io.EOF && d.counted && d.n < d.want:
		d.err = malformed(d.at, "reading stream: %v", io.ErrUnexpectedEOF)
	case err == io.EOF:
		d.err = io.EOF
	case d.counted:
		d.err = malformed(d.at, "reading stream: %v", err)
	default:
		d.err = malformed(d.at, "FlateDecode: %v", err)
	}
	return n, d.err
}

// readAll reads a whole decoded stream into chunks, with pieces from
// [Reader.piece].
func (r *Reader) readAll(rd io.Reader) (*chunks, error) {
	c := &chunks{}
	for {
		if len(c.c) == 0 || len(c.c[len(c.c)-1]) == cap(c.c[len(c.c)-1]) {
			// Pieces grow from 4 KiB to 1 MiB: small streams stay small,
			// large ones waste at most one piece.
			size := chunkMax
			if len(c.c) < 8 {
				size = 4 << 10 << len(c.c)
			}
			c.c = append(c.c, r.piece(size, c.footprint()))
		}
		last := &c.c[len(c.c)-1]
		n, err := rd.Read((*last)[len(*last):cap(*last)])
		*last = (*last)[:len(*last)+n]
		c.n += int64(n)
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// chunkMax is the largest piece of a chunks buffer.
const chunkMax = 1 << 20

// chunks is decoded data held in pieces; it reads like one byte slice
// through ReadAt.
type chunks struct {
	c [][]byte
	n int64
}

// size is the number of bytes held.
func (c *chunks) size() int64 { return c.n }

// footprint is the memory held, in bytes.
func (c *chunks) footprint() int64 {
	var n int64
	for _, b := range c.c {
		n += int64(cap(b))
	}
	return n
}

// ReadAt implements io.ReaderAt.
func (c *chunks) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	var base int64
	for _, b := range c.c {
		if len(p) == 0 {
			break
		}
		end := base + int64(len(b))
		if off < end {
			k := copy(p, b[off-base:])
			p, off, n = p[k:], off+int64(k), n+k
		}
		base = end
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// bytes returns the data as one slice.
func (c *chunks) bytes() []byte {
	if len(c.c) == 1 {
		return c.c[0]
	}
	out := make([]byte, 0, c.n)
	for _, b := range c.c {
		out = append(out, b...)
	}
	return out
}

// predictor reverses a PNG predictor (§7.4.4.4, predictors 10-15) row by
// row as the decoded data is read.
type predictor struct {
	src       *bufio.Reader
	at        int64
	bpp       int
	cur, prev []byte // cur[0] is the row's filter type
	out       []byte // the unread part of the current row
	err       error
}

// newPredictor wraps src in the predictor that p describes, or returns src
// when p asks for none.
func newPredictor(src io.Reader, p Dict, at int64) (io.Reader, error) {
	pred, colors, bpc, cols := int64(1), int64(1), int64(8), int64(1)
	for _, f := range []struct {
		key Name
		v   *int64
	}{{"Predictor", &pred}, {"Colors", &colors}, {"BitsPerComponent", &bpc}, {"Columns", &cols}} {
		if o, ok := p[f.key]; ok {
			i, ok := o.(Integer)
			if !ok {
				return nil, malformed(at, "/DecodeParms /%s is a %s", f.key, kindName(o))
			}
			*f.v = int64(i)
		}
	}
	if pred == 1 {
		return src, nil
	}
	if pred < 10 || pred > 15 {
		return nil, malformed(at, "predictor %d is not supported here", pred)
	}
	if colors < 1 || colors > 32 || cols < 1 || cols > 1<<20 || (bpc != 1 && bpc != 2 && bpc != 4 && bpc != 8 && bpc != 16) {
		return nil, malformed(at, "bad predictor parameters")
	}
	row := int((colors*bpc*cols + 7) / 8)
	return &predictor{src: bufio.NewReaderSize(src, 32<<10), at: at, bpp: int((colors*bpc + 7) / 8),
		cur: make([]byte, row+1), prev: make([]byte, row+1)}, nil
}

func (pr *predictor) Read(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(pr.out) == 0 {
			if pr.err != nil {
				break
			}
			if pr.err = pr.row(); pr.err != nil {
				continue
			}
			pr.out = pr.cur[1:]
		}
		k := copy(p, pr.out)
		p, pr.out, n = p[k:], pr.out[k:], n+k
	}
	if n > 0 {
		return n, nil
	}
	return 0, pr.err
}

// row reads and decodes the next row into cur.
func (pr *predictor) row() error {
	pr.prev, pr.cur = pr.cur, pr.prev
	k, err := io.ReadFull(pr.src, pr.cur)
	switch {
	case err == io.EOF:
		return io.EOF
	case err == io.ErrUnexpectedEOF:
		return malformed(pr.at, "predicted data ends inside a row (%d of %d bytes)", k, len(pr.cur))
	case err != nil:
		return err
	}
	ft, cur, prev := pr.cur[0], pr.cur[1:], pr.prev[1:]
	for i := range cur {
		var a, c byte
		if i >= pr.bpp {
			a, c = cur[i-pr.bpp], prev[i-pr.bpp]
		}
		up := prev[i]
		switch ft {
		case 0:
		case 1:
			cur[i] += a
		case 2:
			cur[i] += up
		case 3:
			cur[i] += byte((int(a) + int(up)) / 2)
		case 4:
			cur[i] += paeth(a, up, c)
		default:
			return malformed(pr.at, "bad PNG predictor row type %d", ft)
		}
	}
	return nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
