package pdf

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "crypto/sha256" // the default digest
	_ "crypto/sha512"

	"sealkeep/internal/atomicfile"
)

// SubFilter names the signature encoding.
type SubFilter string

// The supported signature encodings.
const (
	// CAdESDetached is PAdES (ETSI EN 319 142-1): a CAdES detached CMS.
	CAdESDetached SubFilter = "ETSI.CAdES.detached"
	// PKCS7Detached is the legacy adbe.pkcs7.detached encoding.
	PKCS7Detached SubFilter = "adbe.pkcs7.detached"
)

// SignFunc signs the digest of the document's byte ranges and returns the
// DER-encoded CMS SignedData to embed in /Contents.
type SignFunc func(ctx context.Context, digest []byte) ([]byte, error)

// DefaultContentsSize is the space reserved for the CMS when
// SealOptions.ContentsSize is zero: room for an RSA-4096 chain of a few
// certificates and an RFC 3161 timestamp token.
const DefaultContentsSize = 32 << 10

// SealOptions describes one seal.
type SealOptions struct {
	// Name, Reason, Location and ContactInfo fill the signature dictionary.
	Name, Reason, Location, ContactInfo string
	// Time is written as /M; the zero value means now.
	Time time.Time
	// SubFilter defaults to [CAdESDetached].
	SubFilter SubFilter
	// Digest is the digest algorithm handed to the SignFunc: SHA-256
	// (default), SHA-384 or SHA-512.
	Digest crypto.Hash
	// ContentsSize is the number of bytes reserved for the CMS (written as
	// twice as many hex digits); zero means [DefaultContentsSize].
	ContentsSize int
	// FieldName names the new signature field; empty means "SignatureN"
	// with the first N not in use. Naming an unsigned signature field that
	// is already in the document (placed by a preparer) signs that field
	// in place; a visible seal then fills the field's own /Rect, and
	// Visible.Page and Visible.Rect are ignored.
	FieldName string
	// Visible places a visible seal; nil means an invisible signature.
	Visible *Appearance
	// DocMDP makes the seal a certification signature with that permission
	// level (1: no changes, 2: form fill and signing, 3: also annotations);
	// zero (the default) makes an approval signature.
	DocMDP int
	// Limits bounds the reading of the input; nil means DefaultLimits.
	Limits *Limits
}

// SealResult describes a written seal.
type SealResult struct {
	// ByteRange is the signed byte range of the output file.
	ByteRange [4]int64
	// Digest is the digest of the byte ranges that was signed.
	Digest []byte
	// Size is the size of the output file.
	Size int64
	// FieldName is the name of the new signature field.
	FieldName string
	// Warnings lists damage in the input that the reader tolerated.
	Warnings []string
}

// Seal writes to outPath the input (size bytes read from in) followed by
// one incremental update that signs it. The output is written to a
// temporary file (mode 0600) in outPath's directory, synced and renamed
// ([atomicfile]); on any error nothing is left at outPath (an existing
// file there is untouched). Only a process killed mid-seal can leave a
// temporary file behind, never a partial outPath. An existing regular file
// at outPath is replaced; a directory, a device or another file that is
// not a regular file is refused. A caller that must refuse more (an
// existing file, the input itself) creates the [atomicfile.File] itself
// and calls [SealTo].
//
// The input is refused with [ErrEncrypted] when encrypted and with
// [ErrCertified] when a certification signature forbids changes. A
// signature larger than ContentsSize fails with [ErrContentsTooSmall].
func Seal(ctx context.Context, in io.ReaderAt, size int64, outPath string, opts SealOptions, sign SignFunc) (*SealResult, error) {
	out, err := atomicfile.Create(outPath, atomicfile.Options{Overwrite: true})
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	res, err := SealTo(ctx, in, size, out.File, opts, sign)
	if err != nil {
		return nil, err
	}
	if err := out.Commit(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", outPath, err)
	}
	return res, nil
}

