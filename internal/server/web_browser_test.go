package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"sealkeep/internal/audit"
	"sealkeep/internal/auth"
	"sealkeep/internal/custody"
	"sealkeep/internal/passkey"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/redact"
	"sealkeep/internal/testenv"
)

// Files of the browser tests.
const (
	demoP12        = "../../testdata/demo/demo-signer.p12"
	demoPassphrase = "../../testdata/demo/demo-passphrase.txt"
	demoRoot       = "../../testdata/demo/demo-root-ca.pem"
	reportPDF      = "../pdf/testdata/corpus/libreoffice-report.pdf"
)

// lateCustody is the verifier's custody lookup of a world made after the
// server's Config (the world's custody service, set once it exists),
// answering as sealkeep serve's does (cmd/sealkeep, storeCustody).
type lateCustody struct{ svc *custody.Service }

func (l *lateCustody) StatusAt(ctx context.Context, thumb string, at time.Time) (verify.CustodyStatus, bool, error) {
	cs, found, err := receiptLookup{l.svc}.StatusAt(ctx, thumb, at)
	if found && cs.Summary == "" {
		cs.Summary = cs.Status + " at signing"
	}
	return cs, found, err
}

func (l *lateCustody) SealReceipt(ctx context.Context, thumb, sig string) (verify.SealReceipt, bool, error) {
	r, found, err := l.svc.SealReceipt(ctx, thumb, sig)
	if err != nil || !found {
		return verify.SealReceipt{}, found, err
	}
	out := verify.SealReceipt{KeyOrigin: r.KeyOrigin, Org: r.Org, Identity: r.Identity, Version: r.Version}
	if e := r.Entry; e != nil {
		t := e.Time.UTC()
		out.Found, out.Chain, out.Seq, out.EntryHash, out.Time = true, e.Chain, e.Seq, e.Hash.String(), &t
		out.Actor, out.MFAMethod, out.RequestID = e.Actor.ID, e.Details[audit.DetailMFAMethod], e.Details[audit.DetailRequestID]
		out.DocumentSHA256, out.SealedSHA256, out.ActorLogin = e.Details[audit.DetailDocumentSHA256], e.Details[audit.DetailSealedSHA256], r.ActorLogin
	}
	if a := r.Approval; a != nil && r.Entry != nil {
		out.Approval = &verify.SealApproval{Method: r.Entry.Details[audit.DetailMFAMethod], Approver: a.Login}
		if p := a.Passkey; p != nil {
			out.Approval.Passkey, out.Approval.CredentialID = p.Name, base64.RawURLEncoding.EncodeToString(p.CredentialID)
		}
	}
	return out, true, nil
}

// newSealWorld is a browser test whose server trusts the demo root CA and
// reports custody status and seal receipts, as sealkeep serve does.
func newSealWorld(t *testing.T) *webTest {
	t.Helper()
	pemRoot, err := os.ReadFile(demoRoot)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemRoot) {
		t.Fatal("the demo root does not parse")
	}
	lc := &lateCustody{}
	wt := newWebTest(t, Config{Roots: roots, Custody: lc})
	lc.svc = wt.w.custody
	return wt
}

