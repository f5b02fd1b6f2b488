package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/pdf"
)

// maxGap bounds the /Contents hex string read back from the file: twice the
// largest CMS the cms package accepts, plus room for white space.
const maxGap = 4*cms.MaxSize + 2

// verifier holds the state of one verification.
type verifier struct {
	ctx     context.Context
	ra      io.ReaderAt
	size    int64
	r       *pdf.Reader
	opts    Options
	at, now time.Time
	diffs   map[int]*update // by revision index
}

// sigField is a signature field of the latest revision with its /V.
type sigField struct {
	field pdf.Field
	ref   pdf.Ref
	dict  pdf.Dict
	err   error // the dictionary could not be read
}

// ranges returns the /ByteRange when it has the expected shape.
func (s *sigField) ranges() ([4]int64, bool) {
	var out [4]int64
	if s.dict == nil {
		return out, false
	}
	arr, ok := s.dict["ByteRange"].(pdf.Array)
	if !ok || len(arr) != 4 {
		return out, false
	}
	for i, x := range arr {
		n, ok := x.(pdf.Integer)
		if !ok {
			return out, false
		}
		out[i] = int64(n)
	}
	return out, true
}

// signatures lists the signed signature fields of the latest revision.
func (v *verifier) signatures() ([]sigField, error) {
	latest := v.r.Latest()
	fields, err := latest.Fields()
	if err != nil {
		return nil, err
	}
	var out []sigField
	for _, f := range fields {
		if f.Type != "Sig" {
			continue
		}
		val, ok := f.Dict["V"]
		if !ok {
			continue
		}
		if _, isNull := val.(pdf.Null); isNull {
			continue
		}
		sf := sigField{field: f}
		ref, ok := val.(pdf.Ref)
		if !ok {
			sf.err = fmt.Errorf("/V is a direct object, not a reference to a signature dictionary")
			out = append(out, sf)
			continue
		}
		sf.ref = ref
		sf.dict, sf.err = latest.Dict(ref)
		out = append(out, sf)
	}
	return out, nil
}

// readAt reads n bytes at off.
func (v *verifier) readAt(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > v.size {
		return nil, fmt.Errorf("range %d+%d outside the file", off, n)
	}
	b := make([]byte, n)
	if _, err := v.ra.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && int64(len(b)) == n) {
		return nil, err
	}
	return b, nil
}

// pending is a signature between its structural checks and the one pass
// over the file that computes every digest.
type pending struct {
	sf  *sigField
	s   Signature
	rev *pdf.Revision
	sd  *cms.SignedData // nil when the structure or the CMS failed
	ts  *cms.Timestamp  // a document timestamp (ETSI.RFC3161) instead
	job *hashJob
}

// prepare runs the checks that need no digest: the structure, the byte
// range and the CMS parse.
func (v *verifier) prepare(sf *sigField) (*pending, error) {
	p := &pending{sf: sf, s: Signature{Field: sf.field.Name, Revision: -1, ByteRange: []int64{}, Coverage: Partial,
		Modification: None, Updates: []Update{}, DocMDPOK: true, Reasons: []string{}, Notes: []string{}}}
	s := &p.s
	if sf.err != nil {
		s.fail("signature dictionary: %v", sf.err)
		return p, nil
	}
	d := sf.dict
	s.SubFilter = string(d.Name("SubFilter"))
	s.Name, s.Reason, s.Location = text(d["Name"]), text(d["Reason"]), text(d["Location"])
	rev, contents, ok, err := v.checkStructure(sf, s)
	if err != nil || !ok {
		return p, err
	}
	p.rev = rev
	der, err := cms.TrimPadding(contents)
	if err != nil {
		s.fail("/Contents: %v", err)
		return p, nil
	}
	br, _ := sf.ranges()
	var alg crypto.Hash
	switch s.SubFilter {
	case string(pdf.CAdESDetached), string(pdf.PKCS7Detached):
		if p.sd, err = cms.Parse(der); err != nil {
			s.fail("/Contents: %v", err)
			return p, nil
		}
		alg = p.sd.DigestAlgorithm()
	case docTimeStamp:
		if p.ts, err = cms.ParseTimestamp(der); err != nil {
			s.fail("/Contents: %v", err)
			return p, nil
		}
		alg = p.ts.HashAlgorithm()
	default:
		s.fail("unsupported /SubFilter /%s", s.SubFilter)
		return p, nil
	}
	s.DigestAlgorithm = alg.String()
	p.job = &hashJob{alg: alg, a: br[1], b: br[2], end: br[2] + br[3]}
	return p, nil
}

