package keyfile

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/testenv"
)

const pass = "correct horse"

// fixture is a test PKI: root → intermediate → leaf with the leaf's key.
type fixture struct {
	*pkitest.Chain
	keyPKCS8 []byte
}

func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	ch := pkitest.NewChain(t, alg, "keyfile "+alg)
	der, err := x509.MarshalPKCS8PrivateKey(ch.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Chain: ch, keyPKCS8: der}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pemBlock("CERTIFICATE", c.Raw)...)
	}
	return b
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// never is a passphrase callback for files that are not encrypted.
func never(t *testing.T) func() ([]byte, error) {
	return func() ([]byte, error) {
		t.Helper()
		t.Fatal("the passphrase was asked for an unencrypted file")
		return nil, nil
	}
}

// counting returns p and counts the calls.
func counting(p string, calls *int) func() ([]byte, error) {
	return func() ([]byte, error) {
		*calls++
		return []byte(p), nil
	}
}

func checkBundle(t *testing.T, b *Bundle, f *fixture) {
	t.Helper()
	if !bytes.Equal(b.Leaf.Raw, f.Leaf.Cert.Raw) {
		t.Fatalf("leaf is %q, want %q", b.Leaf.Subject, f.Leaf.Cert.Subject)
	}
	if len(b.Chain) != 2 || !bytes.Equal(b.Chain[0].Raw, f.Intermediate.Cert.Raw) || !bytes.Equal(b.Chain[1].Raw, f.Root.Cert.Raw) {
		t.Fatalf("chain not ordered leaf → intermediate → root: %v", b)
	}
	if !keypolicy.PublicKeysEqual(b.Key.Public(), f.Leaf.Key.Public()) {
		t.Fatal("wrong key")
	}
	if err := b.Validate(time.Now()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestPEMFormatsAndOrder(t *testing.T) {
	rf := newFixture(t, keypolicy.RSA2048)
	ef := newFixture(t, keypolicy.ECDSAP256)
	rk := rf.Leaf.Key.(*rsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ef.Leaf.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	ecParams, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	tests := []struct {
		name string
		f    *fixture
		data []byte
	}{
		{"PKCS#1 first, certificates in order", rf, join(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), certsPEM(rf.Leaf.Cert, rf.Intermediate.Cert, rf.Root.Cert))},
		{"PKCS#8 last, certificates shuffled", rf, join(certsPEM(rf.Root.Cert, rf.Leaf.Cert, rf.Intermediate.Cert), pemBlock("PRIVATE KEY", rf.keyPKCS8))},
		{"SEC 1 with EC PARAMETERS, root first", ef, join(pemBlock("EC PARAMETERS", ecParams), pemBlock("EC PRIVATE KEY", sec1), certsPEM(ef.Root.Cert, ef.Intermediate.Cert, ef.Leaf.Cert))},
		{"text around blocks, duplicate certificate", ef, join([]byte("Bag Attributes\n    friendlyName: jane\n"), pemBlock("PRIVATE KEY", ef.keyPKCS8), []byte("subject=CN = x\n"), certsPEM(ef.Intermediate.Cert, ef.Leaf.Cert, ef.Root.Cert, ef.Leaf.Cert))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse(tc.data, never(t))
			if err != nil {
				t.Fatal(err)
			}
			checkBundle(t, b, tc.f)
		})
	}
}

func TestParseErrors(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP256)
	other := newFixture(t, keypolicy.RSA2048)
	key := pemBlock("PRIVATE KEY", f.keyPKCS8)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"binary garbage", []byte{1, 2, 3}, ErrMalformed},
		{"PEM without blocks", []byte("-----BEGIN nothing"), ErrMalformed},
		{"unknown block", pemBlock("PUBLIC KEY", []byte{1}), ErrMalformed},
		{"certificate only", certsPEM(f.Leaf.Cert), ErrNoKey},
		{"key only", key, ErrNoCertificate},
		{"two keys", join(key, pemBlock("PRIVATE KEY", other.keyPKCS8), certsPEM(f.Leaf.Cert)), ErrSeveralKeys},
		{"key and another's certificate", join(key, certsPEM(other.Leaf.Cert, other.Root.Cert)), ErrMismatch},
		{"broken key", join(pemBlock("PRIVATE KEY", []byte{0x30, 3, 1, 2, 3}), certsPEM(f.Leaf.Cert)), ErrMalformed},
		{"broken certificate", join(key, pemBlock("CERTIFICATE", []byte{0x30, 0})), ErrMalformed},
		{"too large", append([]byte("-----BEGIN "), make([]byte, MaxSize)...), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse(tc.data, never(t))
			if !errors.Is(err, tc.want) || b != nil {
				t.Fatalf("Parse = %v, %v; want %v", b, err, tc.want)
			}
		})
	}
}

