package console_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/totp"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const chromiumPath = "/usr/bin/chromium"

// chromium returns the browser's path; without it the test skips, unless VIGIL_TEST_REQUIRE_DATA is set (make
// test), where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("VIGIL_TEST_CHROMIUM")
	if p == "" {
		p = chromiumPath
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("VIGIL_TEST_REQUIRE_DATA") != "" {
			t.Fatalf("chromium not found at %s (scripts/setup.sh installs it): %v", p, err)
		}
		t.Skipf("chromium not found at %s: %v", p, err)
	}
	return p
}

// node is a running single node with the console on its auth listener.
type node struct {
	t       *testing.T
	cfg     *config.Config
	dataDir string
	console string // http://127.0.0.1:port
	ingest  string
	token   string
	natsURL string
}

// startNode runs the single node (embedded NATS, the test ClickHouse) with a small GeoIP database.
func startNode(t *testing.T) *node {
	t.Helper()
	geoPath := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := testenv.WriteTestDB(geoPath, geoNetworks); err != nil {
		t.Fatal(err)
	}
	return startNodeGeo(t, geoPath)
}

// startNodeGeo runs the single node with the GeoIP database at geoPath.
func startNodeGeo(t *testing.T, geoPath string) *node {
	t.Helper()
	return startNodeEnv(t, geoPath, nil)
}

