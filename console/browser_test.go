package console

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests drive Debian's chromium, headless, through the console
// served by a real stack: sign in, open a case, verify an entry in the
// browser, see a tampered answer fail, follow a drill-down of the report,
// and take screenshots at 1366×768. Set LIUHEN_SCREENSHOTS=DIR to keep the
// screenshots (default: the test's temporary directory), and
// LIUHEN_CHROMIUM=PATH to choose the browser.

// chromiumPath finds a Chromium binary, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LIUHEN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("browser tests skipped: no chromium binary found (apt-get install chromium, or set LIUHEN_CHROMIUM)")
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context, cancelled at the end of the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 100*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// tamper flips one byte in the answers to one path, when armed.
type tamper struct {
	h    http.Handler
	path atomic.Pointer[string] // the path to tamper with; nil: none
	fn   atomic.Pointer[func([]byte) []byte]
}

func (tp *tamper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := tp.path.Load()
	if p == nil || r.URL.Path != *p {
		tp.h.ServeHTTP(w, r)
		return
	}
	c := &capture{header: http.Header{}}
	tp.h.ServeHTTP(c, r)
	for k, v := range c.header {
		w.Header()[k] = v
	}
	b := (*tp.fn.Load())(c.body.Bytes())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if c.status == 0 {
		c.status = http.StatusOK
	}
	w.WriteHeader(c.status)
	w.Write(b)
}

func (tp *tamper) arm(path string, fn func([]byte) []byte) {
	tp.fn.Store(&fn)
	tp.path.Store(&path)
}

