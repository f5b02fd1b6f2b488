package custody

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/keypolicy/pkitest"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/awskms"
	"sealkeep/internal/signer/fake"
	"sealkeep/internal/store"
	"sealkeep/internal/testenv"
)

// external records keyURI as a new version of identity, checks the CSR with
// crypto/x509 and returns the version.
func (f *fixture) external(t *testing.T, identity, keyURI string) VersionInfo {
	t.Helper()
	v, csr, err := f.svc.ExternalKey(f.ctx, testActor, identity, keyURI, pkix.Name{CommonName: "Jane Doe", Organization: []string{"Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckSignature(); err != nil {
		t.Fatalf("CSR signature through the provider: %v", err)
	}
	if req.Subject.CommonName != "Jane Doe" {
		t.Fatalf("CSR subject %v", req.Subject)
	}
	return v
}

// lastEntry returns the last entry of chain.
func (f *fixture) lastEntry(t *testing.T, chain string) audit.Entry {
	t.Helper()
	es := f.entries(t, chain)
	return es[len(es)-1]
}

func TestExternalKeyLifecycleFake(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, Options{})
		f.orgIdentity(t, "acme", "jane")
		v := f.external(t, "jane", "fake:lifecycle-"+t.Name()+"?alg=ECDSA-P384")
		if v.Status != string(audit.StatusPending) || v.KeyRef != "fake:lifecycle-"+t.Name()+"?alg=ECDSA-P384" || v.Algorithm != keypolicy.ECDSAP384 || v.KeyPresent {
			t.Fatalf("pending external version: %+v", v)
		}
		e := f.lastEntry(t, "acme")
		if e.Action != audit.ActionKeyExternal || e.Details[audit.DetailProvider] != "fake" ||
			e.Details[audit.DetailKeyRef] != v.KeyRef || e.Details[audit.DetailAlgorithm] != keypolicy.ECDSAP384 {
			t.Fatalf("audit entry: %+v", e)
		}
		err := st.View(f.ctx, func(tx store.ReadTx) error {
			sv, err := tx.Version("jane", v.Version)
			if err == nil && sv.KeyBlob != nil {
				t.Errorf("external version stores a key blob")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		// A certificate for another key is refused; the right one is taken.
		other := pkitest.Issue(t, ca(t), pkitest.LeafTemplate("other"), pkitest.Key(t, keypolicy.ECDSAP384, "other").Public()).Raw
		if _, err := f.svc.UploadCertificate(f.ctx, testActor, "jane", v.Version, other, nil); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("upload of a certificate for another key: %v", err)
		}
		if _, err := f.svc.UploadCertificate(f.ctx, testActor, "jane", v.Version, f.issueFor(t, "jane", v.Version), [][]byte{ca(t).Cert.Raw}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Activate(f.ctx, testActor, "jane", v.Version, ""); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.CheckKey(f.ctx, testActor, "jane", v.Version); err != nil {
			t.Fatalf("external key does not sign: %v", err)
		}
		// DEK and KEK rotation pass over the external version (no blob).
		if _, err := f.svc.RotateDEK(f.ctx, testActor, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RotateKEK(f.ctx, testActor, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.CheckKey(f.ctx, testActor, "jane", v.Version); err != nil {
			t.Fatalf("external key after DEK and KEK rotation: %v", err)
		}
		s, err := f.svc.Signer(f.ctx, testActor, "jane", v.Version)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(signer.ContextSigner); !ok {
			t.Error("external signer is not a ContextSigner")
		}

		// Rotation to a local key, then destroy of the external version.
		r := f.ready(t, "jane")
		if _, err := f.svc.Activate(f.ctx, testActor, "jane", r.Version, "rotate"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Destroy(f.ctx, testActor, "jane", v.Version); err != nil {
			t.Fatal(err)
		}
		e = f.lastEntry(t, "acme")
		if e.Action != audit.ActionVersionDestroy || e.Details[audit.DetailProvider] != "fake" || !strings.Contains(e.Details[audit.DetailReason], "grant") {
			t.Fatalf("destroy entry of an external version: %+v", e)
		}
		if _, err := f.svc.Signer(f.ctx, testActor, "jane", v.Version); !errors.Is(err, ErrForbidden) {
			t.Fatalf("signer of a destroyed external version: %v", err)
		}
		f.checkConsistent(t)
	})
}

func TestExternalKeyRejects(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "jane")
	before := f.head(t, "acme")
	for _, tc := range []struct {
		name, uri string
		want      error
	}{
		{"secret in URI", "fake:k?pin-value=1234", signer.ErrInvalidURI},
		{"unknown scheme", "nosuch:key", signer.ErrInvalidURI},
		{"local scheme", "local", signer.ErrInvalidURI},
		{"refused", "fake:rejects-denied?fail=denied", ErrForbidden},
		{"bad signature", "fake:rejects-badsig?fail=badsig", signer.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.ExternalKey(f.ctx, testActor, "jane", tc.uri, pkix.Name{CommonName: "Jane"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "1234") {
				t.Fatalf("error echoes the secret: %v", err)
			}
		})
	}
	if _, _, err := f.svc.ExternalKey(f.ctx, testActor, "jane", "fake:nocn", pkix.Name{}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("no common name: %v", err)
	}
	if _, _, err := f.svc.ExternalKey(f.ctx, testActor, "nobody", "fake:x", pkix.Name{CommonName: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown identity: %v", err)
	}
	if got := f.head(t, "acme"); got != before {
		t.Fatalf("rejected external keys wrote %d audit entries", got-before)
	}
}

// TestExternalSignerFailures: a provider that refuses, returns a bad
// signature or now holds another key behind the same reference (the
// customer changed their KMS) is audited as security.sign_failed and
// nothing is signed (no fallback).
func TestExternalSignerFailures(t *testing.T) {
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "jane")
	for _, tc := range []struct {
		name string
		// spoil makes the key behind the stored reference misbehave.
		spoil func(name string) error
		want  error
	}{
		{"refused", func(n string) error { fake.SetFault(n, "denied"); return nil }, signer.ErrAccessDenied},
		{"bad signature", func(n string) error { fake.SetFault(n, "badsig"); return nil }, signer.ErrBadSignature},
		{"other key", fake.Rekey, ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "failures-" + strings.ReplaceAll(tc.name, " ", "-")
			ref := "fake:" + name
			v := f.external(t, "jane", ref)
			if err := tc.spoil(name); err != nil {
				t.Fatal(err)
			}
			err := f.signs(t, "jane", v.Version)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			e := f.lastEntry(t, "acme")
			if e.Action != audit.ActionSecuritySignFailed || e.Subject.Version != v.Version ||
				e.Details[audit.DetailProvider] != "fake" || e.Details[audit.DetailKeyRef] != ref || e.Details[audit.DetailError] == "" {
				t.Fatalf("audit entry: %+v", e)
			}
		})
	}
	f.checkConsistent(t)
}

// localKMS points the AWS SDK at the local-kms emulator with static
// credentials and returns the base URI.
func localKMS(t *testing.T) string {
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

func TestExternalKeyAWSKMS(t *testing.T) {
	base := localKMS(t)
	u, err := signer.ParseURI(base)
	if err != nil {
		t.Fatal(err)
	}
	created, err := awskms.Create(context.Background(), u, keypolicy.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "jane")
	v := f.external(t, "jane", created.KeyRef())
	if !strings.HasPrefix(v.KeyRef, "awskms:arn:aws:kms:eu-west-1:") {
		t.Fatalf("stored key reference %q", v.KeyRef)
	}
	if _, err := f.svc.UploadCertificate(f.ctx, testActor, "jane", v.Version, f.issueFor(t, "jane", v.Version), [][]byte{ca(t).Cert.Raw}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Activate(f.ctx, testActor, "jane", v.Version, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckKey(f.ctx, testActor, "jane", v.Version); err != nil {
		t.Fatalf("KMS key does not sign: %v", err)
	}
	// The customer cuts sealkeep off (local-kms has no grants: disable).
	c, err := awskms.NewClient(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	keyID, _, _ := strings.Cut(strings.TrimPrefix(v.KeyRef, "awskms:"), "?")
	if _, err := c.KMS.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatal(err)
	}
	err = f.signs(t, "jane", v.Version)
	if !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("signing with a disabled KMS key: %v", err)
	}
	e := f.lastEntry(t, "acme")
	if e.Action != audit.ActionSecuritySignFailed || e.Details[audit.DetailProvider] != "awskms" || e.Details[audit.DetailKeyRef] != v.KeyRef {
		t.Fatalf("refusal not audited: %+v", e)
	}
	f.checkConsistent(t)
}
