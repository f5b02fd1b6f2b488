//go:build pkcs11

package custody

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/signer/pkcs11"
	"sealkeep/internal/testenv"
)

// The PINs are distinctive so that a leak is easy to find.
const (
	hsmUserPIN  = "u-PIN-custody-5e1f"
	hsmWrongPIN = "w-PIN-custody-90ab"
)

// softHSM initialises SoftHSM2 tokens in a temporary directory (selected
// by SOFTHSM2_CONF) and returns the module path and a user PIN file and a
// wrong one.
func softHSM(t *testing.T, labels ...string) (module, pinFile, wrongFile string) {
	t.Helper()
	module = testenv.SoftHSM(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, fmt.Appendf(nil, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", dir), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	pinFile, wrongFile = filepath.Join(dir, "user.pin"), filepath.Join(dir, "wrong.pin")
	for p, pin := range map[string]string{pinFile: hsmUserPIN, wrongFile: hsmWrongPIN} {
		if err := os.WriteFile(p, []byte(pin+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range labels {
		out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", l, "--pin", hsmUserPIN, "--so-pin", "so-PIN-custody").CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util: %v: %s", err, out)
		}
	}
	t.Cleanup(pkcs11.CloseAll)
	return module, pinFile, wrongFile
}

func hsmURI(token, object, module, pinFile string) string {
	q := url.Values{"module-path": {module}, "pin-source": {"file:" + pinFile}}
	return "pkcs11:token=" + token + ";object=" + object + "?" + q.Encode()
}

// TestExternalKeySoftHSM: a key in a PKCS#11 token goes through the whole
// flow; the stored reference names the PIN file, never the PIN; a wrong PIN
// is a clear error that reveals no PIN and stores nothing.
func TestExternalKeySoftHSM(t *testing.T) {
	module, pinFile, wrongFile := softHSM(t, "custody-ok", "custody-wrong")
	ctx := context.Background()
	uri := hsmURI("custody-ok", "jane-2026", module, pinFile)
	if _, err := signer.Create(ctx, uri, keypolicy.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, openSQLite(t), Options{})
	f.orgIdentity(t, "acme", "jane")
	v := f.external(t, "jane", uri)
	if !strings.HasPrefix(v.KeyRef, "pkcs11:") || !strings.Contains(v.KeyRef, "pin-source=file") || strings.Contains(v.KeyRef, hsmUserPIN) {
		t.Fatalf("stored reference %q", v.KeyRef)
	}
	if _, err := f.svc.UploadCertificate(f.ctx, testActor, "jane", v.Version, f.issueFor(t, "jane", v.Version), [][]byte{ca(t).Cert.Raw}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Activate(f.ctx, testActor, "jane", v.Version, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckKey(f.ctx, testActor, "jane", v.Version); err != nil {
		t.Fatalf("HSM key does not sign: %v", err)
	}
	e := f.lastEntry(t, "acme")
	if e.Action != audit.ActionVersionActivate {
		t.Fatalf("last entry %+v", e)
	}

	wrong := hsmURI("custody-wrong", "k", module, wrongFile)
	before := f.head(t, "acme")
	_, _, err := f.svc.ExternalKey(ctx, testActor, "jane", wrong, pkix.Name{CommonName: "Jane"})
	if err == nil {
		t.Fatal("a wrong PIN opened the token")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, hsmWrongPIN) || strings.Contains(s, hsmUserPIN) {
			t.Fatalf("error reveals a PIN: %s", s)
		}
	}
	if f.head(t, "acme") != before {
		t.Fatal("a failed external key wrote to the audit trail")
	}
	if _, _, err := f.svc.ExternalKey(ctx, testActor, "jane", strings.Replace(uri, "pin-source=file", "pin-value="+hsmUserPIN+"&x=file", 1), pkix.Name{CommonName: "Jane"}); !errors.Is(err, signer.ErrInvalidURI) || strings.Contains(err.Error(), hsmUserPIN) {
		t.Fatalf("URI with a PIN: %v", err)
	}
	f.checkConsistent(t)
}
