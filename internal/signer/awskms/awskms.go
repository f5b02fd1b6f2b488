// Package awskms is the "awskms:" signer provider: a signing key held in the
// customer's AWS KMS, used through the AWS SDK for Go v2.
//
// # Key URI
//
//	awskms:KEY-ID-OR-ARN?region=eu-west-1&role=ARN&external-id=ID&endpoint=URL
//
// The key is named by key ID, key ARN, alias name ("alias/x") or alias ARN.
// region is required unless the key is an ARN (which names its region) or
// the environment configures one. role, with an optional external-id, is a
// role to assume through STS before calling KMS (cross-account access);
// endpoint overrides the KMS endpoint (VPC endpoints; plain http only on
// the loopback interface, for the local-kms emulator).
// The URI holds no secret: credentials come from the SDK's default chain
// (environment, shared configuration, instance or task role).
//
// # Signing
//
// The public key is read once with GetPublicKey when the signer is built, so
// that Public does no I/O, and it must satisfy the key policy
// (RSA-2048/3072/4096, ECDSA P-256/P-384). Each signature is one Sign call
// with MessageType DIGEST: PKCS#1 v1.5 or PSS with SHA-256/384/512 for RSA,
// ECDSA_SHA_256 (P-256) or ECDSA_SHA_384 (P-384). Every returned signature
// is verified against the public key before it is returned; PSS signatures
// are verified with any salt length, because AWS uses a salt as long as the
// hash while the local-kms emulator uses the maximum.
//
// # Errors
//
// AccessDeniedException, DisabledException, KMSInvalidStateException (key
// pending deletion) and friends mean the customer's KMS refused: they wrap
// [signer.ErrAccessDenied] and are never retried; NotFoundException wraps
// [signer.ErrKeyNotFound]. Throttling, KMS internal errors, HTTP 5xx and
// network timeouts are retried with backoff inside the caller's deadline
// (package retry; the SDK's own retryer is switched off so that the two do
// not multiply), then reported as a [retry.UnavailableError].
package awskms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

// Scheme is the key URI scheme of this provider.
const Scheme = "awskms"

func init() {
	signer.Register(Scheme, func(ctx context.Context, u *signer.URI) (crypto.Signer, error) {
		return Open(ctx, u)
	})
	signer.RegisterCreator(Scheme, creator{})
}

// Option adjusts how a client is built; the registered provider uses none.
type Option func(*options)

type options struct {
	httpClient aws.HTTPClient
	policy     retry.Policy
}

// WithHTTPClient sends the KMS calls through c (tests use it to inject
// faults). A client built with it is not shared with other signers.
func WithHTTPClient(c aws.HTTPClient) Option { return func(o *options) { o.httpClient = c } }

// WithRetryPolicy replaces [retry.Default].
func WithRetryPolicy(p retry.Policy) Option { return func(o *options) { o.policy = p } }

// Client is a KMS client for the location named by a key URI's query (region,
// endpoint, role, external-id), with the retry policy to use with it.
type Client struct {
	KMS    *kms.Client
	Policy retry.Policy
	// query is the query part of key references made with this client.
	query url.Values
}

var (
	clientsMu sync.Mutex
	clients   = map[string]*kms.Client{}
)

