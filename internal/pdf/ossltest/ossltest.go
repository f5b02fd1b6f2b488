// Package ossltest signs PDFs with openssl cms -sign for tests: a producer
// independent of sealkeep's own CMS code, and one that still makes what
// sealkeep refuses to (SHA-1 digests, RSA-1024 signers, no signer
// certificate, a backdated /M).
//
// # Use
//
//	ossltest.SignPDF(t, "in.pdf", "out.pdf", bundlePEM, time.Now().Add(-time.Hour), "-md", "sha1")
//
// The bundle is one PEM file with the private key, the signer certificate
// and its chain. Without the openssl command the test is skipped (or fails
// under scripts/test) through internal/testenv.
package ossltest

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"sealkeep/internal/pdf"
	"sealkeep/internal/testenv"
)

// SignPDF seals in into out with a signature from openssl cms -sign
// (opensslArgs are added to its command line) and m as /M. The /SubFilter
// is adbe.pkcs7.detached, or ETSI.CAdES.detached when opensslArgs hold
// -cades. openssl adds a signingTime attribute of now unless -noattr.
func SignPDF(t testing.TB, in, out, bundlePEM string, m time.Time, opensslArgs ...string) {
	t.Helper()
	openssl := testenv.Tool(t, "openssl")
	opts := pdf.SealOptions{Time: m, SubFilter: pdf.PKCS7Detached, ContentsSize: 16 << 10}
	if slices.Contains(opensslArgs, "-cades") {
		opts.SubFilter = pdf.CAdESDetached
	}
	// A placeholder signature first; then openssl signs the byte ranges
	// and its CMS goes into the gap.
	res, err := pdf.SealFile(context.Background(), in, out, opts, func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0}, nil })
	if err != nil {
		t.Fatalf("ossltest: seal %s: %v", in, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	br := res.ByteRange
	content := append(b[:br[1]:br[1]], b[br[2]:br[2]+br[3]]...)
	write(t, out+".content", content)
	// -signer takes the bundle's first certificate; -certfile must not
	// repeat it.
	bundle, err := os.ReadFile(bundlePEM)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for leaf := false; ; {
		var blk *pem.Block
		if blk, bundle = pem.Decode(bundle); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			if leaf {
				chain = append(chain, pem.EncodeToMemory(blk)...)
			}
			leaf = true
		}
	}
	args := []string{"cms", "-sign", "-binary", "-in", out + ".content", "-signer", bundlePEM, "-inkey", bundlePEM,
		"-outform", "DER", "-out", out + ".p7s"}
	if len(chain) > 0 {
		write(t, out+".chain", chain)
		args = append(args, "-certfile", out+".chain")
	}
	if msg, err := exec.Command(openssl, append(args, opensslArgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("ossltest: openssl cms -sign: %v\n%s", err, msg)
	}
	der, err := os.ReadFile(out + ".p7s")
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(der)
	if int64(len(h)) > br[2]-br[1]-2 {
		t.Fatalf("ossltest: the CMS (%d bytes) does not fit the placeholder", len(der))
	}
	copy(b[br[1]+1:], h)
	write(t, out, b)
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
