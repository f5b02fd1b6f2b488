package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rogpeppe/go-internal/testscript"
	"software.sslmate.com/src/go-pkcs12"

	"sealkeep/internal/cms/tsatest"
	"sealkeep/internal/config"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/store"
)

// envRunMain makes the test binary behave as sealkeep (used by the secret
// scan and by testscript).
const envRunMain = "SEALKEEP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	testscript.Main(m, map[string]func(){
		"sealkeep": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs the CLI scripts in testdata/script. Extra commands:
//
//	issue CSR CERT [expired|ca|nosign]   CA-sign a CSR's key into CERT (the
//	                                     test CA's certificate is ca.pem)
//	mkpem OUT [expired|mismatch|weak|plain] [CN]   write a PEM key +
//	                                     certificate (common name CN,
//	                                     default "PEM import") + chain
//	mkp12 OUT PASSFILE                   write a PKCS#12 bundle and its passphrase file
//	tamper DATADIR IDENTITY VERSION      flip a bit of a stored key blob
//	copyblob DATADIR FROM-ID FROM-V TO-ID TO-V   copy a stored key blob
//	reissue IN.pem OUT.pem               write IN.pem's key with a new certificate
//	sqlite DATADIR STATEMENT             run SQL on the data directory's SQLite
//	                                     database (to tamper with it)
//	exitcode N COMMAND [ARGS...]         run a command (as exec does) and require
//	                                     exit code N exactly (! exec accepts any
//	                                     non-zero code)
//	escenv NAME TEXT                     set $NAME to TEXT read as the body of
//	                                     a Go string literal ("\x1b", "\u202e")
//	osslsign IN OUT KEYPEM DATE [OPTS]   sign a PDF with openssl cms -sign, /M = DATE
//	$TSA_URL, tsaroot.pem                a real RFC 3161 TSA (openssl ts) and its root
func TestScripts(t *testing.T) {
	tsaURL, tsaRoot := tsatest.Start(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SEALKEEP_HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("TSA_URL", tsaURL)
			e.Values[scriptT{}] = e.T()
			return os.WriteFile(filepath.Join(e.WorkDir, "tsaroot.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tsaRoot.Raw}), 0o600)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"issue":    cmdIssue,
			"mkpem":    cmdMkPEM,
			"mkp12":    cmdMkP12,
			"tamper":   cmdTamper,
			"copyblob": cmdCopyBlob,
			"sqlite":   cmdSQLite,
			"osslsign": cmdOSSLSign,
			"reissue":  cmdReissue,
			"exitcode": cmdExitCode,
			"escenv":   cmdEscEnv,
		},
	})
}

// testCA is the scripts' CA (one per binary).
var testCA struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func ca(ts *testscript.TestScript) (crypto.Signer, *x509.Certificate) {
	if testCA.cert == nil {
		k, err := keypolicy.Generate(keypolicy.ECDSAP256)
		ts.Check(err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), IsCA: true, BasicConstraintsValid: true,
			KeyUsage:  x509.KeyUsageCertSign,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0)}
		tmpl.Subject.CommonName = "sealkeep script CA"
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		ts.Check(err)
		c, err := x509.ParseCertificate(der)
		ts.Check(err)
		testCA.key, testCA.cert = k, c
	}
	return testCA.key, testCA.cert
}

var serial int64 = 100

// leaf issues a leaf for pub; variant changes it.
func leaf(ts *testscript.TestScript, pub crypto.PublicKey, cn, variant string) []byte {
	k, c := ca(ts)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), BasicConstraintsValid: true,
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	tmpl.Subject.CommonName = cn
	switch variant {
	case "":
	case "expired":
		tmpl.NotBefore, tmpl.NotAfter = time.Now().AddDate(-2, 0, 0), time.Now().AddDate(-1, 0, 0)
	case "ca":
		tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	case "nosign":
		tmpl.KeyUsage = x509.KeyUsageKeyEncipherment
	default:
		ts.Fatalf("unknown certificate variant %q", variant)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c, pub, k)
	ts.Check(err)
	return der
}

func writePEM(ts *testscript.TestScript, path string, blocks ...*pem.Block) {
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	ts.Check(os.WriteFile(ts.MkAbs(path), out, 0o600))
}

