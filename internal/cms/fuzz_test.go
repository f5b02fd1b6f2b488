package cms

import (
	"bytes"
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"sealkeep/internal/cms/tsatest"
)

var updateSeeds = flag.Bool("update-seeds", false, "regenerate testdata/fuzz/* from freshly made signatures, tokens and a TSA response")

// The fuzz targets are split by parser so that each execution stays cheap:
// the fuzzer minimises every input that finds new coverage, which is slow
// when one execution parses several certificates several times.

// FuzzParse feeds arbitrary bytes to Parse and Verify.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if sd, err := Parse(data); err == nil {
			sd.Verify(make([]byte, sd.DigestAlgorithm().Size()))
		}
	})
}

// FuzzTimestamp feeds arbitrary bytes to the TimeStampResp parser and to
// ParseTimestamp and Verify.
func FuzzTimestamp(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if token, err := parseTimeStampResp(data); err == nil {
			data = token
		}
		if ts, err := ParseTimestamp(data); err == nil {
			ts.Verify(make([]byte, ts.HashAlgorithm().Size()))
		}
	})
}

// FuzzBER feeds arbitrary bytes to the BER normaliser, whose DER output
// must be a fixed point, and to TrimPadding.
func FuzzBER(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if der, err := toDER(data); err == nil {
			again, err := toDER(der)
			if err != nil || !bytes.Equal(again, der) {
				t.Fatalf("normalised DER is not a fixed point: %v", err)
			}
		}
		if der, err := TrimPadding(data); err == nil && !bytes.HasPrefix(data, der) {
			t.Fatal("TrimPadding returned something that is not a prefix of its input")
		}
	})
}

// seedCheck says what every committed seed of a target must satisfy.
var seedCheck = map[string]func([]byte) error{
	"FuzzParse": func(d []byte) error { _, err := Parse(d); return err },
	"FuzzTimestamp": func(d []byte) error {
		if _, err := parseTimeStampResp(d); err == nil {
			return nil
		}
		_, err := ParseTimestamp(d)
		return err
	},
	"FuzzBER": func(d []byte) error { _, err := TrimPadding(d); return err },
}

// TestFuzzSeeds checks that the committed seeds are what they claim, or
// regenerates them with -update-seeds.
func TestFuzzSeeds(t *testing.T) {
	if *updateSeeds {
		writeSeeds(t)
	}
	for target, check := range seedCheck {
		dir := filepath.Join("testdata/fuzz", target)
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < 2 {
			t.Fatalf("seed corpus %s: %d entries, %v (regenerate with go test ./internal/cms -run TestFuzzSeeds -update-seeds)", dir, len(entries), err)
		}
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			lit, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
			lit, ok2 := strings.CutSuffix(lit, ")\n")
			data, err := strconv.Unquote(lit)
			if !ok || !ok2 || err != nil {
				t.Fatalf("%s/%s: not a fuzz corpus file", target, e.Name())
			}
			if err := check([]byte(data)); err != nil {
				t.Errorf("%s/%s: %v", target, e.Name(), err)
			}
		}
	}
}

func writeSeeds(t *testing.T) {
	url, _ := tsatest.Start(t)
	pk := getPKI(t)
	ctx := context.Background()
	seeds := map[string][]byte{} // FuzzParse
	// Seeds are kept small (no chain, except in the B-T seed): the fuzzer
	// minimises every new input, which is slow on large ones.
	for _, c := range signCases {
		opts := c.options(pk)
		opts.Chain = nil
		der, err := SignDetached(ctx, digestOf(opts.Digest, []byte(c.name)), opts)
		if err != nil {
			t.Fatal(err)
		}
		seeds["bb-"+strings.NewReplacer("/", "-").Replace(c.name)] = der
	}
	opts := pk.opts("P-256")
	opts.Legacy = true
	opts.Timestamp = func(ctx context.Context, sig []byte) ([]byte, error) {
		return RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
	}
	bt, err := SignDetached(ctx, make([]byte, 32), opts)
	if err != nil {
		t.Fatal(err)
	}
	seeds["bt-legacy-P-256"] = bt
	seeds["bt-ber"] = toBER(t, bt, 16, false)
	pdf, err := os.ReadFile("testdata/signpdf-signed.pdf")
	if err != nil {
		t.Fatal(err)
	}
	seeds["node-forge"], _ = pdfSignature(t, pdf)
	seeds["token"] = mustParse(t, bt).si.unsigned[0].values[0]

	// A raw TimeStampResp, as a TSA sends it.
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addAlgID(b, hashAlgs[0].oid, false)
			b.AddASN1OctetString(make([]byte, 32))
		})
		b.AddASN1Int64(42)
		b.AddASN1Boolean(true)
	})
	resp, err := http.Post(url, "application/timestamp-query", bytes.NewReader(b.BytesOrPanic()))
	if err != nil {
		t.Fatal(err)
	}
	seeds["tsresp"], _ = io.ReadAll(resp.Body)
	resp.Body.Close()

	tsSeeds := map[string][]byte{"token": seeds["token"], "tsresp": seeds["tsresp"]}
	delete(seeds, "token")
	delete(seeds, "tsresp")
	berSeeds := map[string][]byte{
		"bt-ber":         seeds["bt-ber"],
		"segments":       {0x30, 0x80, 0x24, 0x80, 0x04, 0x01, 1, 0x24, 0x80, 0x04, 0x01, 2, 0, 0, 0, 0, 0, 0},
		"bit-string":     {0x23, 0x80, 0x03, 0x02, 0x00, 0xf0, 0x03, 0x02, 0x04, 0xa0, 0x00, 0x00},
		"long-form":      {0x31, 0x84, 0, 0, 0, 2, 0x05, 0x00},
		"padded":         {0x30, 0x03, 0x02, 0x01, 0x01, 0, 0, 0},
		"utf8-segmented": {0x2c, 0x80, 0x04, 0x01, 'a', 0x04, 0x01, 'b', 0x00, 0x00},
	}
	for target, set := range map[string]map[string][]byte{"FuzzParse": seeds, "FuzzTimestamp": tsSeeds, "FuzzBER": berSeeds} {
		dir := filepath.Join("testdata/fuzz", target)
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range set {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
