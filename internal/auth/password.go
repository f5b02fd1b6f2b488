package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"sealkeep/internal/redact"
)

// PasswordParams are the argon2id parameters of new password hashes.
type PasswordParams struct {
	Time    uint32 // passes over memory (t)
	Memory  uint32 // KiB (m)
	Threads uint8  // lanes (p)
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes of the tag
}

// DefaultPasswordParams is RFC 9106's second recommended option (section
// 4), for environments where 2 GiB per hash (the first option) is too much:
// argon2id, t=3, m=64 MiB, p=4, a 128-bit salt and a 256-bit tag. A server
// verifies passwords for every login and every instance may verify several
// at once, so 64 MiB each, bounded by [Options.MaxConcurrentHashes], keeps
// memory predictable while still costing an attacker 64 MiB per guess.
var DefaultPasswordParams = PasswordParams{Time: 3, Memory: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}

// Password length limits in bytes. The minimum follows NIST SP 800-63B
// for a password that may be used with a second factor; the maximum bounds
// the work an attacker can ask for.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// Limits on a stored hash's parameters, so that a tampered row cannot make
// a login allocate without bound.
const (
	maxHashMemory = 4 << 20 // KiB (4 GiB)
	maxHashTime   = 64
	maxHashLen    = 1024
)

var errHashFormat = errors.New("stored password hash is malformed")

// checkPassword refuses a password that is too short or too long; the
// error never holds the password.
func checkPassword(pw *redact.Secret) error {
	switch n := pw.Len(); {
	case n < MinPasswordLen:
		return fmt.Errorf("%w: a password needs at least %d bytes", ErrInvalidInput, MinPasswordLen)
	case n > MaxPasswordLen:
		return fmt.Errorf("%w: a password may have at most %d bytes", ErrInvalidInput, MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the PHC string of pw under p:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<tag>
//
// with salt and tag in unpadded standard base64, as the reference
// implementation writes it.
func HashPassword(pw *redact.Secret, p PasswordParams) (string, error) {
	if p.Time < 1 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.SaltLen < 8 || p.KeyLen < 16 {
		return "", fmt.Errorf("%w: argon2id parameters out of range", ErrInvalidInput)
	}
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey(pw.Bytes(), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	defer clear(key)
	return encodePHC(p, salt, key), nil
}

func encodePHC(p PasswordParams, salt, key []byte) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

// parsePHC reads a PHC string written by [HashPassword], strictly.
func parsePHC(s string) (p PasswordParams, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errHashFormat
	}
	var m, t, par uint64
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, errHashFormat
	}
	for i, f := range []struct {
		name string
		v    *uint64
		max  uint64
	}{{"m", &m, maxHashMemory}, {"t", &t, maxHashTime}, {"p", &par, 255}} {
		val, ok := strings.CutPrefix(fields[i], f.name+"=")
		n, err := strconv.ParseUint(val, 10, 32)
		if !ok || err != nil || n == 0 || n > f.max || strconv.FormatUint(n, 10) != val {
			return p, nil, nil, errHashFormat
		}
		*f.v = n
	}
	enc := base64.RawStdEncoding.Strict()
	salt, err1 := enc.DecodeString(parts[4])
	key, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > maxHashLen || len(salt) > maxHashLen {
		return p, nil, nil, errHashFormat
	}
	if m < 8*par {
		return p, nil, nil, errHashFormat
	}
	p = PasswordParams{Time: uint32(t), Memory: uint32(m), Threads: uint8(par), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

// VerifyPassword reports whether pw matches the PHC string hash, comparing
// the tags in constant time, and whether the hash should be replaced
// because its parameters differ from want (rehash on login). A malformed
// hash is an error, never a match.
func VerifyPassword(pw *redact.Secret, hash string, want PasswordParams) (ok, rehash bool, err error) {
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey(pw.Bytes(), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	defer clear(got)
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, ok && p != want, nil
}
