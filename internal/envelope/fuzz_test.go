package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzOpenBlob feeds arbitrary blobs to the parser and Open: no panic, only
// ErrMalformed or ErrAuthentication, and nothing but a genuine blob opens.
func FuzzOpenBlob(f *testing.F) {
	d := fixedDEK("acme", 3, "fuzz")
	b := Binding{Org: "acme", Identity: "jane", Version: 1}
	genuine := map[string]string{}
	for i, p := range []string{"k", "a PKCS#8 key", strings.Repeat("x", 300)} {
		// Fixed nonces: the fuzzing workers rebuild the seeds and must get
		// the same blobs.
		aead, _ := newAEAD(d.key.Bytes())
		nonce := bytes.Repeat([]byte{byte(i)}, nonceSize)
		blob := append([]byte{formatV1, 0, 0, 0, 3}, nonce...)
		blob = aead.Seal(blob, nonce, []byte(p), blobAD(b, 3))
		if got, err := d.Open(b, blob); err != nil || string(got) != p {
			f.Fatalf("seed blob does not open: %v", err)
		}
		genuine[string(blob)] = p
		f.Add(blob)
		f.Add(blob[:len(blob)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{formatV1, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, blob []byte) {
		v, herr := BlobDEKVersion(blob)
		p, err := d.Open(b, blob)
		if err == nil {
			if want, ok := genuine[string(blob)]; !ok || string(p) != want || v != 3 {
				t.Fatalf("a blob that was never sealed opened")
			}
			return
		}
		if p != nil || (!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthentication)) {
			t.Fatalf("Open failed with %v", err)
		}
		if herr != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("header error %v but Open error %v", herr, err)
		}
	})
}

// FuzzParseKeyring feeds arbitrary text to the keyring parser: no panic,
// only ErrMalformed, and what parses marshals back to the same text.
func FuzzParseKeyring(f *testing.F) {
	good := withChecksum("sealkeep-keyring v1\nactive 3\nkey 1 retired\nkey 2 " + keyA + "\nkey 3 " + keyB + "\n")
	f.Add([]byte(good))
	f.Add([]byte(strings.TrimSuffix(good, "\n")))
	f.Add([]byte(withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + "\n")))
	f.Add([]byte(withChecksum("sealkeep-keyring v1\nactive 4294967295\nkey 4294967295 " + keyA + "\n")))
	f.Add([]byte("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + "\nchecksum sha256:00\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := parseKeyring(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || kr.versions != nil {
				t.Fatalf("parse failed with %v", err)
			}
			return
		}
		out := kr.marshal()
		if !bytes.Equal(out, data) && !bytes.Equal(out, append(bytes.Clone(data), '\n')) {
			t.Fatalf("marshal does not round-trip:\n%q\n%q", data, out)
		}
		if _, err := parseKeyring(out); err != nil {
			t.Fatalf("marshalled keyring does not parse: %v", err)
		}
	})
}
