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
	"sealkeep/internal/keypolicy"
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
	diffs   map[int]*update          // by revision index
	refIdx  map[int]map[int][]holder // referrers by revision index (see referrers)
}

// sigField is a signature field of the latest revision with its /V.
type sigField struct {
	field pdf.Field
	ref   pdf.Ref
	dict  pdf.Dict
	err   error // the dictionary could not be read
	// others are the later fields that name the same signature
	// dictionary (see dedupe).
	others []string
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
	return v.dedupe(out), nil
}

// dedupe keeps one field per signature dictionary: when several fields
// name the same one, the field that named it in the oldest revision holds
// the signature, and the others are noted on it. A field that reuses
// another's signature dictionary is not a second signature; the update
// that added it is classified as a change.
func (v *verifier) dedupe(sigs []sigField) []sigField {
	first := map[pdf.Ref]int{} // signature dictionary -> index in out
	var out []sigField
	for _, sf := range sigs {
		if sf.ref == (pdf.Ref{}) {
			out = append(out, sf)
			continue
		}
		i, dup := first[sf.ref]
		if !dup {
			first[sf.ref] = len(out)
			out = append(out, sf)
			continue
		}
		keep := &out[i]
		if v.namedSince(sf) < v.namedSince(*keep) {
			sf, *keep = *keep, sf
			keep.others = append(keep.others, sf.others...)
		}
		keep.others = append(keep.others, sf.field.Name)
	}
	return out
}

// namedSince returns the oldest revision in which the field's dictionary
// names its signature dictionary as /V, or the number of revisions.
func (v *verifier) namedSince(sf sigField) int {
	revs := v.r.Revisions()
	if sf.field.Ref == (pdf.Ref{}) {
		return len(revs)
	}
	for _, rv := range revs {
		if d, err := rv.Dict(sf.field.Ref); err == nil && d["V"] == pdf.Object(sf.ref) {
			return rv.Index
		}
	}
	return len(revs)
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
	for _, o := range sf.others {
		s.note("field %q names this signature dictionary too; it is not a second signature", o)
	}
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
		s.failWith(cmsFailure(err), "/Contents: %v", err)
		return p, nil
	}
	br, _ := sf.ranges()
	var alg crypto.Hash
	switch s.SubFilter {
	case string(pdf.CAdESDetached), string(pdf.PKCS7Detached):
		if p.sd, err = cms.Parse(der); err != nil {
			s.failWith(cmsFailure(err), "/Contents: %v", err)
			return p, nil
		}
		alg = p.sd.DigestAlgorithm()
	case docTimeStamp:
		if p.ts, err = cms.ParseTimestamp(der); err != nil {
			s.failWith(cmsFailure(err), "/Contents: %v", err)
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
			s.failWith(HashFailure, "the document changed: the digest of the signed byte ranges differs from the timestamp's imprint")
		} else {
			// The imprint is compared first: the document is intact.
			s.Intact = true
			s.failWith(cmsFailure(err), "document timestamp: %v", err)
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
		s.distrust(NoCertificateChainFound, "no trust anchors configured (--trust): the timestamp authority is not trusted")
	default:
		if err := cms.VerifyTSAChain(cert, inter, v.opts.Roots, v.at); err != nil {
			t.Error = err.Error()
			s.distrust(chainFailure(cert, v.at, err), "timestamp authority not trusted at %s: %v", fmtT(v.at), err)
		} else {
			t.Trusted, s.Trusted = true, true
		}
	}
	if v.checkKey(s, t, "timestamp authority", cert) && t.Trusted {
		s.poe, s.notBefore = poeOf(info)
	}
	s.Timestamp = t
}

// checkKey applies the key policy of sealing (internal/keypolicy) to the
// key of cert, the signer's or a timestamp authority's (who), and records
// a CryptoConstraintsFailure when it fails (on t too, for a timestamp).
func (v *verifier) checkKey(s *Signature, t *Timestamp, who string, cert *x509.Certificate) bool {
	if _, err := keypolicy.CheckPublicKey(cert.PublicKey); err != nil {
		s.failWith(CryptoConstraintsFailure, "the %s's key is not accepted: %v", who, err)
		if t != nil {
			t.Error = err.Error()
		}
		return false
	}
	return true
}

// poeOf bounds when the timestamped data existed: no later than genTime
// plus the TSA's accuracy (proof of existence), and, since the token
// covers it, no earlier than genTime minus the accuracy for anything made
// over the token.
func poeOf(info *cms.TimestampInfo) (poe, notBefore *time.Time) {
	late, early := info.GenTime.Add(info.Accuracy).UTC(), info.GenTime.Add(-info.Accuracy).UTC()
	return &late, &early
}

// cmsFailure maps an error of the cms package to a sub-indication.
func cmsFailure(err error) string {
	switch {
	case errors.Is(err, cms.ErrDigestMismatch):
		return HashFailure
	case errors.Is(err, cms.ErrSignatureInvalid):
		return SigCryptoFailure
	case errors.Is(err, cms.ErrSignerNotFound), errors.Is(err, cms.ErrSigningCertMismatch):
		return NoSigningCertificateFound
	case errors.Is(err, cms.ErrUnsupportedAlgorithm):
		return CryptoConstraintsFailure
	}
	return FormatFailure
}

