//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/hookrelay/hookrelay/internal/testsuite"
)

// Admin credentials startServer gives every server.
const (
	adminEmail    = "admin@e2e.test"
	adminPassword = "e2e-admin-password"
)

// driverVersion is the playwright driver that playwright-go v0.5200.1 accepts.
const driverVersion = "1.52.0"

// chromiumArgs keep Debian's Chromium quiet on a closed network.
var chromiumArgs = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync"}

var (
	browserOnce sync.Once
	browserPW   *playwright.Playwright
	browserInst playwright.Browser
	browserErr  error
)

// driverDir is where scripts/install-browser-deps.sh lays out the driver.
func driverDir() string {
	if d := os.Getenv("PLAYWRIGHT_DRIVER_PATH"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "ms-playwright-go", driverVersion)
}

func chromiumPath() string {
	if p := os.Getenv("HOOKRELAY_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browserMissing says what the browser tests lack, or "".
func browserMissing() string {
	var missing []string
	if _, err := os.Stat(filepath.Join(driverDir(), "package", "cli.js")); err != nil {
		missing = append(missing, "the playwright driver ("+driverDir()+")")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = append(missing, "Chromium ("+chromiumPath()+")")
	}
	if len(missing) == 0 {
		return ""
	}
	return "not found: " + strings.Join(missing, " and ") + "; run `make browser-deps`"
}

// sharedBrowser starts the playwright driver and Chromium once for the package. Without
// them the browser tests skip on a developer's machine, and fail in CI.
func sharedBrowser(t *testing.T) playwright.Browser {
	t.Helper()
	testsuite.Require(t, browserSuite, testsuite.CIMode(os.Getenv))
	browserOnce.Do(func() {
		browserPW, browserErr = playwright.Run(&playwright.RunOptions{DriverDirectory: driverDir(), SkipInstallBrowsers: true, Verbose: false})
		if browserErr != nil {
			return
		}
		browserInst, browserErr = browserPW.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
			ExecutablePath: playwright.String(chromiumPath()),
			Headless:       playwright.Bool(true),
			Args:           chromiumArgs,
		})
	})
	if browserErr != nil {
		t.Fatalf("start the browser: %v", browserErr)
	}
	return browserInst
}

// stopBrowser is called by TestMain after the tests.
func stopBrowser() {
	if browserInst != nil {
		browserInst.Close()
	}
	if browserPW != nil {
		browserPW.Stop()
	}
}

// ui is one test's browser context and page on one server.
type ui struct {
	t      *testing.T
	srv    *server
	page   playwright.Page
	expect playwright.PlaywrightAssertions
}

// newUI opens a fresh browser context (its own cookies) on srv.
func newUI(t *testing.T, srv *server) *ui {
	t.Helper()
	b := sharedBrowser(t)
	bctx, err := b.NewContext(playwright.BrowserNewContextOptions{
		BaseURL:  playwright.String(srv.URL),
		Viewport: &playwright.Size{Width: 1280, Height: 900},
	})
	if err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	t.Cleanup(func() { bctx.Close() })
	page, err := bctx.NewPage()
	if err != nil {
		t.Fatalf("new page: %v", err)
	}
	return &ui{t: t, srv: srv, page: page, expect: playwright.NewPlaywrightAssertions(15000)}
}

// must stops the test on a playwright error, naming what was being done.
func (u *ui) must(what string, err error) {
	u.t.Helper()
	if err != nil {
		u.shot("failure-" + safeName(u.t.Name()))
		u.t.Fatalf("%s: %v", what, err)
	}
}

func (u *ui) goto_(path string) {
	u.t.Helper()
	_, err := u.page.Goto(path)
	u.must("open "+path, err)
}

func (u *ui) testid(id string) playwright.Locator { return u.page.GetByTestId(id) }

func (u *ui) button(name string) playwright.Locator {
	return u.page.GetByRole("button", playwright.PageGetByRoleOptions{Name: name, Exact: playwright.Bool(true)})
}

func (u *ui) link(name string) playwright.Locator {
	return u.page.GetByRole("link", playwright.PageGetByRoleOptions{Name: name})
}

func (u *ui) fill(label, value string) {
	u.t.Helper()
	u.must("fill "+label, u.page.GetByLabel(label, playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)}).Fill(value))
}

func (u *ui) click(l playwright.Locator, what string) {
	u.t.Helper()
	u.must("click "+what, l.Click())
}

func (u *ui) signIn() {
	u.t.Helper()
	u.goto_("/login")
	u.fill("Email", adminEmail)
	u.fill("Password", adminPassword)
	u.click(u.button("Sign in"), "Sign in")
	u.must("see the dashboard", u.expect.Locator(u.page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "Dashboard"})).ToBeVisible())
}

// shot saves a full-page screenshot under e2e/artifacts/.
func (u *ui) shot(name string) string {
	u.t.Helper()
	dir := "artifacts"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		u.t.Logf("screenshot dir: %v", err)
		return ""
	}
	p := filepath.Join(dir, name+".png")
	if _, err := u.page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(p), FullPage: playwright.Bool(true)}); err != nil {
		u.t.Logf("screenshot %s: %v", name, err)
	}
	return p
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// markPage marks the page so that a later check can tell it was not reloaded.
func (u *ui) markPage() {
	u.t.Helper()
	_, err := u.page.Evaluate(`() => { window.__hookrelayMark = "still here" }`)
	u.must("mark the page", err)
}

func (u *ui) stillSamePage() bool {
	u.t.Helper()
	v, err := u.page.Evaluate(`() => window.__hookrelayMark`)
	u.must("read the mark", err)
	s, _ := v.(string)
	return s == "still here"
}
