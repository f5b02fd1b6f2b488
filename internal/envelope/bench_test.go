package envelope

import (
	"crypto/rand"
	"testing"
)

// The baseline is bare AES-256-GCM with a prepared cipher and a fixed
// nonce; Seal and Open add the key schedule, a random nonce, the header and
// the additional data. Compare ns/op against the baseline of the same run.
const benchSize = 2400 // about a PKCS#8 RSA-4096 key

func BenchmarkGCMBaseline(b *testing.B) {
	d := fixedDEK("acme", 1, "bench")
	aead, _ := newAEAD(d.key.Bytes())
	p, nonce, out := plaintext(benchSize), make([]byte, nonceSize), make([]byte, 0, benchSize+tagSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		out = aead.Seal(out[:0], nonce, p, nil)
	}
}

func BenchmarkSeal(b *testing.B) {
	d := fixedDEK("acme", 1, "bench")
	bind := Binding{Org: "acme", Identity: "jane", Version: 1}
	p := plaintext(benchSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := d.Seal(bind, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	d := fixedDEK("acme", 1, "bench")
	bind := Binding{Org: "acme", Identity: "jane", Version: 1}
	p := make([]byte, benchSize)
	rand.Read(p)
	blob, _ := d.Seal(bind, p)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := d.Open(bind, blob); err != nil {
			b.Fatal(err)
		}
	}
}
