package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	encasn1 "encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// signRaw signs arbitrary signed attributes (a DER SET) with the key of
// opts and assembles them with plan p (whose certificates may differ).
func signRaw(t testing.TB, p *plan, opts SignOptions, attrs []byte) []byte {
	t.Helper()
	h := p.hash.hash.New()
	h.Write(attrs)
	sig, err := opts.Signer.Sign(rand.Reader, h.Sum(nil), p.signerOpts)
	if err != nil {
		t.Fatal(err)
	}
	der, err := p.assemble(attrs, sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// attrSet encodes a SET OF Attribute from (type, value DER) pairs, unsorted.
func attrSet(pairs ...any) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
		for i := 0; i < len(pairs); i += 2 {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(pairs[i].(encasn1.ObjectIdentifier))
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(pairs[i+1].([]byte)) })
			})
		}
	})
	return b.BytesOrPanic()
}

func tlv(tag byte, body []byte) []byte { return encodeTLV(tag, body) }

func oidDER(oid encasn1.ObjectIdentifier) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1ObjectIdentifier(oid)
	return b.BytesOrPanic()
}

// essV2 encodes a SigningCertificateV2 value naming certHash and,
// optionally, an issuerSerial.
func essV2(certHash []byte, issuerSerial []byte) []byte {
	id := tlv(0x04, certHash)
	if issuerSerial != nil {
		id = append(id, issuerSerial...)
	}
	return tlv(0x30, tlv(0x30, tlv(0x30, id)))
}

func issuerSerial(rawIssuer []byte, serial *big.Int) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(rawIssuer) })
		})
		b.AddASN1BigInt(serial)
	})
	return b.BytesOrPanic()
}

func TestVerifyRefusals(t *testing.T) {
	pk := getPKI(t)
	opts := pk.opts("P-256")
	l := pk.leaves["P-256"]
	p := mustPlan(t, opts)
	content := []byte("drawing set, sheet 1 of 200")
	digest := digestOf(crypto.SHA256, content)
	ct := oidDER(oidData)
	md := tlv(0x04, digest)
	goodESS := essV2(sha256Sum(l.cert.Raw), issuerSerial(l.cert.RawIssuer, l.cert.SerialNumber))

	// An imposter: same issuer and serial number, another key.
	imposterKey := newKey("P-256")
	imposter := pk.newLeaf(t, l.cert.Subject.CommonName, imposterKey.Public(), l.cert.SerialNumber)
	swapped := *p
	swapped.certs = [][]byte{imposter.Raw, pk.inter.Raw}
	leafOnly := *p
	leafOnly.certs = [][]byte{pk.inter.Raw}

	for _, c := range []struct {
		name string
		der  []byte
		want error
		// opensslAccepts marks what OpenSSL 3.0's cms -verify does not
		// check (ESS signing-certificate-v2, the content-type value): our
		// verifier is stricter there.
		opensslAccepts bool
	}{
		{"ESS hash of another certificate",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrSigningCertV2,
				essV2(sha256Sum(pk.inter.Raw), nil))), ErrSigningCertMismatch, true},
		{"ESS issuerSerial with another serial",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrSigningCertV2,
				essV2(sha256Sum(l.cert.Raw), issuerSerial(l.cert.RawIssuer, big.NewInt(7))))), ErrSigningCertMismatch, true},
		{"ESS issuerSerial with another issuer",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrSigningCertV2,
				essV2(sha256Sum(l.cert.Raw), issuerSerial(l.cert.RawSubject, l.cert.SerialNumber)))), ErrSigningCertMismatch, true},
		{"swapped certificate caught by ESS",
			signRaw(t, &swapped, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrSigningCertV2, goodESS)), ErrSigningCertMismatch, false},
		{"swapped certificate without ESS",
			signRaw(t, &swapped, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md)), ErrSignatureInvalid, false},
		{"signer certificate missing",
			signRaw(t, &leafOnly, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrSigningCertV2, goodESS)), ErrSignerNotFound, false},
		{"messageDigest missing",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrSigningCertV2, goodESS)), ErrMalformed, false},
		{"contentType missing",
			signRaw(t, p, opts, attrSet(oidAttrMessageDigest, md, oidAttrSigningCertV2, goodESS)), ErrMalformed, false},
		{"contentType not id-data",
			signRaw(t, p, opts, attrSet(oidAttrContentType, oidDER(oidTSTInfo), oidAttrMessageDigest, md)), ErrMalformed, true},
		{"messageDigest twice",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrMessageDigest, tlv(0x04, make([]byte, 32)))), ErrMalformed, false},
		{"messageDigest with two values",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, append(md, md...))), ErrMalformed, false},
		{"messageDigest of other content",
			signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, tlv(0x04, make([]byte, 32)))), ErrDigestMismatch, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd, err := Parse(c.der)
			if err == nil {
				_, err = sd.Verify(digest)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			// openssl agrees that none of these is a valid signature.
			if err := opensslVerify(t, c.der, content, pk.root); (err == nil) != c.opensslAccepts {
				t.Errorf("openssl cms -verify: %v (expected to accept: %v)", err, c.opensslAccepts)
			}
		})
	}

	// The control: the same construction with correct attributes verifies,
	// in unsorted order too (SET OF order is the signer's business).
	good := signRaw(t, p, opts, attrSet(oidAttrSigningCertV2, goodESS, oidAttrMessageDigest, md, oidAttrContentType, ct))
	res, err := mustParse(t, good).Verify(digest)
	if err != nil || !res.SigningCertV2OK {
		t.Fatalf("control: %v", err)
	}
	if err := opensslVerify(t, good, content, pk.root); err != nil {
		t.Fatalf("control refused by openssl: %v", err)
	}
	// CMSAlgorithmProtection (RFC 6211): accepted when it names the
	// SignerInfo's algorithms, refused when it names others.
	algProt := func(digest encasn1.ObjectIdentifier, sigAlgContents []byte) []byte {
		return tlv(0x30, append(tlv(0x30, oidDER(digest)), tlv(0xa1, sigAlgContents)...))
	}
	ecdsaSHA256 := oidDER(hashAlgs[0].ecdsaID)
	for _, c := range []struct {
		name string
		attr []byte
		want error
	}{
		{"matching", algProt(hashAlgs[0].oid, ecdsaSHA256), nil},
		{"other signature algorithm", algProt(hashAlgs[0].oid, oidDER(hashAlgs[1].ecdsaID)), ErrSignatureInvalid},
		{"other digest", algProt(hashAlgs[1].oid, ecdsaSHA256), ErrSignatureInvalid},
		{"MAC form", tlv(0x30, append(tlv(0x30, oidDER(hashAlgs[0].oid)), tlv(0xa2, ecdsaSHA256)...)), ErrMalformed},
	} {
		der := signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrAlgProtection, c.attr))
		if _, err := mustParse(t, der).Verify(digest); !errors.Is(err, c.want) && (err != nil || c.want != nil) {
			t.Errorf("CMSAlgorithmProtection %s: %v, want %v", c.name, err, c.want)
		}
	}

	// An explicitly encoded DEFAULT hash algorithm (SHA-256) is accepted.
	explicitAlg := tlv(0x30, tlv(0x30, tlv(0x30, append(tlv(0x30, oidDER(hashAlgs[0].oid)), tlv(0x04, sha256Sum(l.cert.Raw))...))))
	if _, err := mustParse(t, signRaw(t, p, opts, attrSet(oidAttrContentType, ct, oidAttrMessageDigest, md, oidAttrSigningCertV2, explicitAlg))).Verify(digest); err != nil {
		t.Errorf("explicit SHA-256 in ESSCertIDv2: %v", err)
	}
}