func cmdIssue(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: issue CSR CERT [variant]")
	}
	b, _ := pem.Decode([]byte(ts.ReadFile(args[0])))
	if b == nil {
		ts.Fatalf("no PEM in %s", args[0])
	}
	req, err := x509.ParseCertificateRequest(b.Bytes)
	ts.Check(err)
	ts.Check(req.CheckSignature())
	variant := ""
	if len(args) > 2 {
		variant = args[2]
	}
	der := leaf(ts, req.PublicKey, req.Subject.CommonName, variant)
	writePEM(ts, args[1], &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_, c := ca(ts)
	writePEM(ts, "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func cmdMkPEM(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 3 {
		ts.Fatalf("usage: mkpem OUT [expired|mismatch|weak|plain] [CN]")
	}
	variant, cn := "", "PEM import"
	if len(args) > 1 && args[1] != "plain" {
		variant = args[1]
	}
	if len(args) > 2 {
		cn = args[2]
	}
	k, err := keypolicy.Generate(keypolicy.ECDSAP256)
	ts.Check(err)
	certKey := k.Public()
	switch variant {
	case "mismatch":
		other, err := keypolicy.Generate(keypolicy.ECDSAP256)
		ts.Check(err)
		certKey = other.Public()
		variant = ""
	case "weak":
		ts.Fatalf("weak keys: not supported here")
	}
	der := leaf(ts, certKey, cn, variant)
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	ts.Check(err)
	_, c := ca(ts)
	writePEM(ts, args[0], &pem.Block{Type: "PRIVATE KEY", Bytes: p8},
		&pem.Block{Type: "CERTIFICATE", Bytes: der}, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	// The key in DER, for the secret scan.
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".key.der"), p8, 0o600))
}

// storeOf opens a data directory's database.
func storeOf(ts *testscript.TestScript, dir string) store.Store {
	env, err := config.Open(context.Background(), ts.MkAbs(dir))
	ts.Check(err)
	return env.Store
}

func editBlob(ts *testscript.TestScript, dir, id, v string, edit func(tx store.Tx, blob []byte) []byte) {
	n, err := strconv.Atoi(v)
	ts.Check(err)
	st := storeOf(ts, dir)
	defer st.Close()
	ts.Check(st.Update(context.Background(), func(tx store.Tx) error {
		ver, err := tx.Version(id, n)
		if err != nil {
			return err
		}
		ver.KeyBlob = edit(tx, ver.KeyBlob)
		return tx.PutVersion(ver)
	}))
}

func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: tamper DATADIR IDENTITY VERSION")
	}
	editBlob(ts, args[0], args[1], args[2], func(_ store.Tx, b []byte) []byte {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 1
		return b
	})
}

func cmdCopyBlob(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 5 {
		ts.Fatalf("usage: copyblob DATADIR FROM-ID FROM-V TO-ID TO-V")
	}
	from, err := strconv.Atoi(args[2])
	ts.Check(err)
	editBlob(ts, args[0], args[3], args[4], func(tx store.Tx, _ []byte) []byte {
		src, err := tx.Version(args[1], from)
		ts.Check(err)
		return src.KeyBlob
	})
}

func cmdMkP12(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mkp12 OUT PASSFILE")
	}
	k, err := keypolicy.Generate(keypolicy.ECDSAP256)
	ts.Check(err)
	der := leaf(ts, k.Public(), "PKCS12 import", "")
	c, err := x509.ParseCertificate(der)
	ts.Check(err)
	_, cac := ca(ts)
	pass := "correct horse " + strconv.FormatInt(serial, 10)
	p12, err := pkcs12.Modern.Encode(k, c, []*x509.Certificate{cac}, pass)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), p12, 0o600))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(pass+"\n"), 0o600))
}

func cmdSQLite(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sqlite DATADIR STATEMENT")
	}
	db, err := sql.Open("sqlite", filepath.Join(ts.MkAbs(args[0]), config.SQLiteName))
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(args[1])
	ts.Check(err)
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("! exitcode: give the exit code instead")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	var exit *exec.ExitError
	switch err := ts.Exec(args[1], args[2:]...); {
	case err == nil:
	case errors.As(err, &exit):
		got = exit.ExitCode()
	default:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with code %d, want %d", args[1], got, want)
	}
}

func cmdReissue(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: reissue IN.pem OUT.pem")
	}
	var p8 []byte
	for rest := []byte(ts.ReadFile(args[0])); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "PRIVATE KEY" {
			p8 = b.Bytes
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(p8)
	ts.Check(err)
	signer, ok := k.(crypto.Signer)
	if !ok {
		ts.Fatalf("%s: the key is not a signer", args[0])
	}
	der := leaf(ts, signer.Public(), "PEM import (reissued)", "")
	_, c := ca(ts)
	writePEM(ts, args[1], &pem.Block{Type: "PRIVATE KEY", Bytes: p8},
		&pem.Block{Type: "CERTIFICATE", Bytes: der}, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func cmdEscEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: escenv NAME TEXT")
	}
	v, err := strconv.Unquote(`"` + args[1] + `"`)
	ts.Check(err)
	ts.Setenv(args[0], v)
}
