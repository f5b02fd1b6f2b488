package gcpkms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/signer/internal/sealtest"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

// fakeKMS implements the two Cloud KMS RPCs a signer uses, as
// https://cloud.google.com/kms/docs/reference/rpc/google.cloud.kms.v1
// documents them, including the CRC32C integrity fields
// (https://cloud.google.com/kms/docs/data-integrity-guidelines).
type fakeKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer

	mu       sync.Mutex
	versions map[string]*fakeVersion

	calls atomic.Int64
	// fault, when set, may answer a call instead of the service.
	fault func(ctx context.Context, rpc string, n int64) error
	// corrupt, when set, damages the n-th response's integrity fields.
	corrupt func(n int64) bool
}

type fakeVersion struct {
	priv    crypto.Signer
	alg     kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
	enabled bool
}

func (f *fakeKMS) version(name string) (*fakeVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.versions[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "CryptoKeyVersion %s not found.", name)
	}
	if !v.enabled {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is not enabled, current state is: DISABLED.", name)
	}
	return v, nil
}

func (f *fakeKMS) GetPublicKey(ctx context.Context, req *kmspb.GetPublicKeyRequest) (*kmspb.PublicKey, error) {
	n := f.calls.Add(1)
	if fault := f.getFault(); fault != nil {
		if err := fault(ctx, "GetPublicKey", n); err != nil {
			return nil, err
		}
	}
	v, err := f.version(req.GetName())
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKIXPublicKey(v.priv.Public())
	p := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	crc := crc32c([]byte(p))
	if c := f.getCorrupt(); c != nil && c(n) {
		crc++
	}
	return &kmspb.PublicKey{Pem: p, Algorithm: v.alg, PemCrc32C: wrapperspb.Int64(crc), Name: req.GetName(), ProtectionLevel: kmspb.ProtectionLevel_HSM}, nil
}

func (f *fakeKMS) AsymmetricSign(ctx context.Context, req *kmspb.AsymmetricSignRequest) (*kmspb.AsymmetricSignResponse, error) {
	n := f.calls.Add(1)
	if fault := f.getFault(); fault != nil {
		if err := fault(ctx, "AsymmetricSign", n); err != nil {
			return nil, err
		}
	}
	v, err := f.version(req.GetName())
	if err != nil {
		return nil, err
	}
	var digest []byte
	var h crypto.Hash
	switch d := req.GetDigest().GetDigest().(type) {
	case *kmspb.Digest_Sha256:
		digest, h = d.Sha256, crypto.SHA256
	case *kmspb.Digest_Sha384:
		digest, h = d.Sha384, crypto.SHA384
	case *kmspb.Digest_Sha512:
		digest, h = d.Sha512, crypto.SHA512
	}
	if req.GetDigestCrc32C() != nil && req.GetDigestCrc32C().GetValue() != crc32c(digest) {
		return nil, status.Error(codes.InvalidArgument, "The checksum in field digest_crc32c did not match the data in field digest.")
	}
	if want := algorithms[v.alg]; want.hash != h || len(digest) != h.Size() {
		return nil, status.Errorf(codes.InvalidArgument, "Digest type does not match the algorithm %s.", v.alg)
	}
	var sig []byte
	switch k := v.priv.(type) {
	case *rsa.PrivateKey:
		if algorithms[v.alg].pss {
			sig, err = rsa.SignPSS(rand.Reader, k, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, digest)
		}
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest)
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	crc := crc32c(sig)
	if c := f.getCorrupt(); c != nil && c(n) {
		sig[len(sig)/2] ^= 1 // corruption in transit: signature and checksum disagree
	}
	return &kmspb.AsymmetricSignResponse{
		Signature: sig, SignatureCrc32C: wrapperspb.Int64(crc), VerifiedDigestCrc32C: req.GetDigestCrc32C() != nil,
		Name: req.GetName(), ProtectionLevel: kmspb.ProtectionLevel_HSM,
	}, nil
}

func (f *fakeKMS) setFault(fault func(ctx context.Context, rpc string, n int64) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
}

func (f *fakeKMS) getFault() func(ctx context.Context, rpc string, n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault
}

func (f *fakeKMS) setCorrupt(c func(n int64) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.corrupt = c
}

