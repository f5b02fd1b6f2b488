package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/rogpeppe/go-internal/testscript"

	"sealkeep/internal/signer"
	"sealkeep/internal/signer/awskms"
	"sealkeep/internal/testenv"
)

// TestAWSKMSScripts runs the CLI scripts in testdata/awskms against the
// local-kms emulator (they live apart from testdata/script because they
// need it). $KMS_ENDPOINT is the emulator; credentials are static. Extra
// commands, besides issue and exitcode (see TestScripts):
//
//	kmskey sign|encrypt VAR   create an ECDSA P-256 signing key or a
//	                          symmetric key and set $VAR to its ARN
//	kmsdisable ARN            disable a key (the customer removes access;
//	                          local-kms has no grants)
func TestAWSKMSScripts(t *testing.T) {
	ep := testenv.LocalKMS(t)
	creds := t.TempDir()
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_CONFIG_FILE": filepath.Join(creds, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(creds, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
	}
	for k, v := range env {
		t.Setenv(k, v) // for kmskey and kmsdisable, which run in this process
	}
	u, err := signer.ParseURI("awskms:?region=eu-west-1&endpoint=" + ep)
	if err != nil {
		t.Fatal(err)
	}
	c, err := awskms.NewClient(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/awskms",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SEALKEEP_HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("KMS_ENDPOINT", ep)
			for k, v := range env {
				e.Setenv(k, v)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"issue":    cmdIssue,
			"exitcode": cmdExitCode,
			"kmskey": func(ts *testscript.TestScript, neg bool, args []string) {
				in := &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify}
				if len(args) != 2 || args[0] != "sign" && args[0] != "encrypt" {
					ts.Fatalf("usage: kmskey sign|encrypt VAR")
				}
				if args[0] == "encrypt" {
					in = &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt}
				}
				out, err := c.KMS.CreateKey(context.Background(), in)
				ts.Check(err)
				ts.Setenv(args[1], aws.ToString(out.KeyMetadata.Arn))
			},
			"kmsdisable": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: kmsdisable ARN")
				}
				_, err := c.KMS.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(args[0])})
				ts.Check(err)
			},
		},
	})
}
