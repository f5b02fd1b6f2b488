// Package gcpkms is the "gcpkms:" signer provider: a signing key version held
// in the customer's Google Cloud KMS, used through the official Cloud KMS
// client (cloud.google.com/go/kms, gRPC).
//
// # Key URI
//
//	gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V
//
// A key version, not a key: a new primary version never silently replaces
// the key a certificate was issued for. Credentials come from Application
// Default Credentials (workload identity, a service account, gcloud); the URI
// holds no secret.
//
// # Signing
//
// The public key is read once with GetPublicKey when the signer is built
// (Public does no I/O) and must satisfy the key policy. In Cloud KMS the
// padding and hash are fixed per key version (for example
// RSA_SIGN_PSS_3072_SHA256, EC_SIGN_P384_SHA384), so a Sign call whose
// options differ from the version's algorithm is refused before any call.
// Each signature is one AsymmetricSign call.
//
// # Integrity checks
//
// As the Cloud KMS documentation on data integrity asks: the request carries
// the CRC32C of the digest; the response must report verified_digest_crc32c,
// name the key version asked for, and carry a signature_crc32c that matches
// the signature; GetPublicKey's pem_crc32c and name are checked likewise. A
// mismatch is treated as corruption in transit and retried. Every signature
// is then verified against the public key before it is returned.
//
// # Errors
//
// PERMISSION_DENIED, UNAUTHENTICATED and FAILED_PRECONDITION (version
// disabled, destroyed or scheduled for destruction) wrap
// [signer.ErrAccessDenied] and say that the customer's Cloud KMS refused;
// NOT_FOUND wraps [signer.ErrKeyNotFound]. UNAVAILABLE, RESOURCE_EXHAUSTED
// (quota), DEADLINE_EXCEEDED of a single call, INTERNAL and ABORTED are
// retried with backoff inside the caller's deadline, honouring a RetryInfo
// detail; the client's own retries and 60 s timeouts are switched off. Then
// they are a [retry.UnavailableError].
//
// # Tests
//
// No Cloud KMS emulator exists. The tests run the official client against a
// local fake KeyManagementService gRPC server (gcpkms_test.go) on 127.0.0.1
// that implements GetPublicKey and AsymmetricSign as documented, CRC32C
// checksums included, without authentication ([WithClientOptions] passes
// option.WithoutAuthentication and an insecure gRPC transport, in tests
// only).
package gcpkms

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

// Scheme is the key URI scheme of this provider.
const Scheme = "gcpkms"

func init() {
	signer.Register(Scheme, func(ctx context.Context, u *signer.URI) (crypto.Signer, error) {
		return Open(ctx, u)
	})
}

// Option adjusts how the signer reaches Cloud KMS.
type Option func(*options)

type options struct {
	client []option.ClientOption
	policy retry.Policy
}

// WithClientOptions builds a dedicated client with these options (tests use
// them for the endpoint and transport) instead of the shared default client.
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(o *options) { o.client = opts }
}

// WithRetryPolicy replaces [retry.Default].
func WithRetryPolicy(p retry.Policy) Option { return func(o *options) { o.policy = p } }

var (
	sharedOnce   sync.Once
	sharedClient *kms.KeyManagementClient
	sharedErr    error
)

// newClient builds a client without the library's retries and fixed
// timeouts: package retry and the caller's context bound every call.
func newClient(ctx context.Context, opts ...option.ClientOption) (*kms.KeyManagementClient, error) {
	c, err := kms.NewKeyManagementClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	c.CallOptions.GetPublicKey = nil
	c.CallOptions.AsymmetricSign = nil
	return c, nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, crcTable)) }

// errIntegrity marks a response whose checksums or name do not match: the
// documentation says to retry.
var errIntegrity = errors.New("response failed the Cloud KMS integrity check")