// NewClient builds (or reuses) a KMS client for u's region, endpoint and role.
// Clients built without options are shared, so that credentials (and an
// assumed role's session) are cached across signers.
func NewClient(ctx context.Context, u *signer.URI, opts ...Option) (*Client, error) {
	o := options{policy: retry.Default}
	for _, f := range opts {
		f(&o)
	}
	known := []string{"region", "endpoint", "role", "external-id"}
	q := url.Values{}
	for k := range u.Query {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%w: awskms URI has unknown parameter %q (known: region, endpoint, role, external-id)", signer.ErrInvalidURI, k)
		}
		if v := u.Query.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	region := q.Get("region")
	if region == "" {
		if arn := strings.Split(u.Opaque, ":"); len(arn) > 4 && arn[0] == "arn" {
			region = arn[3]
		}
	}
	if ep := q.Get("endpoint"); ep != "" {
		p, err := url.Parse(ep)
		loopback := err == nil && (p.Hostname() == "localhost" || net.ParseIP(p.Hostname()).IsLoopback())
		if err != nil || p.Host == "" || !(p.Scheme == "https" || p.Scheme == "http" && loopback) {
			return nil, fmt.Errorf("%w: awskms endpoint must be an https URL (http only on the loopback interface)", signer.ErrInvalidURI)
		}
	}
	key := region + "\x00" + q.Encode()
	if o.httpClient == nil {
		clientsMu.Lock()
		c, ok := clients[key]
		clientsMu.Unlock()
		if ok {
			return &Client{KMS: c, Policy: o.policy, query: q}, nil
		}
	}
	load := []func(*config.LoadOptions) error{
		// Package retry retries; the SDK must not multiply the attempts.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if region != "" {
		load = append(load, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("%w: awskms: loading AWS configuration: %v", signer.ErrUnavailable, err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: awskms URI needs region= (or a key ARN, or AWS_REGION)", signer.ErrInvalidURI)
	}
	if role := q.Get("role"); role != "" {
		ext := q.Get("external-id")
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "sealkeep"
			if ext != "" {
				o.ExternalID = aws.String(ext)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(p)
	}
	c := kms.NewFromConfig(cfg, func(ko *kms.Options) {
		if ep := q.Get("endpoint"); ep != "" {
			ko.BaseEndpoint = aws.String(ep)
		}
		if o.httpClient != nil {
			ko.HTTPClient = o.httpClient
		}
	})
	if o.httpClient == nil {
		clientsMu.Lock()
		clients[key] = c
		clientsMu.Unlock()
	}
	return &Client{KMS: c, Policy: o.policy, query: q}, nil
}

// Ref returns the key URI of keyID at this client's location; it holds no
// secret.
func (c *Client) Ref(keyID string) string {
	s := Scheme + ":" + keyID
	if len(c.query) > 0 {
		s += "?" + c.query.Encode()
	}
	return s
}

// Signer is a [crypto.Signer] whose private key stays in AWS KMS.
type Signer struct {
	c     *Client
	keyID string // the key's ARN as KMS reports it
	ref   string
	pub   crypto.PublicKey
	algs  map[types.SigningAlgorithmSpec]bool
}

var _ signer.ContextSigner = (*Signer)(nil)

// Open builds a signer for the key named by u, reading its public key.
func Open(ctx context.Context, u *signer.URI, opts ...Option) (*Signer, error) {
	keyID := u.Opaque
	if keyID == "" {
		return nil, fmt.Errorf("%w: awskms URI names no key (awskms:KEY-ID-OR-ARN?region=...)", signer.ErrInvalidURI)
	}
	c, err := NewClient(ctx, u, opts...)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, keyID)
}

func (c *Client) open(ctx context.Context, keyID string) (*Signer, error) {
	var out *kms.GetPublicKeyOutput
	err := c.Policy.Do(ctx, Classify, func(ctx context.Context) error {
		var err error
		out, err = c.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
		return err
	})
	ref := c.Ref(keyID)
	if err != nil {
		return nil, MapError("GetPublicKey", ref, err)
	}
	if out.KeyUsage != types.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("%w: awskms key %s has usage %s, want SIGN_VERIFY", signer.ErrUnsupported, ref, out.KeyUsage)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		if perr := keypolicy.ExplainUnparsable(out.PublicKey); perr != nil {
			err = perr
		}
		return nil, fmt.Errorf("%w: awskms key %s (%s): %w", signer.ErrUnsupported, ref, out.KeySpec, err)
	}
	if _, err := keypolicy.CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%w: awskms key %s: %w", signer.ErrUnsupported, ref, err)
	}
	s := &Signer{c: c, keyID: aws.ToString(out.KeyId), pub: pub, algs: map[types.SigningAlgorithmSpec]bool{}}
	if s.keyID == "" {
		s.keyID = keyID
	}
	s.ref = c.Ref(s.keyID)
	for _, a := range out.SigningAlgorithms {
		s.algs[a] = true
	}
	return s, nil
}