// chainFailure maps a failed chain check of leaf at time at to a
// sub-indication: the leaf outside its validity at the validation time
// (OutOfBoundsNoPOE: nothing proves the signature was made within it), no
// path to an anchor (NoCertificateChainFound), or a path that breaks a
// constraint: key usage, a CA's validity or path length
// (ChainConstraintsFailure).
func chainFailure(leaf *x509.Certificate, at time.Time, err error) string {
	var unknown x509.UnknownAuthorityError
	switch {
	case at.Before(leaf.NotBefore) || at.After(leaf.NotAfter):
		return OutOfBoundsNoPOE
	case errors.As(err, &unknown):
		return NoCertificateChainFound
	}
	return ChainConstraintsFailure
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
	return *s, nil
}

// proofOfExistence returns the earliest time by which signature i is
// proven to have existed, and which timestamp proves it: its own trusted
// timestamp, or that of a signature or document timestamp in a later
// revision, whose signed bytes contain this signature's (a token over a
// later signature that is intact commits to them through its digest).
func proofOfExistence(sigs []Signature, i int) (poe *time.Time, by string) {
	s := &sigs[i]
	if !s.Intact || !s.Valid {
		return nil, ""
	}
	if s.poe != nil {
		poe, by = s.poe, "its timestamp"
	}
	for j := range sigs {
		o := &sigs[j]
		if o.poe != nil && o.Intact && o.Valid && s.Revision >= 0 && o.Revision > s.Revision && (poe == nil || o.poe.Before(*poe)) {
			poe, by = o.poe, fmt.Sprintf("the timestamp of signature %d (%s), which covers this one,", j+1, o.Field)
		}
	}
	return poe, by
}

// checkCustody adds the custody status of the certificate version of
// signature i. It is looked up at the proven time when a trusted timestamp
// gives one (proofOfExistence), else at the claimed signing time (else
// now), for the report. A version that was ever revoked needs proof of
// existence before the revocation: a trusted timestamp whose genTime plus
// accuracy is before the revocation time, compared at full precision. A
// claimed time (/M, signingTime) is no proof, so the signature is then
// RevokedNoPOE, whatever it claims. A lookup that fails makes the
// signature TryLater: the custody check fails closed. Only the context's
// error is returned.
func (v *verifier) checkCustody(sigs []Signature, i int) error {
	s := &sigs[i]
	if s.SignerSHA256 == "" {
		return nil
	}
	poe, by := proofOfExistence(sigs, i)
	t := v.now
	switch {
	case poe != nil:
		t = *poe
	case s.SigningTime != nil:
		t = *s.SigningTime
	}
	cs, found, err := v.opts.Custody.StatusAt(v.ctx, s.SignerSHA256, t)
	switch {
	case err != nil:
		if ctxErr := v.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		s.failWith(TryLater, "the custody status of the signer certificate cannot be established, so the signature is not accepted: %v", err)
		return nil
	case !found:
		s.note("the certificate is not in this custody store")
		return nil
	}
	s.Custody = &cs
	if cs.RevokedAt == nil && cs.Status != statusRevoked {
		return nil
	}
	if poe != nil && cs.RevokedAt != nil && poe.Before(*cs.RevokedAt) && cs.Status != statusRevoked {
		s.note("%s proves the signature existed by %s, before the certificate version was revoked (%s)", by, fmtTN(*poe), fmtTN(*cs.RevokedAt))
		return nil
	}
	when := "at an unknown time" // nothing can be proven before it
	if cs.RevokedAt != nil {
		when = "at " + fmtTN(*cs.RevokedAt)
		ra := *cs.RevokedAt
		s.revokedAt = &ra
	}
	switch {
	case poe != nil:
		s.failWith(RevokedNoPOE, "the certificate version %s v%d was revoked %s, and %s proves only that the signature existed by %s", cs.Identity, cs.Version, when, by, fmtTN(*poe))
	case s.SigningTime != nil:
		s.failWith(RevokedNoPOE, "the certificate version %s v%d was revoked %s, and nothing proves the signature existed before that: the signing time %s is only claimed", cs.Identity, cs.Version, when, fmtTN(*s.SigningTime))
	default:
		s.failWith(RevokedNoPOE, "the certificate version %s v%d was revoked %s, and nothing proves the signature existed before that", cs.Identity, cs.Version, when)
	}
	return nil
}

// statusRevoked is the custody status of a revoked version.
const statusRevoked = "revoked"

