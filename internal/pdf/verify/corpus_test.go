package verify

import (
	"context"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/cms"
	"sealkeep/internal/testenv"
)

// TestCorpus seals every sealable corpus file and checks that our verifier
// and pdfsig (with an NSS database trusting the test root) agree that the
// new signature is valid, trusted and covers the whole file.
func TestCorpus(t *testing.T) {
	nss := nssDB(t)
	dir := t.TempDir()
	for _, name := range sealable {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name)
			sealFile(t, filepath.Join(corpusDir, name), out, sealCfg{})
			rep := mustVerify(t, readFile(t, out), Options{})
			last := rep.Signatures[len(rep.Signatures)-1]
			if last.Verdict != Valid || last.Coverage != EntireFile || !last.Intact || !last.Valid || !last.Trusted || last.Modification != None {
				t.Fatalf("our signature: %+v", last)
			}
			if name == "signpdf-signed.pdf" {
				// The earlier signature: intact and valid, then our seal
				// (a signature update); its self-signed certificate is
				// not trusted.
				first := rep.Signatures[0]
				if len(rep.Signatures) != 2 || !first.Intact || !first.Valid || first.Trusted || first.Verdict != Untrusted ||
					first.Coverage != EntireRevision || first.Modification != None ||
					len(first.Updates) != 1 || first.Updates[0].Class != ClassSignature {
					t.Fatalf("signpdf's signature after our seal: %+v", first)
				}
				if rep.Verdict != Untrusted {
					t.Fatalf("file verdict %s", rep.Verdict)
				}
			} else if rep.Verdict != Valid {
				t.Fatalf("file verdict %s: %v", rep.Verdict, rep.Reasons)
			}
			ps := pdfsig(t, nss, out)
			blocks := sigBlocks(ps)
			if len(blocks) != len(rep.Signatures) {
				t.Fatalf("pdfsig sees %d signatures, we see %d:\n%s", len(blocks), len(rep.Signatures), ps)
			}
			b := blocks[len(blocks)-1]
			for _, want := range []string{"Signature is Valid", "Certificate is Trusted", "Total document signed"} {
				if !strings.Contains(b, want) {
					t.Fatalf("pdfsig on our signature: want %q:\n%s", want, ps)
				}
			}
			if strings.Contains(b, "Not total document signed") {
				t.Fatalf("pdfsig: not total document signed:\n%s", ps)
			}
		})
	}
}

// TestOpenSSLAcceptsCMS extracts the CMS and the byte-range content of a
// sealed file and has openssl cms -verify check them.
func TestOpenSSLAcceptsCMS(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	out := filepath.Join(dir, "sealed.pdf")
	sealFile(t, filepath.Join(corpusDir, "cairo-chart.pdf"), out, sealCfg{})
	b := readFile(t, out)
	rep := mustVerify(t, b, Options{})
	br := rep.Signatures[0].ByteRange
	content := append(append([]byte{}, b[br[0]:br[0]+br[1]]...), b[br[2]:br[2]+br[3]]...)
	der := extractCMS(t, b, br)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootPEM := write("root.pem", pemCert(pki(t).root.Raw))
	cmd := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", write("sig.der", der),
		"-content", write("content.bin", content), "-CAfile", rootPEM, "-purpose", "any", "-out", os.DevNull)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, o)
	}
	// And a flipped content byte is refused by openssl too.
	content[len(content)/2] ^= 1
	write("content.bin", content)
	cmd = exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", filepath.Join(dir, "sig.der"),
		"-content", filepath.Join(dir, "content.bin"), "-CAfile", rootPEM, "-purpose", "any", "-out", os.DevNull)
	if err := cmd.Run(); err == nil {
		t.Fatal("openssl accepted altered content")
	}
}

// extractCMS returns the DER CMS in the /ByteRange gap.
func extractCMS(t *testing.T, b []byte, br []int64) []byte {
	t.Helper()
	gap := string(b[br[1]+1 : br[2]-1])
	raw := make([]byte, len(gap)/2)
	for i := range raw {
		var x byte
		for _, c := range gap[2*i : 2*i+2] {
			x <<= 4
			switch {
			case c >= '0' && c <= '9':
				x |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				x |= byte(c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				x |= byte(c - 'A' + 10)
			}
		}
		raw[i] = x
	}
	der, err := cms.TrimPadding(raw)
	if err != nil {
		t.Fatal(err)
	}
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		t.Fatal(err)
	}
	return der
}