// encryptPKCS8 makes an EncryptedPrivateKeyInfo with PBES2 (PBKDF2 with
// HMAC-SHA-256, AES-256-CBC) without openssl, for tests and fuzz seeds.
func encryptPKCS8(t testing.TB, der []byte, password string, iterations int) []byte {
	t.Helper()
	salt, iv := make([]byte, 16), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	pad := 16 - len(der)%16
	plain := append(bytes.Clone(der), bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(key)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(plain, plain)
	type algID struct {
		OID    asn1.ObjectIdentifier
		Params asn1.RawValue `asn1:"optional"`
	}
	raw := func(v any) asn1.RawValue {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return asn1.RawValue{FullBytes: b}
	}
	kdf := algID{oidPBKDF2, raw(struct {
		Salt []byte
		Iter int
		PRF  algID
	}{salt, iterations, algID{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, asn1.NullRawValue}})}
	enc := algID{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, raw(iv)}
	out, err := asn1.Marshal(struct {
		Alg  algID
		Data []byte
	}{algID{oidPBES2, raw(struct{ KDF, Enc algID }{kdf, enc})}, plain})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPassphrase parses the encrypted file data with the right passphrase
// (asked for exactly once) and f's key and chain in it, then with a wrong
// one (ErrWrongPassphrase).
func checkPassphrase(t *testing.T, data []byte, f *fixture) {
	t.Helper()
	calls := 0
	b, err := Parse(data, counting(pass, &calls))
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, b, f)
	if calls != 1 {
		t.Fatalf("passphrase asked %d times", calls)
	}
	if _, err := Parse(data, counting("wrong", &calls)); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestEncryptedPKCS8(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP256)
	certs := certsPEM(f.Leaf.Cert, f.Intermediate.Cert, f.Root.Cert)
	data := join(pemBlock("ENCRYPTED PRIVATE KEY", encryptPKCS8(t, f.keyPKCS8, pass, 1000)), certs)
	checkPassphrase(t, data, f)
	if _, err := Parse(data, nil); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("no passphrase source: %v", err)
	}
	sourceErr := errors.New("no terminal")
	if _, err := Parse(data, func() ([]byte, error) { return nil, sourceErr }); !errors.Is(err, sourceErr) {
		t.Fatalf("passphrase source error lost: %v", err)
	}
}

func TestIterationCap(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP256)
	// MaxIterations+1 iterations would take a while to encrypt: encrypt with
	// 0x10000 (a 3-byte INTEGER) and patch it to 0x7fffff.
	enc := encryptPKCS8(t, f.keyPKCS8, pass, 0x10000)
	patched := bytes.Replace(enc, []byte{2, 3, 0x01, 0x00, 0x00}, []byte{2, 3, 0x7f, 0xff, 0xff}, 1)
	if bytes.Equal(patched, enc) {
		t.Fatal("iteration count not found")
	}
	_, err := Parse(join(pemBlock("ENCRYPTED PRIVATE KEY", patched), certsPEM(f.Leaf.Cert)), func() ([]byte, error) {
		t.Fatal("passphrase asked before the parameters were checked")
		return nil, nil
	})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "iteration") {
		t.Fatalf("huge PBKDF2 iteration count: %v", err)
	}
}

