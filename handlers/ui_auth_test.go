package handlers_test

import (
	"strings"

	"github.com/PuerkitoBio/goquery"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

func TestUIPagesRequireSignIn(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	wh, d := e.failedDelivery("https://receiver.test/hook", 503, "down")
	anon := e.browser()
	for _, path := range []string{"/", "/webhooks", "/webhooks/new", "/webhooks/" + wh.ID, "/webhooks/" + wh.ID + "/edit",
		"/webhooks/" + wh.ID + "/delete", "/deliveries", "/deliveries/" + d.ID, "/deliveries/" + d.ID + "/live",
		"/events", "/events/" + d.EventID} {
		rec := anon.get(path)
		assert.Equal(t, http.StatusSeeOther, rec.Code, path)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		assert.Equal(t, "/login", loc.Path, path)
		if path != "/" {
			assert.Equal(t, path, loc.Query().Get("next"), path)
		}
		hx := anon.htmx(http.MethodGet, path, nil)
		assert.Equal(t, http.StatusUnauthorized, hx.Code, path)
		assert.Equal(t, "/login", hx.Header().Get("HX-Redirect"), path)
	}
	for _, path := range []string{"/webhooks", "/webhooks/" + wh.ID + "/delete", "/webhooks/" + wh.ID + "/enabled",
		"/webhooks/" + wh.ID + "/retry-failed", "/webhooks/" + wh.ID + "/test", "/deliveries/" + d.ID + "/retry"} {
		rec := anon.post(path, url.Values{"url": {"https://x.test/"}, "event_types": {"*"}, "enabled": {"false"}})
		assert.Equal(t, http.StatusSeeOther, rec.Code, path)
		assert.Equal(t, "/login", rec.Header().Get("Location"), path)
	}
	// Nothing changed.
	got := dbtest.Delivery(t, e.store, d.ID)
	assert.Equal(t, "failed", string(got.State))
	whs, err := e.store.ListWebhooks(t.Context())
	require.NoError(t, err)
	require.Len(t, whs, 1)
	assert.True(t, whs[0].Enabled)
}

func TestSignInWrongThenRight(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.browser()

	page := b.get("/login?next=/webhooks")
	require.Equal(t, http.StatusOK, page.Code)
	assert.Equal(t, "/webhooks", doc(t, page).Find(`input[name="next"]`).AttrOr("value", ""))

	wrongPassword := b.post("/login", url.Values{"email": {adminEmail}, "password": {"not the password"}, "next": {"/webhooks"}})
	require.Equal(t, http.StatusUnauthorized, wrongPassword.Code)
	d := doc(t, wrongPassword)
	assert.Equal(t, "Wrong email or password.", text(testid(d, "signin-error")))
	assert.Equal(t, adminEmail, d.Find("#email").AttrOr("value", ""), "the email typed is kept")
	assert.Empty(t, d.Find("#password").AttrOr("value", ""), "the password is never echoed")

	unknown := b.signIn("nobody@example.com", adminPassword)
	require.Equal(t, http.StatusUnauthorized, unknown.Code)
	assert.Equal(t, "Wrong email or password.", text(testid(doc(t, unknown), "signin-error")), "one message for both")
	assert.Empty(t, b.cookies, "no session after failures")

	ok := b.post("/login", url.Values{"email": {"Admin@Example.com"}, "password": {adminPassword}, "next": {"/webhooks"}})
	require.Equal(t, http.StatusSeeOther, ok.Code, ok.Body.String())
	assert.Equal(t, "/webhooks", ok.Header().Get("Location"))
	c := b.cookies["hookrelay_session"]
	require.NotNil(t, c)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.False(t, c.Secure, "plain http base URL")
	assert.Equal(t, 12*3600, c.MaxAge)

	home := b.get("/")
	require.Equal(t, http.StatusOK, home.Code)
	assert.Equal(t, adminEmail, text(testid(doc(t, home), "user")))

	// Signed in, the sign-in page sends you on.
	again := b.get("/login")
	assert.Equal(t, http.StatusSeeOther, again.Code)
}

func TestSignInRefusesOpenRedirects(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b := e.browser()
		rec := b.post("/login", url.Values{"email": {adminEmail}, "password": {adminPassword}, "next": {next}})
		require.Equal(t, http.StatusSeeOther, rec.Code)
		assert.Equal(t, "/", rec.Header().Get("Location"), next)
	}
}

func TestSecureCookieWhenServedOverHTTPS(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) { s.UI.SecureCookies = true })
	b := e.signedIn()
	assert.True(t, b.cookies["hookrelay_session"].Secure)
}

func TestSignInRotatesTheSession(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	first := *b.cookies["hookrelay_session"]

	// Signing in again from the same browser replaces the session: the old cookie is dead.
	require.Equal(t, http.StatusSeeOther, b.signIn(adminEmail, adminPassword).Code)
	second := *b.cookies["hookrelay_session"]
	assert.NotEqual(t, first.Value, second.Value)

	old := e.browser()
	old.cookies["hookrelay_session"] = &first
	assert.Equal(t, http.StatusSeeOther, old.get("/").Code, "the session from before sign-in no longer opens pages")
	assert.Equal(t, http.StatusOK, b.get("/").Code)
}