// provenAfterRevocation turns RevokedNoPOE into Revoked when a signature is
// proven to have been made after its version's revocation: the revision it
// signs contains a trusted timestamp (of an earlier signature, or a
// document timestamp) made no earlier than the revocation. This is what
// EN 319 102-1 clause 5.3 does with a content timestamp: the signature
// covers the token, so it cannot be older than the token.
func provenAfterRevocation(sigs []Signature) {
	for i := range sigs {
		s := &sigs[i]
		if s.revokedAt == nil {
			continue
		}
		from := -1
		for j := range sigs {
			o := &sigs[j]
			if o.notBefore != nil && o.Revision >= 0 && o.Revision < s.Revision && (from < 0 || o.notBefore.After(*sigs[from].notBefore)) {
				from = j
			}
		}
		if from >= 0 && !sigs[from].notBefore.Before(*s.revokedAt) {
			s.failWith(Revoked, "this signature covers the timestamp of signature %d (%s), made no earlier than %s, so it was made after the revocation",
				from+1, sigs[from].Field, fmtTN(*sigs[from].notBefore))
		}
	}
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
		s.failWith(SignedDataNotFound, "no /ByteRange: the signed bytes are not named")
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
	if s.failed() {
		return nil, nil, false, nil
	}
	switch {
	case br[0] != 0:
		s.fail("/ByteRange does not start at 0")
	case br[1] <= 0 || br[3] < 0 || br[2] <= br[1]:
		s.fail("/ByteRange %v: ranges are empty, negative, overlapping or out of order", br)
	case br[2]+br[3] > v.size || br[2]+br[3] < br[2]:
		s.failWith(SignedDataNotFound, "/ByteRange %v reaches past the end of the file (%d bytes)", br, v.size)
	case br[2]-br[1] > maxGap:
		s.fail("/ByteRange gap of %d bytes is larger than any signature", br[2]-br[1])
	}
	if s.failed() {
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
	for _, w := range sd.Warnings {
		s.note("%s", w)
	}
	res, err := sd.Verify(sum)
	// Whether the bytes changed is told whatever else failed first.
	ok, derr := sd.DigestMatches(sum)
	if derr == nil {
		s.Intact = ok
	}
	if derr == nil && !ok || errors.Is(err, cms.ErrDigestMismatch) {
		s.failWith(HashFailure, "the document changed: the digest of the signed byte ranges differs from the signed messageDigest")
	}
	if err != nil {
		if !errors.Is(err, cms.ErrDigestMismatch) {
			s.failWith(cmsFailure(err), "CMS: %v", err)
		}
		return
	}
	s.Intact, s.Valid = true, true
	cert := res.Signer
	s.SignatureAlg = res.SignatureAlgorithm
	s.SignerSubject = cert.Subject.String()
	tp := sha256.Sum256(cert.Raw)
	s.SignerSHA256 = hex.EncodeToString(tp[:])
	nb, na := cert.NotBefore.UTC(), cert.NotAfter.UTC()
	s.SignerNotBefore, s.SignerNotAfter = &nb, &na
	if res.WeakAlgorithm != nil {
		s.failWith(CryptoConstraintsFailure, "%v is not accepted for signatures: another document with the same digest can be made, so the signature proves nothing", res.DigestAlgorithm)
	}
	v.checkKey(s, nil, "signer", cert)
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
		s.distrust(NoCertificateChainFound, "no trust anchors configured (--trust): the signer certificate is not trusted")
	default:
		if err := cms.VerifyChain(cert, inter, v.opts.Roots, v.at); err != nil {
			s.distrust(chainFailure(cert, v.at, err), "certificate not trusted at %s: %v", fmtT(v.at), err)
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
				s.distrust(chainFailure(ti.Certificate, v.at, err), "timestamp authority not trusted: %v", err)
			} else {
				ts.Trusted = true
			}
		}
		if !ts.Trusted {
			s.Trusted = false
		}
		if v.checkKey(s, ts, "timestamp authority", ti.Certificate) && ts.Trusted {
			s.poe, s.notBefore = poeOf(ti)
		}
		s.Timestamp = ts
	case res.TimestampErr != nil:
		s.Timestamp = &Timestamp{Error: res.TimestampErr.Error()}
		s.failWith(SigConstraintsFailure, "signature timestamp: %v", res.TimestampErr)
	}

	// The signing time against the certificate's validity. Only a trusted
	// timestamp proves the signature existed before the certificate was
	// valid (genTime plus accuracy before notBefore).
	if s.SigningTime != nil && (s.SigningTime.Before(nb) || s.SigningTime.After(na)) {
		switch {
		case s.SigningTimeSource != SourceTimestamp:
			s.note("the claimed signing time %s is outside the certificate's validity (%s to %s)", fmtT(*s.SigningTime), fmtT(nb), fmtT(na))
		case s.poe != nil && s.poe.Before(nb):
			s.failWith(NotYetValid, "the timestamp proves the signature existed by %s, before the certificate's validity (%s to %s)", fmtTN(*s.poe), fmtT(nb), fmtT(na))
		default:
			s.failWith(OutOfBoundsNoPOE, "the timestamped signing time %s is outside the certificate's validity (%s to %s)", fmtTN(*s.SigningTime), fmtT(nb), fmtT(na))
		}
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

// fmtTN formats a time for reasons at full precision, where a fraction of
// a second decides.
func fmtTN(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