// Public returns the public key read when the signer was built.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Provider names the provider for audit entries.
func (s *Signer) Provider() string { return Scheme }

// KeyRef is the key's URI (with its ARN), safe to store and log.
func (s *Signer) KeyRef() string { return s.ref }

// Sign signs digest without a deadline; prefer [Signer.SignContext].
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest with one KMS Sign call (retried on transient
// failures within ctx) and verifies the signature before returning it.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, err := s.algorithm(digest, opts)
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.c.Policy.Do(ctx, Classify, func(ctx context.Context) error {
		out, err := s.c.KMS.Sign(ctx, &kms.SignInput{
			KeyId:            aws.String(s.keyID),
			Message:          digest,
			MessageType:      types.MessageTypeDigest,
			SigningAlgorithm: alg,
		})
		if err == nil {
			sig = out.Signature
		}
		return err
	})
	if err != nil {
		return nil, MapError("Sign", s.ref, err)
	}
	if err := signer.VerifySignature(s.pub, digest, sig, opts); err != nil {
		return nil, fmt.Errorf("awskms key %s (%s): %w", s.ref, alg, err)
	}
	return sig, nil
}

// algorithm maps the signer options to a KMS signing algorithm the key
// supports.
func (s *Signer) algorithm(digest []byte, opts crypto.SignerOpts) (types.SigningAlgorithmSpec, error) {
	h := opts.HashFunc()
	if h == 0 || !h.Available() || len(digest) != h.Size() {
		return "", fmt.Errorf("%w: awskms signs a SHA-256, SHA-384 or SHA-512 digest of the matching length", signer.ErrUnsupported)
	}
	bits := map[crypto.Hash]string{crypto.SHA256: "256", crypto.SHA384: "384", crypto.SHA512: "512"}[h]
	if bits == "" {
		return "", fmt.Errorf("%w: awskms does not sign %v digests", signer.ErrUnsupported, h)
	}
	var alg types.SigningAlgorithmSpec
	switch s.pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			// KMS uses a salt as long as the hash; a caller that demands
			// another fixed length cannot be served.
			if pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size() {
				return "", fmt.Errorf("%w: awskms PSS uses a salt as long as the hash, not %d bytes", signer.ErrUnsupported, pss.SaltLength)
			}
			alg = types.SigningAlgorithmSpec("RSASSA_PSS_SHA_" + bits)
		} else {
			alg = types.SigningAlgorithmSpec("RSASSA_PKCS1_V1_5_SHA_" + bits)
		}
	case *ecdsa.PublicKey:
		alg = types.SigningAlgorithmSpec("ECDSA_SHA_" + bits)
	}
	if !s.algs[alg] {
		return "", fmt.Errorf("%w: awskms key %s does not support %s", signer.ErrUnsupported, s.ref, alg)
	}
	return alg, nil
}

// refusals are the KMS error codes by which the customer's KMS refuses the
// key: they are final.
var refusals = map[string]bool{
	"AccessDeniedException":       true,
	"AccessDenied":                true, // STS AssumeRole refused (role trust policy, external ID)
	"DisabledException":           true,
	"KMSInvalidStateException":    true,
	"KeyUnavailableException":     true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"ExpiredTokenException":       true,
	"IncompleteSignature":         true,
	"InvalidClientTokenId":        true,
	"NotAuthorized":               true,
}

// transients are the KMS error codes worth retrying.
var transients = map[string]bool{
	"ThrottlingException":         true,
	"LimitExceededException":      true,
	"KMSInternalException":        true,
	"DependencyTimeoutException":  true,
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
	"RequestLimitExceeded":        true,
	"InternalFailure":             true,
}

