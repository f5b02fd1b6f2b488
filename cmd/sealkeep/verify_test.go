package main

import (
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"sealkeep/internal/pdf/ossltest"
)

// cmdOSSLSign signs a PDF with openssl cms -sign (internal/pdf/ossltest)
// and writes DATE as /M, as a forger with a backdated clock would:
//
//	osslsign IN OUT KEYPEM DATE [openssl cms -sign options...]
//
// KEYPEM holds the private key, the signer certificate and its chain (as
// mkpem writes them); DATE is RFC 3339 or a duration from now (-30m).
func cmdOSSLSign(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: osslsign IN OUT KEYPEM DATE [openssl cms options...]")
	}
	m, err := time.Parse(time.RFC3339, args[3])
	if err != nil {
		d, derr := time.ParseDuration(args[3])
		if derr != nil {
			ts.Fatalf("osslsign: DATE %q is neither RFC 3339 nor a duration from now", args[3])
		}
		m = time.Now().Add(d)
	}
	t := ts.Value(scriptT{}).(testing.TB)
	ossltest.SignPDF(t, ts.MkAbs(args[0]), ts.MkAbs(args[1]), ts.MkAbs(args[2]), m, args[4:]...)
}

// scriptT is the key of the script's testing.TB in its Env.Values.
type scriptT struct{}
