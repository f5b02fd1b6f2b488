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

var updateSeeds = flag.Bool("update-seeds", false, "regenerate testdata/fuzz/FuzzParse from freshly made signatures, tokens and a TSA response")

const seedDir = "testdata/fuzz/FuzzParse"

// FuzzParse feeds arbitrary bytes to every parser of the package: Parse and
// Verify, ParseTimestamp and Verify, the TimeStampResp parser, TrimPadding
// and the BER normaliser, whose DER output must be a fixed point. Inputs are
// bounded by the package limits; nothing may panic.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if der, err := toDER(data); err == nil {
			again, err := toDER(der)
			if err != nil || !bytes.Equal(again, der) {
				t.Fatalf("normalised DER is not a fixed point: %v", err)
			}
		}
		if sd, err := Parse(data); err == nil {
			sd.Verify(make([]byte, sd.DigestAlgorithm().Size()))
		}
		if ts, err := ParseTimestamp(data); err == nil {
			ts.Verify(make([]byte, ts.HashAlgorithm().Size()))
		}
		parseTimeStampResp(data)
		TrimPadding(data)
	})
}

// TestFuzzSeeds checks that the committed seeds are what they claim (each
// parses), or regenerates them with -update-seeds.
func TestFuzzSeeds(t *testing.T) {
	if *updateSeeds {
		writeSeeds(t)
	}
	entries, err := os.ReadDir(seedDir)
	if err != nil || len(entries) < 8 {
		t.Fatalf("seed corpus %s: %d entries, %v (regenerate with go test -run TestFuzzSeeds -update-seeds)", seedDir, len(entries), err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(seedDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")\n")
		data, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a fuzz corpus file", e.Name())
		}
		_, errSD := Parse([]byte(data))
		_, errResp := parseTimeStampResp([]byte(data))
		if errSD != nil && errResp != nil {
			t.Errorf("%s: parses neither as CMS (%v) nor as a TimeStampResp (%v)", e.Name(), errSD, errResp)
		}
	}
}

func writeSeeds(t *testing.T) {
	url, _ := tsatest.Start(t)
	pk := getPKI(t)
	ctx := context.Background()
	seeds := map[string][]byte{}
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

	os.RemoveAll(seedDir)
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		if err := os.WriteFile(filepath.Join(seedDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
