package server

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"sealkeep/internal/redact"
	"sealkeep/internal/testenv"
)

// The browser tests drive the web application in a real headless Chromium
// (Debian's chromium package) through the DevTools protocol (chromedp),
// against a real server on a real store: a world (world_test.go) on
// SQLite, its httptest server reached as http://localhost:PORT (a secure
// context, so the __Host- session cookie is kept, and a name WebAuthn
// accepts as a relying party ID). Each person has a tab in a browser
// context of their own (their own cookies). Every page a test visits is
// checked for script errors and Content-Security-Policy violations, and by
// axe-core for accessibility; screenshots of the main pages go to
// $SEALKEEP_SCREENSHOTS, or a directory the test log names.

// axeSource is axe-core (testdata/axe, see its MANIFEST.md), injected into
// the pages by the tests only.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// stepTimeout guards each browser step against a hang (a page that never
// shows what the test waits for); it is no performance limit.
const stepTimeout = 90 * time.Second

// screenshotDir is where the screenshots go: $SEALKEEP_SCREENSHOTS or a
// kept temporary directory, named once in the log.
var screenshotDir = sync.OnceValues(func() (string, error) {
	if d := os.Getenv("SEALKEEP_SCREENSHOTS"); d != "" {
		return d, os.MkdirAll(d, 0o755)
	}
	return os.MkdirTemp("", "sealkeep-screenshots-")
})

// webTest is one browser and the world it talks to.
type webTest struct {
	t    *testing.T
	w    *world
	base string
	root context.Context
}

// newWebTest starts a world on SQLite with cfg and a headless Chromium.
// Without Chromium the test skips, or fails under
// SEALKEEP_TEST_REQUIRE_ALL=1 (testenv).
func newWebTest(t *testing.T, cfg Config) *webTest {
	t.Helper()
	exe := testenv.Chromium(t)
	w := newWorld(t, stores(t)["sqlite"](t), cfg)
	wt := startBrowser(t, exe, w.ts.URL)
	wt.w = w
	return wt
}

// startBrowser starts Chromium for the server at serverURL.
func startBrowser(t *testing.T, exe, serverURL string) *webTest {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	wt := &webTest{t: t, base: "http://localhost:" + u.Port()}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"), chromedp.Flag("lang", "en-US"))
	t.Cleanup(cancel)
	root, cancelRoot := chromedp.NewContext(actx)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting Chromium (%s): %v", exe, err)
	}
	wt.root = root
	return wt
}

// tab is one person's browser: a tab in its own browser context.
type tab struct {
	wt        *webTest
	t         *testing.T
	name      string
	ctx       context.Context
	downloads string
	mu        sync.Mutex
	problems  []string // script errors and CSP violations
}

// tab opens a tab for the person name, with its own cookies.
func (wt *webTest) tab(name string) *tab {
	wt.t.Helper()
	tb := &tab{wt: wt, t: wt.t, name: name, downloads: wt.t.TempDir()}
	ctx, cancel := chromedp.NewContext(wt.root, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	wt.t.Cleanup(cancel)
	tb.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		wt.t.Fatalf("%s: opening a tab: %v", name, err)
	}
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		DownloadPath: tb.downloads, EventsEnabled: new(true)})
	if err != nil {
		wt.t.Fatalf("%s: download behaviour: %v", name, err)
	}
	return tb
}

// listen records the page's script errors and CSP violations.
func (tb *tab) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		p = "script error: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			p += " " + ev.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if strings.Contains(ev.Entry.Text, "Content Security Policy") || strings.Contains(ev.Entry.Text, "Content-Security-Policy") {
			p = "CSP: " + ev.Entry.Text + " " + ev.Entry.URL
		}
	}
	if p != "" {
		tb.mu.Lock()
		tb.problems = append(tb.problems, p)
		tb.mu.Unlock()
	}
}

// clean fails the test for every script error and CSP violation seen so
// far, and forgets them.
func (tb *tab) clean() {
	tb.t.Helper()
	tb.mu.Lock()
	ps := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range ps {
		tb.t.Errorf("%s: %s", tb.name, p)
	}
}

// do runs steps in the tab, failing the test on an error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
		tb.t.Fatalf("%s: %s (at %s): %v", tb.name, what, loc, err)
	}
}

// run evaluates js in the page (awaiting a promise) into a T.
func run[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %.80q: %v", tb.name, js, err)
	}
	return v
}

// open navigates to path and waits for the page's body.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path, chromedp.Navigate(tb.wt.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// path is the tab's current path (and query).
func (tb *tab) path() string {
	tb.t.Helper()
	return run[string](tb, "location.pathname + location.search")
}

// waitPath waits until the tab has navigated to path and loaded it.
func (tb *tab) waitPath(path string) {
	tb.t.Helper()
	if err := tb.until(fmt.Sprintf("location.pathname === %q && document.readyState === 'complete'", path)); err != nil {
		tb.t.Fatalf("%s: waiting for %s: at %s (%v)", tb.name, path, tb.path(), err)
	}
}

