package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"sealkeep/internal/signer"
)

// DefaultTimestampSize is the size budget, in bytes, reserved for a
// timestamp token when SignOptions.TimestampSize is zero. Tokens vary with
// the TSA, mostly with the certificates it embeds: 1.4 KiB from openssl ts
// with one RSA-2048 certificate (measured in the tests), several KiB from
// TSAs that embed a chain of RSA-4096 certificates. A TSA with a larger
// token needs a larger TimestampSize (measure one token and add a margin);
// SignDetached refuses a token over budget rather than produce a signature
// larger than [EstimateSize] promised.
const DefaultTimestampSize = 10 << 10

// SignOptions says how to build a detached CMS SignedData.
type SignOptions struct {
	// Signer makes the signature. It is only a crypto.Signer: this package
	// never knows where the key lives. A signer implementing
	// signer.ContextSigner is called with the caller's context.
	Signer crypto.Signer
	// Certificate is the signer's certificate; its public key must be the
	// Signer's.
	Certificate *x509.Certificate
	// Chain holds the intermediates (and optionally the root) to embed.
	Chain []*x509.Certificate
	// Digest is the digest algorithm: SHA-256 (the zero value), SHA-384 or
	// SHA-512. [AutoDigest] picks one matching the key's strength.
	Digest crypto.Hash
	// PSS selects RSASSA-PSS (salt length = digest length) instead of
	// PKCS#1 v1.5 for RSA keys.
	PSS bool
	// Legacy builds the adbe.pkcs7.detached form: it adds a signingTime
	// signed attribute, which Adobe's PKCS#7 handlers show and which PAdES
	// forbids. Without Legacy the result is PAdES baseline B-B (or B-T with
	// Timestamp): contentType, messageDigest and signing-certificate-v2 only,
	// the claimed signing time living in the signature dictionary's /M.
	Legacy bool
	// SigningTime is the signingTime attribute of a Legacy signature; zero
	// means now. It is ignored without Legacy.
	SigningTime time.Time
	// Timestamp, if set, fetches an RFC 3161 TimeStampToken (DER) over the
	// signature value, for PAdES B-T; see [RequestTimestamp]. The token is
	// verified before it is embedded.
	Timestamp func(ctx context.Context, signatureValue []byte) ([]byte, error)
	// TimestampSize is the size budget of the timestamp token in bytes;
	// zero means [DefaultTimestampSize].
	TimestampSize int
}

