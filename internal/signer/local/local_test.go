package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/signer"
)

// source hands out a fresh copy of plaintext on every call and remembers
// the copies, so that tests can check they were zeroed.
type source struct {
	mu        sync.Mutex
	plaintext []byte
	handed    [][]byte
	calls     int
}

func (s *source) open(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	c := bytes.Clone(s.plaintext)
	s.handed = append(s.handed, c)
	return c, nil
}

func (s *source) assertZeroed(t *testing.T) {
	t.Helper()
	if len(s.handed) == 0 {
		t.Fatal("open was never called")
	}
	for i, c := range s.handed {
		if !bytes.Equal(c, make([]byte, len(c))) {
			t.Fatalf("plaintext copy %d was not zeroed", i)
		}
	}
}

func newSigner(t *testing.T, pub crypto.PublicKey, plaintext []byte) (*Signer, *source) {
	t.Helper()
	src := &source{plaintext: plaintext}
	s, err := New(pub, src.open)
	if err != nil {
		t.Fatal(err)
	}
	return s, src
}

func mustMarshal(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	b, err := Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type sigGenFile struct {
	TestGroups []struct {
		PrivateKeyPkcs8 string `json:"privateKeyPkcs8"`
		Sha             string `json:"sha"`
		Tests           []struct {
			TcID   int    `json:"tcId"`
			Msg    string `json:"msg"`
			Sig    string `json:"sig"`
			Result string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

var hashes = map[string]crypto.Hash{"SHA-1": crypto.SHA1, "SHA-224": crypto.SHA224, "SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384, "SHA-512": crypto.SHA512}

// TestWycheproofPKCS1SigGen signs every Wycheproof message through the
// local signer, from the vector's own PKCS #8 and from Marshal's output,
// and compares with the expected signature byte for byte (PKCS #1 v1.5 is
// deterministic). Keys the policy refuses (e = 3) must be refused.
func TestWycheproofPKCS1SigGen(t *testing.T) {
	signed, refused := 0, 0
	for _, name := range []string{"rsa_pkcs1_2048_sig_gen_test.json", "rsa_pkcs1_3072_sig_gen_test.json"} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var f sigGenFile
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		for _, g := range f.TestGroups {
			p8, _ := hex.DecodeString(g.PrivateKeyPkcs8)
			k, err := x509.ParsePKCS8PrivateKey(p8)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			key := k.(*rsa.PrivateKey)
			h, ok := hashes[g.Sha]
			if !ok {
				t.Fatalf("unknown hash %s", g.Sha)
			}
			if key.E != 65537 {
				if _, err := New(&key.PublicKey, (&source{plaintext: p8}).open); !errors.Is(err, keypolicy.ErrWeakKey) {
					t.Errorf("%s: e=%d key accepted: %v", name, key.E, err)
				}
				refused++
				continue
			}
			for form, plaintext := range map[string][]byte{"vector": p8, "Marshal": mustMarshal(t, key)} {
				s, src := newSigner(t, &key.PublicKey, plaintext)
				for _, tc := range g.Tests {
					msg, _ := hex.DecodeString(tc.Msg)
					want, _ := hex.DecodeString(tc.Sig)
					hh := h.New()
					hh.Write(msg)
					got, err := s.Sign(nil, hh.Sum(nil), h)
					if err != nil {
						t.Fatalf("%s tc %d (%s): %v", name, tc.TcID, form, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s tc %d (%s): signature differs from the vector", name, tc.TcID, form)
					}
					signed++
				}
				src.assertZeroed(t)
			}
		}
	}
	if signed != 2*(40+24) || refused != 5 {
		t.Fatalf("signed %d, refused %d: the vector files changed", signed, refused)
	}
}

func TestRoundTripECDSAAndMLDSA(t *testing.T) {
	digest := sha256.Sum256([]byte("drawing set"))
	for _, alg := range []string{keypolicy.ECDSAP256, keypolicy.ECDSAP384} {
		k := pkitest.Key(t, alg, "local")
		s, src := newSigner(t, k.Public(), mustMarshal(t, k))
		sig, err := s.SignContext(context.Background(), digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("%s signature does not verify", alg)
		}
		src.assertZeroed(t)
	}
	k := pkitest.Key(t, keypolicy.MLDSA65, "local")
	s, src := newSigner(t, k.Public(), mustMarshal(t, k))
	msg := []byte("a whole message: ML-DSA signs messages, not digests")
	sig, err := s.Sign(nil, msg, &mldsa.Options{Context: "sealkeep"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mldsa.Verify(k.Public().(*mldsa.PublicKey), msg, sig, &mldsa.Options{Context: "sealkeep"}); err != nil {
		t.Fatalf("ML-DSA signature does not verify: %v", err)
	}
	src.assertZeroed(t)
}

func TestRSAPSSAndEveryCall(t *testing.T) {
	k := pkitest.Key(t, keypolicy.RSA2048, "local")
	s, src := newSigner(t, k.Public(), mustMarshal(t, k))
	digest := sha256.Sum256([]byte("x"))
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	for i := range 3 {
		sig, err := signer.Verified(s).Sign(nil, digest[:], opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(k.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig, opts); err != nil {
			t.Fatal(err)
		}
		if src.calls != i+1 {
			t.Fatalf("open called %d times for %d signatures: a key is being cached", src.calls, i+1)
		}
	}
	src.assertZeroed(t)
}

func TestMismatchAndErrorsZeroThePlaintext(t *testing.T) {
	a := pkitest.Key(t, keypolicy.RSA2048, "local")
	b := pkitest.Key(t, keypolicy.RSA2048, "local other")
	digest := sha256.Sum256([]byte("x"))

	s, src := newSigner(t, a.Public(), mustMarshal(t, b))
	if _, err := s.Sign(nil, digest[:], crypto.SHA256); !errors.Is(err, keypolicy.ErrMismatch) {
		t.Fatalf("another key's blob: %v, want ErrMismatch", err)
	}
	src.assertZeroed(t)

	s, src = newSigner(t, a.Public(), []byte("garbage that is no key"))
	if _, err := s.Sign(nil, digest[:], crypto.SHA256); !errors.Is(err, ErrCorruptKey) {
		t.Fatalf("garbage: %v, want ErrCorruptKey", err)
	}
	src.assertZeroed(t)

	s, src = newSigner(t, a.Public(), mustMarshal(t, a))
	if _, err := s.Sign(nil, digest[:5], crypto.SHA256); err == nil {
		t.Fatal("a short digest was signed")
	}
	src.assertZeroed(t)
	if strings.Contains(fmtErr(s.Sign(nil, digest[:5], crypto.SHA256)), hex.EncodeToString(src.plaintext[:8])) {
		t.Fatal("error echoes key bytes")
	}

	// A panic inside the signature (here from the options) still zeroes.
	s, src = newSigner(t, a.Public(), mustMarshal(t, a))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		_, _ = s.Sign(nil, digest[:], panickyOpts{})
	}()
	src.assertZeroed(t)

	openErr := errors.New("envelope: authentication failed")
	s, _ = New(a.Public(), func(context.Context) ([]byte, error) { return nil, openErr })
	if _, err := s.Sign(nil, digest[:], crypto.SHA256); !errors.Is(err, openErr) {
		t.Fatalf("open error lost: %v", err)
	}
	// A key source that fails after producing some plaintext (a partial
	// read, a decryption that fails late) still has it zeroed.
	partial := mustMarshal(t, a)
	s, _ = New(a.Public(), func(context.Context) ([]byte, error) { return partial, openErr })
	if _, err := s.Sign(nil, digest[:], crypto.SHA256); !errors.Is(err, openErr) {
		t.Fatalf("open error lost: %v", err)
	}
	if !bytes.Equal(partial, make([]byte, len(partial))) {
		t.Fatal("plaintext returned with an open error was not zeroed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, src = newSigner(t, a.Public(), mustMarshal(t, a))
	if _, err := s.SignContext(ctx, digest[:], crypto.SHA256); !errors.Is(err, context.Canceled) || src.calls != 0 {
		t.Fatalf("cancelled context: %v, %d opens", err, src.calls)
	}
}

func fmtErr(_ []byte, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type panickyOpts struct{}

func (panickyOpts) HashFunc() crypto.Hash { panic("boom") }

func TestNewAndMarshalFollowThePolicy(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []crypto.Signer{weak, ed} {
		if _, err := Marshal(k); !errors.Is(err, signer.ErrUnsupported) {
			t.Errorf("Marshal(%T) = %v", k, err)
		}
		if _, err := New(k.Public(), (&source{}).open); !errors.Is(err, signer.ErrUnsupported) {
			t.Errorf("New(%T) = %v", k, err)
		}
	}
	if _, err := New(pkitest.Key(t, keypolicy.ECDSAP256, "local").Public(), nil); err == nil {
		t.Error("New accepted a nil open")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, alg := range []string{keypolicy.RSA2048, keypolicy.ECDSAP256, keypolicy.MLDSA44} {
		k := pkitest.Key(t, alg, "local")
		p, err := parse(mustMarshal(t, k))
		if err != nil {
			t.Fatal(err)
		}
		if !p.(interface{ Equal(crypto.PrivateKey) bool }).Equal(k) {
			t.Fatalf("%s round trip changed the key", alg)
		}
	}
}

// TestCorruptedKeyNeverSigns flips one bit in every byte of a stored key,
// truncates it at every length and appends a byte. No variant may produce
// a faulty signature. For RSA every variant must fail with ErrCorruptKey
// or ErrMismatch; for ECDSA a flip in the encoded public point, which
// crypto/x509 ignores and re-derives from the scalar, may still sign
// correctly.
func TestCorruptedKeyNeverSigns(t *testing.T) {
	digest := sha256.Sum256([]byte("x"))
	for _, alg := range []string{keypolicy.RSA2048, keypolicy.ECDSAP256} {
		k := pkitest.Key(t, alg, "local")
		good := mustMarshal(t, k)
		signed := 0
		try := func(what string, b []byte) {
			s, _ := New(k.Public(), func(context.Context) ([]byte, error) { return b, nil })
			sig, err := s.Sign(nil, digest[:], crypto.SHA256)
			if err == nil {
				signed++
				if signer.VerifySignature(k.Public(), digest[:], sig, crypto.SHA256) != nil {
					t.Fatalf("%s %s: a corrupted key produced a faulty signature", alg, what)
				}
				return
			}
			if !errors.Is(err, ErrCorruptKey) && !errors.Is(err, keypolicy.ErrMismatch) {
				t.Fatalf("%s %s: unexpected error %v", alg, what, err)
			}
		}
		for i := range good {
			b := bytes.Clone(good)
			b[i] ^= 1 << (i % 8)
			try("bit flip at byte "+strconv.Itoa(i), b)
		}
		for n := range len(good) {
			try("truncated to "+strconv.Itoa(n), bytes.Clone(good[:n]))
		}
		try("trailing byte", append(bytes.Clone(good), 0))
		if _, isRSA := k.(*rsa.PrivateKey); isRSA && signed > 0 {
			t.Fatalf("%d of %d corrupted RSA keys still signed (validly): the stored form is parsed too leniently", signed, 2*len(good)+1)
		}
	}
}

// TestWipeReachesTheFIPSKey checks that wipe zeroes the FIPS module's
// copy of the key, which crypto/rsa keeps in an unexported field.
func TestWipeReachesTheFIPSKey(t *testing.T) {
	k, err := parse(mustMarshal(t, pkitest.Key(t, keypolicy.RSA2048, "local")))
	if err != nil {
		t.Fatal(err)
	}
	rk := k.(*rsa.PrivateKey)
	fips := reflect.ValueOf(&rk.Precomputed).Elem().FieldByName("fips")
	if !fips.IsValid() || fips.Kind() != reflect.Pointer || fips.IsNil() {
		t.Fatal("crypto/rsa's layout changed: no precomputed FIPS key; update wipe")
	}
	// Hold the FIPS key through a reference of our own: wipe drops the field.
	held := reflect.ValueOf(reflect.NewAt(fips.Type(), unsafe.Pointer(fips.UnsafeAddr())).Elem().Interface())
	before := nonZeroWords(held, map[uintptr]bool{})
	d, p := rk.D, rk.Primes[0]
	Wipe(k)
	after := nonZeroWords(held, map[uintptr]bool{})
	if before < 100 || after != 0 {
		t.Fatalf("non-zero words in the FIPS key: %d before wipe, %d after", before, after)
	}
	if n := nonZeroWords(reflect.ValueOf(d), map[uintptr]bool{}) + nonZeroWords(reflect.ValueOf(p), map[uintptr]bool{}); n != 0 {
		t.Fatalf("%d non-zero words left in D and P", n)
	}
}

func nonZeroWords(v reflect.Value, seen map[uintptr]bool) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return 0
		}
		seen[v.Pointer()] = true
		return nonZeroWords(v.Elem(), seen)
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			n += nonZeroWords(v.Field(i), seen)
		}
		return n
	case reflect.Slice, reflect.Array:
		n := 0
		for i := range v.Len() {
			n += nonZeroWords(v.Index(i), seen)
		}
		return n
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Int, reflect.Int32:
		if !v.IsZero() {
			return 1
		}
	}
	return 0
}

// TestWipeECDSAAndMLDSA checks that no non-zero word is left in a wiped
// ECDSA or ML-DSA key (the scalar, the seed and the expanded vectors).
func TestWipeECDSAAndMLDSA(t *testing.T) {
	for _, alg := range []string{keypolicy.ECDSAP384, keypolicy.MLDSA65} {
		k, err := parse(mustMarshal(t, pkitest.Key(t, alg, "local")))
		if err != nil {
			t.Fatal(err)
		}
		v := reflect.ValueOf(k)
		var scalar reflect.Value
		if e, ok := k.(*ecdsa.PrivateKey); ok {
			// Our own reference to the scalar (a deprecated field, so read by
			// reflection): wipe resets the field itself.
			scalar = reflect.ValueOf(reflect.ValueOf(e).Elem().FieldByName("D").Interface())
		}
		before := nonZeroWords(v, map[uintptr]bool{})
		Wipe(k)
		if after := nonZeroWords(v, map[uintptr]bool{}); before < 8 || after != 0 {
			t.Fatalf("%s: %d non-zero words before wipe, %d after", alg, before, after)
		}
		if scalar.IsValid() && (scalar.IsNil() || nonZeroWords(scalar.Elem().FieldByName("abs"), map[uintptr]bool{}) != 0 || scalar.Elem().FieldByName("abs").Len() == 0) {
			t.Fatalf("%s: the scalar's words survived the wipe", alg)
		}
	}
}

func TestConcurrentSignatures(t *testing.T) {
	k := pkitest.Key(t, keypolicy.ECDSAP256, "local")
	s, src := newSigner(t, k.Public(), mustMarshal(t, k))
	digest := sha256.Sum256([]byte("x"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			sig, err := s.Sign(nil, digest[:], crypto.SHA256)
			if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
				t.Errorf("concurrent signature failed: %v", err)
			}
		})
	}
	wg.Wait()
	src.assertZeroed(t)
}

func FuzzParse(f *testing.F) {
	f.Add(mustMarshal(f, pkitest.Key(f, keypolicy.RSA2048, "local")))
	f.Add(mustMarshal(f, pkitest.Key(f, keypolicy.ECDSAP256, "local")))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		k, err := parse(b)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		defer Wipe(k)
		if _, err := keypolicy.CheckPublicKey(k.Public()); err != nil {
			return // New refuses such a public key before any parse
		}
		digest := sha256.Sum256(b)
		var opts crypto.SignerOpts = crypto.SHA256
		if _, ok := k.(*mldsa.PrivateKey); ok {
			opts = crypto.Hash(0)
		}
		sig, err := k.Sign(rand.Reader, digest[:], opts)
		if err == nil {
			if err := signer.VerifySignature(k.Public(), digest[:], sig, opts); err != nil {
				t.Fatalf("a parsed key made a bad signature: %v", err)
			}
		}
	})
}

// TestWipeEd25519 checks that Wipe also clears an Ed25519 key, the one
// refused key type whose bytes it can reach.
func TestWipeEd25519(t *testing.T) {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	Wipe(k)
	if !bytes.Equal(k, make([]byte, len(k))) {
		t.Fatal("the Ed25519 key survived Wipe")
	}
	Wipe(nil)
}
