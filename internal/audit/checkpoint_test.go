package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealkeep/internal/redact"
	"sealkeep/internal/testenv"
)

// rfc8032Key is test 1 of RFC 8032 section 7.1.
func rfc8032Key(t testing.TB) ed25519.PrivateKey {
	seed, err := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if got := hex.EncodeToString(priv.Public().(ed25519.PublicKey)); got != "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" {
		t.Fatalf("RFC 8032 public key mismatch: %s", got)
	}
	return priv
}

func testCheckpoint(t *testing.T) (Checkpoint, []Entry, ed25519.PrivateKey) {
	t.Helper()
	priv := rfc8032Key(t)
	c := buildChain(10)
	cp, err := SignCheckpoint(priv, c[7], t0.Add(time.Hour+1500))
	if err != nil {
		t.Fatal(err)
	}
	return cp, c, priv
}

func TestCheckpointSignVerify(t *testing.T) {
	cp, c, priv := testCheckpoint(t)
	pub := priv.Public().(ed25519.PublicKey)
	if cp.Chain != "org-a" || cp.Seq != 8 || cp.Head != c[7].Hash || cp.KeyID != KeyID(pub) ||
		!cp.Time.Equal(t0.Add(time.Hour+1000)) || cp.Time.Location() != time.UTC {
		t.Fatalf("checkpoint %+v", cp)
	}
	if err := cp.Verify(pub); err != nil {
		t.Fatal(err)
	}
	// Every field is covered by the signature.
	tampers := map[string]func(*Checkpoint){
		"chain":     func(c *Checkpoint) { c.Chain = "org-b" },
		"seq":       func(c *Checkpoint) { c.Seq++ },
		"head":      func(c *Checkpoint) { c.Head[0] ^= 1 },
		"time":      func(c *Checkpoint) { c.Time = c.Time.Add(time.Microsecond) },
		"signature": func(c *Checkpoint) { c.Signature = append([]byte(nil), c.Signature...); c.Signature[10] ^= 1 },
	}
	for name, tamper := range tampers {
		bad := cp
		tamper(&bad)
		if err := bad.Verify(pub); !errors.Is(err, ErrCheckpointSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := cp.Verify(other); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("other key: %v", err)
	}
	// A different key id alone (same key) fails too.
	bad := cp
	bad.KeyID = strings.Repeat("0", 16)
	if err := bad.Verify(pub); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("key id: %v", err)
	}
	// Refuses a head whose hash is wrong.
	e := c[3]
	e.Actor.ID = "x"
	if _, err := SignCheckpoint(priv, e, time.Now()); err == nil {
		t.Error("signed a head with a wrong hash")
	}
}

// TestCheckpointOpenSSL checks the signature with openssl, an independent
// Ed25519 implementation.
func TestCheckpointOpenSSL(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	cp, _, priv := testCheckpoint(t)
	dir := t.TempDir()
	spki, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPath := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	msg := write("msg", cp.message())
	sig := write("sig", cp.Signature)
	out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", msg, "-sigfile", sig).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Signature Verified Successfully")) {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	// And the message layout is the documented one.
	var want []byte
	want = appendString(want, "sealkeep/audit/checkpoint/v1")
	want = appendString(want, "org-a")
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 8)
	want = append(want, cp.Head[:]...)
	us := cp.Time.UnixMicro()
	for i := 7; i >= 0; i-- {
		want = append(want, byte(us>>(8*i)))
	}
	want = appendString(want, cp.KeyID)
	if !bytes.Equal(cp.message(), want) {
		t.Fatalf("message layout:\n got %x\nwant %x", cp.message(), want)
	}
}

