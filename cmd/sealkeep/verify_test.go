package main

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"sealkeep/internal/pdf"
)

// cmdOSSLSign signs a PDF with openssl cms -sign, a producer independent
// of sealkeep's own CMS code, and writes DATE as the signature
// dictionary's /M, as a forger with a backdated clock would:
//
//	osslsign IN OUT KEYPEM DATE [openssl cms -sign options...]
//
// KEYPEM holds the private key, the signer certificate and its chain (as
// mkpem writes them); DATE is RFC 3339 or a duration from now (-30m). The
// /SubFilter is
// adbe.pkcs7.detached, or ETSI.CAdES.detached when the options include
// -cades. openssl adds a signingTime attribute of now unless -noattr.
func cmdOSSLSign(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: osslsign IN OUT KEYPEM DATE [openssl cms options...]")
	}
	in, out, keyPEM := ts.MkAbs(args[0]), ts.MkAbs(args[1]), ts.MkAbs(args[2])
	m, err := time.Parse(time.RFC3339, args[3])
	if err != nil {
		d, derr := time.ParseDuration(args[3])
		if derr != nil {
			ts.Fatalf("osslsign: DATE %q is neither RFC 3339 nor a duration from now", args[3])
		}
		m = time.Now().Add(d)
	}
	extra := args[4:]
	opts := pdf.SealOptions{Time: m, SubFilter: pdf.PKCS7Detached, ContentsSize: 16 << 10}
	if slices.Contains(extra, "-cades") {
		opts.SubFilter = pdf.CAdESDetached
	}
	// A placeholder signature first, then openssl signs the byte ranges
	// and its CMS goes into the gap.
	res, err := pdf.SealFile(context.Background(), in, out, opts, func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
	ts.Check(err)
	b, err := os.ReadFile(out)
	ts.Check(err)
	br := res.ByteRange
	content := append(b[:br[1]:br[1]], b[br[2]:br[2]+br[3]]...)
	ts.Check(os.WriteFile(out+".content", content, 0o600))
	// -signer takes the first certificate; -certfile must not repeat it.
	var chain []*pem.Block
	rest, err := os.ReadFile(keyPEM)
	ts.Check(err)
	for first := true; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" && !first {
			chain = append(chain, blk)
		}
		first = first && blk.Type != "CERTIFICATE"
	}
	writePEM(ts, out+".chain", chain...)
	sign := []string{"cms", "-sign", "-binary", "-in", out + ".content", "-signer", keyPEM, "-inkey", keyPEM,
		"-outform", "DER", "-out", out + ".p7s"}
	if len(chain) > 0 {
		sign = append(sign, "-certfile", out+".chain")
	}
	cmd := exec.Command("openssl", append(sign, extra...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		ts.Fatalf("openssl cms -sign: %v\n%s", err, msg)
	}
	der, err := os.ReadFile(out + ".p7s")
	ts.Check(err)
	h := hex.EncodeToString(der)
	if int64(len(h)) > br[2]-br[1]-2 {
		ts.Fatalf("the CMS (%d bytes) does not fit the placeholder", len(der))
	}
	copy(b[br[1]+1:], h)
	ts.Check(os.WriteFile(out, b, 0o600))
}

// cmdExitCode runs a program like exec and checks its exact exit code
// (exec and ! exec only tell zero from non-zero):
//
//	exitcode N PROGRAM [ARGS...]
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		got = exit.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}
