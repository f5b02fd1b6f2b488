package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Timestamp is a parsed RFC 3161 TimeStampToken: a SignedData over a
// TSTInfo. Its CMS signature and message imprint are checked by
// [Timestamp.Verify] or [Timestamp.VerifyData].
type Timestamp struct {
	sd  *SignedData
	raw []byte // DER token
	tst tstInfo
}

// tstInfo is a parsed TSTInfo (RFC 3161 section 2.4.2).
type tstInfo struct {
	policy   encasn1.ObjectIdentifier
	hash     crypto.Hash
	imprint  []byte
	serial   *big.Int
	genTime  time.Time
	accuracy time.Duration
	nonce    *big.Int
}

// TimestampInfo is a verified timestamp.
type TimestampInfo struct {
	// GenTime is when the TSA says it saw the imprint.
	GenTime time.Time
	// Accuracy is the TSA's stated accuracy of GenTime; zero when not stated.
	Accuracy time.Duration
	// SerialNumber is the token's serial number, unique per TSA.
	SerialNumber *big.Int
	// Policy is the TSA policy under which the token was issued.
	Policy encasn1.ObjectIdentifier
	// HashAlgorithm is the message imprint's hash algorithm.
	HashAlgorithm crypto.Hash
	// Nonce is the request's nonce echoed by the TSA; nil when absent.
	Nonce *big.Int
	// Certificate is the TSA certificate that signed the token (untrusted:
	// see [VerifyTSAChain]); Certificates are all certificates in the token.
	Certificate  *x509.Certificate
	Certificates []*x509.Certificate
	// SignatureAlgorithm names the token's signature scheme.
	SignatureAlgorithm string
}

// ParseTimestamp parses a DER (or BER) TimeStampToken.
func ParseTimestamp(token []byte) (*Timestamp, error) {
	der, err := toDER(token)
	if err != nil {
		return nil, err
	}
	sd, err := Parse(der)
	if err != nil {
		return nil, err
	}
	if !sd.ContentType.Equal(oidTSTInfo) {
		return nil, malformed("timestamp token: eContentType %v is not id-ct-TSTInfo", sd.ContentType)
	}
	if sd.Content == nil {
		return nil, malformed("timestamp token: TSTInfo missing (detached)")
	}
	t := &Timestamp{sd: sd, raw: der}
	if t.tst, err = parseTSTInfo(sd.Content); err != nil {
		return nil, err
	}
	return t, nil
}

// HashAlgorithm returns the message imprint's hash algorithm, under which
// the caller hashes the timestamped data for [Timestamp.Verify].
func (t *Timestamp) HashAlgorithm() crypto.Hash { return t.tst.hash }

// VerifyData verifies the token over data (for a signature timestamp, the
// SignerInfo's signature value), hashing it with the imprint's algorithm.
func (t *Timestamp) VerifyData(data []byte) (*TimestampInfo, error) {
	h := t.tst.hash.New()
	h.Write(data)
	return t.Verify(h.Sum(nil))
}