func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "openssl"), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenSSLFiles reads files made by openssl, the independent oracle for
// every format.
func TestOpenSSLFiles(t *testing.T) {
	f := newFixture(t, keypolicy.RSA2048)
	dir := t.TempDir()
	writeFile(t, dir, "key.pem", pemBlock("PRIVATE KEY", f.keyPKCS8))
	writeFile(t, dir, "leaf.pem", certsPEM(f.Leaf.Cert))
	writeFile(t, dir, "chain.pem", certsPEM(f.Root.Cert, f.Intermediate.Cert)) // deliberately top-down
	certs := certsPEM(f.Leaf.Cert, f.Intermediate.Cert, f.Root.Cert)
	export := func(out string, extra ...string) {
		openssl(t, dir, append([]string{"pkcs12", "-export", "-inkey", "key.pem", "-in", "leaf.pem", "-certfile", "chain.pem", "-out", out}, extra...)...)
	}
	export("modern.p12", "-passout", "pass:"+pass)
	export("aes128.p12", "-passout", "pass:"+pass, "-keypbe", "AES-128-CBC", "-certpbe", "AES-128-CBC", "-macalg", "sha512")
	export("3des.p12", "-passout", "pass:"+pass, "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1")
	export("rc2.p12", "-passout", "pass:"+pass, "-legacy")
	export("empty.p12", "-passout", "pass:")
	openssl(t, dir, "pkcs12", "-export", "-nokeys", "-in", "leaf.pem", "-certfile", "chain.pem", "-passout", "pass:"+pass, "-out", "nokey.p12")
	openssl(t, dir, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "key.pem", "-passout", "pass:"+pass, "-out", "enc-aes256.pem")
	openssl(t, dir, "pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512", "-in", "key.pem", "-passout", "pass:"+pass, "-out", "enc-aes128-sha512.pem")
	openssl(t, dir, "pkcs8", "-topk8", "-v2", "des3", "-in", "key.pem", "-passout", "pass:"+pass, "-out", "enc-des3.pem")
	openssl(t, dir, "pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-in", "key.pem", "-passout", "pass:"+pass, "-out", "enc-pbes1.pem")
	openssl(t, dir, "rsa", "-in", "key.pem", "-aes256", "-traditional", "-passout", "pass:"+pass, "-out", "legacy.pem")

	good := []struct{ name, file string }{
		{"PKCS#12 OpenSSL 3 default (AES-256, PBKDF2)", "modern.p12"},
		{"PKCS#12 AES-128, SHA-512 MAC", "aes128.p12"},
		{"PKCS#12 legacy 3DES", "3des.p12"},
		{"PKCS#12 legacy RC2-40 and 3DES", "rc2.p12"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			checkPassphrase(t, readFile(t, dir, tc.file), f)
		})
	}
	for _, file := range []string{"enc-aes256.pem", "enc-aes128-sha512.pem"} {
		t.Run("encrypted PKCS#8 "+file, func(t *testing.T) {
			checkPassphrase(t, join(readFile(t, dir, file), certs), f)
		})
	}
	t.Run("PKCS#12 with an empty password asks for nothing", func(t *testing.T) {
		b, err := Parse(readFile(t, dir, "empty.p12"), never(t))
		if err != nil {
			t.Fatal(err)
		}
		checkBundle(t, b, f)
	})
	refused := []struct {
		name, file string
		want       error
	}{
		{"PKCS#12 without a key", "nokey.p12", ErrNoKey},
		{"PKCS#8 with PBES2 3DES", "enc-des3.pem", ErrLegacyEncryption},
		{"PKCS#8 with PBES1", "enc-pbes1.pem", ErrLegacyEncryption},
		{"legacy PEM encryption", "legacy.pem", ErrLegacyEncryption},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			data := readFile(t, dir, tc.file)
			if strings.HasSuffix(tc.file, ".pem") {
				data = join(data, certs)
			}
			calls := 0
			_, err := Parse(data, counting(pass, &calls))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
			if tc.want == ErrLegacyEncryption && calls != 0 {
				t.Fatal("passphrase asked for a file that is refused anyway")
			}
		})
	}
}

