// Package tsatest runs a real RFC 3161 timestamp authority for tests:
// `openssl ts -reply` behind an HTTP server on loopback.
//
// # Use
//
//	url, root := tsatest.Start(t)
//	token, err := cms.RequestTimestamp(ctx, url, nil, signatureValue, crypto.SHA256)
//
// Start generates, in a temporary directory, a root CA (ECDSA P-256), a TSA
// key (RSA-2048) and certificate issued by the root with the timeStamping
// extended key usage in a critical extension (RFC 3161 section 2.3), and an
// openssl configuration: policy 1.3.6.1.4.1.55555.1.1, SHA-256/384/512
// imprints, accuracy 1.5001 s, millisecond genTime precision, the TSA name
// in the token, and an ESS signing-certificate-v2 (SHA-256) attribute.
// Tokens carry the TSA certificate when the request sets certReq; the root
// is returned for chain checks and is not embedded.
//
// Requests are served one at a time, because openssl rewrites its serial
// file on every reply. The server and files are removed when the test ends.
// Without the openssl command the test is skipped (or fails under
// scripts/test) through internal/testenv.
package tsatest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sealkeep/internal/testenv"
)

// Policy is the TSA policy OID written into every token.
var Policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1, 1}

const config = `[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = %s
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = %s
default_policy = 1.3.6.1.4.1.55555.1.1
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
clock_precision_digits = 3
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`

// Start runs a TSA for the duration of the test and returns its URL and
// the root certificate that issued the TSA certificate.
func Start(t testing.TB) (url string, root *x509.Certificate) {
	t.Helper()
	return start(t, "sha256")
}

// StartSHA1 is Start for a TSA that signs its tokens with SHA-1, as some
// old ones still do: a verifier must refuse such a token as proof of
// time.
func StartSHA1(t testing.TB) (url string, root *x509.Certificate) {
	t.Helper()
	return start(t, "sha1")
}

func start(t testing.TB, signerDigest string) (url string, root *x509.Certificate) {
	t.Helper()
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	root, tsaCert, tsaKey, err := makePKI()
	if err != nil {
		t.Fatalf("tsatest: building the TSA PKI: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(tsaKey)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"tsa.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tsaCert.Raw}),
		"tsa.key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"serial":      []byte("01\n"),
		"openssl.cnf": []byte(fmt.Sprintf(config, dir, signerDigest)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
			http.Error(w, "want POST of application/timestamp-query", http.StatusBadRequest)
			return
		}
		query, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		q, out := filepath.Join(dir, "query.tsq"), filepath.Join(dir, "reply.tsr")
		if err := os.WriteFile(q, query, 0o600); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var stderr bytes.Buffer
		cmd := exec.CommandContext(r.Context(), openssl, "ts", "-reply", "-config", filepath.Join(dir, "openssl.cnf"),
			"-queryfile", q, "-out", out)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			http.Error(w, fmt.Sprintf("openssl ts -reply: %v: %s", err, stderr.Bytes()), http.StatusInternalServerError)
			return
		}
		reply, err := os.ReadFile(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(reply)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, root
}

// makePKI builds the root CA and the TSA certificate.
func makePKI() (root, tsa *x509.Certificate, tsaKey *rsa.PrivateKey, err error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sealkeep test TSA root", Organization: []string{"sealkeep tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, nil, nil, err
	}
	if root, err = x509.ParseCertificate(rootDER); err != nil {
		return nil, nil, nil, err
	}
	if tsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, nil, nil, err
	}
	// crypto/x509 writes extended key usage non-critical; RFC 3161 wants
	// it critical, so it goes in as an extra extension.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return nil, nil, nil, err
	}
	tsaTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sealkeep test TSA", Organization: []string{"sealkeep tests"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku},
		},
	}
	tsaDER, err := x509.CreateCertificate(rand.Reader, tsaTmpl, root, tsaKey.Public(), rootKey)
	if err != nil {
		return nil, nil, nil, err
	}
	if tsa, err = x509.ParseCertificate(tsaDER); err != nil {
		return nil, nil, nil, err
	}
	return root, tsa, tsaKey, nil
}