// Verify checks that the token's message imprint equals digest, that the
// token's CMS signature verifies with the embedded TSA certificate, that an
// ESS signing-certificate(-v2) attribute names that certificate (RFC 3161
// and RFC 5816 require one), and that the certificate's only extended key
// usage is a critical timeStamping. Trust in the TSA certificate is the
// caller's: see [VerifyTSAChain].
func (t *Timestamp) Verify(digest []byte) (*TimestampInfo, error) {
	if !bytes.Equal(digest, t.tst.imprint) {
		return nil, fmt.Errorf("%w: %w: the message imprint is not the %v digest of the timestamped data", ErrTimestampInvalid, ErrDigestMismatch, t.tst.hash)
	}
	if isWeak(t.sd.si.digest) || isWeak(t.sd.si.alg.hash) {
		return nil, fmt.Errorf("%w: %w: the token is signed with %v", ErrTimestampInvalid, ErrUnsupportedAlgorithm, t.sd.si.digest)
	}
	h := t.sd.si.digest.New()
	h.Write(t.sd.Content)
	res, err := t.sd.verify(h.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTimestampInvalid, err)
	}
	if !res.SignedAttributes || !res.SigningCertV1OK && !res.SigningCertV2OK {
		return nil, fmt.Errorf("%w: no ESS signing-certificate attribute naming the TSA certificate", ErrTimestampInvalid)
	}
	if err := checkTSAUsage(res.Signer); err != nil {
		return nil, err
	}
	return &TimestampInfo{
		GenTime:            t.tst.genTime,
		Accuracy:           t.tst.accuracy,
		SerialNumber:       t.tst.serial,
		Policy:             t.tst.policy,
		HashAlgorithm:      t.tst.hash,
		Nonce:              t.tst.nonce,
		Certificate:        res.Signer,
		Certificates:       res.Certificates,
		SignatureAlgorithm: res.SignatureAlgorithm,
	}, nil
}

// checkTSAUsage enforces RFC 3161 section 2.3: the TSA certificate has one
// extended key usage, timeStamping, in a critical extension.
func checkTSAUsage(c *x509.Certificate) error {
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("%w: TSA certificate %q: extended key usage must be exactly timeStamping", ErrTimestampInvalid, c.Subject.CommonName)
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) && !e.Critical {
			return fmt.Errorf("%w: TSA certificate %q: extended key usage extension is not critical", ErrTimestampInvalid, c.Subject.CommonName)
		}
	}
	return nil
}

// parseTSTInfo reads
//
//	TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy TSAPolicyId,
//	    messageImprint MessageImprint, serialNumber INTEGER,
//	    genTime GeneralizedTime, accuracy Accuracy OPTIONAL,
//	    ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL,
//	    tsa [0] GeneralName OPTIONAL, extensions [1] IMPLICIT Extensions OPTIONAL }
func parseTSTInfo(der []byte) (tstInfo, error) {
	var t tstInfo
	in := cryptobyte.String(der)
	var s, mi cryptobyte.String
	var version int64
	if !in.ReadASN1(&s, asn1.SEQUENCE) || !in.Empty() {
		return t, malformed("TSTInfo: not a single SEQUENCE")
	}
	if !s.ReadASN1Integer(&version) || version != 1 {
		return t, malformed("TSTInfo: version is not 1")
	}
	if !s.ReadASN1ObjectIdentifier(&t.policy) {
		return t, malformed("TSTInfo: policy is not an OBJECT IDENTIFIER")
	}
	if !s.ReadASN1(&mi, asn1.SEQUENCE) {
		return t, malformed("TSTInfo: messageImprint is not a SEQUENCE")
	}
	var err error
	if t.hash, err = readDigestAlg(&mi, "TSTInfo: messageImprint hashAlgorithm"); err != nil {
		return t, err
	}
	var imprint cryptobyte.String
	if !mi.ReadASN1(&imprint, asn1.OCTET_STRING) || !mi.Empty() || len(imprint) != t.hash.Size() {
		return t, malformed("TSTInfo: hashedMessage is not a %d-byte OCTET STRING", t.hash.Size())
	}
	t.imprint = imprint
	t.serial = new(big.Int)
	if !s.ReadASN1Integer(t.serial) {
		return t, malformed("TSTInfo: serialNumber is not an INTEGER")
	}
	var gt cryptobyte.String
	if !s.ReadASN1(&gt, asn1.GeneralizedTime) {
		return t, malformed("TSTInfo: genTime is not a GeneralizedTime")
	}
	if t.genTime, err = parseGeneralizedTime(string(gt)); err != nil {
		return t, err
	}
	var acc cryptobyte.String
	var hasAcc bool
	if !s.ReadOptionalASN1(&acc, &hasAcc, asn1.SEQUENCE) {
		return t, malformed("TSTInfo: bad accuracy")
	}
	if hasAcc {
		if t.accuracy, err = parseAccuracy(acc); err != nil {
			return t, err
		}
	}
	var ordering bool
	if s.PeekASN1Tag(asn1.BOOLEAN) && !s.ReadASN1Boolean(&ordering) {
		return t, malformed("TSTInfo: ordering is not a BOOLEAN")
	}
	if s.PeekASN1Tag(asn1.INTEGER) {
		t.nonce = new(big.Int)
		if !s.ReadASN1Integer(t.nonce) {
			return t, malformed("TSTInfo: nonce is not an INTEGER")
		}
	}
	if !s.SkipOptionalASN1(tagExplicit0) || !s.SkipOptionalASN1(tagExplicit1) || !s.Empty() {
		return t, malformed("TSTInfo: unexpected data after nonce")
	}
	return t, nil
}