// TestBrowserSealJourney is the main job in the browser: jane signs in
// with her password and TOTP code, creates a signing identity, imports the
// demo PKCS#12 file, activates it with a reason and a fresh code, seals a
// PDF with a visible seal she drags on page 1 after reviewing its SHA-256,
// and downloads it (pdfsig calls it valid); anyone's verify page shows the
// seal valid with its receipt; olive's audit viewer verifies the chain
// with the seal entry in it. Every page passes axe-core.
func TestBrowserSealJourney(t *testing.T) {
	wt := newSealWorld(t)
	w := wt.w
	jane := wt.tab("jane")

	jane.open("/signin")
	jane.accessible()
	jane.shot("signin")
	jane.signIn("jane")
	jane.accessible()

	// A new identity, then the demo PKCS#12 file.
	jane.open("/orgs/acme")
	jane.type_("#id-name", "Jane Doe, P.E. 12345, Texas")
	jane.click("form[data-api$='/identities'] button[type=submit]")
	jane.waitText("main h1", "Jane Doe, P.E. 12345, Texas")
	idPath := jane.path()
	identity := idPath[strings.LastIndex(idPath, "/")+1:]
	if !strings.HasPrefix(idPath, "/orgs/acme/identities/") || identity == "" {
		t.Fatalf("after creating the identity: at %s", idPath)
	}
	jane.accessible()
	pass, err := os.ReadFile(demoPassphrase)
	w.must(err)
	jane.upload("#p12", demoP12)
	jane.type_("#p12-pass", strings.TrimSpace(string(pass)))
	jane.click("#import button[type=submit]")
	jane.waitText("table.list", "ready")

	// Activation: the form shows the certificate's SHA-256 the code
	// approves, and a wrong code is refused first.
	jane.waitText("#activate-1", "SHA-256")
	jane.type_("#reason-a1", "first certificate")
	jane.type_("#code-a1", "000000")
	jane.click("#activate-1 button[type=submit]")
	jane.waitText("#activate-1 .form-error", "Authentication required")
	jane.type_("#code-a1", string(w.code(w.users["jane"]).Bytes()))
	w.nextStep()
	jane.click("#activate-1 button[type=submit]")
	jane.waitText("dl.facts", "version 1 seals")
	jane.accessible()
	jane.shot("identity")

	// The seal page: the document, page 1, a dragged rectangle, the review.
	jane.open("/orgs/acme/seal?identity=" + identity)
	jane.upload("#file", reportPDF)
	jane.waitText("#page-size", "Page 1 is")
	doc, err := os.ReadFile(reportPDF)
	w.must(err)
	sum := sha256.Sum256(doc)
	if got := jane.waitText("#r-sha", hex.EncodeToString(sum[:])); strings.TrimSpace(got) != hex.EncodeToString(sum[:]) {
		t.Errorf("the review shows SHA-256 %q, want %x", got, sum)
	}
	jane.click("#visible")
	jane.drag("#page1", 0.55, 0.78, 0.9, 0.9)
	rect := run[[]float64](jane, `[rx, ry, rw, rh].map(id => Number(document.getElementById(id.id).value))`)
	if len(rect) != 4 || rect[2] < 20 || rect[3] < 10 {
		t.Fatalf("the dragged rectangle is %v", rect)
	}
	jane.waitText("#r-appearance", "visible on page 1")
	jane.type_("#reason", "Sealed for construction")
	jane.accessible()
	jane.type_("#code", string(w.code(w.users["jane"]).Bytes()))
	w.nextStep()
	jane.shot("seal-review")
	jane.click("#seal-button")
	jane.waitText("#check", "the receipt records the SHA-256 you reviewed")
	if got := jane.waitText("#check", "Valid"); !strings.Contains(got, "sealed through sealkeep") {
		t.Errorf("the seal page's check says %q", got)
	}
	jane.accessible()
	jane.shot("seal")
	sealed := jane.download("#download")
	out, _ := exec.Command(testenv.Tool(t, "pdfsig"), sealed).CombinedOutput()
	if !strings.Contains(string(out), "Signature Validation: Signature is Valid.") || !strings.Contains(string(out), "Jane Doe") {
		t.Errorf("pdfsig on the downloaded file:\n%s", out)
	}
	rep, err := verify.File(w.ctx, sealed, verify.Options{})
	w.must(err)
	if n := len(rep.Signatures); n != 1 || rep.Signatures[0].Reason != "Sealed for construction" {
		t.Fatalf("the sealed file has %d signatures: %+v", n, rep.Signatures)
	}

	// Anyone verifies it: the verdict, the receipt, the JSON.
	anyone := wt.tab("anyone")
	anyone.open("/verify")
	anyone.accessible()
	anyone.upload("#file", sealed)
	summary := anyone.waitText("#report-summary", "Valid")
	sig := anyone.waitText("#report-signatures", "Seal receipt")
	for _, want := range []string{"Jane Doe, P.E. 12345, Texas", "nothing since the seal", "sealed through sealkeep", "jane", "Sealed for construction", "TOTAL_PASSED"} {
		if !strings.Contains(sig, want) {
			t.Errorf("the verify page does not say %q:\n%s\n%s", want, summary, sig)
		}
	}
	anyone.click("details.json summary")
	if js := anyone.waitText("#report-json", `"verdict"`); !strings.Contains(js, `"seal_receipt"`) {
		t.Errorf("the JSON report: %s", js)
	}
	anyone.accessible()
	anyone.shot("verify")

	// The owner's audit viewer: the seal entry, and the chain verifies.
	olive := wt.tab("olive")
	olive.signIn("olive")
	olive.open("/orgs/acme/audit")
	olive.waitText("table.entries", "cert.import")
	olive.accessible()
	olive.open("/orgs/acme/audit?action=seal")
	olive.waitText("table.entries", identity)
	olive.click("#verify-chain")
	olive.waitText("#chain-result", "Chain verified")
	olive.accessible()
	olive.shot("audit")
	for _, tb := range []*tab{jane, anyone, olive} {
		tb.clean()
	}
	checkNoLeaks(w)
}