// startNodeEnv runs the single node with the GeoIP database at geoPath and more settings (VIGIL_... → value).
func startNodeEnv(t *testing.T, geoPath string, extra map[string]string) *node {
	t.Helper()
	chAddr, db := testenv.ClickHouseDB(t)
	dir := t.TempDir()
	env := map[string]string{
		"VIGIL_DATA_DIR":            filepath.Join(dir, "data"),
		"VIGIL_NATS_LISTEN":         "127.0.0.1:0",
		"VIGIL_INGEST_ADDR":         "127.0.0.1:0",
		"VIGIL_AUTH_ADDR":           "127.0.0.1:0",
		"VIGIL_GEOIP_DB":            geoPath,
		"VIGIL_CLICKHOUSE_ADDR":     chAddr,
		"VIGIL_CLICKHOUSE_DATABASE": db,
		"VIGIL_CLICKHOUSE_START":    "never",
		"VIGIL_FLUSH_INTERVAL":      "100ms",
	}
	maps.Copy(env, extra)
	cfg, err := config.Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cfg: cfg, dataDir: filepath.Join(dir, "data")}
	nd := &app.Node{Config: cfg, Logger: slog.New(slog.DiscardHandler), Out: io.Discard, IngestAddr: make(chan net.Addr, 1),
		AuthAddr: make(chan net.Addr, 1), NATSURL: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx) }()
	for n.ingest == "" || n.console == "" || n.natsURL == "" {
		select {
		case a := <-nd.AuthAddr:
			n.console = "http://" + a.String()
		case u := <-nd.NATSURL:
			n.natsURL = u
		case a := <-nd.IngestAddr:
			n.ingest = "http://" + a.String()
		case err := <-done:
			t.Fatalf("node stopped: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("node did not start within 60s")
		}
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node Run = %v; want nil after cancel", err)
		}
	})
	testenv.Eventually(t, 30*time.Second, "ingest /readyz answers 200", func() bool {
		resp, err := http.Get(n.ingest + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	b, err := os.ReadFile(filepath.Join(n.dataDir, "ingest-token"))
	if err != nil {
		t.Fatal(err)
	}
	n.token = strings.TrimSpace(string(b))
	return n
}

// bootstrap creates an account as "vigil admin create" does.
func (n *node) bootstrap(user, password, role string) {
	n.t.Helper()
	cfg := *n.cfg
	cfg.NATSURL = n.natsURL
	a, err := app.OpenAdmin(&cfg, n.dataDir)
	if err != nil {
		n.t.Fatalf("admin create %s: %v", user, err)
	}
	defer a.Close()
	if err := a.CreateAccount(context.Background(), user, password, role); err != nil {
		n.t.Fatalf("admin create %s: %v", user, err)
	}
}

// post sends NDJSON events to ingest.
func (n *node) post(lines ...string) {
	n.t.Helper()
	req, _ := http.NewRequest("POST", n.ingest+"/v1/events", strings.NewReader(strings.Join(lines, "\n")))
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"accepted":%d`, len(lines))) {
		n.t.Fatalf("POST /v1/events = %d %s; want all %d accepted", resp.StatusCode, body, len(lines))
	}
}

// browser is one headless chromium with its own profile (cookies).
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // screenshot directory

	mu      sync.Mutex
	dialogs []string // the messages of the confirm() dialogs shown, in order
	dismiss bool     // the next dialog is dismissed (Cancel) instead of accepted
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()), chromedp.Flag("lang", "en-US"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dir := os.Getenv("VIGIL_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	b := &browser{t: t, ctx: ctx, base: base, shot: dir}
	// accept the console's confirm() dialogs (or dismiss the one dismissNext asks for), noting what each said
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			accept := !b.dismiss
			b.dismiss = false
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
		}
	}()
	return b
}

// dismissNext makes the next confirm() dialog answer Cancel.
func (b *browser) dismissNext() { b.mu.Lock(); b.dismiss = true; b.mu.Unlock() }

// lastDialog returns the message of the latest dialog shown ("" when none was).
func (b *browser) lastDialog() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) == 0 {
		return ""
	}
	return b.dialogs[len(b.dialogs)-1]
}

// result runs one action with a deadline and returns its value.
func result[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		dctx, dcancel := context.WithTimeout(b.ctx, 3*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		b.t.Fatalf("browser at %s: %v\npage text: %.2000s", loc, err, body)
	}
	return v
}

// run runs actions in order with a deadline.
func (b *browser) run(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	result(b, chromedp.Steps(steps...))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return result(b, chromedp.Evaluate[T](expr))
}

func (b *browser) open(path string) { b.t.Helper(); b.run(chromedp.Navigate(b.base + path)) }

func (b *browser) text(sel string) string {
	b.t.Helper()
	return result(b, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) has(sel string) bool {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", sel)) > 0
}

func (b *browser) location() string {
	b.t.Helper()
	return strings.TrimPrefix(result(b, chromedp.Location()), b.base)
}

// submit sets form fields (selector, value pairs), clicks the button and waits for the next page.
func (b *browser) submit(button string, fields ...string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(fields[i]), fields[i+1]))
	}
	b.run(steps...)
	before := eval[float64](b, "performance.timeOrigin")
	b.run(chromedp.Click(chromedp.CSS(button)))
	testenv.Eventually(b.t, 20*time.Second, "the page after "+button+" loads", func() bool {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]any](`[performance.timeOrigin, document.readyState]`))
		return err == nil && len(v) == 2 && v[0] != before && v[1] == "complete"
	})
}

// mustSee fails unless the page's text contains want. It reads the text in the page's script rather than by DOM
// node: a node id chromedp holds can be gone by the time it asks for its text ("No node with given id found").
func (b *browser) mustSee(want string) {
	b.t.Helper()
	if got := eval[string](b, "document.body ? document.body.innerText : ''"); !strings.Contains(got, want) {
		b.t.Fatalf("page %s does not show %q; it shows:\n%.3000s", b.location(), want, got)
	}
}

// screenshot saves the page as name.png and checks its weight: HTML, styles, script and images under 100 KB.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := result(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.checkWeight(name)
}

// checkWeight fails the test unless the page's HTML, styles, script and images weigh under 100 KB.
func (b *browser) checkWeight(name string) {
	b.t.Helper()
	weight := eval[int](b, `(function(){var n=performance.getEntriesByType("navigation")[0];
var s=n?n.decodedBodySize:0;performance.getEntriesByType("resource").forEach(function(r){s+=r.decodedBodySize});return s})()`)
	if weight <= 0 || weight >= 100<<10 {
		b.t.Errorf("page %s weighs %d bytes; want under 100 KB", name, weight)
	}
}

// screenshotOf saves the element sel as name.png, with the same weight check as screenshot.
func (b *browser) screenshotOf(name, sel string) {
	b.t.Helper()
	png := result(b, chromedp.Screenshot(chromedp.CSS(sel)))
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.checkWeight(name)
}

// authenticator computes TOTP codes from the secret read off the page, never reusing a step.
type authenticator struct {
	mu     sync.Mutex
	secret []byte
	last   int64
}

func newAuthenticator(t *testing.T, text string) *authenticator {
	s, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.ReplaceAll(text, " ", "")))
	if err != nil || len(s) < 20 {
		t.Fatalf("secret %q on the page does not decode: %v", text, err)
	}
	return &authenticator{secret: s, last: -1}
}

// code returns a code of a step the server accepts (now-1..now+1) and has not seen, waiting for the clock when
// every such step is used.
func (a *authenticator) code(t *testing.T) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	deadline := time.Now().Add(40 * time.Second)
	for {
		now := totp.Default.Step(time.Now())
		step := max(now, a.last+1)
		if step <= now+1 {
			// the server's clock is this one; stay off the edge of the next step
			c, err := totp.Code(a.secret, totp.Default, step)
			if err != nil {
				t.Fatal(err)
			}
			a.last = step
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("no unused TOTP step within 40s")
		}
		time.Sleep(200 * time.Millisecond) // waiting for the wall clock's next step: there is nothing to observe
	}
}
