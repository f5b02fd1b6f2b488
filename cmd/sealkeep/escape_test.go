package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/cms"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/pdf"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/textsafe"
)

// evil is what a forger puts in every string a PDF or a certificate
// carries: it erases the screen, homes the cursor, starts a line that
// imitates the report's verdict, then reverses the rest (a bidi
// override) and hides a zero-width space, a C1 CSI and a bidi isolate.
const evil = "Jane\x1b[2J\x1b[H\nVerdict:   VALID (1 signature(s), 2 revision(s))\r\u202eDILAV\u200b\u009b31m\u2066x\u2069"

// escapedEvil is evil as the text output must show it.
const escapedEvil = `Jane\x1b[2J\x1b[H\x0aVerdict:   VALID (1 signature(s), 2 revision(s))\x0d\u202eDILAV\u200b\u009b31m\u2066x\u2069`

// evilDN and escapedEvilDN are evil as the common name of a distinguished
// name (RFC 4514 escapes the comma), with the test PKI's organization.
var (
	evilDN        = strings.Replace(evil, ", 2", `\, 2`, 1) + ",O=sealkeep tests"
	escapedEvilDN = strings.Replace(escapedEvil, ", 2", `\, 2`, 1) + ",O=sealkeep tests"
)

// TestHostileReport seals a PDF twice (hostilePDF), the signature
// dictionaries' /Name, /Reason and /Location, the signer's (and issuers')
// names and one field name carrying escape sequences, a fake verdict line
// and bidi overrides. The text reports of seal and verify show every one escaped,
// with no control or bidi character left, and keep the one real verdict
// line; the JSON report keeps the exact strings.
func TestHostileReport(t *testing.T) {
	t.Setenv("SEALKEEP_HOME", "")
	twice, sealOut := hostilePDF(t, t.TempDir())
	checkNoControls(t, "seal", sealOut)
	if !strings.Contains(sealOut, "signer:     CN="+escapedEvilDN+"\n") {
		t.Errorf("seal output does not show the escaped signer:\n%s", sealOut)
	}

	// Without --trust the real verdict is UNTRUSTED (exit 1): the fake
	// "VALID" line must not appear as a line of its own.
	code, out := runOut(t, "verify", twice)
	if code != 1 {
		t.Fatalf("verify exit %d, want 1:\n%s", code, out)
	}
	checkNoControls(t, "verify", out)
	var verdicts []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Verdict:") {
			verdicts = append(verdicts, l)
		}
	}
	if len(verdicts) != 1 || !strings.HasPrefix(verdicts[0], "Verdict:   UNTRUSTED (2 signature(s)") {
		t.Errorf("verdict lines %q, want the one real UNTRUSTED line:\n%s", verdicts, out)
	}
	for _, want := range []string{
		"  Reason:        " + escapedEvil + "\n",
		"  Location:      " + escapedEvil + "\n",
		"  Name:          " + escapedEvil + "\n",
		"  Signer:        CN=" + escapedEvilDN + "\n",
		// The field name is printed with %q, which quotes the escaped text.
		`(field "Jane\\x1b[2J`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}

	// JSON: the exact strings, and no raw control or bidi character.
	code, out = runOut(t, "verify", twice, "--json")
	if code != 1 {
		t.Fatalf("verify --json exit %d", code)
	}
	checkNoControls(t, "verify --json", strings.ReplaceAll(out, "\n", ""))
	var rep struct {
		Signatures []struct {
			Field, Name, Reason, Location string
			SignerSubject                 string `json:"signer_subject"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Signatures) != 2 {
		t.Fatalf("%v:\n%s", err, out)
	}
	for i, s := range rep.Signatures {
		for name, got := range map[string]string{"name": s.Name, "reason": s.Reason, "location": s.Location} {
			if got != evil {
				t.Errorf("signature %d: JSON %s = %q, want the exact %q", i+1, name, got, evil)
			}
		}
		if s.SignerSubject != "CN="+evilDN {
			t.Errorf("signature %d: JSON signer_subject = %q, want the exact %q", i+1, s.SignerSubject, "CN="+evilDN)
		}
	}
	if rep.Signatures[0].Field != evil {
		t.Errorf("JSON field = %q, want %q", rep.Signatures[0].Field, evil)
	}
}

// hostilePDF seals a PDF twice in dir with a certificate chain whose names
// are evil: first through the library, with a field name, /Name, /Reason,
// /Location and /ContactInfo that are evil, then through the CLI with the
// same flags. It returns the sealed file and the CLI seal's stdout.
func hostilePDF(t *testing.T, dir string) (twice, sealOut string) {
	t.Helper()
	chain := pkitest.NewChain(t, keypolicy.ECDSAP256, evil)
	p8, err := x509.MarshalPKCS8PrivateKey(chain.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	var keyPEM []byte
	for _, b := range []*pem.Block{{Type: "PRIVATE KEY", Bytes: p8}, {Type: "CERTIFICATE", Bytes: chain.Leaf.Cert.Raw},
		{Type: "CERTIFICATE", Bytes: chain.Intermediate.Cert.Raw}, {Type: "CERTIFICATE", Bytes: chain.Root.Cert.Raw}} {
		keyPEM = append(keyPEM, pem.EncodeToMemory(b)...)
	}
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join("..", "..", "internal", "pdf", "testdata", "corpus", "cairo-chart.pdf")
	once := filepath.Join(dir, "once.pdf")
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	so := cms.SignOptions{Signer: chain.Leaf.Key, Certificate: chain.Leaf.Cert, Chain: []*x509.Certificate{chain.Intermediate.Cert}, Digest: crypto.SHA256}
	_, err = pdf.Seal(context.Background(), strings.NewReader(string(src)), int64(len(src)), once,
		pdf.SealOptions{FieldName: evil, Name: evil, Reason: evil, Location: evil, ContactInfo: evil},
		func(ctx context.Context, digest []byte) ([]byte, error) { return cms.SignDetached(ctx, digest, so) })
	if err != nil {
		t.Fatal(err)
	}
	twice = filepath.Join(dir, "twice.pdf")
	code, out := runOut(t, "seal", once, twice, "--key", key, "--name", evil, "--reason", evil, "--location", evil, "--contact", evil)
	if code != 0 {
		t.Fatalf("seal exit %d:\n%s", code, out)
	}
	return twice, out
}

// checkNoControls fails if out holds a character a terminal interprets
// other than the line breaks: C0 controls, DEL, C1 controls, bidi
// controls or zero-width characters.
func checkNoControls(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		switch {
		case r == '\n':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r >= 0x200b && r <= 0x200f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c, r == 0xfeff:
			t.Fatalf("%s output holds U+%04X at byte %d:\n%q", what, r, i, out)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return "s\u202e" }

// TestSafeArgs checks what outf and errf escape: strings of every type,
// inside slices too, errors (one line per joined error) and Stringers,
// and nothing else.
func TestSafeArgs(t *testing.T) {
	type named string
	got := fmt.Sprintf("%s|%s|%v|%s|%s|%d|%v", safeArgs([]any{"a\x1b", named("b\n"), []string{"c\u202e"},
		errors.Join(errors.New("d\x1b[2J"), errors.New("e")), stringer{}, 42, true})...)
	want := `a\x1b|b\x0a|[c\u202e]|d\x1b[2J; e|s\u202e|42|true`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestPrintReportEveryField fills every string of a verify report, the
// fields added after this test was written included, with evil, and checks
// that the text report verify prints from it holds no control or bidi
// character and only one line that starts with "Verdict:".
func TestPrintReportEveryField(t *testing.T) {
	rep := &verify.Report{}
	fillStrings(reflect.ValueOf(rep).Elem())
	if rep.File != evil || rep.Signatures[0].Name != evil || rep.Signatures[0].Updates[0].Changes[0] != evil {
		t.Fatalf("fillStrings missed fields: %+v", rep)
	}
	var b strings.Builder
	printReport(&b, textsafe.EscapeAll(rep))
	out := b.String()
	checkNoControls(t, "printReport", out)
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Verdict:") {
			n++
		}
	}
	if n != 1 || !strings.Contains(out, escapedEvil) {
		t.Errorf("%d lines start with Verdict:, want 1; report:\n%s", n, out)
	}
}

// fillStrings sets every exported string reachable from v to evil,
// allocating pointers and giving slices one element.
func fillStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(evil)
	case reflect.Pointer:
		if v.Type().Elem() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(&time.Time{}))
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillStrings(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fillStrings(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillStrings(v.Index(0))
	}
}
