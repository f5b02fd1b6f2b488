//go:build pkcs11

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sealkeep/internal/signer/internal/sealtest"

	p11 "github.com/miekg/pkcs11"

	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/testenv"
)

// The PINs are distinctive so that a leak into an error is easy to find.
const (
	userPIN  = "u-PIN-7c41d9"
	wrongPIN = "w-PIN-2b8e50"
	soPIN    = "so-PIN-93aa1f"
	label    = "sealkeep"
)

var (
	hsmOnce   sync.Once
	hsmErr    error
	hsmDir    string
	hsmModule string
	pinFile   string
	badFile   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	CloseAll()
	if hsmDir != "" {
		os.RemoveAll(hsmDir)
	}
	os.Exit(code)
}

// softhsm initialises, once per test binary, a SoftHSM2 token directory
// selected by SOFTHSM2_CONF (read by the module when it is initialised) with
// the token "sealkeep".
func softhsm(t testing.TB) string {
	t.Helper()
	module := testenv.SoftHSM(t)
	hsmOnce.Do(func() {
		hsmModule = module
		if hsmDir, hsmErr = os.MkdirTemp("", "sealkeep-softhsm"); hsmErr != nil {
			return
		}
		conf := filepath.Join(hsmDir, "softhsm2.conf")
		hsmErr = os.WriteFile(conf, fmt.Appendf(nil, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", hsmDir), 0o600)
		if hsmErr != nil {
			return
		}
		os.Mkdir(filepath.Join(hsmDir, "tokens"), 0o700)
		os.Setenv("SOFTHSM2_CONF", conf)
		pinFile = filepath.Join(hsmDir, "user.pin")
		badFile = filepath.Join(hsmDir, "wrong.pin")
		os.WriteFile(pinFile, []byte(userPIN+"\n"), 0o600)
		os.WriteFile(badFile, []byte(wrongPIN+"\n"), 0o600)
		hsmErr = initToken(label, userPIN)
	})
	if hsmErr != nil {
		t.Fatal(hsmErr)
	}
	return hsmModule
}

func initToken(label, pin string) error {
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPIN).CombinedOutput()
	if err != nil {
		return fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
	}
	return nil
}

func keyURI(tok, object, pinSource string) *signer.URI {
	return &signer.URI{Scheme: Scheme, Attrs: map[string]string{"token": tok, "object": object},
		Query: url.Values{"module-path": {hsmModule}, "pin-source": {pinSource}}}
}

var keyN int

func newKey(t *testing.T, alg string) *Signer {
	t.Helper()
	softhsm(t)
	keyN++
	s, err := Create(context.Background(), keyURI(label, fmt.Sprintf("key-%d-%s", keyN, alg), "file:"+pinFile), alg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkNoPIN fails if err's text or %+v/%#v forms contain a PIN.
func checkNoPIN(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, pin := range []string{userPIN, wrongPIN, soPIN} {
			if strings.Contains(s, pin) {
				t.Fatalf("error reveals a PIN: %s", s)
			}
		}
	}
}

func TestCreateOpenSign(t *testing.T) {
	for _, tc := range []struct {
		alg  string
		sigs []x509.SignatureAlgorithm
	}{
		{keypolicy.RSA2048, []x509.SignatureAlgorithm{x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA, x509.SHA256WithRSAPSS, x509.SHA512WithRSAPSS}},
		{keypolicy.RSA3072, []x509.SignatureAlgorithm{x509.SHA256WithRSA}},
		{keypolicy.ECDSAP256, []x509.SignatureAlgorithm{x509.ECDSAWithSHA256}},
		{keypolicy.ECDSAP384, []x509.SignatureAlgorithm{x509.ECDSAWithSHA384}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			created := newKey(t, tc.alg)
			if got, err := keypolicy.CheckPublicKey(created.Public()); err != nil || got != tc.alg {
				t.Fatalf("created %q (%v), want %s", got, err, tc.alg)
			}
			// Reopen by label from the stored reference through the
			// registry, as custody does.
			opened, err := signer.Open(context.Background(), created.KeyRef())
			if err != nil {
				t.Fatal(err)
			}
			s := opened.(*Signer)
			if !keypolicy.PublicKeysEqual(s.Public(), created.Public()) || s.Provider() != "pkcs11" {
				t.Fatal("reopened key differs")
			}
			if strings.Contains(s.KeyRef(), userPIN) || !strings.Contains(s.KeyRef(), "pin-source=file") {
				t.Fatalf("KeyRef = %s", s.KeyRef())
			}
			for _, sa := range tc.sigs {
				sealtest.SelfSign(t, s, sa)
			}
		})
	}
}

func TestFindByID(t *testing.T) {
	s := newKey(t, keypolicy.ECDSAP256)
	u := keyURI(label, "", "file:"+pinFile)
	delete(u.Attrs, "object")
	u.Attrs["id"] = string(s.loc.id)
	byID, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if !keypolicy.PublicKeysEqual(byID.Public(), s.Public()) {
		t.Fatal("id names another key")
	}
	d := sha256.Sum256([]byte("id"))
	sig, err := byID.Sign(nil, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("sign by id: %v", err)
	}
}

func TestMissingKeyAndBadURIs(t *testing.T) {
	softhsm(t)
	_, err := Open(context.Background(), keyURI(label, "no-such-key", "file:"+pinFile))
	if !errors.Is(err, signer.ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	for name, u := range map[string]*signer.URI{
		"no token":      {Scheme: Scheme, Attrs: map[string]string{"object": "k"}, Query: url.Values{"module-path": {hsmModule}, "pin-source": {"file:" + pinFile}}},
		"slot":          {Scheme: Scheme, Attrs: map[string]string{"slot-id": "0", "object": "k"}, Query: url.Values{"module-path": {hsmModule}, "pin-source": {"file:" + pinFile}}},
		"relative":      {Scheme: Scheme, Attrs: map[string]string{"token": label, "object": "k"}, Query: url.Values{"module-path": {"libsofthsm2.so"}, "pin-source": {"file:" + pinFile}}},
		"no pin-source": {Scheme: Scheme, Attrs: map[string]string{"token": label, "object": "k"}, Query: url.Values{"module-path": {hsmModule}}},
		"pin in query":  {Scheme: Scheme, Attrs: map[string]string{"token": label, "object": "k"}, Query: url.Values{"module-path": {hsmModule}, "pin-source": {userPIN}}},
		"no key":        {Scheme: Scheme, Attrs: map[string]string{"token": label}, Query: url.Values{"module-path": {hsmModule}, "pin-source": {"file:" + pinFile}}},
		"public key":    {Scheme: Scheme, Attrs: map[string]string{"token": label, "object": "k", "type": "public"}, Query: url.Values{"module-path": {hsmModule}, "pin-source": {"file:" + pinFile}}},
		"unknown param": {Scheme: Scheme, Attrs: map[string]string{"token": label, "object": "k"}, Query: url.Values{"module-path": {hsmModule}, "pin-source": {"file:" + pinFile}, "x": {"1"}}},
	} {
		_, err := Open(context.Background(), u)
		if !errors.Is(err, signer.ErrInvalidURI) {
			t.Errorf("%s: %v, want ErrInvalidURI", name, err)
		} else {
			checkNoPIN(t, err)
		}
	}
	t.Setenv("SEALKEEP_PKCS11_MODULES", "/opt/hsm/libvendor.so")
	if _, err := Open(context.Background(), keyURI(label, "k", "file:"+pinFile)); !errors.Is(err, signer.ErrInvalidURI) {
		t.Fatalf("module outside the allow-list: %v", err)
	}
	if _, err := signer.Open(context.Background(), "pkcs11:object=k?module-path=/x&pin-value="+userPIN); err == nil || strings.Contains(err.Error(), userPIN) {
		t.Fatalf("pin-value: %v", err)
	}
}

func TestPINFromEnvironment(t *testing.T) {
	s := newKey(t, keypolicy.ECDSAP256)
	CloseAll()
	t.Setenv("SEALKEEP_TEST_HSM_PIN", userPIN)
	byEnv, err := Open(context.Background(), keyURI(label, s.loc.object, "env:SEALKEEP_TEST_HSM_PIN"))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("env"))
	if _, err := byEnv.SignContext(context.Background(), d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	CloseAll()
	_, err = Open(context.Background(), keyURI(label, s.loc.object, "env:SEALKEEP_TEST_UNSET_PIN"))
	if !errors.Is(err, signer.ErrAccessDenied) {
		t.Fatalf("unset PIN variable: %v", err)
	}
}

func TestWrongPIN(t *testing.T) {
	s := newKey(t, keypolicy.ECDSAP256)
	CloseAll() // log out, so that the next connection logs in again
	_, err := Open(context.Background(), keyURI(label, s.loc.object, "file:"+badFile))
	if !errors.Is(err, signer.ErrAccessDenied) || !strings.Contains(err.Error(), "refused the PIN") {
		t.Fatalf("wrong PIN: %v, want ErrAccessDenied naming the PIN refusal", err)
	}
	checkNoPIN(t, err)
	// A PIN file others can read is refused before it is read.
	loose := filepath.Join(t.TempDir(), "loose.pin")
	os.WriteFile(loose, []byte(userPIN), 0o644)
	os.Chmod(loose, 0o644)
	CloseAll()
	if _, err := Open(context.Background(), keyURI(label, s.loc.object, "file:"+loose)); !errors.Is(err, signer.ErrAccessDenied) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable PIN file: %v", err)
	} else {
		checkNoPIN(t, err)
	}
	// The right PIN still works (one failure does not lock the token).
	ok, err := Open(context.Background(), keyURI(label, s.loc.object, "file:"+pinFile))
	if err != nil {
		t.Fatal(err)
	}
	// Nor does the PIN show in any formatting of the signer or its token.
	checkNoPIN(t, fmt.Errorf("%v %+v %#v %+v %#v", ok, ok, ok, ok.t, ok.t))
}

func TestRepeatedWrongPIN(t *testing.T) {
	softhsm(t)
	const other = "lockme"
	if err := initToken(other, userPIN); err != nil {
		t.Fatal(err)
	}
	// SoftHSM2 never locks a user PIN, so the lock itself is covered by
	// TestPINErrorsAreClear; here every attempt must fail the same clear way.
	for i := 0; i < 5; i++ {
		CloseAll()
		_, err := Open(context.Background(), keyURI(other, "k", "file:"+badFile))
		if !errors.Is(err, signer.ErrAccessDenied) {
			t.Fatalf("wrong PIN, attempt %d: %v", i+1, err)
		}
		checkNoPIN(t, err)
	}
}

func TestPINErrorsAreClear(t *testing.T) {
	tok := &token{module: "/usr/lib/x.so", label: "hsm1", pinSource: "file:/etc/pin"}
	for _, tc := range []struct {
		rv   uint
		want error
		says string
	}{
		{p11.CKR_PIN_INCORRECT, signer.ErrAccessDenied, "wrong PIN"},
		{p11.CKR_PIN_LOCKED, signer.ErrAccessDenied, "locked"},
		{p11.CKR_PIN_EXPIRED, signer.ErrAccessDenied, "expired"},
		{p11.CKR_TOKEN_NOT_PRESENT, signer.ErrUnavailable, "not available"},
		{p11.CKR_DEVICE_REMOVED, signer.ErrUnavailable, "not available"},
		{p11.CKR_MECHANISM_INVALID, signer.ErrUnsupported, "cannot"},
	} {
		err := tok.mapError("logging in", fmt.Errorf("failed to log into long term session: %w", p11.Error(tc.rv)))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), `"hsm1"`) {
			t.Errorf("0x%X: %v, want %v saying %q", tc.rv, err, tc.want, tc.says)
		}
	}
}