func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	kept := *b.cookies["hookrelay_session"]

	rec := b.post("/logout", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/login", rec.Header().Get("Location"))
	assert.Empty(t, b.cookies, "the cookie is cleared")
	assert.Equal(t, http.StatusSeeOther, b.get("/").Code)

	replay := e.browser()
	replay.cookies["hookrelay_session"] = &kept
	assert.Equal(t, http.StatusSeeOther, replay.get("/webhooks").Code, "a copy of the cookie is refused after sign-out")
}

func TestSessionExpiresAfterIdleTTL(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) { s.UI.SessionTTL = time.Hour })
	b := e.signedIn()

	// Activity keeps the session alive past the TTL counted from sign-in.
	for range 3 {
		e.clock.Add(50 * time.Minute)
		require.Equal(t, http.StatusOK, b.get("/").Code)
	}
	e.clock.Add(59 * time.Minute)
	require.Equal(t, http.StatusOK, b.get("/webhooks").Code, "59 idle minutes are within the TTL")

	e.clock.Add(61 * time.Minute)
	rec := b.get("/webhooks")
	assert.Equal(t, http.StatusSeeOther, rec.Code, "idle longer than the TTL")
	assert.Equal(t, "/login?next=%2Fwebhooks", rec.Header().Get("Location"))
	hx := b.htmx(http.MethodGet, "/deliveries", nil)
	assert.Equal(t, http.StatusUnauthorized, hx.Code)
	assert.Equal(t, "/login", hx.Header().Get("HX-Redirect"))
}

func TestFailedSignInsAreRateLimitedPerAccount(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) {
		s.UI.SignInLimitPerAccount = 3
		s.UI.SignInLimitPerIP = 100
		s.UI.SignInLimitWindow = 10 * time.Minute
	})
	for i := range 3 {
		b := e.browser()
		b.remote = "198.51.100." + string(rune('1'+i)) + ":5000" // different addresses, same account
		require.Equal(t, http.StatusUnauthorized, b.signIn(adminEmail, "wrong password "+string(rune('a'+i))).Code)
	}
	b := e.browser()
	rec := b.signIn(adminEmail, adminPassword)
	require.Equal(t, http.StatusTooManyRequests, rec.Code, "even the right password waits out the window")
	assert.Equal(t, "600", rec.Header().Get("Retry-After"))
	assert.Equal(t, "Too many failed sign-ins. Wait 10 minutes, then try again.", text(testid(doc(t, rec), "signin-error")))
	assert.Empty(t, b.cookies)

	// Another account from the same address is not affected.
	hash, err := handlers.HashPassword("another long password", 4)
	require.NoError(t, err)
	_, err = e.store.CreateUser(t.Context(), "second@example.com", hash)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSeeOther, b.signIn("second@example.com", "another long password").Code)
}

func TestFailedSignInsAreRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(s *handlers.Server) {
		s.UI.SignInLimitPerIP = 4
		s.UI.SignInLimitPerAccount = 100
	})
	b := e.browser()
	for i := range 4 {
		require.Equal(t, http.StatusUnauthorized, b.signIn("guess"+string(rune('a'+i))+"@example.com", "whatever it is").Code)
	}
	rec := b.signIn(adminEmail, adminPassword)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "signin-error")), "Too many failed sign-ins")

	other := e.browser()
	other.remote = "203.0.113.9:4444"
	assert.Equal(t, http.StatusSeeOther, other.signIn(adminEmail, adminPassword).Code, "other addresses still sign in")
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	form := url.Values{"url": {"https://receiver.test/x"}, "event_types": {"*"}, "enabled": {"true"}}

	rec := b.post("/webhooks", form, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, "403", testid(doc(t, rec), "error-page").AttrOr("data-status", ""))

	rec = b.post("/webhooks", form, "Sec-Fetch-Site", "", "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, rec.Code, "an Origin that is not this host")

	rec = b.post("/login", url.Values{"email": {adminEmail}, "password": {adminPassword}}, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, rec.Code, "sign-in is protected too (login CSRF)")

	whs, err := e.store.ListWebhooks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, whs, "nothing was created")

	rec = b.post("/webhooks", form)
	assert.Equal(t, http.StatusSeeOther, rec.Code, "the same request from this site works: %s", rec.Body)
}

func TestSecurityHeadersOnEveryUIResponse(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	for _, path := range []string{"/login", "/", "/webhooks", "/no/such/page", "/static/app.css"} {
		rec := b.get(path)
		csp := rec.Header().Get("Content-Security-Policy")
		assert.Contains(t, csp, "frame-ancestors 'none'", path)
		assert.Contains(t, csp, "script-src 'self'", path)
		assert.NotContains(t, csp, "unsafe-inline", path)
		assert.NotContains(t, csp, "unsafe-eval", path)
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), path)
		assert.Equal(t, "same-origin", rec.Header().Get("Referrer-Policy"), path)
	}
	// Pages carry no inline script: every <script> has a src on this site.
	d := doc(t, b.get("/"))
	d.Find("script").Each(func(_ int, s *goquery.Selection) {
		src, ok := s.Attr("src")
		assert.True(t, ok && strings.HasPrefix(src, "/static/"), "script %q", src)
		assert.Empty(t, strings.TrimSpace(s.Text()))
	})
}
