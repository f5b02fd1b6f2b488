package pdf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error from this package wraps exactly one of them,
// so callers (and the HTTP layer) can map them with [errors.Is].
var (
	// ErrMalformed means the input is not a well-formed PDF file, or is
	// damaged beyond the bounded repairs this package makes: truncated,
	// broken cross-reference data, a /Prev loop, a wrong /Length.
	ErrMalformed = errors.New("malformed PDF")
	// ErrLimit means the input exceeds one of the processing limits of
	// [Limits] (nesting depth, object count, string size, the decoded size
	// of one stream or of all streams, number of revisions). The file may
	// be valid but is refused.
	ErrLimit = errors.New("over the processing limit")
	// ErrEncrypted means the file is encrypted; it cannot be sealed.
	ErrEncrypted = errors.New("encrypted PDF: remove the password protection first, then seal the decrypted file")
	// ErrCertified means the file carries a certification signature whose
	// DocMDP permissions (P=1) forbid any change, including new signatures.
	ErrCertified = errors.New("certified PDF: its certification signature (DocMDP P=1) forbids any further change or signature")
	// ErrNotFound means a referenced object does not exist in the revision
	// that was read.
	ErrNotFound = errors.New("PDF object not found")
	// ErrInvalidInput means the caller's options are unusable: a page that
	// does not exist, an unreadable seal image, certification of a document
	// that is already signed.
	ErrInvalidInput = errors.New("invalid seal request")
	// ErrContentsTooSmall means the signature returned by the signer does not
	// fit the space reserved for /Contents. No output is written.
	ErrContentsTooSmall = errors.New("signature larger than the space reserved for it")
)

// malformed returns an ErrMalformed error that names the byte offset.
func malformed(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}

// limit returns an ErrLimit error.
func limit(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrLimit, fmt.Sprintf(format, args...))
}

// Limits bounds the work and memory spent on one file. The zero value of a
// field means the default from [DefaultLimits].
type Limits struct {
	// MaxDepth bounds the nesting of arrays and dictionaries.
	MaxDepth int
	// MaxElements bounds the entries of one array or dictionary.
	MaxElements int
	// MaxObjects bounds the cross-reference entries of the whole file and
	// the objects of one object stream.
	MaxObjects int
	// MaxStringLen bounds one string or name, in bytes.
	MaxStringLen int
	// MaxDecoded bounds the decoded (decompressed) size of one stream: a
	// stream read whole (an object stream, [Reader.StreamData]) is held in
	// memory, so this bounds memory.
	MaxDecoded int64
	// MaxDecodedTotal is the budget of decoded stream bytes of one Reader,
	// that is of one verification or one seal: object streams, xref
	// streams and [Reader.StreamData] all count, and a stream decoded
	// again (an object stream dropped from the cache and needed later)
	// counts again. It bounds the time spent decompressing.
	MaxDecodedTotal int64
	// MaxRevisions bounds the number of cross-reference sections.
	MaxRevisions int
}

// DefaultLimits are generous for real documents and small enough to keep a
// hostile file from exhausting a server.
var DefaultLimits = Limits{
	MaxDepth:        64,
	MaxElements:     1 << 20,
	MaxObjects:      1 << 21,
	MaxStringLen:    16 << 20,
	MaxDecoded:      32 << 20,
	MaxDecodedTotal: 256 << 20,
	MaxRevisions:    1000,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxElements > 0 {
		d.MaxElements = l.MaxElements
	}
	if l.MaxObjects > 0 {
		d.MaxObjects = l.MaxObjects
	}
	if l.MaxStringLen > 0 {
		d.MaxStringLen = l.MaxStringLen
	}
	if l.MaxDecoded > 0 {
		d.MaxDecoded = l.MaxDecoded
	}
	if l.MaxDecodedTotal > 0 {
		d.MaxDecodedTotal = l.MaxDecodedTotal
	}
	if l.MaxRevisions > 0 {
		d.MaxRevisions = l.MaxRevisions
	}
	return d
}