// algorithms are the signing algorithms the key policy allows, with the
// hash and padding fixed by each.
var algorithms = map[kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm]struct {
	hash crypto.Hash
	pss  bool
}{
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_2048_SHA256:   {crypto.SHA256, true},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_3072_SHA256:   {crypto.SHA256, true},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_4096_SHA256:   {crypto.SHA256, true},
	kmspb.CryptoKeyVersion_RSA_SIGN_PSS_4096_SHA512:   {crypto.SHA512, true},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_2048_SHA256: {crypto.SHA256, false},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_3072_SHA256: {crypto.SHA256, false},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA256: {crypto.SHA256, false},
	kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA512: {crypto.SHA512, false},
	kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256:        {crypto.SHA256, false},
	kmspb.CryptoKeyVersion_EC_SIGN_P384_SHA384:        {crypto.SHA384, false},
}

// Signer is a [crypto.Signer] whose private key stays in Cloud KMS.
type Signer struct {
	c      *kms.KeyManagementClient
	policy retry.Policy
	name   string
	pub    crypto.PublicKey
	alg    kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm
}

var _ signer.ContextSigner = (*Signer)(nil)

// checkName checks a key version resource name.
func checkName(name string) error {
	p := strings.Split(name, "/")
	if len(p) != 10 || p[0] != "projects" || p[2] != "locations" || p[4] != "keyRings" || p[6] != "cryptoKeys" || p[8] != "cryptoKeyVersions" ||
		slices.Contains(p, "") {
		return fmt.Errorf("%w: gcpkms URI must be gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V", signer.ErrInvalidURI)
	}
	return nil
}

// Open builds a signer for the key version named by u, reading its public key.
func Open(ctx context.Context, u *signer.URI, opts ...Option) (*Signer, error) {
	if len(u.Query) > 0 {
		return nil, fmt.Errorf("%w: gcpkms URI takes no query parameters", signer.ErrInvalidURI)
	}
	if err := checkName(u.Opaque); err != nil {
		return nil, err
	}
	o := options{policy: retry.Default}
	for _, f := range opts {
		f(&o)
	}
	var c *kms.KeyManagementClient
	var err error
	if o.client != nil {
		c, err = newClient(ctx, o.client...)
	} else {
		sharedOnce.Do(func() { sharedClient, sharedErr = newClient(context.WithoutCancel(ctx)) })
		c, err = sharedClient, sharedErr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: gcpkms: creating the Cloud KMS client: %v", signer.ErrUnavailable, err)
	}
	s := &Signer{c: c, policy: o.policy, name: u.Opaque}
	var pk *kmspb.PublicKey
	err = s.policy.Do(ctx, classify, func(ctx context.Context) error {
		var err error
		pk, err = c.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: s.name})
		if err == nil && (pk.GetName() != s.name || pk.GetPemCrc32C() == nil || pk.GetPemCrc32C().GetValue() != crc32c([]byte(pk.GetPem()))) {
			err = fmt.Errorf("%w: GetPublicKey (name or pem_crc32c)", errIntegrity)
		}
		return err
	})
	if err != nil {
		return nil, s.mapError("GetPublicKey", err)
	}
	s.alg = pk.GetAlgorithm()
	if _, ok := algorithms[s.alg]; !ok {
		return nil, fmt.Errorf("%w: gcpkms key %s has algorithm %s; sealkeep signs with RSA_SIGN_PSS_*/RSA_SIGN_PKCS1_* (2048-4096) or EC_SIGN_P256_SHA256/EC_SIGN_P384_SHA384", signer.ErrUnsupported, s.KeyRef(), s.alg)
	}
	block, _ := pem.Decode([]byte(pk.GetPem()))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: gcpkms key %s: malformed public key PEM", signer.ErrUnsupported, s.KeyRef())
	}
	if s.pub, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		if perr := keypolicy.ExplainUnparsable(block.Bytes); perr != nil {
			err = perr
		}
		return nil, fmt.Errorf("%w: gcpkms key %s: %w", signer.ErrUnsupported, s.KeyRef(), err)
	}
	if _, err := keypolicy.CheckPublicKey(s.pub); err != nil {
		return nil, fmt.Errorf("%w: gcpkms key %s: %w", signer.ErrUnsupported, s.KeyRef(), err)
	}
	return s, nil
}

// Public returns the public key read when the signer was built.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Provider names the provider for audit entries.
func (s *Signer) Provider() string { return Scheme }

// KeyRef is the key version's URI, safe to store and log.
func (s *Signer) KeyRef() string { return Scheme + ":" + s.name }