// TestTamper flips every byte of a signature, except inside the embedded
// intermediate certificate, which the signature does not depend on: each
// must be refused by Parse or Verify, and none may panic.
func TestTamper(t *testing.T) {
	pk := getPKI(t)
	for _, kt := range []string{"RSA-2048", "P-256"} {
		digest := digestOf(crypto.SHA256, []byte("tamper"))
		der, err := SignDetached(context.Background(), digest, pk.opts(kt))
		if err != nil {
			t.Fatal(err)
		}
		tamperLoop(t, der, digest, pk.inter.Raw)
	}
}

func tamperLoop(t *testing.T, der, digest, skip []byte) {
	t.Helper()
	skipFrom := bytes.Index(der, skip)
	skipTo := skipFrom + len(skip)
	sig := mustParse(t, der).si.signature
	sigAt := bytes.Index(der, sig)
	for i := range der {
		if i >= skipFrom && i < skipTo {
			continue
		}
		bad := bytes.Clone(der)
		bad[i] ^= 0x01
		sd, err := Parse(bad)
		if err == nil {
			_, err = sd.Verify(digest)
		}
		if err == nil {
			t.Fatalf("flipping byte %d of %d went unnoticed", i, len(der))
		}
		if i >= sigAt+8 && i < sigAt+len(sig)-8 && !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("flip inside the signature value: %v, want ErrSignatureInvalid", err)
		}
	}
}

