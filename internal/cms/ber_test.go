package cms

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"sealkeep/internal/cms/tsatest"
)

// toBER re-encodes DER as BER, the way streaming encoders write it: every
// constructed element with an indefinite length; OCTET STRINGs longer than
// chunk (if chunk > 0) as constructed strings of chunk-byte segments; and,
// with longForm, every primitive length in a non-minimal 4-octet form.
// Elements equal to one in keep (certificates, which real encoders copy as
// the DER their issuer signed) are left alone.
func toBER(t testing.TB, der []byte, chunk int, longForm bool, keep ...[]byte) []byte {
	t.Helper()
	var out []byte
	s := cryptobyte.String(der)
	for !s.Empty() {
		var elem cryptobyte.String
		var tag asn1.Tag
		if !s.ReadAnyASN1Element(&elem, &tag) {
			t.Fatal("toBER: input is not DER")
		}
		body := elem[headerLen(elem):]
		switch {
		case slices.ContainsFunc(keep, func(k []byte) bool { return bytes.Equal(k, elem) }):
			out = append(out, elem...)
		case elem[0]&0x20 != 0:
			out = append(out, elem[0], 0x80)
			out = append(out, toBER(t, body, chunk, longForm, keep...)...)
			out = append(out, 0, 0)
		case elem[0] == 0x04 && chunk > 0 && len(body) > chunk:
			out = append(out, 0x24, 0x80)
			for len(body) > 0 {
				n := min(chunk, len(body))
				out = append(out, encodeTLV(0x04, body[:n])...)
				body = body[n:]
			}
			out = append(out, 0, 0)
		case longForm:
			n := len(body)
			out = append(out, elem[0], 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			out = append(out, body...)
		default:
			out = append(out, elem...)
		}
	}
	return out
}

func TestBER(t *testing.T) {
	url, _ := tsatest.Start(t)
	pk := getPKI(t)
	opts := pk.opts("RSA-2048")
	opts.Timestamp = func(ctx context.Context, sig []byte) ([]byte, error) {
		return RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
	}
	content := []byte("BER is what streaming encoders write")
	digest := digestOf(crypto.SHA256, content)
	der, err := SignDetached(context.Background(), digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	var certs [][]byte
	for _, c := range mustParse(t, der).Certificates {
		certs = append(certs, c.Raw)
	}
	ts, err := ParseTimestamp(mustParse(t, der).si.unsigned[0].values[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ts.sd.Certificates {
		certs = append(certs, c.Raw)
	}
	// Signers DER-encode the signed attributes they sign; OpenSSL hashes
	// attribute values as received, so they stay DER for it too.
	for _, si := range []*signerInfo{&mustParse(t, der).si, &ts.sd.si} {
		certs = append(certs, append([]byte{0xa0}, si.signedAttrsDER[1:]...))
	}
	for _, v := range []struct {
		name     string
		chunk    int
		longForm bool
		keep     [][]byte // left DER
	}{
		{"indefinite", 0, false, certs},
		{"indefinite+segments", 7, false, certs},
		{"all BER forms", 5, true, certs},
		// Certificates and signed attributes in BER too: they normalise
		// back to the DER that was signed. (OpenSSL checks signatures over
		// the bytes as received, so it is not the oracle here.)
		{"everything BER", 3, true, nil},
	} {
		t.Run(v.name, func(t *testing.T) {
			ber := toBER(t, der, v.chunk, v.longForm, v.keep...)
			if bytes.Equal(ber, der) {
				t.Fatal("the BER encoder changed nothing")
			}
			norm, err := toDER(ber)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(norm, der) {
				t.Fatal("normalising the BER encoding did not give back the DER")
			}
			res, err := mustParse(t, ber).Verify(digest)
			if err != nil {
				t.Fatal(err)
			}
			if !res.SigningCertV2OK || res.Timestamp == nil || res.TimestampErr != nil {
				t.Errorf("result %+v", res)
			}
			trimmed, err := TrimPadding(append(bytes.Clone(ber), 0, 0, 0))
			if err != nil || !bytes.Equal(trimmed, ber) {
				t.Errorf("TrimPadding on BER: %v", err)
			}
			// openssl reads the same BER: the encoder above writes real BER.
			if err := opensslVerify(t, ber, content, pk.root); err != nil && v.keep != nil {
				t.Errorf("openssl refused the BER encoding: %v", err)
			}
		})
	}
}

func TestBERRefusals(t *testing.T) {
	nested := func(depth int) []byte {
		var b []byte
		for range depth {
			b = append(b, 0x30, 0x80)
		}
		for range depth {
			b = append(b, 0, 0)
		}
		return b
	}
	many := append([]byte{0x30, 0x80}, bytes.Repeat([]byte{0x05, 0x00}, MaxElements+1)...)
	many = append(many, 0, 0)
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"indefinite primitive", []byte{0x04, 0x80, 0x01, 0x00, 0x00}, ErrMalformed},
		{"missing end-of-contents", []byte{0x30, 0x80, 0x05, 0x00}, ErrMalformed},
		{"end-of-contents alone", []byte{0x00, 0x00}, ErrMalformed},
		{"end-of-contents in definite", []byte{0x30, 0x04, 0x00, 0x00, 0x05, 0x00}, ErrMalformed},
		{"too deep", nested(MaxDepth + 2), ErrLimit},
		{"too many elements", many, ErrLimit},
		{"high tag number", []byte{0x1f, 0x81, 0x00, 0x00}, ErrUnsupported},
		{"5-octet length", []byte{0x04, 0x85, 0, 0, 0, 0, 1, 0}, ErrLimit},
		{"reserved length", []byte{0x04, 0xff}, ErrMalformed},
		{"length past the end", []byte{0x04, 0x82, 0x10, 0x00, 0x01}, ErrMalformed},
		{"truncated long length", []byte{0x04, 0x82, 0x10}, ErrMalformed},
		{"wrong segment type", []byte{0x24, 0x80, 0x0c, 0x01, 'a', 0x00, 0x00}, ErrMalformed},
		{"bit string unused bits mid-string", []byte{0x23, 0x08, 0x03, 0x02, 0x04, 0xf0, 0x03, 0x02, 0x00, 0xff}, ErrMalformed},
		{"bit string segment without unused-bits octet", []byte{0x23, 0x02, 0x03, 0x00}, ErrMalformed},
		{"trailing data", []byte{0x05, 0x00, 0x05, 0x00}, ErrMalformed},
		{"empty", nil, ErrMalformed},
	} {
		if _, err := toDER(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Accepted forms, with their DER.
	for _, c := range []struct{ in, want []byte }{
		{[]byte{0x23, 0x80, 0x03, 0x02, 0x00, 0xf0, 0x03, 0x02, 0x04, 0xa0, 0x00, 0x00}, []byte{0x03, 0x03, 0x04, 0xf0, 0xa0}},
		{[]byte{0x2c, 0x80, 0x04, 0x01, 'a', 0x24, 0x80, 0x04, 0x01, 'b', 0x00, 0x00, 0x00, 0x00}, []byte{0x0c, 0x02, 'a', 'b'}},
		{[]byte{0x31, 0x81, 0x02, 0x05, 0x00}, []byte{0x31, 0x02, 0x05, 0x00}},
		{nested(MaxDepth), nil},
	} {
		got, err := toDER(c.in)
		if err != nil || c.want != nil && !bytes.Equal(got, c.want) {
			t.Errorf("toDER(% x) = % x, %v; want % x", c.in, got, err, c.want)
		}
	}
}