// AutoDigest returns the digest algorithm matching the strength of a public
// key: SHA-384 for P-384, SHA-512 for P-521, RSA keys above 3072 bits and
// ML-DSA (RFC 9882 section 3.3), SHA-256 otherwise.
func AutoDigest(pub crypto.PublicKey) crypto.Hash {
	switch k := pub.(type) {
	case *mldsa.PublicKey:
		return crypto.SHA512
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			return crypto.SHA384
		case elliptic.P521():
			return crypto.SHA512
		}
	case *rsa.PublicKey:
		if k.N.BitLen() > 3072 {
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}

// plan is a validated SignOptions.
type plan struct {
	opts       SignOptions
	hash       hashAlg
	alg        sigAlg
	sigAlg     []byte // DER AlgorithmIdentifier
	signerOpts crypto.SignerOpts
	maxSigLen  int
	certs      [][]byte // DER, sorted as a DER SET OF requires
}

func (o SignOptions) plan() (*plan, error) {
	if o.Signer == nil || o.Certificate == nil {
		return nil, fmt.Errorf("%w: Signer and Certificate are required", ErrInvalidOptions)
	}
	pub := o.Signer.Public()
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(o.Certificate.PublicKey) {
		return nil, fmt.Errorf("%w: the certificate's public key is not the signer's", ErrInvalidOptions)
	}
	if o.Digest == 0 {
		o.Digest = crypto.SHA256
	}
	h, ok := algFor(o.Digest)
	if !ok {
		return nil, fmt.Errorf("%w: digest %v (want SHA-256, SHA-384 or SHA-512)", ErrUnsupportedAlgorithm, o.Digest)
	}
	if o.TimestampSize < 0 {
		return nil, fmt.Errorf("%w: negative TimestampSize", ErrInvalidOptions)
	}
	if o.TimestampSize == 0 {
		o.TimestampSize = DefaultTimestampSize
	}
	p := &plan{opts: o, hash: h, alg: sigAlg{scheme: schemePKCS1, hash: o.Digest}}
	b := cryptobyte.NewBuilder(nil)
	if _, ok := pub.(*rsa.PublicKey); !ok && o.PSS {
		return nil, fmt.Errorf("%w: PSS requested for a %T key", ErrInvalidOptions, pub)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: %d-bit RSA key (the key policy, NIST SP 800-57, requires 2048 bits or more)", ErrUnsupportedAlgorithm, k.N.BitLen())
		}
		p.maxSigLen = (k.N.BitLen() + 7) / 8
		if o.PSS {
			p.alg = sigAlg{scheme: schemePSS, hash: o.Digest, saltLen: o.Digest.Size()}
			// RFC 4055 RSASSA-PSS-params with NULL hash parameters, as Go's
			// crypto/x509 and OpenSSL write them; trailerField is the default.
			p.signerOpts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: o.Digest}
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSAPSS)
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						addAlgID(b, h.oid, true)
					})
					b.AddASN1(asn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidMGF1)
							addAlgID(b, h.oid, true)
						})
					})
					b.AddASN1(asn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1Int64(int64(o.Digest.Size()))
					})
				})
			})
		} else {
			// rsaEncryption (RFC 3370 section 3.2), with the digest named by
			// digestAlgorithm: it is what OpenSSL writes, what every CMS
			// verifier must accept, and what Adobe Acrobat and NSS (pdfsig)
			// have accepted since PKCS#7. shaNNNWithRSAEncryption is also
			// legal and is accepted when verifying.
			p.signerOpts = o.Digest
			addAlgID(b, oidRSAEncryption, true)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("%w: ECDSA curve %s (want P-256, P-384 or P-521)", ErrUnsupportedAlgorithm, k.Curve.Params().Name)
		}
		p.alg.scheme = schemeECDSA
		p.signerOpts = o.Digest
		n := (k.Curve.Params().BitSize + 7) / 8
		intLen := derLen(n + 1) // an INTEGER may need a leading zero
		p.maxSigLen = derLen(2 * intLen)
		addAlgID(b, h.ecdsaID, false) // RFC 5758: parameters absent
	case *mldsa.PublicKey:
		// RFC 9882: pure ML-DSA over the DER signed attributes, empty
		// context, parameters absent.
		for _, a := range mldsaAlgs {
			if a.params() == k.Parameters() {
				p.alg = sigAlg{scheme: schemeMLDSA, hash: o.Digest, mldsa: a.params()}
				addAlgID(b, a.oid, false)
			}
		}
		p.signerOpts = &mldsa.Options{}
		p.maxSigLen = k.Parameters().SignatureSize()
	default:
		return nil, fmt.Errorf("%w: key type %T (want RSA, ECDSA or ML-DSA)", ErrUnsupportedAlgorithm, pub)
	}
	var err error
	if p.sigAlg, err = b.Bytes(); err != nil {
		return nil, err
	}
	p.certs = append(p.certs, o.Certificate.Raw)
	for i, c := range o.Chain {
		if c == nil {
			return nil, fmt.Errorf("%w: Chain[%d] is nil", ErrInvalidOptions, i)
		}
		if !slices.ContainsFunc(p.certs, func(d []byte) bool { return bytes.Equal(d, c.Raw) }) {
			p.certs = append(p.certs, c.Raw)
		}
	}
	if len(p.certs) > MaxCertificates {
		return nil, fmt.Errorf("%w: %d certificates, more than %d", ErrLimit, len(p.certs), MaxCertificates)
	}
	slices.SortFunc(p.certs, bytes.Compare)
	return p, nil
}

// derLen is the size of a DER element with n content bytes.
func derLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 1<<8:
		return 3 + n
	case n < 1<<16:
		return 4 + n
	case n < 1<<24:
		return 5 + n
	}
	return 6 + n
}

func addAlgID(b *cryptobyte.Builder, oid []int, null bool) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if null {
			b.AddASN1NULL()
		}
	})
}

// SignDetached builds a detached CMS SignedData (a ContentInfo, DER) over
// digest, the caller's digest of the content (for a PDF, of the signature's
// byte ranges, computed by streaming) under opts.Digest. The signature is
// checked against the certificate before it is returned, so a faulty remote
// signer never produces an embedded bad signature.
func SignDetached(ctx context.Context, digest []byte, opts SignOptions) ([]byte, error) {
	p, err := opts.plan()
	if err != nil {
		return nil, err
	}
	if len(digest) != p.hash.hash.Size() {
		return nil, fmt.Errorf("%w: content digest is %d bytes, %v needs %d", ErrInvalidOptions, len(digest), p.hash.hash, p.hash.hash.Size())
	}
	var signingTime time.Time
	if opts.Legacy {
		signingTime = opts.SigningTime
		if signingTime.IsZero() {
			signingTime = time.Now()
		}
	}
	attrs, err := p.signedAttributes(digest, signingTime)
	if err != nil {
		return nil, err
	}
	h := p.hash.hash.New()
	h.Write(attrs)
	sum := h.Sum(nil)
	toSign := sum
	if p.alg.scheme == schemeMLDSA {
		toSign = attrs // pure ML-DSA signs the message itself
	}
	sig, err := signer.SignContext(ctx, opts.Signer, rand.Reader, toSign, p.signerOpts)
	if err != nil {
		return nil, fmt.Errorf("cms: signing the signed attributes: %w", err)
	}
	if err := p.alg.verify(opts.Certificate.PublicKey, attrs, sum, sig); err != nil || len(sig) > p.maxSigLen {
		return nil, fmt.Errorf("%w: the signature does not verify under the certificate's public key", signer.ErrBadSignature)
	}
	var token []byte
	if opts.Timestamp != nil {
		if token, err = opts.Timestamp(ctx, sig); err != nil {
			return nil, fmt.Errorf("cms: timestamp: %w", err)
		}
		if len(token) > p.opts.TimestampSize {
			return nil, fmt.Errorf("%w: timestamp token is %d bytes, more than the TimestampSize budget of %d; raise SignOptions.TimestampSize", ErrLimit, len(token), p.opts.TimestampSize)
		}
		ts, err := ParseTimestamp(token)
		if err != nil {
			return nil, err
		}
		if _, err := ts.VerifyData(sig); err != nil {
			return nil, err
		}
		token = ts.raw
	}
	return p.assemble(attrs, sig, token)
}