func (f *fakeKMS) getCorrupt() func(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.corrupt
}

func newFake(t testing.TB) (*fakeKMS, string) {
	t.Helper()
	f := &fakeKMS{versions: map[string]*fakeVersion{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

var keyCache sync.Map

func genKey(t testing.TB, alg string) crypto.Signer {
	if k, ok := keyCache.Load(alg); ok {
		return k.(crypto.Signer)
	}
	k, err := keypolicy.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	keyCache.Store(alg, k)
	return k
}

func (f *fakeKMS) add(key string, priv crypto.Signer, alg kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm) string {
	name := "projects/acme/locations/europe-west1/keyRings/sealkeep/cryptoKeys/" + key + "/cryptoKeyVersions/1"
	f.mu.Lock()
	f.versions[name] = &fakeVersion{priv: priv, alg: alg, enabled: true}
	f.mu.Unlock()
	return Scheme + ":" + name
}

var fastRetry = retry.Policy{Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond, MaxAttempts: 6}

func open(t testing.TB, addr, raw string) (*Signer, error) {
	t.Helper()
	u, err := signer.ParseURI(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), u, WithRetryPolicy(fastRetry), WithClientOptions(
		option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))))
	if s != nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestSign(t *testing.T) {
	f, addr := newFake(t)
	for _, tc := range []struct {
		key string
		alg kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
		sa  x509.SignatureAlgorithm
	}{
		{keypolicy.RSA2048, kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256, x509.SHA256WithRSA},
		{keypolicy.RSA2048, kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256, x509.SHA256WithRSAPSS},
		{keypolicy.ECDSAP256, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256, x509.ECDSAWithSHA256},
		{keypolicy.ECDSAP384, kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384, x509.ECDSAWithSHA384},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			raw := f.add(strings.ToLower(tc.alg.String()), genKey(t, tc.key), tc.alg)
			s, err := open(t, addr, raw)
			if err != nil {
				t.Fatal(err)
			}
			if !keypolicy.PublicKeysEqual(s.Public(), genKey(t, tc.key).Public()) || s.KeyRef() != raw || s.Provider() != "gcpkms" {
				t.Fatal("public key or reference wrong")
			}
			sealtest.SelfSign(t, s, tc.sa)
		})
	}
}

func TestAlgorithmIsFixedByTheKeyVersion(t *testing.T) {
	f, addr := newFake(t)
	s, err := open(t, addr, f.add("pss", genKey(t, keypolicy.RSA2048), kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("doc"))
	f.calls.Store(0)
	if _, err := s.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("PKCS#1 v1.5 with a PSS key version: %v", err)
	}
	d5 := sha512.Sum512([]byte("doc"))
	if _, err := s.Sign(nil, d5[:], &rsa.PSSOptions{Hash: crypto.SHA512}); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("SHA-512 with a SHA-256 key version: %v", err)
	}
	if f.calls.Load() != 0 {
		t.Fatal("a refused algorithm still called Cloud KMS")
	}
	// Keys outside the policy are refused when opened.
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if _, err := open(t, addr, f.add("p521", p521, kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256)); !errors.Is(err, keypolicy.ErrWeakKey) {
		t.Fatalf("P-521 key: %v", err)
	}
	if _, err := open(t, addr, f.add("raw", genKey(t, keypolicy.RSA2048), kmspb.CryptoKeyVersion_RSA_SIGN_RAW_PKCS1_2048)); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("raw PKCS#1 key: %v", err)
	}
}

func TestIntegrityChecks(t *testing.T) {
	f, addr := newFake(t)
	raw := f.add("crc", genKey(t, keypolicy.ECDSAP256), kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256)
	// A corrupted GetPublicKey answer, then a good one.
	f.setCorrupt(func(n int64) bool { return n == 1 })
	f.calls.Store(0)
	s, err := open(t, addr, raw)
	if err != nil || f.calls.Load() != 2 {
		t.Fatalf("open with one corrupted answer: %v after %d calls", err, f.calls.Load())
	}
	d := sha256.Sum256([]byte("doc"))
	f.calls.Store(0)
	sig, err := s.SignContext(context.Background(), d[:], crypto.SHA256)
	if err != nil || f.calls.Load() != 2 || !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("sign with one corrupted answer: %v after %d calls", err, f.calls.Load())
	}
	// Always corrupted: never returned.
	f.setCorrupt(func(int64) bool { return true })
	if _, err := s.SignContext(context.Background(), d[:], crypto.SHA256); !errors.Is(err, signer.ErrUnavailable) || !errors.Is(err, errIntegrity) {
		t.Fatalf("always corrupted: %v", err)
	}
	f.setCorrupt(nil)
}