// TestSealTwice: both signatures verify in pdfsig and here; the first is
// followed by a signature update and stays valid.
func TestSealTwice(t *testing.T) {
	nss := nssDB(t)
	dir := t.TempDir()
	once, twice := filepath.Join(dir, "once.pdf"), filepath.Join(dir, "twice.pdf")
	sealFile(t, filepath.Join(corpusDir, "libreoffice-acroform.pdf"), once, sealCfg{})
	sealFile(t, once, twice, sealCfg{})
	rep := mustVerify(t, readFile(t, twice), Options{})
	if rep.Verdict != Valid || len(rep.Signatures) != 2 {
		t.Fatalf("%+v", rep)
	}
	first := rep.Signatures[0]
	if first.Coverage != EntireRevision || first.Modification != None || len(first.Updates) != 1 || first.Updates[0].Class != ClassSignature {
		t.Fatalf("first signature: %+v", first)
	}
	ps := pdfsig(t, nss, twice)
	if n := strings.Count(ps, "Signature is Valid"); n != 2 {
		t.Fatalf("pdfsig: %d valid signatures:\n%s", n, ps)
	}
}

// TestBERContents re-encodes the CMS of a sealed file as BER with
// indefinite lengths (as some signers write it) in place: the signed
// attributes are untouched, so the signature must still be valid, not
// malformed.
func TestBERContents(t *testing.T) {
	b := sealedBase(t)
	rep := mustVerify(t, b, Options{})
	br := rep.Signatures[0].ByteRange
	der := extractCMS(t, b, br)
	// ContentInfo and its [0] EXPLICIT wrapper: 30 82 LL LL and A0 82 LL LL
	// become 30 80 and A0 80, each closed by 00 00: the same length.
	if der[0] != 0x30 || der[1] != 0x82 || der[15] != 0xa0 || der[16] != 0x82 {
		t.Fatalf("unexpected DER head % x", der[:20])
	}
	ber := []byte{0x30, 0x80}
	ber = append(ber, der[4:15]...) // contentType OID
	ber = append(ber, 0xa0, 0x80)
	ber = append(ber, der[19:]...)
	ber = append(ber, 0, 0, 0, 0)
	if len(ber) != len(der) {
		t.Fatalf("length %d, want %d", len(ber), len(der))
	}
	out := append([]byte{}, b...)
	copy(out[br[1]+1:], strings.ToUpper(hex.EncodeToString(ber)))
	rep = mustVerify(t, out, Options{})
	if s := rep.Signatures[0]; s.Verdict != Valid {
		t.Fatalf("BER CMS: %+v", s)
	}
}

// TestCorpusAsIs verifies the corpus files as they are: the two signed by
// third-party tools (@signpdf with node-forge; a pdf-lib DocMDP P=1
// certification) are intact and valid (untrusted: self-signed) as pdfsig
// also says; the unsigned files are invalid for want of a signature; the
// encrypted file cannot be judged.
func TestCorpusAsIs(t *testing.T) {
	nss := nssDB(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.pdf"))
	if err != nil || len(files) < 19 {
		t.Fatalf("corpus: %v %d", err, len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		rep, err := File(context.Background(), path, Options{Roots: pki(t).roots()})
		switch name {
		case "qpdf-aes256-userpw.pdf":
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		case "signpdf-signed.pdf", "certified-docmdp-p1.pdf":
			if err != nil || len(rep.Signatures) != 1 {
				t.Fatalf("%s: %v %+v", name, err, rep)
			}
			s := rep.Signatures[0]
			if !s.Intact || !s.Valid || s.Trusted || s.Verdict != Untrusted || s.Coverage != EntireFile || s.Modification != None {
				t.Fatalf("%s: %+v", name, s)
			}
			if want := map[string]int{"certified-docmdp-p1.pdf": 1}[name]; s.DocMDP != want {
				t.Fatalf("%s: DocMDP %d", name, s.DocMDP)
			}
			if ps := pdfsig(t, nss, path); !strings.Contains(ps, "Signature is Valid") {
				t.Fatalf("pdfsig disagrees on %s:\n%s", name, ps)
			}
		default:
			if err != nil || rep.Verdict != Invalid || len(rep.Signatures) != 0 {
				t.Fatalf("%s: %v %+v", name, err, rep)
			}
		}
	}
}
