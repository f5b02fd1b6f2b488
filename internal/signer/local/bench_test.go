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
	"runtime"
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

func rawSign(k crypto.Signer, digest []byte) error {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		_, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest)
		return err
	case *ecdsa.PrivateKey:
		_, err := ecdsa.SignASN1(rand.Reader, k, digest)
		return err
	}
	return nil
}

// BenchmarkLocalOverhead measures, in the same loop, a raw signature with
// an already-parsed key (rsa.SignPKCS1v15 or ecdsa.SignASN1) and the full
// local path (AES-256-GCM open of the blob, PKCS #8 parse with crypto/rsa's
// consistency checks, match check, sign, zero), alternating the two so
// that both see the same machine state. It reports the median raw-ns/op
// and local-ns/op, the median of the per-pair ratios ("ratio"), the ratio
// of the fastest runs ("min-ratio") and, on Linux, the CPU time the
// benchmark thread spent in each ("raw-cpu-ns/op", "local-cpu-ns/op") and
// their ratio ("cpu-ratio", the figure to trust on a shared machine).
// Goal: ≤ 1.10 for RSA-3072 and RSA-4096, without caching a private key.
//
// Measured on the 2-core AMD EPYC build machine while other jobs ran
// (go1.27.3, -benchtime 100x -count 2 and earlier runs; thread CPU time):
//
//	            raw sign (CPU)   local/raw (cpu-ratio)
//	RSA-2048    1.8–2.2 ms       1.17–1.23
//	RSA-3072    4.5–5.1 ms       1.12–1.15
//	RSA-4096    9.5–10.4 ms      1.09–1.11
//	ECDSA-P256  42–53 µs         1.55–1.8 (parsing costs half a signature)
//
// Where the time goes (BenchmarkLocalBreakdown, thread CPU, RSA-3072):
// parse 550–610 µs against a 4.9–5.4 ms signature (11–12%); AES-GCM open
// ≈ 15 µs and wipe ≈ 50 µs, both including ≈ 10 µs of clock reading on a
// loaded machine. Inside parse (a separate thread-CPU probe of crypto/rsa):
// ASN.1 decoding ≈ 40 µs, Validate ≈ 20 µs, and Precompute ≈ 550 µs for
// RSA-3072 / 940 µs for RSA-4096, that is 10.5% / 8.2% of a signature,
// nearly all of it checkPrivateKey in the FIPS module (bigmod.NewModulus
// for N, p, q, p−1 and q−1, and the d mod (p−1), d mod (q−1) reductions
// that check d against dP and dQ). Since Go 1.24 crypto/x509 hands the
// stored CRT values to the FIPS module instead of recomputing them, so a
// compact stored form (tried: a versioned binary N, e, d, p, q, dP, dQ,
// qInv) only saved the ASN.1 decoding, 0.7% of an RSA-3072 signature, and
// was dropped. The public crypto/rsa API has no way to build a signing key
// without checkPrivateKey, so the floor of the local path is about 1.11 for
// RSA-3072 (goal missed: 1.12–1.15 measured) and about 1.09 for RSA-4096
// (goal met at the margin: 1.09–1.11 measured), short of caching a parsed
// key, which rule 1 forbids. Adding signer.Verified would cost one more
// public-key operation (≈ 1–2%) for nothing: the FIPS module already
// checks every RSA signature with e before returning it, and parse checks
// that the key is the signer's.
func BenchmarkLocalOverhead(b *testing.B) {
	digest := sha256.Sum256([]byte("benchmark"))
	for _, alg := range benchAlgs {
		k := pkitest.Key(b, alg, "bench")
		b.Run(alg, func(b *testing.B) {
			env := newBenchEnvelope(b, mustMarshal(b, k))
			s, err := New(k.Public(), env.open)
			if err != nil {
				b.Fatal(err)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var raws, locals []time.Duration
			var rawCPU, localCPU int64
			for b.Loop() {
				c0, _ := threadCPU()
				t0 := time.Now()
				if err := rawSign(k, digest[:]); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				c1, _ := threadCPU()
				if _, err := s.Sign(nil, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				locals = append(locals, time.Since(t1))
				c2, ok := threadCPU()
				raws = append(raws, t1.Sub(t0))
				if ok {
					rawCPU += c1 - c0
					localCPU += c2 - c1
				}
			}
			reportRatio(b, raws, locals)
			if rawCPU > 0 {
				b.ReportMetric(float64(rawCPU)/float64(b.N), "raw-cpu-ns/op")
				b.ReportMetric(float64(localCPU)/float64(b.N), "local-cpu-ns/op")
				b.ReportMetric(float64(localCPU)/float64(rawCPU), "cpu-ratio")
			}
		})
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

// BenchmarkLocalBreakdown times the steps of the local path, in thread CPU
// time where available (wall time otherwise): open (AES-256-GCM), parse
// (PKCS #8 with crypto/rsa's checks), sign (with the parsed key) and wipe.
func BenchmarkLocalBreakdown(b *testing.B) {
	digest := sha256.Sum256([]byte("benchmark"))
	for _, alg := range benchAlgs {
		k := pkitest.Key(b, alg, "bench")
		b.Run(alg, func(b *testing.B) {
			env := newBenchEnvelope(b, mustMarshal(b, k))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			now := func() int64 {
				if c, ok := threadCPU(); ok {
					return c
				}
				return time.Now().UnixNano()
			}
			var open, parsing, sign, wiping int64
			for b.Loop() {
				c0 := now()
				pt, err := env.open(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				c1 := now()
				key, err := parse(pt)
				if err != nil {
					b.Fatal(err)
				}
				c2 := now()
				if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				c3 := now()
				Wipe(key)
				clear(pt)
				c4 := now()
				open, parsing, sign, wiping = open+c1-c0, parsing+c2-c1, sign+c3-c2, wiping+c4-c3
			}
			n := float64(b.N)
			b.ReportMetric(float64(open)/n, "open-ns/op")
			b.ReportMetric(float64(parsing)/n, "parse-ns/op")
			b.ReportMetric(float64(sign)/n, "sign-ns/op")
			b.ReportMetric(float64(wiping)/n, "wipe-ns/op")
			b.ReportMetric(float64(open+parsing+wiping)/float64(sign), "overhead/sign")
		})
	}
}
