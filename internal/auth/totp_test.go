package auth

import (
	"encoding/base32"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"sealkeep/internal/redact"
)

// rfc6238 are the SHA-1 test vectors of RFC 6238 appendix B: the secret
// is the ASCII string "12345678901234567890", 8 digits, 30 s steps.
var rfc6238 = []struct {
	unix int64
	code string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

var rfcSecret = []byte("12345678901234567890")

// TestRFC6238Vectors runs appendix B through pquerna/otp with a fixed
// clock, then through matchTOTP, which uses 6 digits: a 6-digit code is
// the same truncated value mod 10^6, the last 6 digits of the 8-digit one.
func TestRFC6238Vectors(t *testing.T) {
	b32 := base32.StdEncoding.EncodeToString(rfcSecret)
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1}
	for _, v := range rfc6238 {
		at := time.Unix(v.unix, 0).UTC()
		got, err := totp.GenerateCodeCustom(b32, at, opts)
		if err != nil || got != v.code {
			t.Errorf("T=%d: pquerna/otp gives %q, %v; RFC 6238 says %s", v.unix, got, err, v.code)
		}
		if ok, err := totp.ValidateCustom(v.code, b32, at, opts); !ok || err != nil {
			t.Errorf("T=%d: ValidateCustom refused the RFC code: %v", v.unix, err)
		}
		six := redact.NewSecret([]byte(v.code[2:]))
		step, ok := matchTOTP(rfcSecret, six, at)
		if !ok || step != v.unix/30 {
			t.Errorf("T=%d: matchTOTP = %d, %v; want step %d", v.unix, step, ok, v.unix/30)
		}
		// One step either side is accepted and reports the code's own step;
		// two steps off is not.
		for _, d := range []int64{-30, 30} {
			if s, ok := matchTOTP(rfcSecret, six, at.Add(time.Duration(d)*time.Second)); !ok || s != v.unix/30 {
				t.Errorf("T=%d%+d s: matchTOTP = %d, %v", v.unix, d, s, ok)
			}
		}
		for _, d := range []int64{-61, 60} {
			if _, ok := matchTOTP(rfcSecret, six, at.Add(time.Duration(d)*time.Second)); ok && v.unix > 90 {
				t.Errorf("T=%d%+d s: accepted two steps away", v.unix, d)
			}
		}
	}
	for _, bad := range []string{"", "28708", "2870822", "28708a", " 287082", "２８７０８２"} {
		if _, ok := matchTOTP(rfcSecret, redact.NewSecret([]byte(bad)), time.Unix(59, 0)); ok {
			t.Errorf("matchTOTP accepted %q", bad)
		}
	}
}
