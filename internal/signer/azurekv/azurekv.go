// Package azurekv is the "azurekv:" signer provider: a signing key held in
// the customer's Azure Key Vault (or Managed HSM), used through the official
// Azure SDK for Go (azkeys).
//
// # Key URI
//
//	azurekv:https://VAULT.vault.azure.net/keys/NAME/VERSION
//
// The key version is required, so that a new version created in the vault
// never silently replaces the key a certificate was issued for. The vault
// must be an https URL. Credentials come from the Azure SDK's default chain
// (azidentity.DefaultAzureCredential: environment, workload identity,
// managed identity, Azure CLI); the URI holds no secret.
//
// # Signing
//
// The public key is read once with GetKey when the signer is built (Public
// does no I/O) and must satisfy the key policy; a disabled key or one
// without the "sign" operation is refused. Each signature is one Sign call:
// RS256/384/512 (PKCS#1 v1.5), PS256/384/512 (PSS, salt as long as the
// hash), ES256 (P-256) or ES384 (P-384). Key Vault returns ECDSA signatures
// as r||s; they are converted to the ASN.1 form crypto.Signer promises.
// Every signature is verified against the public key before it is returned.
//
// # Errors
//
// HTTP 401 and 403 (access denied, key disabled) wrap
// [signer.ErrAccessDenied] and say that the customer's Key Vault refused;
// 404 wraps [signer.ErrKeyNotFound]. HTTP 429 and 5xx and network failures
// are retried with backoff inside the caller's deadline, honouring
// Retry-After; the SDK's own retry policy is switched off. Then they are a
// [retry.UnavailableError].
//
// # Tests
//
// No Key Vault emulator exists. The tests run the official azkeys client
// against a local fake vault (azurekv_test.go) on 127.0.0.1 over TLS that
// speaks the documented REST protocol: the bearer challenge (401 with
// WWW-Authenticate), GET /keys/{name}/{version}, POST .../sign with alg and
// base64url value, error bodies {"error":{"code","message"}}, and 429 with
// Retry-After. A static token credential and the test server's TLS client
// are injected with [WithCredential] and [WithClientOptions]; the
// challenge-resource check is relaxed for 127.0.0.1 in tests only.
package azurekv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

// Scheme is the key URI scheme of this provider.
const Scheme = "azurekv"

func init() {
	signer.Register(Scheme, func(ctx context.Context, u *signer.URI) (crypto.Signer, error) {
		return Open(ctx, u)
	})
}

// Option adjusts how the signer reaches Key Vault.
type Option func(*options)

type options struct {
	cred   azcore.TokenCredential
	client azkeys.ClientOptions
	policy retry.Policy
}

// WithCredential replaces the default Azure credential chain.
func WithCredential(c azcore.TokenCredential) Option { return func(o *options) { o.cred = c } }

// WithClientOptions replaces the azkeys client options (tests use it for the
// transport). The SDK's retries stay switched off whatever co says.
func WithClientOptions(co azkeys.ClientOptions) Option { return func(o *options) { o.client = co } }

// WithRetryPolicy replaces [retry.Default].
func WithRetryPolicy(p retry.Policy) Option { return func(o *options) { o.policy = p } }

var (
	defaultCredOnce sync.Once
	defaultCred     azcore.TokenCredential
	defaultCredErr  error
)

// Signer is a [crypto.Signer] whose private key stays in Azure Key Vault.
type Signer struct {
	c       *azkeys.Client
	policy  retry.Policy
	name    string
	version string
	ref     string
	pub     crypto.PublicKey
}

var _ signer.ContextSigner = (*Signer)(nil)

// parseKeyURL splits https://VAULT/keys/NAME/VERSION.
func parseKeyURL(raw string) (vault, name, version string, err error) {
	p, perr := url.Parse(raw)
	parts := []string{}
	if perr == nil {
		parts = strings.Split(strings.Trim(p.Path, "/"), "/")
	}
	if perr != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" ||
		len(parts) != 3 || parts[0] != "keys" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("%w: azurekv URI must be azurekv:https://VAULT.vault.azure.net/keys/NAME/VERSION", signer.ErrInvalidURI)
	}
	return "https://" + p.Host, parts[1], parts[2], nil
}

