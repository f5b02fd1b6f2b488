package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"sealkeep/internal/config"
	"sealkeep/internal/envelope"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
)

// secrets collects every secret a run could leak, by name.
type secrets map[string][]byte

func (s secrets) add(name string, b []byte) {
	if len(b) > 0 {
		s[name] = append([]byte(nil), b...)
	}
}

// addKey adds a private key's PKCS#8 DER and its private scalar/exponent.
func (s secrets) addKey(name string, der []byte) {
	s.add(name+" PKCS#8", der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if b, err := k.Bytes(); err == nil {
			s.add(name+" scalar", b)
		}
	case *rsa.PrivateKey:
		s.add(name+" private exponent", k.D.Bytes())
		s.add(name+" prime", k.Primes[0].Bytes())
	}
}

// collect reads the data directory's secrets: KEK versions, the checkpoint
// key, and the plaintext of every key blob (decrypted here, as custody
// would).
func (s secrets) collect(t *testing.T, dir string) {
	t.Helper()
	c, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := os.ReadFile(c.KEKFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(kr), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "key" && f[2] != "retired" {
			b, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			s.add("KEK version "+f[1], b)
		}
	}
	cp, err := os.ReadFile(c.CheckpointKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(cp)
	s.add("checkpoint key PKCS#8", blk.Bytes)
	s.add("checkpoint key seed", blk.Bytes[len(blk.Bytes)-32:])

	env, err := config.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Store.Close()
	ctx := context.Background()
	err = env.Store.View(ctx, func(tx store.ReadTx) error {
		orgs, err := tx.Orgs()
		if err != nil {
			return err
		}
		for _, o := range orgs {
			ids, err := tx.Identities(o.ID)
			if err != nil {
				return err
			}
			for _, id := range ids {
				vs, err := tx.Versions(id.ID)
				if err != nil {
					return err
				}
				for _, v := range vs {
					if v.KeyBlob == nil {
						continue
					}
					dv, err := envelope.BlobDEKVersion(v.KeyBlob)
					if err != nil {
						continue // tampered on purpose
					}
					row, err := tx.DEK(o.ID, dv)
					if err != nil {
						return err
					}
					dek, err := envelope.UnwrapDEK(ctx, env.KEK, o.ID, row.Version, row.KEKVersion, row.Wrapped)
					if err != nil {
						return err
					}
					plain, err := dek.Open(envelope.Binding{Org: o.ID, Identity: id.ID, Version: v.Version}, v.KeyBlob)
					dek.Zero()
					if err != nil {
						continue // tampered or copied on purpose
					}
					name := fmt.Sprintf("key %s/%d", id.ID, v.Version)
					s.add(name+" stored form", plain)
					s.addKey(name, plain)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSecretScan runs every command and the main failure paths with debug
// logging, collects stdout, stderr (logs and error text) of each, and scans
// them for every private key (DER, PEM, base64, hex and Go forms, via
// redact.ScanForSecret), the KEK, the checkpoint key and the passphrases.
func TestSecretScan(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	home := filepath.Join(work, "home")
	sec := secrets{}
	var transcript bytes.Buffer
	sk := func(wantOK bool, args ...string) {
		t.Helper()
		cmd := exec.Command(exe, append([]string{"--log-level", "debug"}, args...)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), envRunMain+"=1", "SEALKEEP_HOME="+home, "SK_PASS="+string(sec["p12 passphrase"]))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if (err == nil) != wantOK {
			t.Fatalf("sealkeep %s: err=%v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		fmt.Fprintf(&transcript, "$ %s\n%s%s", strings.Join(args, " "), out.String(), errb.String())
		if _, err := os.Stat(filepath.Join(home, config.FileName)); err == nil {
			sec.collect(t, home)
		}
	}
	// Fixtures: a PEM key + certificate (unencrypted: its key bytes are a
	// secret), a PKCS#12 bundle with a passphrase, and a wrong passphrase.
	chain := pkitest.NewChain(t, keypolicy.ECDSAP256, "scan")
	p8, err := x509.MarshalPKCS8PrivateKey(chain.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	sec.addKey("imported PEM key", p8)
	pemFile := filepath.Join(work, "import.pem")
	os.WriteFile(pemFile, append(append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain.Leaf.Cert.Raw})...),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain.Intermediate.Cert.Raw})...), 0o600)
	other := pkitest.NewChain(t, keypolicy.ECDSAP256, "scan other")
	mismatch := filepath.Join(work, "mismatch.pem")
	os.WriteFile(mismatch, append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Leaf.Cert.Raw})...), 0o600)
	p12, pass := makeP12(t, work, "one")
	p12b, _ := makeP12(t, work, "two")
	sec.add("p12 passphrase", pass)
	sec.add("p12 file", p12.raw)
	sec.addKey("p12 key", p12.keyDER)
	sec.addKey("second p12 key", p12b.keyDER)
	wrongPass := filepath.Join(work, "wrong.txt")
	os.WriteFile(wrongPass, []byte("Tr0ub4dor&3 wrong passphrase\n"), 0o600)
	sec.add("wrong passphrase", []byte("Tr0ub4dor&3 wrong passphrase"))

	sk(true, "init")
	sk(true, "org", "create", "acme")
	sk(true, "org", "list")
	sk(true, "identity", "create", "--org", "acme", "--owner", "jane", "--name", "Jane Doe", "--id", "jane")
	sk(true, "identity", "list", "--org", "acme")
	sk(true, "cert", "generate", "--identity", "jane", "--alg", "ECDSA-P256", "--subject-cn", "Jane", "--csr-out", "v1.csr")
	sk(true, "cert", "generate", "--identity", "jane", "--alg", "RSA-2048", "--subject-cn", "Jane", "--csr-out", "v2.csr")
	sk(true, "cert", "import", "--identity", "jane", "--file", pemFile)                                     // v3
	sk(true, "cert", "import", "--identity", "jane", "--file", p12.path, "--passphrase-file", p12.passFile) // v4
	sk(true, "cert", "import", "--identity", "jane", "--file", p12b.path, "--passphrase-env", "SK_PASS")    // v5
	sk(false, "cert", "import", "--identity", "jane", "--file", p12.path, "--passphrase-env", "SK_PASS")    // duplicate
	sk(false, "cert", "import", "--identity", "jane", "--file", p12.path, "--passphrase-file", wrongPass)
	sk(false, "cert", "import", "--identity", "jane", "--file", mismatch)
	sk(false, "cert", "upload", "--identity", "jane", "--version", "1", "--cert", pemFile)
	sk(true, "cert", "activate", "--identity", "jane", "--version", "3")
	sk(true, "cert", "activate", "--identity", "jane", "--version", "4", "--reason", "rotation")
	sk(true, "cert", "check", "--identity", "jane", "--version", "4")
	sk(true, "cert", "check", "--identity", "jane", "--version", "2")
	sk(true, "--json", "cert", "show", "--identity", "jane", "--version", "4")
	sk(true, "cert", "list", "--identity", "jane")
	sk(true, "identity", "show", "jane")
	sk(true, "kek", "rotate")
	sk(true, "kek", "retire", "1")
	sk(true, "--json", "kek", "status")
	tamperBlob(t, home, "jane", 5)
	sk(false, "cert", "check", "--identity", "jane", "--version", "5")
	sk(true, "cert", "revoke", "--identity", "jane", "--version", "3", "--reason", "test")
	sk(true, "cert", "destroy", "--identity", "jane", "--version", "3")
	sk(true, "audit", "verify")
	sk(true, "audit", "export")
	sk(true, "audit", "checkpoint", "--chain", "acme", "-o", "acme.cp")
	sk(true, "audit", "verify", "--checkpoint", "acme.cp")

	// Also scan files a user receives (CSRs, export, checkpoint).
	for _, f := range []string{"v1.csr", "v2.csr", "acme.cp"} {
		b, _ := os.ReadFile(filepath.Join(work, f))
		transcript.Write(b)
	}
	t.Logf("%d secrets, %d bytes of output scanned", len(sec), transcript.Len())
	if len(sec) < 15 {
		t.Fatalf("only %d secrets collected", len(sec))
	}
	for name, s := range sec {
		if form, found := redact.ScanForSecret(transcript.Bytes(), s); found {
			t.Errorf("%s leaked (%s form)", name, form)
		}
	}
	// The scan itself must be able to fail: a transcript holding a key in
	// PEM is caught.
	if _, found := redact.ScanForSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), sec["imported PEM key scalar"]); !found {
		t.Fatal("scanner missed a PEM-encoded key scalar")
	}
	if !strings.Contains(transcript.String(), "level=INFO") || !strings.Contains(transcript.String(), "level=WARN") {
		t.Fatal("the debug-level run produced no info or warning log lines: the scan saw no logs")
	}
}