// docTimeStamp is the /SubFilter of a document timestamp (PAdES, ISO
// 32000-2 §12.8.5): /Contents is an RFC 3161 token over the byte ranges.
const docTimeStamp = "ETSI.RFC3161"

// checkDocTimestamp verifies a document timestamp: the token's imprint is
// the digest of the byte ranges, its TSA signature verifies, and the TSA
// chains to the anchors. The TSA is reported as the signer.
func (v *verifier) checkDocTimestamp(s *Signature, ts *cms.Timestamp, sum []byte) {
	info, err := ts.Verify(sum)
	if err != nil {
		if errors.Is(err, cms.ErrDigestMismatch) {
			s.reason("the document changed: the digest of the signed byte ranges differs from the timestamp's imprint")
		} else {
			s.Intact = true
			s.reason("document timestamp: %v", err)
		}
		return
	}
	s.Intact, s.Valid = true, true
	cert := info.Certificate
	s.SignatureAlg = info.SignatureAlgorithm
	s.SignerSubject = cert.Subject.String()
	tp := sha256.Sum256(cert.Raw)
	s.SignerSHA256 = hex.EncodeToString(tp[:])
	nb, na := cert.NotBefore.UTC(), cert.NotAfter.UTC()
	s.SignerNotBefore, s.SignerNotAfter = &nb, &na
	gt := info.GenTime.UTC()
	s.SigningTime, s.SigningTimeSource = &gt, SourceTimestamp
	t := &Timestamp{Valid: true, GenTime: gt, TSASubject: s.SignerSubject}
	if info.SerialNumber != nil {
		t.Serial = info.SerialNumber.Text(16)
	}
	inter := x509.NewCertPool()
	for _, c := range info.Certificates {
		if !bytes.Equal(c.Raw, cert.Raw) {
			inter.AddCert(c)
		}
	}
	switch {
	case v.opts.Roots == nil:
		s.reason("no trust anchors configured (--trust): the timestamp authority is not trusted")
	default:
		if err := cms.VerifyTSAChain(cert, inter, v.opts.Roots, v.at); err != nil {
			t.Error = err.Error()
			s.reason("timestamp authority not trusted at %s: %v", fmtT(v.at), err)
		} else {
			t.Trusted, s.Trusted = true, true
		}
	}
	s.Timestamp = t
}

// finish runs the checks that need the digest, then the updates and the
// custody status.
func (v *verifier) finish(p *pending) (Signature, error) {
	s := &p.s
	switch {
	case p.sd != nil:
		v.checkCMS(p.sf, s, p.sd, p.job.sum)
	case p.ts != nil:
		v.checkDocTimestamp(s, p.ts, p.job.sum)
	default:
		return *s, nil
	}
	if err := v.checkUpdates(p.sf, s, p.rev); err != nil {
		return *s, err
	}
	if v.opts.Custody != nil && s.SignerSHA256 != "" && s.SigningTime != nil {
		cs, found, err := v.opts.Custody.StatusAt(v.ctx, s.SignerSHA256, *s.SigningTime)
		switch {
		case err != nil:
			s.note("custody status could not be read: %v", err)
		case found:
			s.Custody = &cs
			if cs.Status == "revoked" {
				s.fail("the certificate version %s v%d was revoked at the signing time", cs.Identity, cs.Version)
			}
		default:
			s.note("the certificate is not in this custody store")
		}
		v.checkReceipt(s)
	}
	return *s, nil
}