// Open builds a signer for the key named by u, reading its public key.
func Open(ctx context.Context, u *signer.URI, opts ...Option) (*Signer, error) {
	if len(u.Query) > 0 {
		return nil, fmt.Errorf("%w: azurekv URI takes no query parameters", signer.ErrInvalidURI)
	}
	vault, name, version, err := parseKeyURL(u.Opaque)
	if err != nil {
		return nil, err
	}
	o := options{policy: retry.Default}
	for _, f := range opts {
		f(&o)
	}
	if o.cred == nil {
		defaultCredOnce.Do(func() { defaultCred, defaultCredErr = azidentity.NewDefaultAzureCredential(nil) })
		if defaultCredErr != nil {
			return nil, fmt.Errorf("%w: azurekv: no Azure credential: %v", signer.ErrAccessDenied, defaultCredErr)
		}
		o.cred = defaultCred
	}
	// Package retry retries; the SDK must not multiply the attempts.
	o.client.Retry.MaxRetries = -1
	c, err := azkeys.NewClient(vault, o.cred, &o.client)
	if err != nil {
		return nil, fmt.Errorf("%w: azurekv: %v", signer.ErrInvalidURI, err)
	}
	s := &Signer{c: c, policy: o.policy, name: name, version: version, ref: Scheme + ":" + vault + "/keys/" + name + "/" + version}
	var kb azkeys.KeyBundle
	err = s.policy.Do(ctx, classify, func(ctx context.Context) error {
		resp, err := c.GetKey(ctx, name, version, nil)
		kb = resp.KeyBundle
		return err
	})
	if err != nil {
		return nil, s.mapError("get", err)
	}
	if kb.Attributes != nil && kb.Attributes.Enabled != nil && !*kb.Attributes.Enabled {
		return nil, fmt.Errorf("%w: the customer's Azure Key Vault refused: key %s is disabled", signer.ErrAccessDenied, s.ref)
	}
	if kb.Key == nil {
		return nil, fmt.Errorf("%w: azurekv key %s: Key Vault returned no key", signer.ErrUnsupported, s.ref)
	}
	if kid := kb.Key.KID; kid == nil || kid.Name() != name || kid.Version() != version {
		return nil, fmt.Errorf("%w: azurekv key %s: Key Vault returned another key", signer.ErrKeyNotFound, s.ref)
	}
	if ops := kb.Key.KeyOps; len(ops) > 0 {
		canSign := false
		for _, op := range ops {
			canSign = canSign || op != nil && *op == azkeys.KeyOperationSign
		}
		if !canSign {
			return nil, fmt.Errorf("%w: azurekv key %s does not allow the sign operation", signer.ErrUnsupported, s.ref)
		}
	}
	if s.pub, err = publicKey(kb.Key); err != nil {
		return nil, fmt.Errorf("%w: azurekv key %s: %w", signer.ErrUnsupported, s.ref, err)
	}
	if _, err := keypolicy.CheckPublicKey(s.pub); err != nil {
		return nil, fmt.Errorf("%w: azurekv key %s: %w", signer.ErrUnsupported, s.ref, err)
	}
	return s, nil
}

// publicKey converts a JSON Web Key's public part.
func publicKey(k *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	kty := ""
	if k.Kty != nil {
		kty = string(*k.Kty)
	}
	switch kty {
	case "RSA", "RSA-HSM":
		if len(k.N) == 0 || len(k.E) == 0 || len(k.E) > 4 {
			return nil, errors.New("malformed RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(new(big.Int).SetBytes(k.E).Int64())}, nil
	case "EC", "EC-HSM":
		crv := ""
		if k.Crv != nil {
			crv = string(*k.Crv)
		}
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}[crv]
		if curve == nil {
			return nil, fmt.Errorf("%w: EC curve %q", keypolicy.ErrWeakKey, crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(k.X) > size || len(k.Y) > size {
			return nil, errors.New("malformed EC key")
		}
		pt := make([]byte, 1+2*size)
		pt[0] = 4
		copy(pt[1+size-len(k.X):], k.X)
		copy(pt[1+2*size-len(k.Y):], k.Y)
		return ecdsa.ParseUncompressedPublicKey(curve, pt)
	}
	return nil, fmt.Errorf("%w: key type %q", keypolicy.ErrUnsupportedAlgorithm, kty)
}

// Public returns the public key read when the signer was built.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Provider names the provider for audit entries.
func (s *Signer) Provider() string { return Scheme }

// KeyRef is the key's URI, safe to store and log.
func (s *Signer) KeyRef() string { return s.ref }

// Sign signs digest without a deadline; prefer [Signer.SignContext].
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest with one Key Vault Sign call (retried on
// transient failures within ctx) and verifies the signature.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, err := s.algorithm(digest, opts)
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.policy.Do(ctx, classify, func(ctx context.Context) error {
		resp, err := s.c.Sign(ctx, s.name, s.version, azkeys.SignParameters{Algorithm: &alg, Value: digest}, nil)
		sig = resp.Result
		return err
	})
	if err != nil {
		return nil, s.mapError("sign", err)
	}
	if k, ok := s.pub.(*ecdsa.PublicKey); ok {
		if sig, err = rawToASN1(sig, (k.Curve.Params().BitSize+7)/8); err != nil {
			return nil, fmt.Errorf("azurekv key %s (%s): %w", s.ref, alg, err)
		}
	}
	if err := signer.VerifySignature(s.pub, digest, sig, opts); err != nil {
		return nil, fmt.Errorf("azurekv key %s (%s): %w", s.ref, alg, err)
	}
	return sig, nil
}

// rawToASN1 converts a JWS ECDSA signature (r||s, each size bytes) to ASN.1.
func rawToASN1(raw []byte, size int) ([]byte, error) {
	if len(raw) != 2*size {
		return nil, fmt.Errorf("%w: ECDSA signature of %d bytes, want %d", signer.ErrBadSignature, len(raw), 2*size)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[:size]))
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[size:]))
	})
	return b.Bytes()
}