func tamperBlob(t *testing.T, home, id string, v int) {
	env, err := config.Open(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Store.Close()
	err = env.Store.Update(context.Background(), func(tx store.Tx) error {
		ver, err := tx.Version(id, v)
		if err != nil {
			return err
		}
		ver.KeyBlob = append([]byte(nil), ver.KeyBlob...)
		ver.KeyBlob[len(ver.KeyBlob)-3] ^= 0x40
		return tx.PutVersion(ver)
	})
	if err != nil {
		t.Fatal(err)
	}
}

type p12Fixture struct {
	path, passFile string
	raw, keyDER    []byte
}

func makeP12(t *testing.T, dir, name string) (p12Fixture, []byte) {
	c := pkitest.NewChain(t, keypolicy.ECDSAP256, "scan p12 "+name)
	pass := "correct horse battery staple 42"
	raw, err := pkcs12.Modern.Encode(c.Leaf.Key, c.Leaf.Cert, []*x509.Certificate{c.Intermediate.Cert}, pass)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	f := p12Fixture{path: filepath.Join(dir, name+".p12"), passFile: filepath.Join(dir, name+".pass"), raw: raw, keyDER: der}
	os.WriteFile(f.path, raw, 0o600)
	os.WriteFile(f.passFile, []byte(pass+"\n"), 0o600)
	return f, []byte(pass)
}