func TestCheckpointText(t *testing.T) {
	cp, _, _ := testCheckpoint(t)
	b, err := MarshalCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("sealkeep audit checkpoint v1\nchain org-a\nseq 8\nhead %s\ntime 2026-11-26T10:00:00.000001Z\nkey %s\nsignature %s\n",
		cp.Head, cp.KeyID, base64.StdEncoding.EncodeToString(cp.Signature))
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	back, err := ParseCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Chain != cp.Chain || back.Seq != cp.Seq || back.Head != cp.Head || !back.Time.Equal(cp.Time) ||
		back.KeyID != cp.KeyID || !bytes.Equal(back.Signature, cp.Signature) {
		t.Fatalf("round trip: %+v", back)
	}
	if err := back.Verify(rfc8032Key(t).Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	s := string(b)
	bad := map[string]string{
		"empty":          "",
		"no newline":     strings.TrimSuffix(s, "\n"),
		"extra line":     s + "x\n",
		"crlf":           strings.ReplaceAll(s, "\n", "\r\n"),
		"header":         strings.Replace(s, "v1", "v2", 1),
		"field order":    strings.Replace(strings.Replace(s, "chain org-a\n", "", 1), "seq 8\n", "seq 8\nchain org-a\n", 1),
		"seq leading 0":  strings.Replace(s, "seq 8", "seq 08", 1),
		"seq plus":       strings.Replace(s, "seq 8", "seq +8", 1),
		"seq zero":       strings.Replace(s, "seq 8", "seq 0", 1),
		"seq overflow":   strings.Replace(s, "seq 8", "seq 18446744073709551616", 1),
		"head upper":     strings.Replace(s, cp.Head.String(), strings.ToUpper(cp.Head.String()), 1),
		"head short":     strings.Replace(s, cp.Head.String(), cp.Head.String()[2:], 1),
		"time offset":    strings.Replace(s, "10:00:00.000001Z", "11:00:00.000001+01:00", 1),
		"time no frac":   strings.Replace(s, "10:00:00.000001Z", "10:00:00Z", 1),
		"time nanos":     strings.Replace(s, "10:00:00.000001Z", "10:00:00.000001000Z", 1),
		"key short":      strings.Replace(s, "key "+cp.KeyID, "key "+cp.KeyID[1:], 1),
		"sig raw url":    strings.Replace(s, base64.StdEncoding.EncodeToString(cp.Signature), base64.RawURLEncoding.EncodeToString(cp.Signature), 1),
		"sig short":      strings.Replace(s, base64.StdEncoding.EncodeToString(cp.Signature), base64.StdEncoding.EncodeToString(cp.Signature[:63]), 1),
		"double space":   strings.Replace(s, "chain org-a", "chain  org-a", 1),
		"chain empty":    strings.Replace(s, "chain org-a", "chain ", 1),
		"chain control":  strings.Replace(s, "chain org-a", "chain org\x01a", 1),
		"chain bad utf8": strings.Replace(s, "chain org-a", "chain org\xffa", 1),
		"huge":           s + strings.Repeat("x", MaxCheckpointSize),
	}
	for name, in := range bad {
		if _, err := ParseCheckpoint([]byte(in)); !errors.Is(err, ErrCheckpointFormat) {
			t.Errorf("%s: accepted or wrong error: %v", name, err)
		}
	}
}

func TestVerifyAgainstCheckpoint(t *testing.T) {
	priv := rfc8032Key(t)
	pub := priv.Public().(ed25519.PublicKey)
	c := buildChain(10)
	cp, err := SignCheckpoint(priv, c[7], t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r := VerifyAgainstCheckpoint(Slice(c), cp, pub); !r.OK() || r.Head.Seq != 10 {
		t.Fatalf("intact: %+v", r)
	}
	if r := VerifyAgainstCheckpoint(Slice(c[:8]), cp, pub); !r.OK() {
		t.Fatalf("up to the checkpoint: %+v", r)
	}
	for _, n := range []int{0, 1, 7} {
		r := VerifyAgainstCheckpoint(Slice(c[:n]), cp, pub)
		if r.Break == nil || r.Break.Problem != ProblemTruncated || r.Break.Seq != uint64(n+1) {
			t.Fatalf("truncated to %d: %+v", n, r)
		}
	}
	// A history rewritten consistently from entry 4 on.
	rw := clone(c)
	rw[3].Actor.ID = "mallory"
	rw = relink(rw)
	r := VerifyAgainstCheckpoint(Slice(rw), cp, pub)
	if r.Break == nil || r.Break.Problem != ProblemRewritten || r.Break.Seq != 8 || r.Head.Seq != 7 {
		t.Fatalf("rewritten: %+v", r)
	}
	// Rewritten and truncated before the checkpoint: truncated.
	r = VerifyAgainstCheckpoint(Slice(rw[:6]), cp, pub)
	if r.Break == nil || r.Break.Problem != ProblemTruncated || r.Break.Seq != 7 {
		t.Fatalf("rewritten and truncated: %+v", r)
	}
	// Rewritten after the checkpoint: not the checkpoint's business.
	rw = clone(c)
	rw[8].Actor.ID = "mallory"
	if r := VerifyAgainstCheckpoint(Slice(relink(rw)), cp, pub); !r.OK() {
		t.Fatalf("rewritten after: %+v", r)
	}
	// Chain breaks are still reported, first.
	bad := clone(c)
	bad[2].Actor.ID = "x"
	if r := VerifyAgainstCheckpoint(Slice(bad[:5]), cp, pub); r.Break == nil || r.Break.Problem != ProblemEdited || r.Break.Seq != 3 {
		t.Fatalf("edited: %+v", r)
	}
	// A checkpoint that does not verify is an error, not a pass.
	forged := cp
	forged.Seq = 3
	if r := VerifyAgainstCheckpoint(Slice(c), forged, pub); r.OK() || !errors.Is(r.Err, ErrCheckpointSignature) {
		t.Fatalf("forged: %+v", r)
	}
	// A read error is not a truncation.
	boom := errors.New("boom")
	r = VerifyAgainstCheckpoint(Walk(func(fn func(Entry) error) error {
		_ = fn(c[0])
		return boom
	}), cp, pub)
	if r.Break != nil || !errors.Is(r.Err, boom) || r.Head.Seq != 1 {
		t.Fatalf("read error: %+v", r)
	}
	v := NewVerifier("org-b")
	if err := v.Expect(cp, pub); err == nil {
		t.Fatal("checkpoint of another chain accepted")
	}
}

func TestCheckpointKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.key")
	k, err := CreateCheckpointKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if _, err := CreateCheckpointKeyFile(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrote: %v", err)
	}
	loaded, err := LoadCheckpointKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Public().Equal(k.Public()) || loaded.KeyID() != k.KeyID() {
		t.Fatal("loaded a different key")
	}
	head := buildChain(3)[2]
	cp, err := loaded.SignCheckpoint(head, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Verify(k.Public()); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpointKey(path); !errors.Is(err, ErrCheckpointKey) || !strings.HasSuffix(err.Error(), "run chmod 600 "+path) {
		t.Fatalf("group-readable key accepted: %v", err)
	}
	// A key in a directory others may write could be replaced.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpointKey(path); !errors.Is(err, ErrCheckpointKey) || !strings.HasSuffix(err.Error(), "run chmod go-w "+dir) {
		t.Fatalf("key in a world-writable directory accepted: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeKey := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, _ := os.ReadFile(path)
	ecDER, _ := hex.DecodeString("307702010104201f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100a00a06082a8648ce3d030107a144034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
	for name, data := range map[string][]byte{
		"empty":    nil,
		"garbage":  []byte("not a key"),
		"trailing": append(append([]byte(nil), good...), "junk"...),
		"two":      append(append([]byte(nil), good...), good...),
		"type":     bytes.Replace(good, []byte("PRIVATE KEY"), []byte("PUBLIC KEY"), 2),
		"sec1":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"huge":     bytes.Repeat([]byte("A"), maxKeyFileSize+1),
	} {
		_, err := LoadCheckpointKey(writeKey(name, data))
		if !errors.Is(err, ErrCheckpointKey) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), good[30:60]) {
			t.Errorf("%s: error echoes the key file", name)
		}
	}
	if _, err := LoadCheckpointKey(dir); !errors.Is(err, ErrCheckpointKey) {
		t.Errorf("directory: %v", err)
	}
}

// TestCheckpointKeyOpenSSL: a key openssl generates loads, and openssl reads
// the key we write (independent PKCS#8 implementations).
func TestCheckpointKeyOpenSSL(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	theirs := filepath.Join(dir, "theirs.pem")
	if out, err := exec.Command(openssl, "genpkey", "-algorithm", "ed25519", "-out", theirs).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := os.Chmod(theirs, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadCheckpointKey(theirs)
	if err != nil {
		t.Fatal(err)
	}
	pubOf := func(path string) []byte {
		out, err := exec.Command(openssl, "pkey", "-in", path, "-pubout", "-outform", "DER").Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	spki, _ := x509.MarshalPKIXPublicKey(k.Public())
	if !bytes.Equal(pubOf(theirs), spki) {
		t.Fatal("public key differs from openssl's")
	}
	ours := filepath.Join(dir, "ours.pem")
	k2, err := CreateCheckpointKeyFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ = x509.MarshalPKIXPublicKey(k2.Public())
	if !bytes.Equal(pubOf(ours), spki) {
		t.Fatal("openssl reads a different key")
	}
}

// TestCheckpointKeyRedacted formats the key every way and looks for the
// secret in any encoding.
func TestCheckpointKeyRedacted(t *testing.T) {
	priv := rfc8032Key(t)
	k := newCheckpointKey(priv)
	seed := priv.Seed()
	secrets := []string{
		hex.EncodeToString(seed), strings.ToUpper(hex.EncodeToString(seed)),
		base64.StdEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(priv),
		fmt.Sprint([]byte(seed)), fmt.Sprint(seed[:4]), string(seed[:8]),
	}
	// fmt cannot call the key's methods where it sits in an unexported
	// field; it then prints the fields by reflection, which must not reach
	// the bytes either.
	for _, v := range []any{struct{ k CheckpointKey }{k}, []struct{ k CheckpointKey }{{k}}, map[string]struct{ k CheckpointKey }{"a": {k}}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%X", "%d", "%s", "%q"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range [][]byte{seed, priv} {
				if form, found := redact.ScanForSecret([]byte(out), s); found {
					t.Errorf("%s of a key in an unexported field shows it (%s): %.80s", verb, form, out)
				}
			}
		}
	}
	var outs []string
	for _, v := range []any{k, &k, []CheckpointKey{k}, struct{ K CheckpointKey }{k}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(j))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "k", k, "p", &k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "k", k)
	outs = append(outs, buf.String(), k.String(), k.GoString())
	for _, out := range outs {
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("not redacted: %s", out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret in %q", out)
			}
		}
	}
}
