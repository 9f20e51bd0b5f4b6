package tests

import (
	"context"
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

// TestDashboard loads the broker's dashboard of `iogo dev` in headless
// Chromium, checks that it lists the bundled services and routes, and
// that a route's call counter follows requests made through pkg/client.
func TestDashboard(t *testing.T) {
	ensureChromium(t)
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
	t.Logf("%s calls on the page: %d -> %d", hello, before, after)
	// Close the browser and wait for it before the harness's leak check.
	if err := chromedp.Cancel(browser); err != nil {
		t.Errorf("closing chromium: %v", err)
	}
}

// helloRoute returns demo's Hello route as "cmd-sub", read from the
// dashboard's API once the demo service has published it.
func helloRoute(t *testing.T, dash string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var c struct {
			Routes []struct {
				Cmd, Sub     int32
				Service, Req string
			} `json:"routes"`
		}
		resp, err := http.Get(dash + "api/cluster")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
		}
		for _, r := range c.Routes {
			if r.Service == "demo" && strings.HasSuffix(r.Req, "HelloReq") {
				return fmt.Sprintf("%d-%d", r.Cmd, r.Sub)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no demo Hello route in %s: %v %+v", dash+"api/cluster", err, c.Routes)
		}
		time.Sleep(50 * time.Millisecond) // polling pace
	}
}