// checkStructure checks the byte range, the gap and the signature
// dictionary's place; it returns the signed revision and the /Contents.
func (v *verifier) checkStructure(sf *sigField, s *Signature) (*pdf.Revision, []byte, bool, error) {
	d := sf.dict
	if t := d.Name("Type"); t != "" && t != "Sig" && t != "DocTimeStamp" {
		s.fail("the field's /V is a /%s dictionary, not a signature", t)
		return nil, nil, false, nil
	}
	rawBR, hasBR := d["ByteRange"]
	arr, isArr := rawBR.(pdf.Array)
	for _, x := range arr {
		if n, ok := x.(pdf.Integer); ok {
			s.ByteRange = append(s.ByteRange, int64(n))
		}
	}
	br, shaped := sf.ranges()
	switch {
	case !hasBR:
		s.fail("no /ByteRange")
	case !isArr:
		s.fail("/ByteRange is not a direct array")
	case !shaped:
		s.fail("/ByteRange is not four integers")
	}
	c, hasC := d["Contents"]
	str, isStr := c.(pdf.String)
	switch {
	case !hasC:
		s.fail("no /Contents")
	case !isStr:
		s.fail("/Contents is not a string")
	case len(str.Value) == 0:
		s.fail("/Contents is empty")
	case !str.Hex:
		s.fail("/Contents is a literal string, not a hex string")
	}
	if s.structuralFailure {
		return nil, nil, false, nil
	}
	switch {
	case br[0] != 0:
		s.fail("/ByteRange does not start at 0")
	case br[1] <= 0 || br[3] < 0 || br[2] <= br[1]:
		s.fail("/ByteRange %v: ranges are empty, negative, overlapping or out of order", br)
	case br[2]+br[3] > v.size || br[2]+br[3] < br[2]:
		s.fail("/ByteRange %v reaches past the end of the file (%d bytes)", br, v.size)
	case br[2]-br[1] > maxGap:
		s.fail("/ByteRange gap of %d bytes is larger than any signature", br[2]-br[1])
	}
	if s.structuralFailure {
		return nil, nil, false, nil
	}
	// The gap is exactly this dictionary's /Contents hex string.
	gap, err := v.readAt(br[1], br[2]-br[1])
	if err != nil {
		return nil, nil, false, err
	}
	if !hexStringEquals(gap, str.Value) {
		s.fail("the unsigned gap of /ByteRange is not the /Contents hex string of this signature")
		return nil, nil, false, nil
	}
	key, err := v.readAt(max(0, br[1]-64), min(64, br[1]))
	if err != nil {
		return nil, nil, false, err
	}
	if !bytes.HasSuffix(bytes.TrimRight(key, " \t\r\n\f\x00"), []byte("/Contents")) {
		s.fail("the unsigned gap does not follow the /Contents key")
		return nil, nil, false, nil
	}
	// The signature dictionary lies inside the signed bytes.
	latest := v.r.Latest()
	e, _, ok := latest.Entry(sf.ref.Num)
	if !ok || e.Type != pdf.EntryInUse {
		s.fail("the signature dictionary is stored in an object stream, where /Contents cannot be excluded from the digest")
		return nil, nil, false, nil
	}
	objStart := v.r.HeaderOffset() + e.Offset
	end := br[2] + br[3]
	objEnd, err := v.endObj(br[2])
	if err != nil {
		return nil, nil, false, err
	}
	if objStart >= br[1] || objEnd < 0 || objEnd > end {
		s.fail("the signature dictionary (object %d at offset %d) is not inside the signed bytes", sf.ref.Num, objStart)
		return nil, nil, false, nil
	}
	// The signed revision: the one whose %%EOF the range ends at.
	var rev *pdf.Revision
	for _, rv := range v.r.Revisions() {
		if end == rv.End || end == rv.EOF {
			rev = rv
			break
		}
	}
	if rev == nil {
		s.fail("/ByteRange ends at %d, which is not the end of a revision (%%%%EOF)", end)
		return nil, nil, false, nil
	}
	s.Revision = rev.Index
	if se, _, ok := rev.Entry(sf.ref.Num); !ok || se != e {
		s.fail("the signature dictionary (object %d) was redefined after it was signed", sf.ref.Num)
		return nil, nil, false, nil
	}
	s.Coverage = EntireRevision
	if end == v.size || (rev == latest && allSpace(v, end)) {
		s.Coverage = EntireFile
	}
	return rev, str.Value, true, nil
}