// TestPKCS12SeveralKeys builds a PKCS #12 file with two key bags by hand
// (no MAC, empty password: go-pkcs12 reads those), since neither openssl
// nor go-pkcs12 writes one.
func TestPKCS12SeveralKeys(t *testing.T) {
	a := newFixture(t, keypolicy.ECDSAP256)
	b := newFixture(t, keypolicy.RSA2048)
	data := handMadePFX(t, [][]byte{a.keyPKCS8, b.keyPKCS8}, a.Leaf.Cert)
	if _, err := Parse(data, never(t)); !errors.Is(err, ErrSeveralKeys) {
		t.Fatalf("two keys: %v, want ErrSeveralKeys", err)
	}
	one, err := Parse(handMadePFX(t, [][]byte{a.keyPKCS8}, a.Leaf.Cert), never(t))
	if err != nil || !bytes.Equal(one.Leaf.Raw, a.Leaf.Cert.Raw) {
		t.Fatalf("the same construction with one key must parse: %v", err)
	}
}

func handMadePFX(t *testing.T, keys [][]byte, cert *x509.Certificate) []byte {
	t.Helper()
	mustMarshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// explicit0 wraps DER in an [0] EXPLICIT tag.
	explicit0 := func(der []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
	}
	type pair struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	oidData := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	var bags []pair
	for _, k := range keys {
		bags = append(bags, pair{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}, explicit0(k)})
	}
	certBag := mustMarshal(pair{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, explicit0(mustMarshal(cert.Raw))})
	bags = append(bags, pair{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, explicit0(certBag)})
	safe := []pair{{oidData, explicit0(mustMarshal(mustMarshal(bags)))}}
	return mustMarshal(struct {
		Version  int
		AuthSafe pair
	}{3, pair{oidData, explicit0(mustMarshal(mustMarshal(safe)))}})
}

func TestPKCS12FromGoEncoder(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP384)
	data, err := pkcs12.Modern.Encode(f.Leaf.Key, f.Leaf.Cert, []*x509.Certificate{f.Root.Cert, f.Intermediate.Cert}, pass)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	b, err := Parse(data, counting(pass, &calls))
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, b, f)
}

func TestPKCS12IterationCap(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP256)
	data, err := pkcs12.Modern.WithIterations(0x10000).Encode(f.Leaf.Key, f.Leaf.Cert, nil, pass)
	if err != nil {
		t.Fatal(err)
	}
	patched := bytes.ReplaceAll(data, []byte{2, 3, 0x01, 0x00, 0x00}, []byte{2, 3, 0x7f, 0xff, 0xff})
	if bytes.Equal(patched, data) {
		t.Fatal("iteration count not found")
	}
	if _, err := Parse(patched, never(t)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "iterations") {
		t.Fatalf("huge PKCS #12 iteration count: %v", err)
	}
}