// closeAllSessions drops every session on the token, as an HSM does when it
// restarts or a network HSM's connection breaks.
func closeAllSessions(t *testing.T, tokenLabel string) {
	t.Helper()
	ctx := p11.New(hsmModule)
	defer ctx.Destroy()
	if err := ctx.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := ctx.GetTokenInfo(slot)
		if err == nil && info.Label == tokenLabel {
			if err := ctx.CloseAllSessions(slot); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("token %q not found", tokenLabel)
}

func TestReconnectAfterSessionLoss(t *testing.T) {
	s := newKey(t, keypolicy.RSA2048)
	d := sha512.Sum384([]byte("reconnect"))
	if _, err := s.Sign(nil, d[:], crypto.SHA384); err != nil {
		t.Fatal(err)
	}
	gen := s.t.gen
	closeAllSessions(t, label)
	sig, err := s.SignContext(context.Background(), d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384})
	if err != nil {
		t.Fatalf("sign after the sessions were dropped: %v", err)
	}
	if err := rsa.VerifyPSS(s.Public().(*rsa.PublicKey), crypto.SHA384, d[:], sig, nil); err != nil {
		t.Fatal(err)
	}
	if s.t.gen != gen+1 {
		t.Fatalf("connection generation %d -> %d, want exactly one reconnection", gen, s.t.gen)
	}
}

