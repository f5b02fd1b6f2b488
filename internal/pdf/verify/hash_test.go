package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// TestHashAll checks the one-pass hashing (with SHA-256 state cloning at
// each gap) against hashing every range on its own.
func TestHashAll(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	v := &verifier{ctx: context.Background(), ra: bytes.NewReader(data), size: int64(len(data))}
	jobs := []*hashJob{
		{alg: crypto.SHA256, a: 100, b: 200, end: 5000},
		{alg: crypto.SHA256, a: 1 << 20, b: 1<<20 + 77, end: int64(len(data))},
		{alg: crypto.SHA384, a: 2<<20 + 1, b: 2<<20 + 9, end: 3 << 20},
		{alg: crypto.SHA512, a: 1, b: 2, end: 2},
		{alg: crypto.SHA256, a: 100, b: 200, end: 5000},
	}
	sum, err := v.hashAll(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(sum, want[:]) {
		t.Fatal("file digest differs")
	}
	for i, j := range jobs {
		h := j.alg.New()
		h.Write(data[:j.a])
		h.Write(data[j.b:j.end])
		if !bytes.Equal(j.sum, h.Sum(nil)) {
			t.Fatalf("job %d: digest differs", i)
		}
	}
	// A short read is an error, not a wrong digest.
	v.size += 10
	if _, err := v.hashAll(nil); err == nil {
		t.Fatal("short file hashed")
	}
}
