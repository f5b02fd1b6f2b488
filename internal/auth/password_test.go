package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"
	_ "unsafe" // go:linkname

	"golang.org/x/crypto/argon2"

	"sealkeep/internal/redact"
	"sealkeep/internal/testenv"
)

// argon2DeriveKey is x/crypto/argon2's core, which IDKey calls with no
// secret and no associated data; the RFC 9106 vectors use both.
//
//go:linkname argon2DeriveKey golang.org/x/crypto/argon2.deriveKey
func argon2DeriveKey(mode int, password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// TestArgon2idRFC9106 is the Argon2id test vector of RFC 9106 section 5.3
// through x/crypto/argon2 (mode 2 is argon2id there).
func TestArgon2idRFC9106(t *testing.T) {
	tag := argon2DeriveKey(2, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16),
		bytes.Repeat([]byte{3}, 8), bytes.Repeat([]byte{4}, 12), 3, 32, 4, 32)
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	if got := hex.EncodeToString(tag); got != want {
		t.Fatalf("argon2id tag = %s, want %s (RFC 9106 section 5.3)", got, want)
	}
	// IDKey is deriveKey without secret and data.
	if !bytes.Equal(argon2.IDKey([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32),
		argon2DeriveKey(2, []byte("pw"), []byte("saltsalt"), nil, nil, 1, 64, 1, 32)) {
		t.Fatal("IDKey is not deriveKey in argon2id mode")
	}
}

// TestArgon2CLI compares with the reference implementation's command
// (Debian package argon2): its PHC string for the default parameters is
// byte for byte the one this package writes for the same salt, and it
// verifies here without asking for a rehash.
func TestArgon2CLI(t *testing.T) {
	bin := testenv.Tool(t, "argon2")
	const pw, salt = "correct horse battery staple", "somesaltSOMESALT"
	p := DefaultPasswordParams
	cmd := exec.Command(bin, salt, "-id", "-t", "3", "-m", "16", "-p", "4", "-l", "32", "-e")
	cmd.Stdin = strings.NewReader(pw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("argon2: %v", err)
	}
	ref := strings.TrimSpace(string(out))
	ours := encodePHC(p, []byte(salt), argon2.IDKey([]byte(pw), []byte(salt), p.Time, p.Memory, p.Threads, p.KeyLen))
	if ours != ref {
		t.Fatalf("PHC string\n got %s\nwant %s (reference argon2)", ours, ref)
	}
	ok, rehash, err := VerifyPassword(redact.NewSecret([]byte(pw)), ref, p)
	if err != nil || !ok || rehash {
		t.Errorf("VerifyPassword(reference hash) = %v, %v, %v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword(redact.NewSecret([]byte(pw+"!")), ref, p); ok {
		t.Error("wrong password accepted")
	}
}

// TestPasswordHash: a fresh hash verifies, another password does not, a
// change of parameters asks for a rehash, two hashes of one password
// differ (salt), and malformed or hostile stored hashes are errors.
func TestPasswordHash(t *testing.T) {
	pw := redact.NewSecret([]byte("a long enough password"))
	h, err := HashPassword(pw, DefaultPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") || strings.Contains(h, "a long enough") {
		t.Fatalf("hash %s", h)
	}
	if ok, rehash, err := VerifyPassword(pw, h, DefaultPasswordParams); !ok || rehash || err != nil {
		t.Errorf("verify = %v, %v, %v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword(redact.NewSecret([]byte("a long enough passwore")), h, DefaultPasswordParams); ok {
		t.Error("other password accepted")
	}
	cheap := PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}
	h2, _ := HashPassword(pw, cheap)
	h3, _ := HashPassword(pw, cheap)
	if h2 == h3 {
		t.Error("two hashes of one password are equal")
	}
	if ok, rehash, _ := VerifyPassword(pw, h2, DefaultPasswordParams); !ok || !rehash {
		t.Errorf("old parameters: ok %v rehash %v", ok, rehash)
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=064,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43), // 4 TiB: refused, not allocated
		"$argon2id$v=19$m=64,t=100000,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=8,t=1,p=4$c29tZXNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$c2E$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$AAAA",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 43) + "$",
	} {
		ok, _, err := VerifyPassword(pw, bad, DefaultPasswordParams)
		if ok || !errors.Is(err, errHashFormat) {
			t.Errorf("%q: ok %v, err %v", bad, ok, err)
		}
	}
	for _, p := range []PasswordParams{{}, {Time: 1, Memory: 7, Threads: 1, SaltLen: 16, KeyLen: 32}, {Time: 1, Memory: 64, Threads: 1, SaltLen: 4, KeyLen: 32}} {
		if _, err := HashPassword(pw, p); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("params %+v: %v", p, err)
		}
	}
	for _, n := range []int{0, MinPasswordLen - 1, MaxPasswordLen + 1} {
		err := checkPassword(redact.NewSecret(bytes.Repeat([]byte("x"), n)))
		if !errors.Is(err, ErrInvalidInput) || strings.Contains(err.Error(), "xx") {
			t.Errorf("password of %d bytes: %v", n, err)
		}
	}
}

// BenchmarkHashPassword measures one hash at the default parameters.
func BenchmarkHashPassword(b *testing.B) {
	pw := redact.NewSecret([]byte("a long enough password"))
	for b.Loop() {
		if _, err := HashPassword(pw, DefaultPasswordParams); err != nil {
			b.Fatal(err)
		}
	}
}
