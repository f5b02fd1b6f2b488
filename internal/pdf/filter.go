package pdf

import (
	"bytes"
	"compress/zlib"

	"io"
)

// decode returns the decoded data of a stream whose raw bytes are raw.
// Only the filters needed for the file structure are supported:
// FlateDecode with PNG predictors (xref and object streams) and no filter.
// The decoded size is capped at max bytes.
func decode(d Dict, raw io.Reader, rawLen int64, max int64, at int64) ([]byte, error) {
	var filter Object = d["Filter"]
	var parms Object = d["DecodeParms"]
	if a, ok := filter.(Array); ok {
		if len(a) > 1 {
			return nil, malformed(at, "stream with %d filters is not supported here", len(a))
		}
		if len(a) == 1 {
			filter = a[0]
		} else {
			filter = nil
		}
		if p, ok := parms.(Array); ok {
			if len(p) > 0 {
				parms = p[0]
			} else {
				parms = nil
			}
		}
	}
	switch filter {
	case nil, Null{}:
		if rawLen > max {
			return nil, limit("stream at byte %d is larger than %d bytes", at, max)
		}
		b := make([]byte, rawLen)
		if _, err := io.ReadFull(raw, b); err != nil {
			return nil, malformed(at, "reading stream: %v", err)
		}
		return b, nil
	case Name("FlateDecode"):
	default:
		return nil, malformed(at, "stream filter %s is not supported here", kindName(filter))
	}
	zr, err := zlib.NewReader(raw)
	if err != nil {
		return nil, malformed(at, "FlateDecode: %v", err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(zr, max+1))
	if err != nil {
		return nil, malformed(at, "FlateDecode: %v", err)
	}
	if n > max {
		return nil, limit("stream at byte %d decompresses to more than %d bytes", at, max)
	}
	var p Dict
	switch x := parms.(type) {
	case nil, Null:
		return buf.Bytes(), nil
	case Dict:
		p = x
	default:
		return nil, malformed(at, "/DecodeParms is a %s, not a direct dictionary", kindName(parms))
	}
	return unpredict(buf.Bytes(), p, at)
}

// unpredict reverses a PNG predictor (§7.4.4.4, predictors 10-15).
func unpredict(b []byte, p Dict, at int64) ([]byte, error) {
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
		return b, nil
	}
	if pred < 10 || pred > 15 {
		return nil, malformed(at, "predictor %d is not supported here", pred)
	}
	if colors < 1 || colors > 32 || cols < 1 || cols > 1<<20 || (bpc != 1 && bpc != 2 && bpc != 4 && bpc != 8 && bpc != 16) {
		return nil, malformed(at, "bad predictor parameters")
	}
	bpp := int((colors*bpc + 7) / 8)
	row := int((colors*bpc*cols + 7) / 8)
	if len(b)%(row+1) != 0 {
		return nil, malformed(at, "predicted data is %d bytes, not a multiple of the row size %d", len(b), row+1)
	}
	out := make([]byte, 0, len(b)/(row+1)*row)
	prev := make([]byte, row)
	for len(b) > 0 {
		ft, cur := b[0], b[1:row+1]
		b = b[row+1:]
		for i := range cur {
			var a, c byte
			if i >= bpp {
				a, c = cur[i-bpp], prev[i-bpp]
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
				return nil, malformed(at, "bad PNG predictor row type %d", ft)
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out, nil
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
