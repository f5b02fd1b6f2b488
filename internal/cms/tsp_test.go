package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/cms/tsatest"
	"sealkeep/internal/testenv"
)

func TestTimestampRoundTrip(t *testing.T) {
	url, tsaRoot := tsatest.Start(t)
	p := getPKI(t)
	ctx := context.Background()
	for _, kt := range []string{"RSA-2048", "P-384"} {
		t.Run(kt, func(t *testing.T) {
			opts := p.opts(kt)
			opts.Digest = AutoDigest(opts.Signer.Public())
			var sigSeen []byte
			opts.Timestamp = func(ctx context.Context, sig []byte) ([]byte, error) {
				sigSeen = sig
				return RequestTimestamp(ctx, url, nil, sig, opts.Digest)
			}
			content := make([]byte, 10000)
			rand.Read(content)
			before := time.Now()
			sig, err := SignDetached(ctx, digestOf(opts.Digest, content), opts)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			if err := opensslVerify(t, sig, content, p.root); err != nil {
				t.Fatalf("openssl cms -verify refused the B-T signature: %v", err)
			}
			if printed := opensslPrint(t, sig); !strings.Contains(printed, "1.2.840.113549.1.9.16.2.14") && !strings.Contains(printed, "timeStampToken") {
				t.Errorf("openssl shows no timestamp token attribute:\n%s", printed)
			}
			sd := mustParse(t, sig)
			if !bytes.Equal(sd.SignatureValue(), sigSeen) {
				t.Fatal("the token was requested over something other than the signature value")
			}
			res, err := sd.Verify(digestOf(opts.Digest, content))
			if err != nil {
				t.Fatal(err)
			}
			if res.TimestampErr != nil || res.Timestamp == nil {
				t.Fatalf("timestamp: %v", res.TimestampErr)
			}
			ts := res.Timestamp
			if ts.GenTime.Before(before.Add(-2*time.Second)) || ts.GenTime.After(after.Add(2*time.Second)) {
				t.Errorf("genTime %v outside [%v, %v]", ts.GenTime, before, after)
			}
			if !ts.Policy.Equal(tsatest.Policy) || ts.HashAlgorithm != opts.Digest || ts.Nonce == nil ||
				ts.Accuracy != 1500100*time.Microsecond || ts.SerialNumber.Sign() <= 0 || ts.SignatureAlgorithm != "RSA-PKCS1v15-SHA256" {
				t.Errorf("TimestampInfo %+v", ts)
			}
			if err := VerifyTSAChain(ts.Certificate, nil, pool(tsaRoot), time.Now()); err != nil {
				t.Errorf("VerifyTSAChain: %v", err)
			}
			if err := VerifyTSAChain(ts.Certificate, nil, p.roots(), time.Now()); !errors.Is(err, ErrUntrusted) {
				t.Errorf("VerifyTSAChain with the wrong root: %v", err)
			}
			if err := VerifyChain(ts.Certificate, nil, pool(tsaRoot), time.Now()); !errors.Is(err, ErrUntrusted) {
				t.Errorf("a TSA certificate passed VerifyChain for document signing: %v", err)
			}

			est, err := EstimateSize(opts)
			if err != nil {
				t.Fatal(err)
			}
			tokenLen := len(sd.si.unsigned[0].values[0])
			if est < len(sig) || est-len(sig) > DefaultTimestampSize-tokenLen+8 {
				t.Errorf("EstimateSize %d, actual %d with a %d-byte token", est, len(sig), tokenLen)
			}
			t.Logf("%s B-T: %d bytes, token %d bytes, estimate %d", kt, len(sig), tokenLen, est)

			// openssl ts -verify agrees that the token covers the signature value.
			openssl := testenv.Tool(t, "openssl")
			dir := t.TempDir()
			data, tok := filepath.Join(dir, "sigvalue"), filepath.Join(dir, "token.der")
			os.WriteFile(data, sigSeen, 0o600)
			os.WriteFile(tok, sd.si.unsigned[0].values[0], 0o600)
			ca := writePEM(t, dir, "tsaroot.pem", tsaRoot)
			if out, err := exec.Command(openssl, "ts", "-verify", "-data", data, "-in", tok, "-token_in", "-CAfile", ca).CombinedOutput(); err != nil {
				t.Errorf("openssl ts -verify: %v\n%s", err, out)
			}
			os.WriteFile(data, append(sigSeen, 0), 0o600)
			if err := exec.Command(openssl, "ts", "-verify", "-data", data, "-in", tok, "-token_in", "-CAfile", ca).Run(); err == nil {
				t.Errorf("openssl ts -verify accepted the token over other data")
			}

			// A token over another signature value is reported, not hidden.
			other, err := RequestTimestamp(ctx, url, nil, []byte("another signature"), crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			p2 := mustPlan(t, opts)
			attrs := sd.si.signedAttrsDER
			swapped, err := p2.assemble(attrs, sd.si.signature, other)
			if err != nil {
				t.Fatal(err)
			}
			res, err = mustParse(t, swapped).Verify(digestOf(opts.Digest, content))
			if err != nil {
				t.Fatal(err)
			}
			if res.Timestamp != nil || !errors.Is(res.TimestampErr, ErrTimestampInvalid) || !errors.Is(res.TimestampErr, ErrDigestMismatch) {
				t.Errorf("swapped token: %+v", res)
			}
		})
	}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func mustPlan(t testing.TB, o SignOptions) *plan {
	t.Helper()
	p, err := o.plan()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTimestampBudget(t *testing.T) {
	url, _ := tsatest.Start(t)
	p := getPKI(t)
	opts := p.opts("P-256")
	opts.TimestampSize = 600 // smaller than any token with a certificate
	opts.Timestamp = func(ctx context.Context, sig []byte) ([]byte, error) {
		return RequestTimestamp(ctx, url, nil, sig, crypto.SHA256)
	}
	if _, err := SignDetached(context.Background(), make([]byte, 32), opts); !errors.Is(err, ErrLimit) {
		t.Errorf("token over budget: %v, want ErrLimit", err)
	}
	opts.Timestamp = func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0x00}, nil }
	opts.TimestampSize = 0
	if _, err := SignDetached(context.Background(), make([]byte, 32), opts); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage token: %v, want ErrMalformed", err)
	}
}