// Classify is the [retry.Classifier] for KMS calls: throttling, KMS internal
// errors, HTTP 5xx and network failures are transient.
func Classify(err error) (bool, time.Duration) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if transients[ae.ErrorCode()] {
			return true, 0
		}
		if refusals[ae.ErrorCode()] {
			return false, 0
		}
	}
	// A response error with status 0 is a request that got no response
	// (connection refused, reset, DNS): decided by the network error below.
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		return re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429, 0
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true, 0
	}
	var oe *net.OpError
	return errors.As(err, &oe), 0
}

// MapError turns a KMS error from operation op on key ref into one that wraps
// the signer sentinels and says that the customer's KMS refused, where it did.
func MapError(op, ref string, err error) error {
	if _, ok := retry.RetryAfter(err); ok {
		return fmt.Errorf("awskms %s with key %s: %w", op, ref, err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case code == "NotFoundException":
			return fmt.Errorf("%w: the customer's AWS KMS refused %s: key %s does not exist or is not visible to sealkeep (%s: %s)", signer.ErrKeyNotFound, op, ref, code, ae.ErrorMessage())
		case refusals[code]:
			return fmt.Errorf("%w: the customer's AWS KMS refused %s with key %s (%s: %s); ask the key's owner to enable the key and grant sealkeep kms:%s", signer.ErrAccessDenied, op, ref, code, ae.ErrorMessage(), op)
		case code == "InvalidKeyUsageException" || code == "UnsupportedOperationException" || code == "IncorrectKeyException":
			return fmt.Errorf("%w: AWS KMS %s with key %s: %s: %s", signer.ErrUnsupported, op, ref, code, ae.ErrorMessage())
		}
	}
	return fmt.Errorf("awskms %s with key %s: %w", op, ref, err)
}

// keySpecs maps key policy names to KMS key specs.
var keySpecs = map[string]types.KeySpec{
	keypolicy.RSA2048:   types.KeySpecRsa2048,
	keypolicy.RSA3072:   types.KeySpecRsa3072,
	keypolicy.RSA4096:   types.KeySpecRsa4096,
	keypolicy.ECDSAP256: types.KeySpecEccNistP256,
	keypolicy.ECDSAP384: types.KeySpecEccNistP384,
}

type creator struct{}

// CreateKey creates a SIGN_VERIFY key of the given key policy algorithm in
// the customer's KMS, at the location named by u's query. u's key part is
// empty or an alias ("alias/name") to point at the new key.
func (creator) CreateKey(ctx context.Context, u *signer.URI, algorithm string) (crypto.Signer, error) {
	return Create(ctx, u, algorithm)
}

// Create is [signer.KeyCreator.CreateKey] for AWS KMS, with options.
func Create(ctx context.Context, u *signer.URI, algorithm string, opts ...Option) (*Signer, error) {
	spec, ok := keySpecs[algorithm]
	if !ok {
		return nil, fmt.Errorf("%w: awskms cannot create %q keys (RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384)", signer.ErrUnsupported, algorithm)
	}
	alias := u.Opaque
	if alias != "" && !strings.HasPrefix(alias, "alias/") {
		return nil, fmt.Errorf("%w: awskms key creation takes an empty key part or alias/NAME, not a key ID", signer.ErrInvalidURI)
	}
	c, err := NewClient(ctx, u, opts...)
	if err != nil {
		return nil, err
	}
	// CreateKey is not idempotent: it is called once, never retried, so that
	// a lost response does not leave two keys behind.
	out, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec:     spec,
		KeyUsage:    types.KeyUsageTypeSignVerify,
		Description: aws.String("sealkeep signing key (" + algorithm + ")"),
	})
	if err != nil {
		return nil, MapError("CreateKey", c.Ref(alias), err)
	}
	keyID := aws.ToString(out.KeyMetadata.Arn)
	if alias != "" {
		if _, err := c.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyID)}); err != nil {
			// Do not leave an unnamed key behind (best effort; KMS waits
			// 7 days before deleting it).
			_, _ = c.KMS.ScheduleKeyDeletion(context.WithoutCancel(ctx), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(7)})
			return nil, MapError("CreateAlias", c.Ref(keyID), err)
		}
	}
	return c.open(ctx, keyID)
}