// drag drags the mouse over the element sel from one point to another,
// given as fractions of its width and height.
func (tb *tab) drag(sel string, x0, y0, x1, y1 float64) {
	tb.t.Helper()
	box := run[[]float64](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'});
		const b = e.getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()`, sel))
	at := func(fx, fy float64) (float64, float64) { return box[0] + fx*box[2], box[1] + fy*box[3] }
	ax, ay := at(x0, y0)
	bx, by := at(x1, y1)
	steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, ax, ay, chromedp.ButtonLeft, chromedp.ClickCount(1))}
	for i := 1; i <= 5; i++ {
		f := float64(i) / 5
		steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, ax+f*(bx-ax), ay+f*(by-ay), chromedp.ButtonLeft))
	}
	steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, bx, by, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	tb.do("drag on "+sel, steps...)
}

// TestBrowserFirstRun: a new server explains first-run setup (on the
// host, never through the network); after `sealkeep setup` (auth.Setup)
// the operator signs in, creates an organization and invites its first
// owner; the owner activates her account with the invitation link, enrols
// an authenticator app from the QR code's key, is shown her recovery codes
// once, and signs in again with a code.
func TestBrowserFirstRun(t *testing.T) {
	exe := testenv.Chromium(t)
	st := stores(t)["sqlite"](t)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	kek := keyring(t)
	as := auth.New(st, kek, auth.Options{Clock: clk.now, Password: cheapHash})
	a := newAPI(t, Config{Auth: as, Keys: custody.New(st, kek, custody.Options{Clock: clk.now}), Clock: clk.now})
	wt := startBrowser(t, exe, a.ts.URL)

	admin := wt.tab("admin")
	admin.open("/signin")
	admin.waitText("main", "sealkeep setup --operator admin")
	admin.accessible()
	_, err := as.Setup(context.Background(), "admin", redact.NewSecret([]byte("operator password 1")))
	mustOK(t, err)
	admin.open("/signin")
	admin.type_("#login", "admin")
	admin.type_("#password", "operator password 1")
	admin.click("#signin button[type=submit]")
	admin.waitPath("/orgs")
	admin.waitText(".banner", "no second factor")
	admin.type_("#org-id", "acme")
	admin.type_("#org-name", "Acme Engineering")
	admin.click("form[data-api='POST /api/v1/orgs'] button[type=submit]")
	admin.waitText("table.list", "Acme Engineering")
	admin.type_("#fo-login", "olive")
	admin.click("#first-owner button[type=submit]")
	admin.waitText("#owner-invitation", "Invitation made")
	link := run[string](admin, `document.querySelector('#owner-invitation a[data-href-activate]').getAttribute('href')`)
	admin.accessible()

	olive := wt.tab("olive")
	olive.open(link)
	if run[string](olive, "location.hash") != "" {
		t.Errorf("the invitation stays in the address bar")
	}
	olive.type_("#password", "olive password 123")
	olive.type_("#password2", "olive password 123")
	olive.click("#activate button[type=submit]")
	olive.waitText("#activated", "olive")
	olive.accessible()
	olive.click("#activated-signin")
	olive.waitPath("/signin")
	olive.type_("#password", "olive password 123")
	olive.click("#signin button[type=submit]")
	olive.waitPath("/orgs")
	olive.open("/account")
	olive.type_("#totp-password", "olive password 123")
	olive.click("#totp-begin button[type=submit]")
	key := strings.ReplaceAll(olive.waitText("#totp-secret", ""), " ", "")
	if run[int](olive, `document.getElementById('totp-qr').naturalWidth`) == 0 {
		t.Errorf("the QR code is not shown")
	}
	olive.accessible()
	olive.shot("enrol")
	code, err := totp.GenerateCode(key, clk.now())
	mustOK(t, err)
	olive.type_("#totp-code", code)
	olive.click("#totp-confirm button[type=submit]")
	olive.waitText("#codes", "Shown once")
	if n := run[int](olive, `document.querySelectorAll('#codes-list li').length`); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	olive.accessible()
	olive.shot("recovery-codes")
	clk.add(auth.TOTPPeriod * time.Second)
	olive.click("[data-signout]")
	olive.waitPath("/signin")
	olive.type_("#login", "olive")
	olive.type_("#password", "olive password 123")
	code, err = totp.GenerateCode(key, clk.now())
	mustOK(t, err)
	olive.type_("#code", code)
	olive.click("#signin button[type=submit]")
	olive.waitPath("/orgs")
	olive.waitText("table.list", "owner")
	if n := run[int](olive, `document.querySelectorAll('.banner').length`); n != 0 {
		t.Errorf("the no-second-factor banner stays after enrolment")
	}
	admin.clean()
	olive.clean()
}

// TestBrowserPasskey: jane registers a passkey on her account page through
// Chromium's virtual authenticator (the DevTools WebAuthn domain, with
// user verification), approving it with her TOTP code; she seals a PDF
// with the passkey, whose challenge the page checks is the SHA-256 of the
// intent it shows; the verify page says the seal was approved by her
// passkey over the document's SHA-256, and the audit viewer verifies the
// chain, stored assertion included.
func TestBrowserPasskey(t *testing.T) {
	wt := newSealWorld(t)
	w := wt.w
	pk, err := passkey.New(w.st, passkey.Config{RPID: "localhost", Origins: []string{wt.base}, Clock: w.clk.now})
	w.must(err)
	w.srv.cfg.Passkeys = pk // the origin is known once the server listens

	jane := wt.tab("jane")
	_, err = chromedp.Call(jane.ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)})
	w.must(err)
	_, err = chromedp.Call(jane.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportUsb,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
	w.must(err)
	jane.signIn("jane")
	jane.open("/account")
	jane.type_("#pk-name", "virtual key")
	jane.type_("#pk-code", w.codeOf("jane"))
	w.nextStep()
	jane.click("#passkey-add button[type=submit]")
	jane.waitText("#pk-h + p + table", "virtual key")
	jane.accessible()
	jane.shot("passkeys")

	jane.open("/orgs/acme/seal?identity=id-jane")
	jane.upload("#file", reportPDF)
	jane.waitText("#page-size", "Page 1 is")
	jane.click("#passkey-button")
	jane.waitText("#check", "the receipt records the SHA-256 you reviewed")
	intent := run[string](jane, `document.getElementById('intent-sha').textContent`)
	if len(intent) != 64 {
		t.Fatalf("the page showed the intent %q", intent)
	}
	jane.accessible()
	sealed := jane.download("#download")

	anyone := wt.tab("anyone")
	anyone.open("/verify")
	anyone.upload("#file", sealed)
	if sig := anyone.waitText("#report-signatures", "Seal receipt"); !strings.Contains(sig, "passkey") || !strings.Contains(sig, "virtual key") {
		t.Errorf("the verify page does not name the passkey approval:\n%s", sig)
	}
	olive := wt.tab("olive")
	olive.signIn("olive")
	olive.open("/orgs/acme/audit?action=seal")
	if entries := olive.waitText("table.entries", "webauthn"); !strings.Contains(entries, intent) {
		t.Errorf("the seal entry does not hold the intent %s the page showed:\n%s", intent, entries)
	}
	olive.click("#verify-chain")
	olive.waitText("#chain-result", "Chain verified")
	for _, tb := range []*tab{jane, anyone, olive} {
		tb.clean()
	}
	checkNoLeaks(w)
}