// TestRequestTimestampRefusals puts a misbehaving proxy in front of the
// real TSA.
func TestRequestTimestampRefusals(t *testing.T) {
	url, _ := tsatest.Start(t)
	var mu sync.Mutex
	var recorded []byte
	forward := func(query []byte) []byte {
		resp, err := http.Post(url, "application/timestamp-query", bytes.NewReader(query))
		if err != nil {
			t.Error(err)
			return nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	mode := ""
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch mode {
		case "record":
			recorded = q
			w.Write(forward(q))
		case "replay": // an old answer: nonce and imprint of another request
			w.Write(forward(recorded))
		case "rejection":
			// TimeStampResp { PKIStatusInfo { rejection(2), {"no"}, failInfo badAlg } }
			w.Write([]byte{0x30, 0x0e, 0x30, 0x0c, 0x02, 0x01, 0x02, 0x30, 0x04, 0x0c, 0x02, 'n', 'o', 0x03, 0x01, 0x00})
			// (failInfo empty bit string: status alone says rejection)
		case "badAlg":
			w.Write([]byte{0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80})
		case "http500":
			http.Error(w, "down", http.StatusInternalServerError)
		case "garbage":
			w.Write([]byte("<html>not a TSA</html>"))
		case "trailing":
			w.Write(append(forward(q), 0))
		case "huge":
			w.Write(make([]byte, maxResponse+10))
		}
	}))
	defer proxy.Close()
	ctx := context.Background()
	mode = "record"
	if _, err := RequestTimestamp(ctx, proxy.URL, nil, []byte("first"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode string
		want error
		text string
	}{
		{"replay", ErrTSA, "nonce"},
		{"rejection", ErrTSA, "status 2"},
		{"badAlg", ErrTSA, "badAlg"},
		{"http500", ErrTSA, "500"},
		{"garbage", ErrMalformed, ""},
		{"trailing", ErrMalformed, "trailing"},
		{"huge", ErrLimit, ""},
	} {
		mu.Lock()
		mode = c.mode
		mu.Unlock()
		_, err := RequestTimestamp(ctx, proxy.URL, nil, []byte("second"), crypto.SHA256)
		if !errors.Is(err, c.want) || !errors.Is(err, ErrTSA) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v, want %v mentioning %q", c.mode, err, c.want, c.text)
		}
	}
	if _, err := RequestTimestamp(ctx, url, nil, nil, crypto.SHA1); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("SHA-1 imprint: %v", err)
	}
	// A token the TSA signed with SHA-1 parses (signatures may use SHA-1,
	// to be reported) but never verifies: it would be forgeable proof of
	// time.
	weak, _ := tsatest.StartSHA1(t)
	if _, err := RequestTimestamp(ctx, weak, nil, []byte("second"), crypto.SHA256); !errors.Is(err, ErrUnsupportedAlgorithm) || !strings.Contains(err.Error(), "signed with SHA-1") {
		t.Errorf("token signed with SHA-1: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := RequestTimestamp(cctx, url, nil, nil, crypto.SHA256); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrTSA) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestGeneralizedTime(t *testing.T) {
	base := time.Date(2026, 11, 26, 22, 36, 4, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"20261126223604Z":           base,
		"20261126223604.5Z":         base.Add(500 * time.Millisecond),
		"20261126223604.123456789Z": base.Add(123456789),
	} {
		got, err := parseGeneralizedTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "20261126223604", "20261126223604.Z", "20261126223604.50Z", "20261126223604.1234567891Z",
		"20261126223604+0100", "20261326223604Z", "2026112622360Z", "20261126223604.-1Z", "20261126223604,5Z"} {
		if _, err := parseGeneralizedTime(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestDocumentTimestamp uses the token API the way a PDF verifier checks
// a document timestamp (/SubFilter /ETSI.RFC3161): parse, learn the
// imprint's hash, hash the byte ranges with it, verify.
func TestDocumentTimestamp(t *testing.T) {
	url, tsaRoot := tsatest.Start(t)
	doc := bytes.Repeat([]byte("byte ranges of a PDF revision "), 1000)
	token, err := RequestTimestamp(context.Background(), url, nil, doc, crypto.SHA384)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := ParseTimestamp(token)
	if err != nil {
		t.Fatal(err)
	}
	if ts.HashAlgorithm() != crypto.SHA384 {
		t.Fatalf("imprint hash %v", ts.HashAlgorithm())
	}
	h := ts.HashAlgorithm().New()
	h.Write(doc)
	info, err := ts.Verify(h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyTSAChain(info.Certificate, nil, pool(tsaRoot), info.GenTime); err != nil {
		t.Error(err)
	}
	if _, err := ts.VerifyData(doc[1:]); !errors.Is(err, ErrDigestMismatch) || !errors.Is(err, ErrTimestampInvalid) {
		t.Errorf("other data: %v", err)
	}
	// A token is not a PDF signature, and a PDF signature is not a token.
	if _, err := mustParse(t, token).Verify(make([]byte, 32)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("token verified as a detached signature: %v", err)
	}
	sig, err := SignDetached(context.Background(), make([]byte, 32), getPKI(t).opts("P-256"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTimestamp(sig); !errors.Is(err, ErrMalformed) {
		t.Errorf("signature parsed as a token: %v", err)
	}
}