// TestPolicyFailures: files that parse but must not be imported.
func TestPolicyFailures(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP256)
	now := time.Now()
	leafWith := func(key crypto.Signer, edit func(*x509.Certificate)) []byte {
		tmpl := pkitest.LeafTemplate("policy")
		edit(tmpl)
		c := pkitest.Issue(t, f.Intermediate, tmpl, key.Public())
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return join(pemBlock("PRIVATE KEY", der), certsPEM(c, f.Intermediate.Cert, f.Root.Cert))
	}
	keep := func(*x509.Certificate) {}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	key := f.Leaf.Key
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"RSA-1024", leafWith(rsa1024, keep), keypolicy.ErrWeakKey},
		{"P-224", leafWith(p224, keep), keypolicy.ErrWeakKey},
		{"expired", leafWith(key, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1) }), keypolicy.ErrExpired},
		{"not yet valid", leafWith(key, func(c *x509.Certificate) { c.NotBefore = now.AddDate(0, 0, 1) }), keypolicy.ErrNotYetValid},
		{"CA leaf", leafWith(key, func(c *x509.Certificate) { c.IsCA = true }), keypolicy.ErrLeafIsCA},
		{"serverAuth EKU", leafWith(key, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }), keypolicy.ErrExtKeyUsage},
		{"keyEncipherment only", leafWith(key, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), keypolicy.ErrKeyUsage},
		{"broken chain", join(pemBlock("PRIVATE KEY", f.keyPKCS8), certsPEM(f.Leaf.Cert, f.Root.Cert, newFixture(t, keypolicy.RSA2048).Intermediate.Cert)), keypolicy.ErrChain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse(tc.data, never(t))
			if err != nil {
				t.Fatalf("Parse must not judge the policy: %v", err)
			}
			if err := b.Validate(now); !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
	// Ed25519 parses (Parse does not judge) and Validate refuses it.
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	edCert := pkitest.Issue(t, f.Intermediate, pkitest.LeafTemplate("ed25519"), ed.Public())
	eb, err := Parse(join(pemBlock("PRIVATE KEY", edDER), certsPEM(edCert)), never(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := eb.Validate(now); !errors.Is(err, keypolicy.ErrUnsupportedAlgorithm) || !strings.Contains(err.Error(), "Ed25519") {
		t.Fatalf("Ed25519: %v", err)
	}
	// A Bundle put together by hand with a certificate for another key.
	b := &Bundle{Key: f.Leaf.Key, Leaf: newFixture(t, keypolicy.RSA2048).Leaf.Cert}
	if err := b.Validate(now); !errors.Is(err, ErrMismatch) {
		t.Fatalf("mismatched bundle: %v", err)
	}
}

// TestOpenSSLPolicyKeys: keys only openssl makes (e = 3, secp256k1, explicit
// curve parameters).
func TestOpenSSLPolicyKeys(t *testing.T) {
	f := newFixture(t, keypolicy.ECDSAP256)
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_keygen_pubexp:3", "-out", "e3.pem")
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", "k1.pem")
	openssl(t, dir, "req", "-new", "-x509", "-key", "k1.pem", "-subj", "/CN=secp256k1", "-days", "30", "-out", "k1-cert.pem")
	openssl(t, dir, "pkcs12", "-export", "-inkey", "k1.pem", "-in", "k1-cert.pem", "-passout", "pass:"+pass, "-out", "k1.p12")
	openssl(t, dir, "ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-genkey", "-noout", "-out", "explicit.pem")
	openssl(t, dir, "ecparam", "-name", "prime192v1", "-genkey", "-noout", "-out", "p192.pem")
	openssl(t, dir, "pkcs8", "-topk8", "-nocrypt", "-in", "p192.pem", "-out", "p192-pkcs8.pem")

	// e = 3: Go parses it; the policy refuses it.
	blk, _ := pem.Decode(readFile(t, dir, "e3.pem"))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	e3 := k.(*rsa.PrivateKey)
	c := pkitest.Issue(t, f.Intermediate, pkitest.LeafTemplate("e=3"), e3.Public())
	b, err := Parse(join(readFile(t, dir, "e3.pem"), certsPEM(c, f.Intermediate.Cert)), never(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(time.Now()); !errors.Is(err, keypolicy.ErrWeakKey) || !strings.Contains(err.Error(), "exponent 3") {
		t.Fatalf("e=3: %v", err)
	}

	cases := []struct {
		name string
		data []byte
		text string
	}{
		{"secp256k1 PEM", join(readFile(t, dir, "k1.pem"), readFile(t, dir, "k1-cert.pem")), "secp256k1"},
		{"secp256k1 certificate first", join(readFile(t, dir, "k1-cert.pem"), readFile(t, dir, "k1.pem")), "secp256k1"},
		{"secp256k1 PKCS#12", readFile(t, dir, "k1.p12"), "secp256k1"},
		{"explicit parameters", join(readFile(t, dir, "explicit.pem"), certsPEM(f.Leaf.Cert)), "explicit"},
		{"P-192 SEC 1", join(readFile(t, dir, "p192.pem"), certsPEM(f.Leaf.Cert)), "P-192"},
		{"P-192 PKCS#8", join(readFile(t, dir, "p192-pkcs8.pem"), certsPEM(f.Leaf.Cert)), "P-192"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			_, err := Parse(tc.data, counting(pass, &calls))
			if !errors.Is(err, keypolicy.ErrWeakKey) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Parse = %v; want ErrWeakKey naming %q", err, tc.text)
			}
		})
	}
}

func TestBundleRedacts(t *testing.T) {
	f := newFixture(t, keypolicy.RSA2048)
	b, err := Parse(join(pemBlock("PRIVATE KEY", f.keyPKCS8), certsPEM(f.Leaf.Cert)), never(t))
	if err != nil {
		t.Fatal(err)
	}
	rk := b.Key.(*rsa.PrivateKey)
	secrets := []string{rk.Primes[0].String(), rk.Primes[0].Text(16), fmt.Sprintf("%x", rk.Primes[0].Bytes()[:8]), "PRIVATE KEY"}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, b), fmt.Sprintf(verb, *b), fmt.Sprintf(verb, []any{b}), fmt.Sprintf(verb, struct{ B *Bundle }{b}))
	}
	j, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("imported", "bundle", b, "value", *b)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("imported", "bundle", b)
	outs = append(outs, string(j), logBuf.String(), b.String(), b.GoString())
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("key material in output %q", out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Fatalf("output does not say the key is redacted: %q", out)
		}
	}
}