// Sign signs digest without a deadline; prefer [Signer.SignContext].
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest with one AsymmetricSign call (retried on transient
// failures and failed integrity checks within ctx) and verifies the
// signature.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	want := algorithms[s.alg]
	h := opts.HashFunc()
	pss, isPSS := opts.(*rsa.PSSOptions)
	switch {
	case h != want.hash || len(digest) != h.Size():
		return nil, fmt.Errorf("%w: gcpkms key %s (%s) signs %v digests only", signer.ErrUnsupported, s.KeyRef(), s.alg, want.hash)
	case isPSS != want.pss:
		return nil, fmt.Errorf("%w: gcpkms key %s is %s; its padding is fixed by the key version", signer.ErrUnsupported, s.KeyRef(), s.alg)
	case isPSS && pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size():
		return nil, fmt.Errorf("%w: Cloud KMS PSS uses a salt as long as the hash, not %d bytes", signer.ErrUnsupported, pss.SaltLength)
	}
	d := &kmspb.Digest{}
	switch h {
	case crypto.SHA256:
		d.Digest = &kmspb.Digest_Sha256{Sha256: digest}
	case crypto.SHA384:
		d.Digest = &kmspb.Digest_Sha384{Sha384: digest}
	case crypto.SHA512:
		d.Digest = &kmspb.Digest_Sha512{Sha512: digest}
	}
	req := &kmspb.AsymmetricSignRequest{Name: s.name, Digest: d, DigestCrc32C: wrapperspb.Int64(crc32c(digest))}
	var sig []byte
	err := s.policy.Do(ctx, classify, func(ctx context.Context) error {
		resp, err := s.c.AsymmetricSign(ctx, req)
		if err != nil {
			return err
		}
		if !resp.GetVerifiedDigestCrc32C() || resp.GetName() != s.name || resp.GetSignatureCrc32C() == nil || resp.GetSignatureCrc32C().GetValue() != crc32c(resp.GetSignature()) {
			return fmt.Errorf("%w: AsymmetricSign (verified_digest_crc32c, name or signature_crc32c)", errIntegrity)
		}
		sig = resp.GetSignature()
		return nil
	})
	if err != nil {
		return nil, s.mapError("AsymmetricSign", err)
	}
	if err := signer.VerifySignature(s.pub, digest, sig, opts); err != nil {
		return nil, fmt.Errorf("gcpkms key %s (%s): %w", s.KeyRef(), s.alg, err)
	}
	return sig, nil
}

// classify is the [retry.Classifier] for Cloud KMS calls.
func classify(err error) (bool, time.Duration) {
	if errors.Is(err, errIntegrity) {
		return true, 0
	}
	st, ok := status.FromError(err)
	if !ok {
		return false, 0
	}
	var hint time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			hint = ri.GetRetryDelay().AsDuration()
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Internal, codes.Aborted:
		return true, hint
	}
	return false, 0
}

// mapError turns a Cloud KMS error from operation op into one wrapping the
// signer sentinels.
func (s *Signer) mapError(op string, err error) error {
	if _, ok := retry.RetryAfter(err); ok {
		return fmt.Errorf("gcpkms %s with key %s: %w", op, s.KeyRef(), err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition:
			return fmt.Errorf("%w: the customer's Cloud KMS refused %s with key %s (%s: %s); ask the key's owner to enable the key version and grant sealkeep roles/cloudkms.signerVerifier", signer.ErrAccessDenied, op, s.KeyRef(), st.Code(), st.Message())
		case codes.NotFound:
			return fmt.Errorf("%w: the customer's Cloud KMS refused %s: key version %s does not exist (%s)", signer.ErrKeyNotFound, op, s.KeyRef(), st.Message())
		case codes.InvalidArgument:
			return fmt.Errorf("%w: Cloud KMS %s with key %s: %s", signer.ErrUnsupported, op, s.KeyRef(), st.Message())
		}
	}
	return fmt.Errorf("gcpkms %s with key %s: %w", op, s.KeyRef(), err)
}

// Close releases a dedicated client (one built with [WithClientOptions]).
func (s *Signer) Close() error {
	if s.c == sharedClient {
		return nil
	}
	return s.c.Close()
}