func TestRefusals(t *testing.T) {
	f, addr := newFake(t)
	raw := f.add("jane", genKey(t, keypolicy.ECDSAP256), kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256)
	s, err := open(t, addr, raw)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("doc"))
	f.mu.Lock()
	f.versions[strings.TrimPrefix(raw, "gcpkms:")].enabled = false
	f.mu.Unlock()
	f.calls.Store(0)
	_, err = s.SignContext(context.Background(), d[:], crypto.SHA256)
	if !errors.Is(err, signer.ErrAccessDenied) || !strings.Contains(err.Error(), "customer's Cloud KMS refused") || f.calls.Load() != 1 {
		t.Fatalf("disabled version: %v after %d calls", err, f.calls.Load())
	}
	f.setFault(func(context.Context, string, int64) error {
		return status.Error(codes.PermissionDenied, "Permission 'cloudkms.cryptoKeyVersions.useToSign' denied")
	})
	if _, err := open(t, addr, f.add("jim", genKey(t, keypolicy.ECDSAP256), kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256)); !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("permission denied: %v", err)
	}
	f.setFault(nil)
	if _, err := open(t, addr, "gcpkms:projects/acme/locations/l/keyRings/r/cryptoKeys/none/cryptoKeyVersions/1"); !errors.Is(err, signer.ErrKeyNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	for _, bad := range []string{
		"gcpkms:projects/acme/locations/l/keyRings/r/cryptoKeys/k", "gcpkms:projects//locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"gcpkms:projects/acme/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1?x=1",
	} {
		u, err := signer.ParseURI(bad)
		if err == nil {
			_, err = Open(context.Background(), u)
		}
		if !errors.Is(err, signer.ErrInvalidURI) {
			t.Errorf("%s: %v, want ErrInvalidURI", bad, err)
		}
	}
}

func TestTransientFailures(t *testing.T) {
	f, addr := newFake(t)
	s, err := open(t, addr, f.add("jane", genKey(t, keypolicy.ECDSAP256), kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("doc"))
	before := runtime.NumGoroutine()
	f.calls.Store(0)
	f.setFault(func(_ context.Context, _ string, n int64) error {
		switch n {
		case 1:
			return status.Error(codes.Unavailable, "backend unavailable")
		case 2:
			return status.Error(codes.ResourceExhausted, "quota")
		}
		return nil
	})
	if _, err := s.SignContext(context.Background(), d[:], crypto.SHA256); err != nil || f.calls.Load() != 3 {
		t.Fatalf("two transient failures: %v after %d calls", err, f.calls.Load())
	}
	// Quota exhausted with a RetryInfo beyond the deadline.
	f.calls.Store(0)
	f.setFault(func(context.Context, string, int64) error {
		st, _ := status.New(codes.ResourceExhausted, "Quota exceeded for cryptographic requests").
			WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(9 * time.Second)})
		return st.Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = s.SignContext(ctx, d[:], crypto.SHA256)
	if d, ok := retry.RetryAfter(err); !ok || d != 9*time.Second || !errors.Is(err, signer.ErrUnavailable) || f.calls.Load() != 1 {
		t.Fatalf("quota: %v (RetryAfter %v) after %d calls", err, d, f.calls.Load())
	}
	// A service that never answers: bounded by the context.
	f.setFault(func(ctx context.Context, _ string, _ int64) error { <-ctx.Done(); return ctx.Err() })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := s.SignContext(ctx2, d[:], crypto.SHA256); !errors.Is(err, signer.ErrUnavailable) {
		t.Fatalf("hung service: %v", err)
	}
	f.setFault(nil)
	for i := 0; runtime.NumGoroutine() > before && i < 200; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after", before, n)
	}
}