func TestReadPassphrase(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "pass.txt", []byte("from a file\n"))
	crlf := writeFile(t, dir, "crlf.txt", []byte("windows\r\n"))
	stdin, err := os.Open(writeFile(t, dir, "stdin", nil)) // not a terminal
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	t.Setenv("SEALKEEP_TEST_PASSPHRASE", "from the environment")
	var stderr bytes.Buffer
	for _, tc := range []struct{ file, env, want string }{
		{file, "SEALKEEP_TEST_PASSPHRASE", "from a file"},
		{crlf, "", "windows"},
		{"", "SEALKEEP_TEST_PASSPHRASE", "from the environment"},
	} {
		got, err := ReadPassphrase(tc.file, tc.env, "Passphrase: ", stdin, &stderr)
		if err != nil || string(got) != tc.want {
			t.Errorf("ReadPassphrase(%q, %q) = %q, %v; want %q", tc.file, tc.env, got, err, tc.want)
		}
	}
	_, err = ReadPassphrase("", "SEALKEEP_TEST_UNSET_VARIABLE", "Passphrase: ", stdin, &stderr)
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), "$SEALKEEP_TEST_UNSET_VARIABLE") {
		t.Fatalf("non-interactive run without a source: %v", err)
	}
	if _, err := ReadPassphrase(filepath.Join(dir, "missing"), "", "", stdin, &stderr); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("missing file: %v", err)
	}
	if stderr.Len() != 0 {
		t.Fatalf("prompted without a terminal: %q", stderr.String())
	}
	// A file that is no passphrase (a key, a disk image, /dev/zero) is
	// refused after a bounded read, without echoing what it holds.
	big := writeFile(t, dir, "big", bytes.Repeat([]byte("x"), MaxPassphraseSize+1))
	for _, f := range []string{big, "/dev/zero"} {
		if _, err := ReadPassphrase(f, "", "", stdin, &stderr); !errors.Is(err, ErrNoPassphrase) || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("%s: %v, want ErrNoPassphrase", f, err)
		}
	}
	if got, err := ReadPassphrase(writeFile(t, dir, "max", bytes.Repeat([]byte("y"), MaxPassphraseSize)), "", "", stdin, &stderr); err != nil || len(got) != MaxPassphraseSize {
		t.Errorf("a passphrase of exactly MaxPassphraseSize bytes: %d bytes, %v", len(got), err)
	}
}

