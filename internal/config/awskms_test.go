package config

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/awskms"
	"sealkeep/internal/testenv"
)

// localKMS points the AWS SDK at the local-kms emulator with static
// credentials and returns its endpoint.
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
	t.Setenv("AWS_REGION", "")
	return ep
}

// kmsClient is a raw KMS client for test set-up.
func kmsClient(t *testing.T, ep string) *kms.Client {
	t.Helper()
	u, err := signer.ParseURI("awskms:?region=eu-west-1&endpoint=" + ep)
	if err != nil {
		t.Fatal(err)
	}
	c, err := awskms.NewClient(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return c.KMS
}

// TestInitAWSKMS: init records a KEK in AWS KMS, an org and a key work
// through it, kek rotate creates a second KMS key and persists the new
// version map in config.json, and a reopened data directory (which reads
// that map) still decrypts the key; retire records the retired version.
func TestInitAWSKMS(t *testing.T) {
	ep := localKMS(t)
	ctx := context.Background()
	c := kmsClient(t, ep)
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	dir := filepath.Join(t.TempDir(), "home")
	res, err := Init(ctx, InitOptions{Dir: dir, KEKAWSKMS: arn, KEKAWSKMSRegion: "eu-west-1", KEKAWSKMSEndpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	k := res.Config.KEKAWSKMS
	if k == nil || k.Active != 1 || !strings.HasPrefix(k.Keys[1], "awskms:"+arn+"?") || res.Config.KEKFile != "" {
		t.Fatalf("config %+v", res.Config)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyringName)); err == nil {
		t.Fatal("a keyring file was created for a KEK in AWS KMS")
	}
	loaded, err := Load(dir)
	if err != nil || !reflect.DeepEqual(loaded, res.Config) {
		t.Fatalf("Load = %+v, %v; want %+v", loaded, err, res.Config)
	}

	env, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := custody.New(env.Store, env.KEK, custody.Options{})
	actor := audit.Actor{Kind: audit.ActorCLI, ID: "tester"}
	if _, err := svc.CreateOrg(ctx, actor, "acme", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateIdentity(ctx, actor, custody.IdentitySpec{ID: "jane", Org: "acme", Owner: "jane", Name: "Jane Doe"}); err != nil {
		t.Fatal(err)
	}
	v, _, err := svc.GenerateKey(ctx, actor, "jane", keypolicy.ECDSAP256, pkix.Name{CommonName: "Jane Doe"})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := svc.RotateKEK(ctx, actor, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Active != 2 || rot.Rewrapped != 1 {
		t.Fatalf("rotation %+v", rot)
	}
	env.Store.Close()

	after, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	k = after.KEKAWSKMS
	if k.Active != 2 || len(k.Keys) != 2 || k.Keys[1] != res.Config.KEKAWSKMS.Keys[1] || !strings.HasPrefix(k.Keys[2], "awskms:") || k.Keys[2] == k.Keys[1] {
		t.Fatalf("config after rotation %+v", k)
	}
	if st, err := os.Stat(filepath.Join(dir, FileName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config.json after rotation: %v %v", st.Mode(), err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, FileName+".tmp-*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}

	env, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Store.Close()
	svc = custody.New(env.Store, env.KEK, custody.Options{})
	if err := svc.CheckKey(ctx, actor, "jane", v.Version); err != nil {
		t.Fatalf("key after KEK rotation and reopening: %v", err)
	}
	if err := svc.RetireKEK(ctx, actor, 1); err != nil {
		t.Fatal(err)
	}
	after, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k := after.KEKAWSKMS; k.Active != 2 || len(k.Keys) != 1 || !reflect.DeepEqual(k.Retired, []uint32{1}) {
		t.Fatalf("config after retirement %+v", k)
	}
}

// TestInitAWSKMSRefused: init refuses a KMS key that cannot be a KEK (a
// signing key, a disabled key) and writes no config.
func TestInitAWSKMSRefused(t *testing.T) {
	ep := localKMS(t)
	ctx := context.Background()
	c := kmsClient(t, ep)
	sign, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	sym, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: sym.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{aws.ToString(sign.KeyMetadata.Arn), aws.ToString(sym.KeyMetadata.Arn)} {
		dir := filepath.Join(t.TempDir(), "home")
		if _, err := Init(ctx, InitOptions{Dir: dir, KEKAWSKMS: key, KEKAWSKMSEndpoint: ep}); err == nil {
			t.Fatalf("init accepted %s", key)
		}
		if _, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
			t.Fatal("a refused init wrote config.json")
		}
	}
	if _, err := Init(ctx, InitOptions{Dir: t.TempDir(), KEKFile: "x", KEKAWSKMS: "k"}); err == nil {
		t.Fatal("init accepted two KEK sources")
	}
}