func (tp *tamper) disarm() { tp.path.Store(nil) }

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("LIUHEN_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func TestBrowser(t *testing.T) {
	ctx := browser(t)
	tp := &tamper{}
	st := newStack(t, stackOptions{export: true, wrap: func(h http.Handler) http.Handler { tp.h = h; return tp }})
	s := st.populate()
	dir := screenshotDir(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Sign in with the keyboard: the token field has focus.
	do("sign in",
		chromedp.Navigate(st.ts.URL+"/"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), st.secrets["auditor"]+kb.Enter),
		chromedp.WaitVisible(css("#ledger-size")),
	)
	if got, want := text("#ledger-size"), strconv.FormatUint(st.l.Head().Size, 10); got != want {
		t.Errorf("dashboard ledger size %q, want %q", got, want)
	}
	if got := text(".who span"); got != "审计员 张某（审计员）" {
		t.Errorf("signed in as %q", got)
	}
	shoot(t, ctx, dir, "dashboard")

	// Keyboard navigation: the first Tab reaches the skip link.
	do("tab", chromedp.KeyEvent(kb.Tab))
	if cls, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`)); err != nil || cls != "skip" {
		t.Errorf("first Tab focuses %q (%v), want the skip link", cls, err)
	}

	// Open case A from the case list.
	do("open the case",
		chromedp.Navigate(st.ts.URL+"/console/cases"),
		chromedp.WaitVisible(css("#case-list")),
		chromedp.Click(css(`a[href="/console/cases/`+s.caseA+`"]`)),
		chromedp.WaitVisible(css("#case-number")),
		chromedp.WaitReady(css(`#ed25519-support[data-ed25519]`)),
	)
	if got := text("#case-number"); got != s.numberA {
		t.Errorf("case page shows %q, want %q", got, s.numberA)
	}
	ed, err := chromedp.Run(ctx, chromedp.TextContent(css("#ed25519-support")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Ed25519: %s", ed)

	// 验证 on the decision: the browser checks it itself.
	seq := strconv.FormatUint(s.decisionA, 10)
	do("verify",
		chromedp.Click(css(`button.verify[data-seq="`+seq+`"]`)),
		chromedp.WaitVisible(css(`#vr-`+seq+`[data-result]`)),
	)
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(css("#vr-"+seq), "data-result"))
	verdict := text("#verify-verdict")
	if err != nil || res.Value != "ok" {
		t.Fatalf("验证 entry %s: result %q, verdict %q, steps:\n%s", seq, res.Value, verdict, text("#verify-steps"))
	}
	if !strings.Contains(verdict, "验证通过") {
		t.Errorf("verdict %q, want 验证通过", verdict)
	}
	if strings.Contains(ed, "支持 WebCrypto Ed25519：") && !strings.Contains(verdict, "签名有效") {
		t.Errorf("the browser supports Ed25519 but the verdict %q does not say the signature was checked", verdict)
	}
	t.Logf("verified: %s", verdict)
	shoot(t, ctx, dir, "case")

	// A tampered entry fails: one byte of its prev hash changed on the way.
	first := strconv.FormatUint(s.recordingA, 10)
	tp.arm("/console/entries/"+first, func(b []byte) []byte {
		i := bytes.Index(b, []byte(`"prev":"`)) + len(`"prev":"`)
		b = bytes.Clone(b)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return b
	})
	do("verify a tampered entry",
		chromedp.Click(css(`button.verify[data-seq="`+first+`"]`)),
		chromedp.WaitVisible(css(`#vr-`+first+`[data-result]`)),
	)
	res, _ = chromedp.Run(ctx, chromedp.AttributeValue(css("#vr-"+first), "data-result"))
	if verdict := text("#verify-verdict"); res.Value != "fail" || !strings.Contains(verdict, "根哈希") {
		t.Errorf("验证 of a tampered entry: result %q, verdict %q; want a failure naming the root", res.Value, verdict)
	}

	// A checkpoint whose signature was changed fails where Ed25519 is
	// checked.
	tp.disarm()
	if strings.Contains(ed, "支持 WebCrypto Ed25519：") {
		sig := regexp.MustCompile(`(?m)^— \S+ (\S)`)
		tp.arm("/v1/checkpoint", func(b []byte) []byte {
			m := sig.FindSubmatchIndex(b)
			b = bytes.Clone(b)
			i := m[2] + 10 // inside the signature, past the key id
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return b
		})
		do("verify with a forged checkpoint signature",
			chromedp.Click(css(`button.verify[data-seq="`+seq+`"]`)),
			chromedp.WaitVisible(css(`#vr-`+seq+`.fail`)),
		)
		if verdict := text("#verify-verdict"); !strings.Contains(verdict, "签名") {
			t.Errorf("验证 with a forged checkpoint signature: verdict %q, want a signature failure", verdict)
		}
		tp.disarm()
	}

	// 导出证据包: the browser downloads the case's bundle with one click
	// (after saying why), and the file verifies offline.
	dl := t.TempDir()
	events := true
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	size := st.l.Head().Size
	do("export the evidence bundle",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: &events})
			return err
		}),
		chromedp.SendKeys(css("#export-purpose"), "行政诉讼举证"),
		chromedp.Click(css("#export-button")),
	)
	var bundleFile string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("downloading the bundle: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatalf("the bundle's download was cancelled")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			bundleFile = filepath.Join(dl, ev.GUID)
			break
		}
	}
	b, err := os.ReadFile(bundleFile)
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyBundle(t, b, st.l.VerifierKey())
	if rep.Case != s.caseA || rep.Custody == nil || rep.Custody.Seq != size || rep.Custody.Purpose != "控制台导出：行政诉讼举证" {
		t.Errorf("downloaded bundle: %+v, custody %+v; want case %s recorded as entry %d", rep, rep.Custody, s.caseA, size)
	}

	// The report, and a drill-down from one of its figures to the case.
	do("open the report",
		chromedp.Navigate(st.ts.URL+"/console/report?year="+strconv.Itoa(s.year)),
		chromedp.WaitVisible(css("#figures")),
	)
	shoot(t, ctx, dir, "report")
	do("follow a drill-down",
		chromedp.Click(css(`a[data-figure="decisions.penalty"]`)),
		chromedp.WaitVisible(css("#figure-items")),
	)
	if items := text("#figure-items"); !strings.Contains(items, s.caseA) || !strings.Contains(items, seq) {
		t.Errorf("drill-down of decisions.penalty lists %q, want case %s entry %s", items, s.caseA, seq)
	}
	do("from the drill-down to the case",
		chromedp.Click(css(`#figure-items a[href="/console/cases/`+s.caseA+`#e-`+seq+`"]`)),
		chromedp.WaitVisible(css("#case-number")),
	)

	// A case of the demo year (liuhen demo), verified the same way.
	y := st.populateDemo(12)
	demoCase := y.cases[len(y.cases)/2]
	do("open a demo case",
		chromedp.Navigate(st.ts.URL+"/console/cases/"+demoCase),
		chromedp.WaitVisible(css("#case-number")),
		chromedp.Click(css(`button.verify`)),
		chromedp.WaitVisible(css(`.vresult[data-result]`)),
	)
	if res, err := chromedp.Run(ctx, chromedp.AttributeValue(css(".vresult[data-result]"), "data-result")); err != nil || res.Value != "ok" {
		t.Errorf("验证 of the demo case's first entry: %q (%v), verdict %q", res.Value, err, text("#verify-verdict"))
	}
	for _, p := range []struct{ path, ready, name string }{
		{"/console/findings", "#findings-total", "findings"},
		{"/console/devices", "#devices", "devices"},
		{"/console/public", "footer", "public"},
	} {
		do("open "+p.path, chromedp.Navigate(st.ts.URL+p.path), chromedp.WaitVisible(css(p.ready)))
		shoot(t, ctx, dir, p.name)
	}

	// A tablet in portrait: the case page reflows.
	do("tablet",
		chromedp.EmulateViewport(768, 1024),
		chromedp.Navigate(st.ts.URL+"/console/cases/"+s.caseA),
		chromedp.WaitVisible(css("#case-number")),
	)
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 768 {
		t.Errorf("at 768 px wide the case page is %d px wide (%v): it does not reflow", w, err)
	}
	shoot(t, ctx, dir, "case-tablet")
	do("back to 1366×768", chromedp.EmulateViewport(1366, 768))

	// Signing out ends the session.
	do("sign out",
		chromedp.Click(css(`.who button`)),
		chromedp.WaitVisible(css("#token")),
		chromedp.Navigate(st.ts.URL+"/console/cases"),
		chromedp.WaitVisible(css("#token")),
	)
}