// TestTruncated parses every prefix of a B-B signature: each is refused,
// none panics.
func TestTruncated(t *testing.T) {
	pk := getPKI(t)
	der, err := SignDetached(context.Background(), make([]byte, 32), pk.opts("RSA-2048"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range der {
		if _, err := Parse(der[:i]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
		if _, err := TrimPadding(der[:i]); err == nil {
			t.Fatalf("TrimPadding accepted a prefix of %d bytes", i)
		}
		if _, err := ParseTimestamp(der[:i]); err == nil {
			t.Fatalf("ParseTimestamp accepted a prefix of %d bytes", i)
		}
	}
}

func TestTrimPaddingAndTrailingData(t *testing.T) {
	pk := getPKI(t)
	der, err := SignDetached(context.Background(), make([]byte, 32), pk.opts("P-256"))
	if err != nil {
		t.Fatal(err)
	}
	padded := append(bytes.Clone(der), make([]byte, 4000)...)
	got, err := TrimPadding(padded)
	if err != nil || !bytes.Equal(got, der) {
		t.Fatalf("TrimPadding: %v", err)
	}
	if _, err := Parse(padded); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse with padding: %v", err)
	}
	padded[len(der)+100] = 1
	if _, err := TrimPadding(padded); !errors.Is(err, ErrMalformed) {
		t.Errorf("TrimPadding with hidden data: %v", err)
	}
	if _, err := Parse(append(bytes.Clone(der), 0x30, 0x00)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse with a trailing element: %v", err)
	}
	if _, err := Parse(make([]byte, MaxSize+1)); !errors.Is(err, ErrLimit) {
		t.Errorf("oversized input: %v", err)
	}
}

// rewrite re-encodes a ContentInfo after editing the SignedData's
// top-level fields (each a DER element).
func rewrite(t testing.TB, der []byte, edit func(fields [][]byte) [][]byte) []byte {
	t.Helper()
	s := cryptobyte.String(der)
	var ci, w, sd cryptobyte.String
	var oid cryptobyte.String
	if !s.ReadASN1(&ci, asn1.SEQUENCE) || !ci.ReadASN1Element(&oid, asn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&w, tagExplicit0) || !w.ReadASN1(&sd, asn1.SEQUENCE) {
		t.Fatal("rewrite: not a ContentInfo")
	}
	var fields [][]byte
	for !sd.Empty() {
		var f cryptobyte.String
		var tag asn1.Tag
		sd.ReadAnyASN1Element(&f, &tag)
		fields = append(fields, bytes.Clone(f))
	}
	fields = edit(fields)
	return tlv(0x30, append(bytes.Clone(oid), tlv(0xa0, tlv(0x30, bytes.Join(fields, nil)))...))
}

func TestStructureRefusals(t *testing.T) {
	pk := getPKI(t)
	digest := make([]byte, 32)
	der, err := SignDetached(context.Background(), digest, pk.opts("P-256"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustParse(t, rewrite(t, der, func(f [][]byte) [][]byte { return f })).Verify(digest); err != nil {
		t.Fatalf("identity rewrite: %v", err)
	}
	si := func(f [][]byte) []byte { set := f[len(f)-1]; return set[headerLen(set):] } // the one SignerInfo
	for _, c := range []struct {
		name string
		edit func([][]byte) [][]byte
		want error
	}{
		{"version 2", func(f [][]byte) [][]byte { f[0] = []byte{2, 1, 2}; return f }, ErrUnsupported},
		{"version 99", func(f [][]byte) [][]byte { f[0] = []byte{2, 1, 99}; return f }, ErrUnsupported},
		{"two signers", func(f [][]byte) [][]byte {
			f[len(f)-1] = tlv(0x31, append(bytes.Clone(si(f)), si(f)...))
			return f
		}, ErrUnsupported},
		{"no signer", func(f [][]byte) [][]byte { f[len(f)-1] = []byte{0x31, 0}; return f }, ErrUnsupported},
		{"attribute certificate", func(f [][]byte) [][]byte {
			f[3] = tlv(0xa0, append(f[3][4:], 0xa2, 0x00))
			return f
		}, ErrUnsupported},
		{"digestAlgorithms without the signer's", func(f [][]byte) [][]byte {
			f[1] = tlv(0x31, tlv(0x30, oidDER(hashAlgs[1].oid)))
			return f
		}, ErrMalformed},
		{"SHA-1 digestAlgorithms for a SHA-256 signer", func(f [][]byte) [][]byte {
			f[1] = tlv(0x31, tlv(0x30, oidDER(oidSHA1)))
			return f
		}, ErrMalformed},
		{"unknown digest", func(f [][]byte) [][]byte {
			f[1] = tlv(0x31, tlv(0x30, oidDER(encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}))) // SHA-224
			return f
		}, ErrUnsupportedAlgorithm},
		{"missing signerInfos", func(f [][]byte) [][]byte { return f[:len(f)-1] }, ErrMalformed},
		{"extra field", func(f [][]byte) [][]byte { return append(f, []byte{5, 0}) }, ErrMalformed},
		{"not detached", func(f [][]byte) [][]byte {
			f[2] = tlv(0x30, append(oidDER(oidData), tlv(0xa0, tlv(0x04, []byte("embedded")))...))
			return f
		}, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd, err := Parse(rewrite(t, der, c.edit))
			if err == nil {
				_, err = sd.Verify(digest)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