// until waits until the expression js is true, across navigations.
func (tb *tab) until(js string) error {
	deadline := time.Now().Add(stepTimeout)
	for {
		ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still false after %s", stepTimeout)
			}
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// type_ types text into the element sel (clearing it first), as a person
// would, with key events.
func (tb *tab) type_(sel, text string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	run[bool](tb, fmt.Sprintf(`(() => { document.querySelector(%q).value = ''; return true; })()`, sel))
	tb.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// click clicks the element sel.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// waitText waits until the element sel is visible and holds want, and
// returns its text.
func (tb *tab) waitText(sel, want string) string {
	tb.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return document.readyState === 'complete' && !!e && !e.closest('[hidden]') && e.innerText.includes(%q); })()`, sel, want)
	if err := tb.until(js); err != nil {
		got, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.innerText ?? "(none)"`, sel)))
		tb.clean()
		tb.t.Fatalf("%s: waiting for %q in %s at %s: %v; it holds %q", tb.name, want, sel, tb.path(), err, got)
	}
	return run[string](tb, fmt.Sprintf(`document.querySelector(%q).innerText`, sel))
}

// upload sets the file input sel to the file at path.
func (tb *tab) upload(sel, path string) {
	tb.t.Helper()
	abs, err := filepath.Abs(path)
	mustOK(tb.t, err)
	tb.do("upload "+path, chromedp.WaitReady(chromedp.CSS(sel)), chromedp.SetUploadFiles(chromedp.CSS(sel), []string{abs}))
}

// shot saves a full-page screenshot as name.png.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	dir, err := screenshotDir()
	mustOK(tb.t, err)
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	// The whole page at 1280 CSS pixels wide: the viewport made as tall as
	// the page, then one capture.
	height := run[float64](tb, "document.documentElement.scrollHeight")
	_, err = chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 1280, Height: int64(height), DeviceScaleFactor: 1})
	mustOK(tb.t, err)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if _, cerr := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.name, name, err)
	}
	mustOK(tb.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
	tb.t.Logf("screenshot %s", filepath.Join(dir, name+".png"))
}

// axeViolation is one rule a page breaks, as axe-core reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// accessible runs axe-core in the page (WCAG 2.1 A and AA rules and best
// practices): a serious or critical violation fails the test. It also
// fails for the page's script errors and CSP violations so far.
func (tb *tab) accessible() {
	tb.t.Helper()
	tb.clean()
	if !run[bool](tb, "typeof axe !== 'undefined'") {
		run[any](tb, axeSource+"\n;true")
	}
	out := run[string](tb, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
		.then(r => JSON.stringify(r.violations))`)
	var vs []axeViolation
	mustOK(tb.t, json.Unmarshal([]byte(out), &vs))
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, n.HTML)
			}
			tb.t.Errorf("%s: %s: axe %s (%s): %s: %s", tb.name, tb.path(), v.ID, v.Impact, v.Help, strings.Join(where, " | "))
		}
	}
}

// download clicks the link sel and returns the path of the downloaded
// file.
func (tb *tab) download(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	begin := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadProgress)
	_ = begin
	tb.click(sel)
	for ev, err := range progress {
		if err != nil {
			tb.t.Fatalf("%s: download: %v", tb.name, err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			entries, err := os.ReadDir(tb.downloads)
			mustOK(tb.t, err)
			names := []string{}
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), ".crdownload") {
					names = append(names, e.Name())
				}
			}
			slices.Sort(names)
			if len(names) == 0 {
				tb.t.Fatalf("%s: download completed but no file in %s", tb.name, tb.downloads)
			}
			return filepath.Join(tb.downloads, names[len(names)-1])
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			tb.t.Fatalf("%s: download cancelled", tb.name)
		}
	}
	tb.t.Fatalf("%s: no download", tb.name)
	return ""
}

// signIn signs login in through the sign-in page with a fresh TOTP code,
// and waits for the page it lands on.
func (tb *tab) signIn(login string) {
	tb.t.Helper()
	m := tb.wt.w.users[login]
	tb.open("/signin")
	tb.type_("#login", m.login)
	tb.type_("#password", m.password)
	if m.totp != "" {
		tb.type_("#code", string(tb.wt.w.code(m).Bytes()))
		defer tb.wt.w.nextStep()
	}
	tb.click("#signin button[type=submit]")
	tb.waitPath("/orgs")
}

// mustOK fails t on an error.
func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkNoLeaks is w.checkNoLeaks for the browser tests, whose pages make
// hundreds of logged requests: a TOTP code (six digits) is looked for as
// a number of its own, not inside a longer run of digits (the log's
// nanosecond times and byte counts hold every six-digit string now and
// then); every other secret as w.checkNoLeaks does.
func checkNoLeaks(w *world) {
	w.t.Helper()
	log := []byte(w.log.String())
	for _, s := range w.secrets {
		if allDigits(s) && len(s) <= 8 {
			if regexp.MustCompile(`(^|[^0-9])` + string(s) + `([^0-9]|$)`).Match(log) {
				w.t.Errorf("the server log holds a TOTP code")
			}
			continue
		}
		if form, found := redact.ScanForSecret(log, s); found {
			w.t.Errorf("the server log holds a secret (%s)", form)
		}
	}
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
