package awskms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sealkeep/internal/signer/internal/sealtest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/retry"
	"sealkeep/internal/testenv"
)

// fastRetry keeps the throttling tests short; the logic is the same as
// retry.Default.
var fastRetry = retry.Policy{Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond, MaxAttempts: 6}

// localKMS points the SDK at the local-kms emulator with static credentials
// and returns the base URI ("awskms:?region=...&endpoint=...").
func localKMS(t testing.TB) string {
	t.Helper()
	ep := testenv.LocalKMS(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return "awskms:?region=eu-west-1&endpoint=" + ep
}

func parse(t testing.TB, raw string) *signer.URI {
	t.Helper()
	u, err := signer.ParseURI(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// admin is a raw KMS client for test set-up (creating, disabling keys).
func admin(t testing.TB, base string) *kms.Client {
	t.Helper()
	c, err := NewClient(context.Background(), parse(t, base))
	if err != nil {
		t.Fatal(err)
	}
	return c.KMS
}

func createRaw(t testing.TB, base string, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	out, err := admin(t, base).CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// withKey replaces the key part of base.
func withKey(base, key string) string {
	return strings.Replace(base, "awskms:", "awskms:"+key, 1)
}

func TestCreateSignVerify(t *testing.T) {
	base := localKMS(t)
	for _, alg := range []string{keypolicy.RSA2048, keypolicy.RSA3072, keypolicy.ECDSAP256, keypolicy.ECDSAP384} {
		t.Run(alg, func(t *testing.T) {
			created, err := signer.Create(context.Background(), base, alg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := keypolicy.CheckPublicKey(created.Public())
			if err != nil || got != alg {
				t.Fatalf("created key is %q (%v), want %s", got, err, alg)
			}
			s := created.(*Signer)
			if s.Provider() != "awskms" || !strings.Contains(s.KeyRef(), ":key/") || !strings.HasPrefix(s.KeyRef(), "awskms:arn:aws:kms:eu-west-1:") {
				t.Fatalf("Provider=%q KeyRef=%q", s.Provider(), s.KeyRef())
			}
			// Reopen through the registry from the stored reference.
			opened, err := signer.Open(context.Background(), s.KeyRef())
			if err != nil {
				t.Fatal(err)
			}
			if !keypolicy.PublicKeysEqual(opened.Public(), created.Public()) {
				t.Fatal("reopened key has another public key")
			}
			sealtest.SelfSign(t, opened, 0)
			if _, ok := opened.Public().(*rsa.PublicKey); !ok {
				return
			}
			// PSS through KMS: local-kms uses the maximum salt length, AWS
			// the hash length; both verify with PSSSaltLengthAuto.
			for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				d := h.New()
				d.Write([]byte("pss"))
				digest := d.Sum(nil)
				opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
				sig, err := signer.SignContext(context.Background(), opened, nil, digest, opts)
				if err != nil {
					t.Fatalf("PSS %v: %v", h, err)
				}
				if err := rsa.VerifyPSS(opened.Public().(*rsa.PublicKey), h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
					t.Fatalf("PSS %v does not verify: %v", h, err)
				}
				if _, err := opened.Sign(nil, digest, &rsa.PSSOptions{SaltLength: 7, Hash: h}); !errors.Is(err, signer.ErrUnsupported) {
					t.Fatalf("PSS with a 7-byte salt: %v, want ErrUnsupported", err)
				}
			}
			// PKCS#1 v1.5 with SHA-512 as well.
			digest := sha512.Sum512([]byte("v15"))
			sig, err := opened.Sign(nil, digest[:], crypto.SHA512)
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPKCS1v15(opened.Public().(*rsa.PublicKey), crypto.SHA512, digest[:], sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCreateWithAliasAndRSA4096(t *testing.T) {
	base := localKMS(t)
	alias := "alias/sealkeep-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	alias = strings.ReplaceAll(alias, ".", "-")
	s, err := Create(context.Background(), parse(t, withKey(base, alias)), keypolicy.RSA4096)
	if err != nil {
		t.Fatal(err)
	}
	byAlias, err := signer.Open(context.Background(), withKey(base, alias))
	if err != nil {
		t.Fatal(err)
	}
	if !keypolicy.PublicKeysEqual(byAlias.Public(), s.Public()) {
		t.Fatal("alias opens another key")
	}
	sealtest.SelfSign(t, byAlias, 0)
	// The alias is taken now: a second key under it is refused, and the key
	// made for it is scheduled for deletion rather than left behind.
	_, err = Create(context.Background(), parse(t, withKey(base, alias)), keypolicy.ECDSAP256)
	if err == nil || !strings.Contains(err.Error(), "CreateAlias") {
		t.Fatalf("second key under the same alias: %v", err)
	}
	orphan := regexp.MustCompile(`arn:aws:kms:[^?\s]+`).FindString(err.Error())
	md, derr := admin(t, base).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: &orphan})
	if derr != nil || md.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("key %q made for the taken alias: %v %v, want pending deletion", orphan, md, derr)
	}
}

func TestRejectedKeys(t *testing.T) {
	base := localKMS(t)
	for _, tc := range []struct {
		name  string
		spec  types.KeySpec
		usage types.KeyUsageType
		want  error
	}{
		{"P-521 is outside the policy", types.KeySpecEccNistP521, types.KeyUsageTypeSignVerify, keypolicy.ErrWeakKey},
		{"secp256k1", types.KeySpecEccSecgP256k1, types.KeyUsageTypeSignVerify, signer.ErrUnsupported},
		{"encryption key", types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt, signer.ErrUnsupported},
		{"symmetric key", types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt, signer.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arn := createRaw(t, base, tc.spec, tc.usage)
			_, err := signer.Open(context.Background(), withKey(base, arn))
			if !errors.Is(err, tc.want) || !errors.Is(err, signer.ErrUnsupported) && !errors.Is(err, signer.ErrAccessDenied) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := signer.Create(context.Background(), base, "RSA-1024"); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("Create RSA-1024: %v", err)
	}
	if _, err := signer.Open(context.Background(), withKey(base, "3b3a2f8e-0000-4000-8000-000000000000")); !errors.Is(err, signer.ErrKeyNotFound) || !strings.Contains(err.Error(), "customer's AWS KMS refused") {
		t.Fatalf("Open unknown key: %v, want ErrKeyNotFound saying the customer's KMS refused", err)
	}
	s, err := signer.Create(context.Background(), base, keypolicy.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	d384 := sha512.Sum384([]byte("x"))
	if _, err := s.Sign(nil, d384[:], crypto.SHA384); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("P-256 key with SHA-384: %v, want ErrUnsupported", err)
	}
	if _, err := s.Sign(nil, d384[:20], crypto.SHA1); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("SHA-1: %v, want ErrUnsupported", err)
	}
}

// countingTransport counts KMS calls by operation and lets a test rewrite
// responses.
type countingTransport struct {
	calls  atomic.Int64
	inner  http.RoundTripper
	modify func(op string, n int64, req *http.Request) (*http.Response, error)
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "TrentService.")
	n := c.calls.Add(1)
	if c.modify != nil {
		if resp, err := c.modify(op, n, req); resp != nil || err != nil {
			return resp, err
		}
	}
	return c.inner.RoundTrip(req)
}

func kmsError(req *http.Request, status int, code string) *http.Response {
	body := `{"__type":"` + code + `","message":"injected by the test"}`
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Errortype": {code}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// faulty opens an existing key through a transport the test controls.
func faulty(t *testing.T, base, arn string, tr *countingTransport) *Signer {
	t.Helper()
	inner := &http.Transport{}
	t.Cleanup(inner.CloseIdleConnections)
	tr.inner = inner
	s, err := Open(context.Background(), parse(t, withKey(base, arn)), WithHTTPClient(&http.Client{Transport: tr}), WithRetryPolicy(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	tr.calls.Store(0)
	return s
}

var digest = func() []byte { d := sha256.Sum256([]byte("document")); return d[:] }()

func TestRevokedAccessFailsClosed(t *testing.T) {
	base := localKMS(t)
	c := admin(t, base)
	for _, tc := range []struct {
		name   string
		revoke func(arn string) error
	}{
		{"disabled", func(arn string) error {
			_, err := c.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: &arn})
			return err
		}},
		{"pending deletion", func(arn string) error {
			_, err := c.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: &arn, PendingWindowInDays: aws.Int32(7)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arn := createRaw(t, base, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
			tr := &countingTransport{}
			s := faulty(t, base, arn, tr)
			if _, err := s.SignContext(context.Background(), digest, crypto.SHA256); err != nil {
				t.Fatal(err)
			}
			if err := tc.revoke(arn); err != nil {
				t.Fatal(err)
			}
			tr.calls.Store(0)
			_, err := s.SignContext(context.Background(), digest, crypto.SHA256)
			if !errors.Is(err, signer.ErrAccessDenied) || errors.Is(err, signer.ErrUnavailable) {
				t.Fatalf("Sign after revocation: %v, want ErrAccessDenied", err)
			}
			if !strings.Contains(err.Error(), "customer's AWS KMS refused") {
				t.Fatalf("error does not say the customer's KMS refused: %v", err)
			}
			if n := tr.calls.Load(); n != 1 {
				t.Fatalf("%d KMS calls after a refusal, want exactly 1 (no retry)", n)
			}
			if _, err := signer.Open(context.Background(), withKey(base, arn)); !errors.Is(err, signer.ErrAccessDenied) {
				t.Fatalf("Open after revocation: %v, want ErrAccessDenied", err)
			}
		})
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	base := localKMS(t)
	arn := createRaw(t, base, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	for _, code := range []string{"ThrottlingException", "KMSInternalException"} {
		t.Run(code, func(t *testing.T) {
			tr := &countingTransport{}
			s := faulty(t, base, arn, tr)
			tr.modify = func(op string, n int64, req *http.Request) (*http.Response, error) {
				if op == "Sign" && n <= 3 {
					return kmsError(req, 400, code), nil
				}
				return nil, nil
			}
			sig, err := s.SignContext(context.Background(), digest, crypto.SHA256)
			if err != nil {
				t.Fatalf("Sign with 3 transient failures: %v", err)
			}
			if err := rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, digest, sig); err != nil {
				t.Fatal(err)
			}
			if n := tr.calls.Load(); n != 4 {
				t.Fatalf("%d calls, want 4 (3 failures, then success)", n)
			}
		})
	}
	t.Run("HTTP 503", func(t *testing.T) {
		tr := &countingTransport{}
		s := faulty(t, base, arn, tr)
		tr.modify = func(op string, n int64, req *http.Request) (*http.Response, error) {
			if n == 1 {
				return kmsError(req, 503, "ServiceUnavailable"), nil
			}
			return nil, nil
		}
		if _, err := s.SignContext(context.Background(), digest, crypto.SHA256); err != nil || tr.calls.Load() != 2 {
			t.Fatalf("err=%v calls=%d, want success on the second call", err, tr.calls.Load())
		}
	})
}

func settledGoroutines(t *testing.T, before int) {
	t.Helper()
	n := 0
	for range 200 {
		if n = runtime.NumGoroutine(); n <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("goroutines: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
}

func TestAlwaysThrottledIsUnavailable(t *testing.T) {
	base := localKMS(t)
	arn := createRaw(t, base, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	tr := &countingTransport{}
	s := faulty(t, base, arn, tr)
	tr.modify = func(op string, n int64, req *http.Request) (*http.Response, error) {
		return kmsError(req, 400, "ThrottlingException"), nil
	}
	before := runtime.NumGoroutine()
	// With the attempt budget.
	_, err := s.SignContext(context.Background(), digest, crypto.SHA256)
	var ue *retry.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, signer.ErrUnavailable) || errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("always throttled: %v, want an UnavailableError", err)
	}
	if ue.Attempts != fastRetry.MaxAttempts || tr.calls.Load() != int64(fastRetry.MaxAttempts) {
		t.Fatalf("attempts=%d calls=%d, want %d", ue.Attempts, tr.calls.Load(), fastRetry.MaxAttempts)
	}
	if d, ok := retry.RetryAfter(err); !ok || d <= 0 {
		t.Fatalf("RetryAfter = %v %v", d, ok)
	}
	// With the caller's deadline and an unbounded attempt budget.
	s.c.Policy.MaxAttempts = 1 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	tr.calls.Store(0)
	_, err = s.SignContext(ctx, digest, crypto.SHA256)
	if d, ok := retry.RetryAfter(err); !ok || d <= 0 || d > fastRetry.Max || !errors.Is(err, signer.ErrUnavailable) {
		t.Fatalf("deadline: %v (RetryAfter %v), want ErrUnavailable with RetryAfter in (0, %v]", err, d, fastRetry.Max)
	}
	if n := tr.calls.Load(); n < 2 {
		t.Fatalf("%d calls within the deadline, want several", n)
	}
	tr.inner.(*http.Transport).CloseIdleConnections()
	settledGoroutines(t, before)
}

func TestTimeoutIsBoundedByContext(t *testing.T) {
	base := localKMS(t)
	arn := createRaw(t, base, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	tr := &countingTransport{}
	s := faulty(t, base, arn, tr)
	tr.modify = func(op string, n int64, req *http.Request) (*http.Response, error) {
		<-req.Context().Done() // a KMS that never answers
		return nil, req.Context().Err()
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := s.SignContext(ctx, digest, crypto.SHA256)
	if !errors.Is(err, signer.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung KMS: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if _, ok := retry.RetryAfter(err); !ok {
		t.Fatal("no RetryAfter on a timeout")
	}
	tr.inner.(*http.Transport).CloseIdleConnections()
	settledGoroutines(t, before)
}

func TestBadSignatureIsRejected(t *testing.T) {
	base := localKMS(t)
	arn := createRaw(t, base, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	tr := &countingTransport{}
	s := faulty(t, base, arn, tr)
	tr.modify = func(op string, n int64, req *http.Request) (*http.Response, error) {
		if op != "Sign" {
			return nil, nil
		}
		resp, err := tr.inner.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, err
		}
		resp.Body.Close()
		// A different, well-formed signature: made by another key.
		other, _ := ecdsa.GenerateKey(s.Public().(*ecdsa.PublicKey).Curve, rand.Reader)
		out["Signature"], _ = ecdsa.SignASN1(rand.Reader, other, digest)
		b, _ := json.Marshal(out)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return resp, nil
	}
	if _, err := s.SignContext(context.Background(), digest, crypto.SHA256); !errors.Is(err, signer.ErrBadSignature) {
		t.Fatalf("tampered signature: %v, want ErrBadSignature", err)
	}
}

func TestURIs(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{
		"awskms:?region=eu-west-1",                                  // no key
		"awskms:k?region=eu-west-1&endpoint=ftp://x",                // bad endpoint
		"awskms:k?region=eu-west-1&endpoint=http://kms.example.com", // plain http off loopback
		"awskms:k?region=eu-west-1&colour=blue",                     // unknown parameter
		"awskms:k?region=eu-west-1&secret=hunter2",                  // refused by ParseURI
	} {
		_, err := signer.Open(ctx, raw)
		if !errors.Is(err, signer.ErrInvalidURI) {
			t.Errorf("%s: %v, want ErrInvalidURI", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error echoes a secret: %v", err)
		}
	}
	if _, err := signer.Create(ctx, "awskms:1234?region=eu-west-1", keypolicy.ECDSAP256); !errors.Is(err, signer.ErrInvalidURI) {
		t.Errorf("Create with a key ID: %v", err)
	}
}

// fakeSTS answers AssumeRole as STS documents it (query protocol, XML).
func fakeSTS(t *testing.T, deny bool, got *url.Values) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		*got = r.PostForm
		w.Header().Set("Content-Type", "text/xml")
		if deny {
			w.WriteHeader(403)
			io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
			return
		}
		io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAASSUMEDROLE</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-session</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/sealkeep-signer/sealkeep</Arn><AssumedRoleId>AROAEXAMPLE:sealkeep</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAssumeRole(t *testing.T) {
	base := localKMS(t)
	arn := createRaw(t, base, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	var form url.Values
	t.Setenv("AWS_ENDPOINT_URL_STS", fakeSTS(t, false, &form))
	role := "arn:aws:iam::111122223333:role/sealkeep-signer"
	raw := withKey(base, arn) + "&role=" + url.QueryEscape(role) + "&external-id=tenant-42"
	var auth atomic.Value
	tr := &countingTransport{inner: &http.Transport{}, modify: func(op string, n int64, req *http.Request) (*http.Response, error) {
		auth.Store(req.Header.Get("Authorization"))
		return nil, nil
	}}
	s, err := Open(context.Background(), parse(t, raw), WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignContext(context.Background(), digest, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if form.Get("Action") != "AssumeRole" || form.Get("RoleArn") != role || form.Get("ExternalId") != "tenant-42" {
		t.Fatalf("AssumeRole request: %v", form)
	}
	if a, _ := auth.Load().(string); !strings.Contains(a, "Credential=ASIAASSUMEDROLE/") {
		t.Fatalf("KMS call not signed with the assumed role's credentials: %q", a)
	}
	if !strings.Contains(s.KeyRef(), "role=") || !strings.Contains(s.KeyRef(), "external-id=tenant-42") {
		t.Fatalf("KeyRef lost the role: %s", s.KeyRef())
	}

	// The role's trust policy refuses sealkeep: a refusal, not an outage.
	t.Setenv("AWS_ENDPOINT_URL_STS", fakeSTS(t, true, &form))
	_, err = Open(context.Background(), parse(t, raw), WithHTTPClient(&http.Client{Transport: &countingTransport{inner: &http.Transport{}}}))
	if !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("AssumeRole denied: %v, want ErrAccessDenied", err)
	}
}