// parseGeneralizedTime parses the form RFC 3161 requires,
// YYYYMMDDhhmmss[.s...]Z, with at most nine fraction digits and no trailing
// zero in the fraction.
func parseGeneralizedTime(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, malformed("TSTInfo: genTime %q is not YYYYMMDDhhmmss[.fraction]Z", s)
	}
	if len(s) < 15 || s[len(s)-1] != 'Z' {
		return bad()
	}
	t, err := time.Parse("20060102150405", s[:14])
	if err != nil {
		return bad()
	}
	frac := s[14 : len(s)-1]
	if frac == "" {
		return t, nil
	}
	digits := frac[1:]
	if frac[0] != '.' || len(digits) == 0 || len(digits) > 9 || strings.HasSuffix(digits, "0") {
		return bad()
	}
	ns, err := strconv.ParseUint(digits+strings.Repeat("0", 9-len(digits)), 10, 64)
	if err != nil || strings.ContainsAny(digits, "+-") {
		return bad()
	}
	return t.Add(time.Duration(ns)), nil
}

// parseAccuracy reads Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL,
// millis [0] INTEGER (1..999) OPTIONAL, micros [1] INTEGER (1..999) OPTIONAL }
// (implicit tags).
func parseAccuracy(s cryptobyte.String) (time.Duration, error) {
	var sec, ms, us int64
	if s.PeekASN1Tag(asn1.INTEGER) && !s.ReadASN1Integer(&sec) {
		return 0, malformed("TSTInfo: bad accuracy seconds")
	}
	for i, p := range []*int64{&ms, &us} {
		var v cryptobyte.String
		var present bool
		if !s.ReadOptionalASN1(&v, &present, asn1.Tag(i).ContextSpecific()) {
			return 0, malformed("TSTInfo: bad accuracy field [%d]", i)
		}
		if present {
			// Re-tag the implicit INTEGER so cryptobyte checks its encoding.
			b := cryptobyte.String(encodeTLV(0x02, v))
			if !b.ReadASN1Integer(p) || *p < 1 || *p > 999 {
				return 0, malformed("TSTInfo: accuracy field [%d] is not an INTEGER in 1..999", i)
			}
		}
	}
	if !s.Empty() || sec < 0 || sec > 1<<20 {
		return 0, malformed("TSTInfo: bad accuracy")
	}
	return time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond + time.Duration(us)*time.Microsecond, nil
}

// maxResponse bounds a TSA's HTTP response body.
const maxResponse = 1 << 20

