package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"sealkeep/internal/audit"
	"sealkeep/internal/custody"
	"sealkeep/internal/pdf/verify"
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
		out.DocumentSHA256, out.ActorLogin = e.Details[audit.DetailDocumentSHA256], r.ActorLogin
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
	olive.open("/orgs/acme/audit?action=seal")
	olive.waitText("table.entries", identity)
	olive.open("/orgs/acme/audit")
	olive.click("#verify-chain")
	olive.waitText("#chain-result", "Chain verified")
	olive.accessible()
	olive.shot("audit")
	for _, tb := range []*tab{jane, anyone, olive} {
		tb.clean()
	}
	w.checkNoLeaks()
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
