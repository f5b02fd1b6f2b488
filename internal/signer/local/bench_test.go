package local

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
)

// benchEnvelope stands in for custody: plaintext sealed with AES-256-GCM
// under a random key, a random 96-bit nonce and additional data, opened on
// every signature exactly as custody opens a key blob.
type benchEnvelope struct {
	aead              cipher.AEAD
	nonce, ct, adData []byte
}

func newBenchEnvelope(b *testing.B, plaintext []byte) *benchEnvelope {
	key := make([]byte, 32)
	nonce := make([]byte, 12)
	rand.Read(key)
	rand.Read(nonce)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	ad := []byte("org=acme;identity=jane;version=1")
	return &benchEnvelope{aead: aead, nonce: nonce, adData: ad, ct: aead.Seal(nil, nonce, plaintext, ad)}
}

func (e *benchEnvelope) open(context.Context) ([]byte, error) {
	return e.aead.Open(nil, e.nonce, e.ct, e.adData)
}

var benchAlgs = []string{keypolicy.RSA2048, keypolicy.RSA3072, keypolicy.RSA4096, keypolicy.ECDSAP256}

func benchForms(b *testing.B, k crypto.Signer) map[string][]byte {
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		b.Fatal(err)
	}
	forms := map[string][]byte{"pkcs8": p8}
	if _, ok := k.(*rsa.PrivateKey); ok {
		forms["compact"] = mustMarshal(b, k)
	}
	return forms
}

// BenchmarkLocalOverhead measures, in the same loop, a raw signature with
// an already-parsed key (rsa.SignPKCS1v15 or ecdsa.SignASN1) and the full
// local path (AES-256-GCM open of the blob, parse, match check, sign, zero),
// alternating the two so that both see the same machine state. It reports
// raw-ns/op, local-ns/op and their ratio (goal: ≤ 1.10 for RSA-3072 and
// RSA-4096).
//
// Measured on the 2-core AMD EPYC build machine (go1.27.3, -benchtime 3s):
//
//	            raw sign   local compact   local PKCS#8
//	RSA-2048    ~2.6 ms    1.08x           1.11x
//	RSA-3072    ~7.8 ms    1.06x           1.08x
//	RSA-4096    ~17 ms     1.04x           1.06x
//	ECDSA-P256  ~45 µs     —               1.5x (parse ≈ sign)
//
// Where the time goes (BenchmarkLocalSteps, RSA-3072): AES-GCM open of
// ~2 KB ≈ 3 µs; ASN.1 (PKCS #8 → PKCS #1) ≈ 0.1–0.2 ms, which the compact
// form removes; crypto/rsa's Precompute ≈ 0.5 ms, almost all of it
// checkPrivateKey in the FIPS module (bigmod.NewModulus for N, p, q, p−1,
// q−1 and two d mod (p−1)/(q−1) reductions). That check cannot be skipped
// through the public API and is what makes a corrupted key fail, so it
// stays; the wipe costs a few µs.
func BenchmarkLocalOverhead(b *testing.B) {
	digest := sha256.Sum256([]byte("benchmark"))
	for _, alg := range benchAlgs {
		k := pkitest.Key(b, alg, "bench")
		for form, plaintext := range benchForms(b, k) {
			b.Run(alg+"/"+form, func(b *testing.B) {
				env := newBenchEnvelope(b, plaintext)
				s, err := New(k.Public(), env.open)
				if err != nil {
					b.Fatal(err)
				}
				raw := func() error {
					switch k := k.(type) {
					case *rsa.PrivateKey:
						_, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
						return err
					case *ecdsa.PrivateKey:
						_, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
						return err
					}
					return nil
				}
				var raws, locals []time.Duration
				for b.Loop() {
					t0 := time.Now()
					if err := raw(); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if _, err := s.Sign(nil, digest[:], crypto.SHA256); err != nil {
						b.Fatal(err)
					}
					locals = append(locals, time.Since(t1))
					raws = append(raws, t1.Sub(t0))
				}
				reportRatio(b, raws, locals)
			})
		}
	}
}

// reportRatio reports the median raw and local times and two ratios that
// resist a busy machine: the median of the per-iteration ratios (each pair
// ran back to back) and the ratio of the minimum times.
func reportRatio(b *testing.B, raws, locals []time.Duration) {
	pair := make([]float64, len(raws))
	for i := range raws {
		pair[i] = float64(locals[i]) / float64(raws[i])
	}
	slices.Sort(pair)
	slices.Sort(raws)
	slices.Sort(locals)
	b.ReportMetric(float64(raws[len(raws)/2].Nanoseconds()), "raw-ns/op")
	b.ReportMetric(float64(locals[len(locals)/2].Nanoseconds()), "local-ns/op")
	b.ReportMetric(pair[len(pair)/2], "ratio")
	b.ReportMetric(float64(locals[0])/float64(raws[0]), "min-ratio")
}

// BenchmarkLocalSteps times the steps of the local path one by one.
func BenchmarkLocalSteps(b *testing.B) {
	for _, alg := range benchAlgs {
		k := pkitest.Key(b, alg, "bench")
		for form, plaintext := range benchForms(b, k) {
			env := newBenchEnvelope(b, plaintext)
			b.Run(alg+"/"+form+"/open", func(b *testing.B) {
				for b.Loop() {
					if _, err := env.open(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(alg+"/"+form+"/parse", func(b *testing.B) {
				for b.Loop() {
					if _, err := parse(plaintext); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(alg+"/"+form+"/parse+wipe", func(b *testing.B) {
				for b.Loop() {
					key, err := parse(plaintext)
					if err != nil {
						b.Fatal(err)
					}
					wipe(key)
				}
			})
		}
	}
}
