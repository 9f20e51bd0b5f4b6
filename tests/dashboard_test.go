package tests

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/trace/otlptest"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/sdk/go/demoapi"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// ensureChromium installs Debian's chromium when it is missing; the test
// fails, rather than skips, when that is not possible.
func ensureChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	aptInstall(t, "chromium")
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium installed but %s is missing: %v", chromiumPath, err)
	}
}

// traceUI is the trace UI link template the dashboard is given.
const traceUI = "http://traces.example/trace/{traceID}"

// TestDashboard loads the broker's dashboard of `iogo dev` in headless
// Chromium, checks that it lists the bundled services and routes, that a
// route's call counter follows requests made through pkg/client, that the
// gate shows the client's connection, and that a failed request appears
// among the recent errors with its trace ID, linked to the trace UI.
func TestDashboard(t *testing.T) {
	ensureChromium(t)
	// Tracing on, so that requests have trace IDs (inherited by iogo dev).
	rc := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("IOGO_TRACE_URL", traceUI)
	d := startProc(t, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "127.0.0.1:0", "-metrics", "127.0.0.1:0")
	dash := d.ready["metrics"]
	if !strings.HasPrefix(dash, "http://") {
		t.Fatalf("dev ready line has no metrics URL: %v", d.ready)
	}
	hello := helloRoute(t, dash)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()

	// Services and routes come from the registry; calls from the stats.
	hasText := func(sel, text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, sel, text)
	}
	callsJS := fmt.Sprintf(`[...document.querySelectorAll("#stats tr")].filter(r => r.cells[2] && r.cells[2].textContent === %q).reduce((a, r) => a + Number(r.cells[3].textContent), 0)`, hello)
	wait := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(dash),
		chromedp.WaitVisible("#services tr td"),
		wait(hasText("#services td", "login")+" && "+hasText("#services td", "demo")),
		wait(hasText("#routes td", hello)),
		wait(fmt.Sprintf(`[...document.querySelectorAll("#stats td")].some(td => td.textContent === %q)`, hello)),
	); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](callsJS))
	if err != nil {
		t.Fatalf("reading the calls counter: %v", err)
	}

	const calls = 5
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	c, err := client.Dial(cctx, d.ready["ws"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range calls {
		if _, err := demoapi.Hello(cctx, c, &demopb.HelloReq{Name: fmt.Sprint("dash", i)}); err != nil {
			t.Fatalf("hello: %v", err)
		}
	}

	after, err := chromedp.Run(ctx, chromedp.Poll[int](fmt.Sprintf("%s >= %d && %s", callsJS, before+calls, callsJS), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("calls counter of %s did not reach %d: %v\n%s", hello, before+calls, err, shown)
	}
	// The route's row has its per-minute sparkline.
	if err := chromedp.Do(ctx, wait(fmt.Sprintf(`[...document.querySelectorAll("#stats tr")].some(r => r.cells[2] && r.cells[2].textContent === %q && r.cells[6].querySelector("svg polyline"))`, hello))); err != nil {
		t.Fatalf("no sparkline for %s: %v", hello, err)
	}

	// The gate, with the client's connection (the only one) on WebSocket.
	gateJS := `[...document.querySelectorAll("#gates tr[id^=gate-]")].map(r => [r.cells[2].textContent, r.cells[3].textContent].join("/")).join(",")`
	gates, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(%s) === "1/1" && (%s)`, gateJS, gateJS), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("gates").innerText`))
		t.Fatalf("gate with 1 WebSocket connection not shown: %v\n%s", err, shown)
	}

	// A failed request: shown among the recent errors with its code and
	// trace ID, linked to the trace UI.
	const failCode = 4242
	if _, err := demoapi.Fail(cctx, c, failCode); errs.Code(err) != failCode {
		t.Fatalf("fail: %v, want code %d", err, failCode)
	}
	traceID, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(() => {
		const r = [...document.querySelectorAll("#recent-errors tr")].find(r => r.cells[5] && r.cells[5].textContent === "%d");
		const a = r && r.cells[8].querySelector("a");
		return a && a.href === %q.replace("{traceID}", a.textContent) && /^[0-9a-f]{32}$/.test(a.textContent) && a.textContent;
	})()`, failCode, traceUI), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("recent-errors").outerHTML`))
		t.Fatalf("recent error %d with a linked trace ID not shown: %v\n%s", failCode, err, shown)
	}
	// The trace ID is the one the logic server exported for that request.
	root := "route " + demoRoute(t, dash, func(req, doc string) bool { return strings.HasPrefix(doc, "Fails") })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) { // polling pace
		if s, ok := rc.Trace(root)[root]; ok && hex.EncodeToString(s.TraceId) == traceID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s shown on the dashboard: no exported span %q in it", traceID, root)
		}
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("artifacts", "dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s calls on the page: %d -> %d; gate connections/ws %s; error %d traced %s", hello, before, after, gates, failCode, traceID)
	// Close the browser and wait for it before the harness's leak check.
	if err := chromedp.Cancel(browser); err != nil {
		t.Errorf("closing chromium: %v", err)
	}
}

// helloRoute returns demo's Hello route as "cmd-sub", read from the
// dashboard's API once the demo service has published it.
func helloRoute(t *testing.T, dash string) string {
	t.Helper()
	return demoRoute(t, dash, func(req, _ string) bool { return strings.HasSuffix(req, "HelloReq") })
}

// demoRoute returns the first demo route whose request type and doc match,
// as "cmd-sub", read from the dashboard's API.
func demoRoute(t *testing.T, dash string, match func(req, doc string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var c struct {
			Routes []struct {
				Cmd, Sub          int32
				Service, Req, Doc string
			} `json:"routes"`
		}
		resp, err := http.Get(dash + "api/cluster")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
		}
		for _, r := range c.Routes {
			if r.Service == "demo" && match(r.Req, r.Doc) {
				return fmt.Sprintf("%d-%d", r.Cmd, r.Sub)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching demo route in %s: %v %+v", dash+"api/cluster", err, c.Routes)
		}
		time.Sleep(50 * time.Millisecond) // polling pace
	}
}