func TestTokenRemoved(t *testing.T) {
	s := newKey(t, keypolicy.ECDSAP256)
	d := sha256.Sum256([]byte("removed"))
	if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	// Remove the token: close every connection (the module is finalised),
	// then point SoftHSM at an empty token directory, as if the device had
	// been unplugged.
	CloseAll()
	conf := os.Getenv("SOFTHSM2_CONF")
	empty := filepath.Join(t.TempDir(), "softhsm2.conf")
	os.Mkdir(filepath.Join(filepath.Dir(empty), "tokens"), 0o700)
	os.WriteFile(empty, fmt.Appendf(nil, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", filepath.Dir(empty)), 0o600)
	os.Setenv("SOFTHSM2_CONF", empty)
	defer os.Setenv("SOFTHSM2_CONF", conf)

	_, err := s.SignContext(context.Background(), d[:], crypto.SHA256)
	if !errors.Is(err, signer.ErrUnavailable) || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("sign with the token gone: %v, want ErrUnavailable", err)
	}
	checkNoPIN(t, err)
	if _, err := Open(context.Background(), keyURI(label, s.loc.object, "file:"+pinFile)); !errors.Is(err, signer.ErrUnavailable) {
		t.Fatalf("open with the token gone: %v, want ErrUnavailable", err)
	}
	// The token comes back: the same signer reconnects.
	CloseAll()
	os.Setenv("SOFTHSM2_CONF", conf)
	if _, err := s.SignContext(context.Background(), d[:], crypto.SHA256); err != nil {
		t.Fatalf("sign after the token came back: %v", err)
	}
}

func TestCreateRefusals(t *testing.T) {
	s := newKey(t, keypolicy.ECDSAP256)
	if _, err := Create(context.Background(), keyURI(label, s.loc.object, "file:"+pinFile), keypolicy.ECDSAP256); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("duplicate label: %v", err)
	}
	if _, err := Create(context.Background(), keyURI(label, "weak", "file:"+pinFile), "RSA-1024"); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("RSA-1024: %v", err)
	}
	if _, err := s.SignContext(context.Background(), make([]byte, 20), crypto.SHA1); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("SHA-1 digest: %v, want ErrUnsupported", err)
	}
	if _, err := s.SignContext(context.Background(), make([]byte, 20), crypto.SHA256); !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("short digest: %v, want ErrUnsupported", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SignContext(ctx, make([]byte, 32), crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// TestConcurrentReconnect: 8 goroutines sign, the token drops every session,
// and the 8 go on signing: each call reconnects at most once, and all of
// them succeed on one new connection.
func TestConcurrentReconnect(t *testing.T) {
	s := newKey(t, keypolicy.ECDSAP256)
	d := sha256.Sum256([]byte("concurrent"))
	gen := s.t.generation()
	var wg, ready sync.WaitGroup
	errs := make(chan error, 8*20)
	resume := make(chan struct{})
	sign := func() {
		if _, err := s.SignContext(context.Background(), d[:], crypto.SHA256); err != nil {
			errs <- err
		}
	}
	ready.Add(8)
	for range 8 {
		wg.Go(func() {
			sign()
			ready.Done()
			<-resume
			for range 19 {
				sign()
			}
		})
	}
	ready.Wait()
	closeAllSessions(t, label)
	close(resume)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g := s.t.generation(); g != gen+1 {
		t.Fatalf("connection generation %d -> %d, want exactly one reconnection", gen, g)
	}
}
