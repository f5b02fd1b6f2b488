// Command demo-authenticator stands in for an engineer's authenticator app
// in scripts/demo: it prints the RFC 6238 TOTP code of an otpauth:// URI
// (or a base32 secret). sealkeep itself never generates codes; this exists
// only so that the demo can answer the step-ups without a phone.
//
// Usage:
//
//	go run ./scripts/demo-authenticator [-step N] OTPAUTH-URI-FILE
//
// -step N prints the code of N time steps from now (-1, 0 or 1: the
// server accepts one step either side, and each step once per user), so
// that a demo can answer several step-ups in a row without waiting.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

func main() {
	step := flag.Int("step", 0, "time steps from now (-1, 0 or 1)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: demo-authenticator [-step N] OTPAUTH-URI-FILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-authenticator:", err)
		os.Exit(1)
	}
	secret := strings.TrimSpace(string(b))
	if u, err := url.Parse(secret); err == nil && u.Scheme == "otpauth" {
		secret = u.Query().Get("secret")
	}
	code, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(*step)*30*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-authenticator:", err)
		os.Exit(1)
	}
	fmt.Println(code)
}