// endObj returns the offset just after the "endobj" that follows off, or -1.
func (v *verifier) endObj(off int64) (int64, error) {
	n := min(int64(64<<10), v.size-off)
	b, err := v.readAt(off, n)
	if err != nil {
		return -1, err
	}
	i := bytes.Index(b, []byte("endobj"))
	if i < 0 {
		return -1, nil
	}
	return off + int64(i) + 6, nil
}

// allSpace reports whether the bytes from off to the end of the file are
// white space (an end-of-line some tools add after %%EOF).
func allSpace(v *verifier, off int64) bool {
	if v.size-off > 64 {
		return false
	}
	b, err := v.readAt(off, v.size-off)
	return err == nil && len(bytes.TrimLeft(b, " \t\r\n\f\x00")) == 0
}

// hexStringEquals reports whether gap is "<hex>" (white space allowed
// between digits) and decodes to want.
func hexStringEquals(gap, want []byte) bool {
	if len(gap) < 2 || gap[0] != '<' || gap[len(gap)-1] != '>' {
		return false
	}
	var digits []byte
	for _, c := range gap[1 : len(gap)-1] {
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0:
		case ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F'):
			digits = append(digits, c)
		default:
			return false
		}
	}
	if len(digits)%2 == 1 {
		digits = append(digits, '0')
	}
	got := make([]byte, len(digits)/2)
	if _, err := hex.Decode(got, digits); err != nil {
		return false
	}
	return bytes.Equal(got, want)
}

