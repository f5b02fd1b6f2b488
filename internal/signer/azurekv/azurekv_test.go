package azurekv

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
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/signer/internal/sealtest"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
)

// fakeVault speaks the Key Vault keys REST protocol (GET key, POST sign) the
// way https://learn.microsoft.com/rest/api/keyvault/keys documents it: the
// bearer challenge, JSON Web Keys, base64url values, error bodies and
// throttling with Retry-After.
type fakeVault struct {
	srv *httptest.Server

	mu   sync.Mutex
	keys map[string]*fakeKey // "name/version"

	calls atomic.Int64
	// fault, when set, may answer a request instead of the vault.
	fault func(w http.ResponseWriter, r *http.Request, n int64) bool
}

type fakeKey struct {
	priv     crypto.Signer
	enabled  bool
	ops      []string
	badSigns bool // return signatures made by another key
}

const token = "static-test-token"

func (v *fakeVault) setFault(f func(w http.ResponseWriter, r *http.Request, n int64) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fault = f
}

func (v *fakeVault) getFault() func(w http.ResponseWriter, r *http.Request, n int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.fault
}

func newFakeVault(t testing.TB) *fakeVault {
	v := &fakeVault{keys: map[string]*fakeKey{}}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func vaultError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

var b64 = base64.RawURLEncoding

func (v *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		// Elicit the challenge, as Key Vault does for unauthenticated requests.
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"`)
		vaultError(w, 401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+token {
		vaultError(w, 401, "Unauthorized", "AKV10022: Invalid audience.")
		return
	}
	n := v.calls.Add(1)
	if f := v.getFault(); f != nil && f(w, r, n) {
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		vaultError(w, 400, "BadParameter", "api-version is required")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "keys" {
		vaultError(w, 404, "NotFound", "no such route")
		return
	}
	v.mu.Lock()
	k, ok := v.keys[parts[1]+"/"+parts[2]]
	v.mu.Unlock()
	if !ok {
		vaultError(w, 404, "KeyNotFound", "A key with (name/id) "+parts[1]+" was not found in this key vault.")
		return
	}
	kid := "https://" + r.Host + "/keys/" + parts[1] + "/" + parts[2]
	switch {
	case r.Method == http.MethodGet && len(parts) == 3:
		if !k.enabled {
			vaultError(w, 403, "Forbidden", "Operation get is not allowed on a disabled key.")
			return
		}
		jwk := map[string]any{"kid": kid, "key_ops": k.ops}
		switch pub := k.priv.Public().(type) {
		case *rsa.PublicKey:
			jwk["kty"], jwk["n"], jwk["e"] = "RSA-HSM", b64.EncodeToString(pub.N.Bytes()), b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			raw, _ := pub.Bytes()
			jwk["kty"], jwk["crv"] = "EC-HSM", pub.Curve.Params().Name
			jwk["x"], jwk["y"] = b64.EncodeToString(raw[1:1+size]), b64.EncodeToString(raw[1+size:])
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"key": jwk, "attributes": map[string]any{"enabled": k.enabled, "recoveryLevel": "Recoverable"}})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[3] == "sign":
		if !k.enabled {
			vaultError(w, 403, "Forbidden", "Operation sign is not allowed on a disabled key.")
			return
		}
		var req struct {
			Alg   string `json:"alg"`
			Value string `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			vaultError(w, 400, "BadParameter", "malformed body")
			return
		}
		digest, err := b64.DecodeString(req.Value)
		if err != nil {
			vaultError(w, 400, "BadParameter", "value is not base64url")
			return
		}
		priv := k.priv
		if k.badSigns {
			priv = otherKey(priv)
		}
		sig, err := jwsSign(priv, req.Alg, digest)
		if err != nil {
			vaultError(w, 400, "BadParameter", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]string{"kid": kid, "value": b64.EncodeToString(sig)})
	default:
		vaultError(w, 405, "MethodNotAllowed", "unsupported")
	}
}

func otherKey(k crypto.Signer) crypto.Signer {
	switch p := k.Public().(type) {
	case *ecdsa.PublicKey:
		o, _ := ecdsa.GenerateKey(p.Curve, rand.Reader)
		return o
	}
	o, _ := rsa.GenerateKey(rand.Reader, 2048)
	return o
}

// jwsSign signs as Key Vault does: RFC 7518 algorithms, ECDSA as r||s.
func jwsSign(k crypto.Signer, alg string, digest []byte) ([]byte, error) {
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	if len(alg) != 5 {
		return nil, errors.New("unknown algorithm")
	}
	h, ok := hashes[alg[2:]]
	if !ok || len(digest) != h.Size() {
		return nil, errors.New("digest length does not match the algorithm")
	}
	switch priv := k.(type) {
	case *rsa.PrivateKey:
		switch alg[:2] {
		case "RS":
			return rsa.SignPKCS1v15(rand.Reader, priv, h, digest)
		case "PS":
			return rsa.SignPSS(rand.Reader, priv, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
	case *ecdsa.PrivateKey:
		want := map[string]string{"P-256": "ES256", "P-384": "ES384"}[priv.Curve.Params().Name]
		if alg != want {
			return nil, errors.New("algorithm does not match the curve")
		}
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest)
		if err != nil {
			return nil, err
		}
		var sig struct{ R, S *big.Int }
		if _, err := asn1Unmarshal(der, &sig); err != nil {
			return nil, err
		}
		size := (priv.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		sig.R.FillBytes(out[:size])
		sig.S.FillBytes(out[size:])
		return out, nil
	}
	return nil, errors.New("algorithm does not match the key")
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

func (v *fakeVault) add(name, version string, k *fakeKey) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k.ops == nil {
		k.ops = []string{"sign", "verify"}
	}
	v.keys[name+"/"+version] = k
	return Scheme + ":" + v.srv.URL + "/keys/" + name + "/" + version
}

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

var fastRetry = retry.Policy{Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond, MaxAttempts: 6}

func (v *fakeVault) open(t testing.TB, raw string) (*Signer, error) {
	t.Helper()
	u, err := signer.ParseURI(raw)
	if err != nil {
		t.Fatal(err)
	}
	co := azkeys.ClientOptions{DisableChallengeResourceVerification: true}
	co.Transport = v.srv.Client()
	return Open(context.Background(), u, WithCredential(staticToken{}), WithClientOptions(co), WithRetryPolicy(fastRetry))
}

func TestSign(t *testing.T) {
	v := newFakeVault(t)
	for _, tc := range []struct {
		alg  string
		sigs []x509.SignatureAlgorithm
	}{
		{keypolicy.RSA2048, []x509.SignatureAlgorithm{x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA, x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS}},
		{keypolicy.ECDSAP256, []x509.SignatureAlgorithm{x509.ECDSAWithSHA256}},
		{keypolicy.ECDSAP384, []x509.SignatureAlgorithm{x509.ECDSAWithSHA384}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			raw := v.add("seal-"+strings.ToLower(tc.alg), "0123456789abcdef", &fakeKey{priv: genKey(t, tc.alg), enabled: true})
			s, err := v.open(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			if !keypolicy.PublicKeysEqual(s.Public(), genKey(t, tc.alg).Public()) || s.KeyRef() != raw || s.Provider() != "azurekv" {
				t.Fatalf("public key or reference wrong: %s", s.KeyRef())
			}
			for _, sa := range tc.sigs {
				sealtest.SelfSign(t, s, sa)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	v := newFakeVault(t)
	k := &fakeKey{priv: genKey(t, keypolicy.ECDSAP256), enabled: true}
	raw := v.add("jane", "v1", k)
	s, err := v.open(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("doc"))
	v.mu.Lock()
	k.enabled = false
	v.mu.Unlock()
	v.calls.Store(0)
	_, err = s.SignContext(context.Background(), d[:], crypto.SHA256)
	if !errors.Is(err, signer.ErrAccessDenied) || !strings.Contains(err.Error(), "customer's Azure Key Vault refused") || v.calls.Load() != 1 {
		t.Fatalf("disabled key: %v after %d calls, want one refused call", err, v.calls.Load())
	}
	if _, err := v.open(t, raw); !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("open disabled key: %v", err)
	}
	if _, err := v.open(t, v.srv.URL[:0]+Scheme+":"+v.srv.URL+"/keys/nobody/v1"); !errors.Is(err, signer.ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	// Access removed: the vault answers 403 to sealkeep's identity.
	v.setFault(func(w http.ResponseWriter, r *http.Request, n int64) bool {
		vaultError(w, 403, "Forbidden", "The user, group or application does not have keys sign permission on key vault.")
		return true
	})
	if _, err := v.open(t, v.add("jim", "v1", &fakeKey{priv: genKey(t, keypolicy.ECDSAP256), enabled: true})); !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("403: %v", err)
	}
	v.setFault(nil)
	// Keys the policy refuses, or that cannot sign.
	weak, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if _, err := v.open(t, v.add("p521", "v1", &fakeKey{priv: weak, enabled: true})); !errors.Is(err, signer.ErrUnsupported) || !errors.Is(err, keypolicy.ErrWeakKey) {
		t.Fatalf("P-521: %v", err)
	}
	if _, err := v.open(t, v.add("wrap", "v1", &fakeKey{priv: genKey(t, keypolicy.RSA2048), enabled: true, ops: []string{"wrapKey", "unwrapKey"}})); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("key without sign: %v", err)
	}
	for _, bad := range []string{
		"azurekv:http://vault.example/keys/a/b", "azurekv:https://vault.example/keys/a", "azurekv:https://vault.example/secrets/a/b",
		"azurekv:https://vault.example/keys/a/b?x=1",
	} {
		u, err := signer.ParseURI(bad)
		if err == nil {
			_, err = Open(context.Background(), u, WithCredential(staticToken{}))
		}
		if !errors.Is(err, signer.ErrInvalidURI) {
			t.Errorf("%s: %v, want ErrInvalidURI", bad, err)
		}
	}
	// A signature that does not verify is never returned.
	bad := &fakeKey{priv: genKey(t, keypolicy.RSA2048), enabled: true, badSigns: true}
	bs, err := v.open(t, v.add("bad", "v1", bad))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, signer.ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	d384 := sha512.Sum384([]byte("x"))
	if _, err := s.Sign(nil, d384[:], crypto.SHA384); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("P-256 with SHA-384: %v", err)
	}
}

func throttle(w http.ResponseWriter, retryAfter string) {
	w.Header().Set("Retry-After", retryAfter)
	vaultError(w, 429, "Throttled", "Request was not processed because too many requests were received.")
}

func TestThrottling(t *testing.T) {
	v := newFakeVault(t)
	s, err := v.open(t, v.add("jane", "v1", &fakeKey{priv: genKey(t, keypolicy.ECDSAP256), enabled: true}))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("doc"))
	before := runtime.NumGoroutine()

	v.calls.Store(0)
	v.setFault(func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n <= 2 {
			throttle(w, "0")
			return true
		}
		if n == 3 {
			vaultError(w, 503, "ServiceUnavailable", "try again")
			return true
		}
		return false
	})
	if _, err := s.SignContext(context.Background(), d[:], crypto.SHA256); err != nil || v.calls.Load() != 4 {
		t.Fatalf("throttled twice, then 503, then success: %v after %d calls", err, v.calls.Load())
	}

	// Always throttled, with a Retry-After beyond the caller's deadline: give
	// up at once and pass the vault's wait on.
	v.calls.Store(0)
	v.setFault(func(w http.ResponseWriter, r *http.Request, n int64) bool { throttle(w, "7"); return true })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = s.SignContext(ctx, d[:], crypto.SHA256)
	if d, ok := retry.RetryAfter(err); !ok || d != 7*time.Second || !errors.Is(err, signer.ErrUnavailable) || v.calls.Load() != 1 {
		t.Fatalf("always throttled: %v (RetryAfter %v) after %d calls", err, d, v.calls.Load())
	}

	// A vault that never answers: bounded by the context.
	stop := make(chan struct{})
	v.setFault(func(w http.ResponseWriter, r *http.Request, n int64) bool {
		io.Copy(io.Discard, r.Body) // so that the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-stop:
		}
		return true
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := s.SignContext(ctx2, d[:], crypto.SHA256); !errors.Is(err, signer.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung vault: %v", err)
	}
	close(stop)
	v.setFault(nil)
	v.srv.Client().Transport.(*http.Transport).CloseIdleConnections()
	for i := 0; runtime.NumGoroutine() > before && i < 200; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after", before, n)
	}
}

func asn1Unmarshal(der []byte, v any) ([]byte, error) { return asn1.Unmarshal(der, v) }