// EstimateSize returns an upper bound of the DER size of what SignDetached
// returns for opts. Everything but the timestamp token is sized exactly:
// the certificates, the attributes, the largest signature the key can
// produce (an RSA signature is always the modulus size; an ECDSA signature
// is up to 2 bytes shorter than the bound per INTEGER). With a Timestamp,
// the token's budget (TimestampSize or [DefaultTimestampSize]) is counted
// in full, and SignDetached refuses a larger token; so the estimate exceeds
// the actual size by at most a few bytes plus the unused part of the token
// budget. A PDF needs twice the result in hex digits for /Contents.
func EstimateSize(opts SignOptions) (int, error) {
	p, err := opts.plan()
	if err != nil {
		return 0, err
	}
	var t time.Time
	if opts.Legacy {
		t = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC) // GeneralizedTime, the longer form
	}
	attrs, err := p.signedAttributes(make([]byte, p.hash.hash.Size()), t)
	if err != nil {
		return 0, err
	}
	var token []byte
	if opts.Timestamp != nil {
		token = make([]byte, p.opts.TimestampSize)
	}
	der, err := p.assemble(attrs, make([]byte, p.maxSigLen), token)
	if err != nil {
		return 0, err
	}
	return len(der), nil
}

// signedAttributes returns the DER SET OF signed attributes, sorted as DER
// requires: contentType (id-data), messageDigest, signing-certificate-v2
// and, when signingTime is not zero, signingTime.
func (p *plan) signedAttributes(digest []byte, signingTime time.Time) ([]byte, error) {
	var attrs [][]byte
	add := func(oid []int, value func(*cryptobyte.Builder)) error {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(asn1.SET, value)
		})
		a, err := b.Bytes()
		attrs = append(attrs, a)
		return err
	}
	cert := p.opts.Certificate
	certHash := sha256Sum(cert.Raw)
	errs := []error{
		add(oidAttrContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }),
		add(oidAttrMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }),
		// SigningCertificateV2 { certs { ESSCertIDv2 { certHash, issuerSerial } } };
		// hashAlgorithm is omitted because SHA-256 is its DEFAULT.
		add(oidAttrSigningCertV2, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(certHash)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(asn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
									b.AddBytes(cert.RawIssuer)
								})
							})
							b.AddASN1BigInt(cert.SerialNumber)
						})
					})
				})
			})
		}),
	}
	if !signingTime.IsZero() {
		t := signingTime.UTC().Truncate(time.Second)
		errs = append(errs, add(oidAttrSigningTime, func(b *cryptobyte.Builder) {
			if t.Year() >= 1950 && t.Year() < 2050 { // RFC 5652 section 11.3
				b.AddASN1UTCTime(t)
			} else {
				b.AddASN1GeneralizedTime(t)
			}
		}))
	}
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("cms: encoding signed attributes: %w", err)
		}
	}
	slices.SortFunc(attrs, bytes.Compare)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.Bytes()
}

// assemble writes ContentInfo { signedData, SignedData } around the signed
// attributes (a DER SET), the signature value and an optional timestamp
// token.
func (p *plan) assemble(signedAttrs, sig, token []byte) ([]byte, error) {
	cert := p.opts.Certificate
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { addAlgID(b, p.hash.oid, false) })
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) })
				b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, c := range p.certs {
						b.AddBytes(c)
					}
				})
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						addAlgID(b, p.hash.oid, false)
						// [0] IMPLICIT SignedAttributes: the SET's contents.
						b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddBytes(signedAttrs[headerLen(signedAttrs):])
						})
						b.AddBytes(p.sigAlg)
						b.AddASN1OctetString(sig)
						if token != nil {
							b.AddASN1(asn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
									b.AddASN1ObjectIdentifier(oidAttrTimeStampToken)
									b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(token) })
								})
							})
						}
					})
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cms: encoding SignedData: %w", err)
	}
	return out, nil
}
