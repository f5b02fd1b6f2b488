// Package fake is an in-memory key provider for tests, registered under the
// "fake" URI scheme exactly like a real one (the idea of sigstore's
// fakekms). Import it for its side effect:
//
//	import _ "sealkeep/internal/signer/fake"
//
// # URIs
//
//	fake:NAME?alg=RSA-2048&fail=denied
//
// NAME names a key held in memory for the life of the process: the first
// Open (or Create) of a name generates it with algorithm alg (a keypolicy
// name, default ECDSA-P256, because it is fast) and later opens return the
// same key. Opening an existing name with another alg fails.
//
// # Tests only
//
// The provider registers itself only in test binaries ([testing.Testing]):
// its keys are private keys held in process memory, which DESIGN.md forbids
// outside tests, so a production binary that imports the package still
// answers "fake:" URIs with [signer.ErrInvalidURI] (no provider).
//
// # Fault injection
//
// fail=denied makes every signature fail with [signer.ErrAccessDenied],
// fail=unavailable with [signer.ErrUnavailable], and fail=badsig returns a
// signature with one bit flipped, which [signer.Verified] must catch. The
// fault belongs to the opened signer, not to the key: the same name opened
// without fail signs normally. [SetFault] and [Rekey] change a key behind an
// unchanged URI, as a customer changing their KMS would: every signer
// opened later without a fail parameter fails as asked, or holds a new
// key.
package fake

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"sync"
	"testing"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
)

// Scheme is the URI scheme of this provider.
const Scheme = "fake"

// init registers the provider in test binaries only (see the package doc).
func init() {
	if !testing.Testing() {
		return
	}
	signer.Register(Scheme, Open)
	signer.RegisterCreator(Scheme, creator{})
}

type key struct {
	alg   string
	s     crypto.Signer
	fault string // fail value for signers opened without one
}

// SetFault makes the key named name fail as fail=FAULT asks ("" for
// none) in every signer opened later without a fail parameter.
func SetFault(name, fault string) {
	mu.Lock()
	defer mu.Unlock()
	k := keys[name]
	k.fault = fault
	keys[name] = k
}

// Rekey replaces the key named name by a new one of the same algorithm.
func Rekey(name string) error {
	mu.Lock()
	defer mu.Unlock()
	k, ok := keys[name]
	if !ok {
		return fmt.Errorf("%w: fake key %q does not exist", signer.ErrKeyNotFound, name)
	}
	s, err := keypolicy.Generate(k.alg)
	if err != nil {
		return err
	}
	k.s = s
	keys[name] = k
	return nil
}

var (
	mu   sync.Mutex
	keys = map[string]key{}
)

// Open returns the signer for uri, generating its key on first use.
func Open(ctx context.Context, uri *signer.URI) (crypto.Signer, error) {
	return open(ctx, uri, false)
}

type creator struct{}

// CreateKey creates the key named by uri with algorithm alg; the name must
// be new.
func (creator) CreateKey(ctx context.Context, uri *signer.URI, alg string) (crypto.Signer, error) {
	q := &signer.URI{Scheme: uri.Scheme, Opaque: uri.Opaque, Attrs: uri.Attrs, Query: url.Values{}}
	for k, v := range uri.Query {
		q.Query[k] = v
	}
	if alg != "" {
		q.Query.Set("alg", alg)
	}
	return open(ctx, q, true)
}

func open(ctx context.Context, uri *signer.URI, mustBeNew bool) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := uri.Opaque
	if name == "" {
		return nil, fmt.Errorf("%w: fake URI needs a key name (fake:NAME)", signer.ErrInvalidURI)
	}
	alg := uri.Query.Get("alg")
	if alg == "" {
		alg = keypolicy.ECDSAP256
	}
	fail := uri.Query.Get("fail")
	switch fail {
	case "", "denied", "unavailable", "badsig":
	default:
		return nil, fmt.Errorf("%w: fake fail=%q (want denied, unavailable or badsig)", signer.ErrInvalidURI, fail)
	}
	mu.Lock()
	defer mu.Unlock()
	k, ok := keys[name]
	switch {
	case ok && mustBeNew:
		return nil, fmt.Errorf("%w: fake key %q already exists", signer.ErrUnsupported, name)
	case ok && k.alg != alg:
		return nil, fmt.Errorf("%w: fake key %q is %s, not %s", signer.ErrUnsupported, name, k.alg, alg)
	case !ok:
		s, err := keypolicy.Generate(alg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", signer.ErrUnsupported, err)
		}
		k = key{alg: alg, s: s}
		keys[name] = k
	}
	if fail == "" {
		fail = k.fault
	}
	return &Signer{key: k.s, fail: fail}, nil
}

// Signer is a fake key opened through a URI. It implements
// [signer.ContextSigner].
type Signer struct {
	key  crypto.Signer
	fail string
}

// Public returns the key's public half.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs digest, or fails as the URI's fail parameter asks.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest unless ctx is done, or fails as the URI's fail
// parameter asks.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", signer.ErrUnavailable, err)
	}
	switch s.fail {
	case "denied":
		return nil, fmt.Errorf("%w: fake key: access denied (fail=denied)", signer.ErrAccessDenied)
	case "unavailable":
		return nil, fmt.Errorf("%w: fake key: service unavailable (fail=unavailable)", signer.ErrUnavailable)
	}
	sig, err := s.key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, err
	}
	if s.fail == "badsig" {
		sig[len(sig)/2] ^= 0x01
	}
	return sig, nil
}
