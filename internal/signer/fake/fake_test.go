package fake_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/fake"
	"sealkeep/internal/testenv"
)

func TestOpenReturnsTheSameKeyPerName(t *testing.T) {
	ctx := context.Background()
	a, err := signer.Open(ctx, "fake:same?alg=RSA-2048")
	if err != nil {
		t.Fatal(err)
	}
	b, err := signer.Open(ctx, "fake:same?alg=RSA-2048")
	if err != nil {
		t.Fatal(err)
	}
	if !keypolicy.PublicKeysEqual(a.Public(), b.Public()) {
		t.Fatal("two opens of one name gave different keys")
	}
	if alg, err := keypolicy.CheckPublicKey(a.Public()); alg != keypolicy.RSA2048 || err != nil {
		t.Fatalf("key is %s, %v", alg, err)
	}
	c, err := signer.Open(ctx, "fake:different")
	if err != nil {
		t.Fatal(err)
	}
	if keypolicy.PublicKeysEqual(a.Public(), c.Public()) {
		t.Fatal("two names share a key")
	}
	if _, ok := c.Public().(*ecdsa.PublicKey); !ok {
		t.Fatalf("default algorithm gave %T, want ECDSA", c.Public())
	}
	if _, err := signer.Open(ctx, "fake:same?alg=ECDSA-P384"); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("reopening with another alg: %v", err)
	}
	digest := sha256.Sum256([]byte("doc"))
	sig, err := signer.SignContext(ctx, a, rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(b.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("fake signature does not verify: %v", err)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	digest := sha256.Sum256([]byte("doc"))
	for fail, want := range map[string]error{"denied": signer.ErrAccessDenied, "unavailable": signer.ErrUnavailable} {
		s, err := signer.Open(ctx, "fake:faults?fail="+fail)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, want) {
			t.Errorf("fail=%s: Sign error %v, want %v", fail, err, want)
		}
	}
	s, _ := signer.Open(ctx, "fake:faults?fail=badsig")
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Error("fail=badsig returned a valid signature")
	}
	if _, err := signer.Open(ctx, "fake:faults?fail=sometimes"); !errors.Is(err, signer.ErrInvalidURI) {
		t.Errorf("unknown fail value: %v", err)
	}
	if _, err := signer.Open(ctx, "fake:"); !errors.Is(err, signer.ErrInvalidURI) {
		t.Errorf("empty name: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ok, _ := signer.Open(ctx, "fake:faults")
	if _, err := signer.SignContext(cctx, ok, rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	s, err := signer.Create(ctx, "fake:created", keypolicy.ECDSAP384)
	if err != nil {
		t.Fatal(err)
	}
	if alg, _ := keypolicy.CheckPublicKey(s.Public()); alg != keypolicy.ECDSAP384 {
		t.Fatalf("created %s", alg)
	}
	if _, err := signer.Create(ctx, "fake:created", keypolicy.ECDSAP384); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("creating an existing name: %v", err)
	}
	if _, err := signer.Create(ctx, "fake:weak", "RSA-1024"); !errors.Is(err, signer.ErrUnsupported) || !errors.Is(err, keypolicy.ErrUnsupportedAlgorithm) {
		t.Fatalf("creating a weak key: %v", err)
	}
	o, err := signer.Open(ctx, "fake:created?alg=ECDSA-P384")
	if err != nil || !keypolicy.PublicKeysEqual(o.Public(), s.Public()) {
		t.Fatalf("Open after Create: %v", err)
	}
}

// TestNotRegisteredOutsideTests: a production binary that imports the
// package (by mistake, or for its tests' sake) must not offer "fake:" keys,
// which are private keys generated and held in process memory: DESIGN.md
// forbids a plaintext key cache.
func TestNotRegisteredOutsideTests(t *testing.T) {
	out, err := exec.Command(testenv.Tool(t, "go"), "run", "./testdata/outsidetest").CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./testdata/outsidetest: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "fake") {
		t.Fatalf("a program that is not a test registers the fake provider: schemes %s", out)
	}
	if !slices.Contains(signer.Schemes(), fake.Scheme) {
		t.Fatalf("a test binary does not register the fake provider: schemes %v", signer.Schemes())
	}
}