func (s *Signer) algorithm(digest []byte, opts crypto.SignerOpts) (azkeys.SignatureAlgorithm, error) {
	h := opts.HashFunc()
	bits := map[crypto.Hash]string{crypto.SHA256: "256", crypto.SHA384: "384", crypto.SHA512: "512"}[h]
	if bits == "" || len(digest) != h.Size() {
		return "", fmt.Errorf("%w: azurekv signs a SHA-256, SHA-384 or SHA-512 digest of the matching length", signer.ErrUnsupported)
	}
	switch k := s.pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if pss.SaltLength != rsa.PSSSaltLengthAuto && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size() {
				return "", fmt.Errorf("%w: Key Vault PSS uses a salt as long as the hash, not %d bytes", signer.ErrUnsupported, pss.SaltLength)
			}
			return azkeys.SignatureAlgorithm("PS" + bits), nil
		}
		return azkeys.SignatureAlgorithm("RS" + bits), nil
	case *ecdsa.PublicKey:
		if want := map[string]crypto.Hash{"P-256": crypto.SHA256, "P-384": crypto.SHA384}[k.Curve.Params().Name]; h != want {
			return "", fmt.Errorf("%w: Key Vault signs with a %s key only over %v digests", signer.ErrUnsupported, k.Curve.Params().Name, want)
		}
		return azkeys.SignatureAlgorithm("ES" + bits), nil
	}
	return "", fmt.Errorf("%w: azurekv key type %T", signer.ErrUnsupported, s.pub)
}

// classify is the [retry.Classifier] for Key Vault calls.
func classify(err error) (bool, time.Duration) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		transient := re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500
		return transient, retryAfter(re.RawResponse)
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF), 0
}

// retryAfter reads the wait a Key Vault response asks for.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(resp.Header.Get(h)); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	v := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// mapError turns a Key Vault error from operation op into one wrapping the
// signer sentinels.
func (s *Signer) mapError(op string, err error) error {
	if _, ok := retry.RetryAfter(err); ok {
		return fmt.Errorf("azurekv %s with key %s: %w", op, s.ref, err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: the customer's Azure Key Vault refused %s with key %s (HTTP %d %s); ask the vault's owner to enable the key and grant sealkeep keys/%s", signer.ErrAccessDenied, op, s.ref, re.StatusCode, re.ErrorCode, op)
		case http.StatusNotFound:
			return fmt.Errorf("%w: the customer's Azure Key Vault refused %s: key %s does not exist (HTTP 404 %s)", signer.ErrKeyNotFound, op, s.ref, re.ErrorCode)
		case http.StatusBadRequest:
			return fmt.Errorf("%w: Azure Key Vault %s with key %s: HTTP 400 %s", signer.ErrUnsupported, op, s.ref, re.ErrorCode)
		}
		return fmt.Errorf("azurekv %s with key %s: HTTP %d %s", op, s.ref, re.StatusCode, re.ErrorCode)
	}
	var afe *azidentity.AuthenticationFailedError
	var are *azidentity.AuthenticationRequiredError
	if errors.As(err, &afe) || errors.As(err, &are) {
		return fmt.Errorf("%w: azurekv %s with key %s: sealkeep could not authenticate to Azure: %v", signer.ErrAccessDenied, op, s.ref, err)
	}
	return fmt.Errorf("azurekv %s with key %s: %w", op, s.ref, err)
}
