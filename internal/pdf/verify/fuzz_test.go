package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sealkeep/internal/pdf"
)

// minimalPDF is a one-page PDF with a classic xref table.
func minimalPDF() []byte {
	content := "BT /F1 24 Tf 72 700 Td (Drawing S-101, rev. C) Tj ET"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	out := []byte("%PDF-1.7\n")
	var offs []int
	for i, o := range objs {
		offs = append(offs, len(out))
		out = fmt.Appendf(out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := len(out)
	out = fmt.Appendf(out, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		out = fmt.Appendf(out, "%010d 00000 n \n", o)
	}
	return fmt.Appendf(out, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, x)
}

// FuzzVerify mutates small sealed files: the verifier never panics,
// returns either an unreadable-file error or a report with known verdicts,
// never says valid without trust anchors, and never says valid for a
// signature that is not intact. The seeds (one seal, two seals, a legacy
// certification) are committed in testdata/fuzz/FuzzVerify, made by
// TestFuzzSeeds with SEALKEEP_REGEN_FUZZ_SEEDS=1: generating keys and
// signatures under the fuzzer's coverage instrumentation takes the fuzz
// workers tens of seconds.
func FuzzVerify(f *testing.F) {
	f.Add(minimalPDF())
	lim := &pdf.Limits{MaxDecoded: 1 << 20, MaxObjects: 1 << 12, MaxElements: 1 << 12, MaxStringLen: 1 << 18}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Verify(context.Background(), bytes.NewReader(b), int64(len(b)), Options{Limits: lim})
		if err != nil {
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("error outside ErrUnreadable: %v", err)
			}
			return
		}
		for _, s := range rep.Signatures {
			switch s.Verdict {
			case Invalid, Modified, Untrusted:
			default:
				t.Fatalf("verdict %q without trust anchors", s.Verdict)
			}
			if s.Valid && !s.Intact {
				t.Fatalf("valid but not intact: %+v", s)
			}
			if s.Indication == TotalPassed || !slices.Contains(precedence, s.SubIndication) || indicationOf(s.SubIndication) != s.Indication {
				t.Fatalf("verdict %s with indication %s/%s", s.Verdict, s.Indication, s.SubIndication)
			}
		}
	})
}

// TestFuzzSeeds checks that the committed seeds verify as expected (intact
// and valid, untrusted without anchors), and rewrites them when
// SEALKEEP_REGEN_FUZZ_SEEDS=1.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if os.Getenv("SEALKEEP_REGEN_FUZZ_SEEDS") == "1" {
		tmp := t.TempDir()
		in := filepath.Join(tmp, "in.pdf")
		writeFile(t, in, minimalPDF())
		p := pki(t)
		cfg := sealCfg{noChain: true, cert: p.rsaLeaf, key: p.rsaKey}
		once, twice, cert := filepath.Join(tmp, "once.pdf"), filepath.Join(tmp, "twice.pdf"), filepath.Join(tmp, "cert.pdf")
		sealFile(t, in, once, cfg)
		sealFile(t, once, twice, cfg)
		cfg.opts = pdf.SealOptions{DocMDP: 2, SubFilter: pdf.PKCS7Detached}
		sealFile(t, in, cert, cfg)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, path := range map[string]string{"seal-once": once, "seal-twice": twice, "certified-pkcs7": cert} {
			writeFile(t, filepath.Join(dir, name), []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(readFile(t, path)))+")\n"))
		}
	}
	for name, sigs := range map[string]int{"seal-once": 1, "seal-twice": 2, "certified-pkcs7": 1} {
		raw := string(readFile(t, filepath.Join(dir, name)))
		body := strings.TrimSuffix(strings.TrimPrefix(raw, "go test fuzz v1\n[]byte("), ")\n")
		b, err := strconv.Unquote(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rep, err := Verify(context.Background(), strings.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.Signatures) != sigs || rep.Verdict != Untrusted {
			t.Fatalf("%s: %+v", name, rep)
		}
		for _, s := range rep.Signatures {
			if !s.Intact || !s.Valid || s.Modification != None {
				t.Fatalf("%s: %+v", name, s)
			}
		}
	}
}