// checkCMS checks the CMS signature over the digest, the chain and the
// timestamp.
func (v *verifier) checkCMS(sf *sigField, s *Signature, sd *cms.SignedData, sum []byte) {
	res, err := sd.Verify(sum)
	if err != nil {
		s.Intact = errors.Is(err, cms.ErrSignatureInvalid) || errors.Is(err, cms.ErrSigningCertMismatch)
		if errors.Is(err, cms.ErrDigestMismatch) {
			s.reason("the document changed: the digest of the signed byte ranges differs from the signed messageDigest")
		} else {
			s.reason("CMS: %v", err)
		}
		return
	}
	s.Intact, s.Valid = true, true
	sv := sha256.Sum256(sd.SignatureValue())
	s.SignatureValueSHA256 = hex.EncodeToString(sv[:])
	cert := res.Signer
	s.SignatureAlg = res.SignatureAlgorithm
	s.SignerSubject = cert.Subject.String()
	tp := sha256.Sum256(cert.Raw)
	s.SignerSHA256 = hex.EncodeToString(tp[:])
	nb, na := cert.NotBefore.UTC(), cert.NotAfter.UTC()
	s.SignerNotBefore, s.SignerNotAfter = &nb, &na
	if s.SubFilter == string(pdf.CAdESDetached) && !res.SigningCertV2OK {
		s.fail("PAdES (ETSI.CAdES.detached) requires an ESS signing-certificate-v2 attribute; there is none")
	}

	// Signing time and its source.
	switch {
	case res.Timestamp != nil:
		t := res.Timestamp.GenTime.UTC()
		s.SigningTime, s.SigningTimeSource = &t, SourceTimestamp
	case res.SigningTime != nil:
		t := res.SigningTime.UTC()
		s.SigningTime, s.SigningTimeSource = &t, SourceSigningTime
	default:
		if m, ok := sf.dict["M"].(pdf.String); ok {
			if t, err := parseDate(string(m.Value)); err == nil {
				t = t.UTC()
				s.SigningTime, s.SigningTimeSource = &t, SourceDictionaryM
			}
		}
	}
	if s.SigningTime != nil && (s.SigningTime.Before(nb) || s.SigningTime.After(na)) {
		src := "claimed"
		if s.SigningTimeSource == SourceTimestamp {
			src = "timestamped"
			s.fail("the timestamped signing time %s is outside the certificate's validity (%s to %s)", fmtT(*s.SigningTime), fmtT(nb), fmtT(na))
		} else {
			s.note("the %s signing time %s is outside the certificate's validity (%s to %s)", src, fmtT(*s.SigningTime), fmtT(nb), fmtT(na))
		}
	}
	if v.now.After(na) {
		s.note("the signer certificate expired on %s", fmtT(na))
	}

	// Chain.
	inter := x509.NewCertPool()
	for _, c := range res.Certificates {
		if !bytes.Equal(c.Raw, cert.Raw) {
			inter.AddCert(c)
		}
	}
	switch {
	case v.opts.Roots == nil:
		s.reason("no trust anchors configured (--trust): the signer certificate is not trusted")
	default:
		if err := cms.VerifyChain(cert, inter, v.opts.Roots, v.at); err != nil {
			s.reason("certificate not trusted at %s: %v", fmtT(v.at), err)
			if v.at.After(na) {
				s.reason("the signer certificate expired on %s; validate as of the signing time with --at", fmtT(na))
			}
		} else {
			s.Trusted = true
		}
	}

	// Timestamp.
	switch {
	case res.Timestamp != nil:
		ti := res.Timestamp
		ts := &Timestamp{Valid: true, GenTime: ti.GenTime.UTC(), TSASubject: ti.Certificate.Subject.String()}
		if ti.SerialNumber != nil {
			ts.Serial = ti.SerialNumber.Text(16)
		}
		tsInter := x509.NewCertPool()
		for _, c := range ti.Certificates {
			if !bytes.Equal(c.Raw, ti.Certificate.Raw) {
				tsInter.AddCert(c)
			}
		}
		if v.opts.Roots != nil {
			if err := cms.VerifyTSAChain(ti.Certificate, tsInter, v.opts.Roots, v.at); err != nil {
				ts.Error = err.Error()
				s.reason("timestamp authority not trusted: %v", err)
			} else {
				ts.Trusted = true
			}
		}
		if !ts.Trusted {
			s.Trusted = false
		}
		s.Timestamp = ts
	case res.TimestampErr != nil:
		s.Timestamp = &Timestamp{Error: res.TimestampErr.Error()}
		s.fail("signature timestamp: %v", res.TimestampErr)
	}
}

// text decodes a PDF text string, or "".
func text(o pdf.Object) string {
	str, ok := o.(pdf.String)
	if !ok {
		return ""
	}
	b := str.Value
	if len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff {
		var rs []rune
		for i := 2; i+1 < len(b); i += 2 {
			rs = append(rs, rune(b[i])<<8|rune(b[i+1]))
		}
		return string(rs)
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// parseDate parses a PDF date "D:YYYYMMDDHHmmSSOHH'mm'" (§7.9.4), with the
// optional parts the specification allows.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimPrefix(s, "D:")
	if len(s) < 4 {
		return time.Time{}, fmt.Errorf("date %q too short", s)
	}
	layout := "20060102150405"
	n := min(len(s), 14)
	for n > 4 && n%2 == 1 {
		n--
	}
	t, err := time.Parse(layout[:n], s[:n])
	if err != nil {
		return time.Time{}, err
	}
	rest := s[n:]
	if rest == "" || rest[0] == 'Z' {
		return t, nil
	}
	sign := 1
	switch rest[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return t, nil
	}
	rest = strings.NewReplacer("'", "").Replace(rest[1:])
	var hh, mm int
	if len(rest) >= 2 {
		fmt.Sscanf(rest[:2], "%d", &hh)
	}
	if len(rest) >= 4 {
		fmt.Sscanf(rest[2:4], "%d", &mm)
	}
	return t.Add(-time.Duration(sign) * (time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)), nil
}

// fmtT formats a time for reasons.
func fmtT(t time.Time) string { return t.UTC().Format(time.RFC3339) }