// SealTo is [Seal] writing to out, an empty file open for reading and
// writing (it is read back and checked before anything is signed). It
// does not sync or close out: on an error, out holds a partial document
// that the caller discards.
func SealTo(ctx context.Context, in io.ReaderAt, size int64, out *os.File, opts SealOptions, sign SignFunc) (*SealResult, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r, err := Open(in, size, opts.Limits)
	if err != nil {
		return nil, err
	}
	u, err := prepare(r, opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The copied input is hashed in the same pass (it is the start of the
	// first byte range); the appended revision is hashed from the output
	// file once /ByteRange is patched, after the whole output has been read
	// back and checked by selfCheck.
	h := opts.Digest.New()
	if n, err := io.Copy(io.MultiWriter(out, h), io.NewSectionReader(in, 0, size)); err != nil {
		return nil, fmt.Errorf("copying the input: %w", err)
	} else if n != size {
		return nil, fmt.Errorf("%w: the input shrank from %d to %d bytes while it was sealed", ErrMalformed, size, n)
	}
	if _, err := out.Write(u.buf.Bytes()); err != nil {
		return nil, fmt.Errorf("writing the update: %w", err)
	}
	total := u.start + int64(u.buf.Len())
	cs, ce := u.contents, u.contents+int64(2*u.contentsSize+2)
	br := [4]int64{0, cs, ce, total - ce}
	patch := fmt.Sprintf("[0 %d %d %d]", br[1], br[2], br[3])
	if len(patch) > len(byteRangePlaceholder) {
		return nil, fmt.Errorf("%w: output too large for the /ByteRange placeholder", ErrLimit)
	}
	patch += strings.Repeat(" ", len(byteRangePlaceholder)-len(patch))
	if _, err := out.WriteAt([]byte(patch), u.byteRange); err != nil {
		return nil, fmt.Errorf("writing /ByteRange: %w", err)
	}
	// The self-check reads the input's structure again, plus the update:
	// it gets the budget again on top of what the first read used.
	check := r.lim
	check.MaxDecodedTotal += r.decoded
	if err := selfCheck(out, total, u, br, &check); err != nil {
		return nil, err
	}
	if _, err := io.Copy(h, io.NewSectionReader(out, size, cs-size)); err != nil {
		return nil, fmt.Errorf("hashing the output: %w", err)
	}
	if _, err := io.Copy(h, io.NewSectionReader(out, ce, total-ce)); err != nil {
		return nil, fmt.Errorf("hashing the output: %w", err)
	}
	digest := h.Sum(nil)
	cms, err := sign(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if len(cms) > u.contentsSize {
		return nil, fmt.Errorf("%w: the signature is %d bytes, %d were reserved; seal again with ContentsSize of at least %d", ErrContentsTooSmall, len(cms), u.contentsSize, len(cms))
	}
	if len(cms) == 0 {
		return nil, fmt.Errorf("%w: the signer returned an empty signature", ErrInvalidInput)
	}
	if _, err := out.WriteAt([]byte(strings.ToUpper(hex.EncodeToString(cms))), cs+1); err != nil {
		return nil, fmt.Errorf("writing /Contents: %w", err)
	}
	return &SealResult{ByteRange: br, Digest: digest, Size: total, FieldName: u.fieldName, Warnings: r.Warnings()}, nil
}

// SealFile seals the file at inPath into outPath (which may be inPath:
// the original is then replaced only once the sealed file is complete).
func SealFile(ctx context.Context, inPath, outPath string, opts SealOptions, sign SignFunc) (*SealResult, error) {
	f, err := os.Open(inPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidInput, inPath)
	}
	return Seal(ctx, f, fi.Size(), outPath, opts, sign)
}

func (o *SealOptions) check() error {
	switch o.SubFilter {
	case "":
		o.SubFilter = CAdESDetached
	case CAdESDetached, PKCS7Detached:
	default:
		return fmt.Errorf("%w: unknown SubFilter %q", ErrInvalidInput, o.SubFilter)
	}
	switch o.Digest {
	case 0:
		o.Digest = crypto.SHA256
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("%w: digest %v is not allowed (SHA-256, SHA-384, SHA-512)", ErrInvalidInput, o.Digest)
	}
	if o.ContentsSize == 0 {
		o.ContentsSize = DefaultContentsSize
	}
	if o.ContentsSize < 0 || o.ContentsSize > 1<<20 {
		return fmt.Errorf("%w: ContentsSize %d is outside 1..1 MiB", ErrInvalidInput, o.ContentsSize)
	}
	if o.DocMDP < 0 || o.DocMDP > 3 {
		return fmt.Errorf("%w: DocMDP must be 0 (approval) or 1..3", ErrInvalidInput)
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	return nil
}

// selfCheck re-reads the written file with this package's reader before
// anything is signed: the new revision must parse, and its signature must
// be found with exactly the byte range that is about to be hashed.
func selfCheck(f *os.File, size int64, u *update, br [4]int64, lim *Limits) error {
	r, err := Open(f, size, lim)
	if err != nil {
		return fmt.Errorf("internal error: the sealed file does not read back: %w", err)
	}
	sigs, err := r.Latest().Signatures()
	if err != nil {
		return fmt.Errorf("internal error: the sealed file does not read back: %w", err)
	}
	for _, s := range sigs {
		if s.Field.Name == u.fieldName {
			if s.ContentsStart != br[1] || s.ContentsEnd != br[2] || len(s.ByteRange) != 4 || [4]int64(s.ByteRange) != br || r.Latest().End != size {
				return fmt.Errorf("internal error: the sealed file reads back with a different byte range")
			}
			return nil
		}
	}
	return fmt.Errorf("internal error: the new signature field is missing when the sealed file is read back")
}

const byteRangePlaceholder = "[0 0000000000 0000000000 0000000000]"

// update is the appended revision, built in memory before it is written.
type update struct {
	buf          bytes.Buffer
	start        int64 // output offset of buf[0]
	base         int64 // header offset: xref offsets are relative to it
	offsets      map[int]int64
	gens         map[int]int
	byteRange    int64 // output offset of the /ByteRange placeholder
	contents     int64 // output offset of the /Contents "<"
	contentsSize int
	fieldName    string
	// certified documents get no catalog change beyond the form: their
	// DocMDP permissions are judged on what the update touches.
	certified bool
}

func (u *update) pos() int64 { return u.start + int64(u.buf.Len()) }

func (u *update) begin(ref Ref) {
	u.offsets[ref.Num] = u.pos() - u.base
	u.gens[ref.Num] = ref.Gen
	fmt.Fprintf(&u.buf, "%d %d obj\n", ref.Num, ref.Gen)
}

func (u *update) object(ref Ref, o Object) error {
	u.begin(ref)
	b, err := AppendObject(nil, o)
	if err != nil {
		return err
	}
	u.buf.Write(b)
	u.buf.WriteString("\nendobj\n")
	return nil
}

func (u *update) stream(ref Ref, d Dict, data []byte) error {
	d = d.Clone()
	d["Length"] = Integer(len(data))
	u.begin(ref)
	b, err := AppendObject(nil, d)
	if err != nil {
		return err
	}
	u.buf.Write(b)
	u.buf.WriteString("\nstream\n")
	u.buf.Write(data)
	u.buf.WriteString("\nendstream\nendobj\n")
	return nil
}

// prepare reads what the seal needs and builds the update.
func prepare(r *Reader, opts SealOptions) (*update, error) {
	rv := r.Latest()
	catRef, cat, err := rv.Catalog()
	if err != nil {
		return nil, err
	}
	level, err := rv.Certification()
	if err != nil {
		return nil, err
	}
	if level == 1 {
		return nil, ErrCertified
	}
	fields, err := rv.Fields()
	if err != nil {
		return nil, err
	}
	if opts.DocMDP > 0 {
		for _, f := range fields {
			if _, signed := f.Dict["V"]; f.Type == "Sig" && signed {
				return nil, fmt.Errorf("%w: a certification signature must be the first signature; the document is already signed", ErrInvalidInput)
			}
		}
	}
	fieldName, existing, err := chooseField(fields, opts.FieldName)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return prepareExisting(r, rv, catRef, cat, existing, opts, level > 0)
	}
	pageNo := 1
	if opts.Visible != nil {
		pageNo = opts.Visible.Page
	}
	pageRef, page, err := rv.Page(pageNo)
	if err != nil {
		return nil, err
	}

	u, alloc, err := newUpdate(r, opts, fieldName, level > 0)
	if err != nil {
		return nil, err
	}
	sigRef, widgetRef := alloc(), alloc()

	if err := u.signatureDict(sigRef, opts); err != nil {
		return nil, err
	}
	widget := Dict{
		"Type": Name("Annot"), "Subtype": Name("Widget"), "FT": Name("Sig"),
		"T": Text(fieldName), "V": sigRef, "P": pageRef, "F": Integer(132),
		"Rect": Array{Integer(0), Integer(0), Integer(0), Integer(0)},
	}
	ap, err := u.appearance(alloc, opts)
	if err != nil {
		return nil, err
	}
	if opts.Visible != nil {
		widget["Rect"] = rectArray(opts.Visible.Rect)
	}
	widget["AP"] = Dict{"N": ap}
	if err := u.object(widgetRef, widget); err != nil {
		return nil, err
	}

	// The page gains the widget in /Annots.
	page = page.Clone()
	annots := Array{}
	if a, ok := page["Annots"]; ok {
		if annots, err = rv.Array(a); err != nil {
			return nil, fmt.Errorf("page %d /Annots: %w", pageNo, err)
		}
	}
	page["Annots"] = append(append(Array{}, annots...), widgetRef)
	if err := u.object(pageRef, page); err != nil {
		return nil, err
	}

	if err := u.finish(r, rv, alloc, catRef, cat, widgetRef, sigRef, opts); err != nil {
		return nil, err
	}
	return u, nil
}

// newUpdate starts the appended revision and returns an allocator of new
// object numbers.
func newUpdate(r *Reader, opts SealOptions, fieldName string, certified bool) (*update, func() Ref, error) {
	u := &update{start: r.size, base: r.base, offsets: map[int]int64{}, gens: map[int]int{}, contentsSize: opts.ContentsSize, fieldName: fieldName, certified: certified}
	var last [1]byte
	if err := r.readAt(last[:], r.size-1); err != nil {
		return nil, nil, err
	}
	if last[0] != '\n' && last[0] != '\r' {
		u.buf.WriteByte('\n')
	}
	next := nextObjNum(r)
	return u, func() Ref { next++; return Ref{Num: next - 1} }, nil
}

// prepareExisting signs into an unsigned signature field that is already
// in the document (placed by whoever prepared it): the field gains /V and,
// for a visible seal, an appearance sized to its own /Rect.
func prepareExisting(r *Reader, rv *Revision, catRef Ref, cat Dict, f *Field, opts SealOptions, certified bool) (*update, error) {
	u, alloc, err := newUpdate(r, opts, f.Name, certified)
	if err != nil {
		return nil, err
	}
	sigRef := alloc()
	if err := u.signatureDict(sigRef, opts); err != nil {
		return nil, err
	}
	w := f.Dict.Clone()
	w["V"] = sigRef
	if opts.Visible != nil {
		rect, err := rv.Array(w["Rect"])
		if err != nil || len(rect) != 4 {
			return nil, fmt.Errorf("%w: signature field %q has no /Rect for a visible seal", ErrInvalidInput, f.Name)
		}
		vis := *opts.Visible
		for i, x := range rect {
			switch v := x.(type) {
			case Integer:
				vis.Rect[i] = float64(v)
			case Real:
				vis.Rect[i] = float64(v)
			default:
				return nil, fmt.Errorf("%w: signature field %q: /Rect holds a %s", ErrMalformed, f.Name, kindName(x))
			}
		}
		vis.Rect = [4]float64{min(vis.Rect[0], vis.Rect[2]), min(vis.Rect[1], vis.Rect[3]), max(vis.Rect[0], vis.Rect[2]), max(vis.Rect[1], vis.Rect[3])}
		o := opts
		o.Visible = &vis
		ap, err := u.appearance(alloc, o)
		if err != nil {
			return nil, err
		}
		w["AP"] = Dict{"N": ap}
	}
	if err := u.object(f.Ref, w); err != nil {
		return nil, err
	}
	if err := u.finish(r, rv, alloc, catRef, cat, Ref{}, sigRef, opts); err != nil {
		return nil, err
	}
	return u, nil
}

// finish writes the AcroForm (with the new field, if any, and /SigFlags 3),
// the catalog and the cross-reference section.
func (u *update) finish(r *Reader, rv *Revision, alloc func() Ref, catRef Ref, cat Dict, newField, sigRef Ref, opts SealOptions) error {
	// The AcroForm stays where it was (its own object or inline in the
	// catalog).
	var err error
	cat = cat.Clone()
	af := Dict{}
	afRef, afIndirect := cat["AcroForm"].(Ref)
	if _, ok := cat["AcroForm"]; ok {
		d, err := rv.AcroForm()
		if err != nil {
			return err
		}
		if d != nil {
			af = d.Clone()
		}
	}
	var fieldArr Array
	if fo, ok := af["Fields"]; ok {
		if fieldArr, err = rv.Array(fo); err != nil {
			return fmt.Errorf("AcroForm /Fields: %w", err)
		}
	}
	if newField != (Ref{}) {
		fieldArr = append(append(Array{}, fieldArr...), newField)
	}
	af["Fields"] = fieldArr
	flags := int64(0)
	if fo, ok := af["SigFlags"]; ok {
		if flags, err = rv.Int(fo); err != nil {
			return fmt.Errorf("AcroForm /SigFlags: %w", err)
		}
	}
	af["SigFlags"] = Integer(flags | 3)
	if afIndirect {
		if err := u.object(afRef, af); err != nil {
			return err
		}
	} else {
		cat["AcroForm"] = af
	}
	if opts.DocMDP > 0 {
		perms := Dict{}
		if po, ok := cat["Perms"]; ok {
			d, err := rv.Dict(po)
			if err != nil {
				return fmt.Errorf("catalog /Perms: %w", err)
			}
			perms = d.Clone()
		}
		perms["DocMDP"] = sigRef
		cat["Perms"] = perms
	}
	v, err := effectiveVersion(r, rv, cat)
	if err != nil {
		return err
	}
	if u.certified {
		v = 20 // leave /Version and /Extensions as the certifier signed them
	}
	if v < 17 {
		cat["Version"] = Name("1.7")
	}
	if v < 20 && opts.SubFilter == CAdESDetached {
		// PAdES in a PDF 1.7 file declares the ETSI developer extension
		// (ETSI EN 319 142-1; ISO 32000-1 §7.12), keeping any others.
		ext := Dict{}
		if eo, ok := cat["Extensions"]; ok {
			d, err := rv.Dict(eo)
			if err != nil {
				return fmt.Errorf("catalog /Extensions: %w", err)
			}
			ext = d.Clone()
		}
		if _, ok := ext["ESIC"]; !ok {
			ext["ESIC"] = Dict{"BaseVersion": Name("1.7"), "ExtensionLevel": Integer(2)}
		}
		cat["Extensions"] = ext
	}
	if err := u.object(catRef, cat); err != nil {
		return err
	}
	if rv.Sections[0].Kind == XrefStream {
		return u.xrefStream(alloc(), r, rv, catRef)
	}
	return u.xrefTable(r, rv, catRef)
}

// signatureDict writes the signature dictionary with the fixed-width
// /ByteRange and /Contents placeholders.
func (u *update) signatureDict(ref Ref, opts SealOptions) error {
	d := Dict{
		"Type": Name("Sig"), "Filter": Name("Adobe.PPKLite"), "SubFilter": Name(opts.SubFilter),
		"M": String{Value: []byte(pdfDate(opts.Time))},
	}
	for k, v := range map[Name]string{"Name": opts.Name, "Reason": opts.Reason, "Location": opts.Location, "ContactInfo": opts.ContactInfo} {
		if v != "" {
			d[k] = Text(v)
		}
	}
	if opts.DocMDP > 0 {
		d["Reference"] = Array{Dict{
			"Type": Name("SigRef"), "TransformMethod": Name("DocMDP"),
			"TransformParams": Dict{"Type": Name("TransformParams"), "P": Integer(opts.DocMDP), "V": Name("1.2")},
		}}
	}
	b, err := AppendObject(nil, d)
	if err != nil {
		return err
	}
	u.begin(ref)
	u.buf.Write(b[:len(b)-2]) // reopen the dictionary: drop ">>"
	u.buf.WriteString("/ByteRange ")
	u.byteRange = u.pos()
	u.buf.WriteString(byteRangePlaceholder)
	u.buf.WriteString("/Contents ")
	u.contents = u.pos()
	u.buf.WriteByte('<')
	u.buf.Write(bytes.Repeat([]byte{'0'}, 2*u.contentsSize))
	u.buf.WriteString(">>>\nendobj\n")
	return nil
}

func pdfDate(t time.Time) string {
	t = t.UTC()
	return "D:" + t.Format("20060102150405") + "+00'00'"
}

// chooseField returns the name of the new signature field: want if it is
// free, or the first free SignatureN. When want names an unsigned
// signature field whose dictionary is also its widget, that field is
// returned to be signed in place.
func chooseField(fields []Field, want string) (string, *Field, error) {
	used := map[string]bool{}
	for i, f := range fields {
		used[f.Name] = true
		if want != "" && f.Name == want && f.Type == "Sig" && f.Ref != (Ref{}) && f.Dict["V"] == nil && f.Dict.Name("Subtype") == "Widget" {
			return want, &fields[i], nil
		}
	}
	if want != "" {
		if used[want] || strings.Contains(want, ".") {
			return "", nil, fmt.Errorf("%w: field name %q is in use (and not an unsigned signature field) or contains a period", ErrInvalidInput, want)
		}
		return want, nil, nil
	}
	for i := 1; ; i++ {
		if n := "Signature" + strconv.Itoa(i); !used[n] {
			return n, nil, nil
		}
	}
}

// nextObjNum returns the first object number free in every revision.
func nextObjNum(r *Reader) int {
	n := 1
	for _, s := range r.sections {
		if sz, ok := s.Trailer["Size"].(Integer); ok && int(sz) > n {
			n = int(sz)
		}
		for num := range s.Entries {
			if num+1 > n {
				n = num + 1
			}
		}
	}
	return n
}

// effectiveVersion is the larger of the header and catalog /Version, as
// major*10+minor.
func effectiveVersion(r *Reader, rv *Revision, cat Dict) (int, error) {
	v := versionNumber(r.version)
	if o, ok := cat["Version"]; ok {
		o, err := rv.Resolve(o)
		if err != nil {
			return 0, fmt.Errorf("catalog /Version: %w", err)
		}
		if n, ok := o.(Name); ok && versionNumber(string(n)) > v {
			v = versionNumber(string(n))
		}
	}
	return v, nil
}

func versionNumber(s string) int {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || b > 9 {
		return 0
	}
	return a*10 + b
}

// xrefTable writes a classic cross-reference section and trailer.
func (u *update) xrefTable(r *Reader, rv *Revision, root Ref) error {
	xref := u.pos() - u.base
	u.buf.WriteString("xref\n0 1\n0000000000 65535 f\r\n")
	nums := sortedNums(u.offsets)
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 {
			j++
		}
		fmt.Fprintf(&u.buf, "%d %d\n", nums[i], j-i)
		for _, n := range nums[i:j] {
			fmt.Fprintf(&u.buf, "%010d %05d n\r\n", u.offsets[n], u.gens[n])
		}
		i = j
	}
	t := u.trailer(r, rv, root, nums)
	b, err := AppendObject(nil, t)
	if err != nil {
		return err
	}
	u.buf.WriteString("trailer\n")
	u.buf.Write(b)
	fmt.Fprintf(&u.buf, "\nstartxref\n%d\n%%%%EOF\n", xref)
	return nil
}

func (u *update) trailer(r *Reader, rv *Revision, root Ref, nums []int) Dict {
	size := nums[len(nums)-1] + 1
	if n := nextObjNum(r); n > size {
		size = n
	}
	t := Dict{"Size": Integer(size), "Root": root, "Prev": Integer(rv.Sections[0].Offset - r.base)}
	for _, k := range []Name{"Info", "ID"} {
		if v, ok := rv.Trailer[k]; ok {
			t[k] = v
		}
	}
	return t
}

// xrefStream writes an uncompressed cross-reference stream as object ref.
func (u *update) xrefStream(ref Ref, r *Reader, rv *Revision, root Ref) error {
	u.offsets[ref.Num] = u.pos() - u.base
	u.gens[ref.Num] = 0
	nums := sortedNums(u.offsets)
	w := 1
	for _, n := range nums {
		for u.offsets[n] >= 1<<(8*w) {
			w++
		}
	}
	var index Array
	var data []byte
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 {
			j++
		}
		index = append(index, Integer(nums[i]), Integer(j-i))
		for _, n := range nums[i:j] {
			data = append(data, 1)
			for k := w - 1; k >= 0; k-- {
				data = append(data, byte(u.offsets[n]>>(8*k)))
			}
			data = append(data, byte(u.gens[n]>>8), byte(u.gens[n]))
		}
		i = j
	}
	d := u.trailer(r, rv, root, nums)
	d["Type"] = Name("XRef")
	d["W"] = Array{Integer(1), Integer(w), Integer(2)}
	d["Index"] = index
	xref := u.pos() - u.base
	if err := u.stream(ref, d, data); err != nil {
		return err
	}
	fmt.Fprintf(&u.buf, "startxref\n%d\n%%%%EOF\n", xref)
	return nil
}

func sortedNums(m map[int]int64) []int {
	return slices.Sorted(maps.Keys(m))
}