// TestDemoIdentity parses and validates the committed demo PKCS #12
// (testdata/demo, made by make.sh with openssl).
func TestDemoIdentity(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo")
	data := readFile(t, demo, "demo-signer.p12")
	p, err := ReadPassphrase(filepath.Join(demo, "demo-passphrase.txt"), "", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(data, func() ([]byte, error) { return p, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(time.Now()); err != nil {
		t.Fatal(err)
	}
	if b.Leaf.Subject.CommonName != "Jane Doe, P.E. 12345, Texas" || len(b.Chain) != 1 || b.Chain[0].Subject.CommonName != "sealkeep Demo Root CA" {
		t.Fatalf("unexpected demo identity: %v", b)
	}
	if alg, _ := keypolicy.CheckPublicKey(b.Key.Public()); alg != keypolicy.RSA3072 {
		t.Fatalf("demo key is %s", alg)
	}
	root, _ := pem.Decode(readFile(t, demo, "demo-root-ca.pem"))
	if !bytes.Equal(root.Bytes, b.Chain[0].Raw) {
		t.Fatal("demo-root-ca.pem is not the root inside the PKCS #12 file")
	}
	if b.Leaf.NotAfter.Sub(b.Leaf.NotBefore) < 3649*24*time.Hour {
		t.Fatal("demo leaf is not valid for 10 years")
	}
}

func FuzzParse(f *testing.F) {
	fx := newFixture(f, keypolicy.ECDSAP256)
	certs := certsPEM(fx.Leaf.Cert, fx.Intermediate.Cert, fx.Root.Cert)
	p12, err := pkcs12.Modern.WithIterations(16).Encode(fx.Leaf.Key, fx.Leaf.Cert, []*x509.Certificate{fx.Root.Cert}, pass)
	if err != nil {
		f.Fatal(err)
	}
	legacy, err := pkcs12.Legacy.WithIterations(16).Encode(fx.Leaf.Key, fx.Leaf.Cert, nil, pass)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(join(pemBlock("PRIVATE KEY", fx.keyPKCS8), certs))
	f.Add(join(pemBlock("ENCRYPTED PRIVATE KEY", encryptPKCS8(f, fx.keyPKCS8, pass, 16)), certs))
	f.Add(p12)
	f.Add(legacy)
	if demo, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "demo-signer.p12")); err == nil {
		f.Add(demo)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Parse bounds iteration counts at MaxIterations, which is seconds
		// of work per input; keep the fuzzer on structure instead.
		if checkPKCS12Iterations(data, 1<<12) != nil {
			return
		}
		b, err := Parse(data, func() ([]byte, error) { return []byte(pass), nil })
		if err != nil {
			if b != nil {
				t.Fatal("bundle returned with an error")
			}
			return
		}
		if b.Key == nil || b.Leaf == nil || !keypolicy.PublicKeysEqual(b.Key.Public(), b.Leaf.PublicKey) {
			t.Fatal("Parse returned a bundle whose leaf does not match its key")
		}
		_ = b.Validate(time.Now())
		_ = fmt.Sprint(b)
	})
}

// TestBundleZero: Zero wipes the imported key in place (the words of the
// private exponent and primes read as zero afterwards, through references
// taken before) and drops it from the bundle.
func TestBundleZero(t *testing.T) {
	f := newFixture(t, keypolicy.RSA2048)
	b, err := Parse(join(pemBlock("PRIVATE KEY", f.keyPKCS8), certsPEM(f.Leaf.Cert)), never(t))
	if err != nil {
		t.Fatal(err)
	}
	k := b.Key.(*rsa.PrivateKey)
	secrets := []*big.Int{k.D, k.Primes[0], k.Primes[1]}
	b.Zero()
	if b.Key != nil {
		t.Error("Zero left the key in the bundle")
	}
	for i, n := range secrets {
		if len(n.Bytes()) != 0 {
			t.Errorf("secret integer %d survives Zero", i)
		}
	}
	var nilBundle *Bundle
	nilBundle.Zero()
}