// RequestTimestamp asks the RFC 3161 TSA at url (HTTP transport, RFC 3161
// section 3.4) for a token over signatureValue hashed with hash: a
// TimeStampReq with a random 64-bit nonce and certReq TRUE, so the token
// carries the TSA certificate. It checks the response status, the nonce,
// the message imprint and the token's own signature, and returns the token
// (DER). client nil means http.DefaultClient; ctx bounds the call.
func RequestTimestamp(ctx context.Context, url string, client *http.Client, signatureValue []byte, hash crypto.Hash) ([]byte, error) {
	alg, ok := algFor(hash)
	if !ok {
		return nil, fmt.Errorf("%w: timestamp hash %v", ErrUnsupportedAlgorithm, hash)
	}
	if client == nil {
		client = http.DefaultClient
	}
	h := hash.New()
	h.Write(signatureValue)
	digest := h.Sum(nil)
	nb := make([]byte, 8)
	if _, err := rand.Read(nb); err != nil {
		return nil, err
	}
	nonce := new(big.Int).SetBytes(nb)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // TimeStampReq
		b.AddASN1Int64(1)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // MessageImprint
			addAlgID(b, alg.oid, false)
			b.AddASN1OctetString(digest)
		})
		b.AddASN1BigInt(nonce)
		b.AddASN1Boolean(true) // certReq
	})
	req, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTSA, err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hr.Header.Set("Accept", "application/timestamp-reply")
	resp, err := client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTSA, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the response: %v", ErrTSA, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP status %s", ErrTSA, resp.Status)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("%w: %w: response larger than %d bytes", ErrTSA, ErrLimit, maxResponse)
	}
	token, err := parseTimeStampResp(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTSA, err)
	}
	ts, err := ParseTimestamp(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTSA, err)
	}
	if ts.tst.nonce == nil || ts.tst.nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("%w: the token does not echo the request's nonce", ErrTSA)
	}
	if ts.tst.hash != hash {
		return nil, fmt.Errorf("%w: the token's imprint uses %v, the request %v", ErrTSA, ts.tst.hash, hash)
	}
	if _, err := ts.Verify(digest); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTSA, err)
	}
	return ts.raw, nil
}

// failInfo names the PKIFailureInfo bits of RFC 3161 section 2.4.2.
var failInfo = map[int]string{0: "badAlg", 2: "badRequest", 5: "badDataFormat", 14: "timeNotAvailable",
	15: "unacceptedPolicy", 16: "unacceptedExtension", 17: "addInfoNotAvailable", 25: "systemFailure"}

// parseTimeStampResp reads TimeStampResp ::= SEQUENCE { status
// PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL } and returns the
// token when the status is granted (0) or grantedWithMods (1).
func parseTimeStampResp(ber []byte) ([]byte, error) {
	der, err := toDER(ber)
	if err != nil {
		return nil, err
	}
	in := cryptobyte.String(der)
	var s, si cryptobyte.String
	var status int64
	if !in.ReadASN1(&s, asn1.SEQUENCE) || !s.ReadASN1(&si, asn1.SEQUENCE) || !si.ReadASN1Integer(&status) {
		return nil, malformed("TimeStampResp: no PKIStatusInfo")
	}
	var text []string
	var texts cryptobyte.String
	var hasText bool
	if !si.ReadOptionalASN1(&texts, &hasText, asn1.SEQUENCE) {
		return nil, malformed("TimeStampResp: bad statusString")
	}
	for !texts.Empty() && len(text) < 8 {
		var t cryptobyte.String
		if !texts.ReadASN1(&t, asn1.UTF8String) {
			return nil, malformed("TimeStampResp: statusString is not a SEQUENCE OF UTF8String")
		}
		text = append(text, strconv.Quote(string(t)))
	}
	var fail encasn1.BitString
	if si.PeekASN1Tag(asn1.BIT_STRING) && !si.ReadASN1BitString(&fail) || !si.Empty() {
		return nil, malformed("TimeStampResp: bad failInfo")
	}
	if status != 0 && status != 1 {
		var reasons []string
		for bit, name := range failInfo {
			if fail.At(bit) == 1 {
				reasons = append(reasons, name)
			}
		}
		slices.Sort(reasons)
		return nil, fmt.Errorf("%w: status %d, failInfo [%s], statusString [%s]", ErrTSA, status, strings.Join(reasons, " "), strings.Join(text, " "))
	}
	var token cryptobyte.String
	if !s.ReadASN1Element(&token, asn1.SEQUENCE) || !s.Empty() || !in.Empty() {
		return nil, malformed("TimeStampResp: status granted but no single timeStampToken")
	}
	return token, nil
}
