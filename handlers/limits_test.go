package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/guard"
	"github.com/hookrelay/hookrelay/handlers"
)

// TestLimitsAreSettings sets every field limit low and checks both sides of each boundary.
func TestLimitsAreSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) {
		s.MaxURLLength = 30
		s.MaxEventTypes = 2
		s.MaxDescriptionLength = 5
		s.MaxWorkflowIDLength = 4
		s.MaxIdempotencyKeyLength = 3
		s.MaxAdminBodyBytes = 200
	})
	webhook := func(url, types, desc string) string {
		return `{"url":"` + url + `","eventTypes":` + types + `,"description":"` + desc + `"}`
	}
	url30 := "https://r.test/" + strings.Repeat("p", 30-len("https://r.test/"))
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks", webhook(url30, `["a","b"]`, "ééééé")), http.StatusCreated)
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", webhook(url30+"p", `["a"]`, "")), 400, "invalid_value", "url")
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", webhook(url30, `["a","b","c"]`, "")), 400, "invalid_value", "eventTypes")
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", webhook(url30, `["a"]`, "ééééé!")), 400, "invalid_value", "description")
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", webhook(url30, `["a"]`, strings.Repeat(" ", 200))), 413, "too_large", "")

	id := e.createWebhook("https://r.test/", true, "*")
	assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"url":"`+url30+`p"}`), 400, "invalid_value", "url")
	assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"eventTypes":["a","b","c"]}`), 400, "invalid_value", "eventTypes")
	assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"description":"123456"}`), 400, "invalid_value", "description")

	requireStatus(t, e.ingest(`{"eventType":"a.b","data":{},"workflowId":"wwww","idempotencyKey":"kkk"}`), http.StatusAccepted)
	assertError(t, e.ingest(`{"eventType":"a.b","data":{},"workflowId":"wwwww"}`), 400, "invalid_value", "workflowId")
	assertError(t, e.ingest(`{"eventType":"a.b","data":{},"idempotencyKey":"kkkk"}`), 400, "invalid_value", "idempotencyKey")
	assertError(t, e.ingest(`{"eventType":"a.b","data":{}}`, "Idempotency-Key", "kkkk"), 400, "invalid_value", "Idempotency-Key")
	requireStatus(t, e.ingest(`{"eventType":"a.b","data":{}}`, "Idempotency-Key", "abc"), http.StatusAccepted)
	assert.Equal(t, 2, countDeliveries(t, e.store), "only the two events within the limits were stored")
}

// guardEnv is a server whose CheckURL is the real destination guard.
func guardEnv(t *testing.T, g *guard.Guard) *env {
	return newEnv(t, func(s *handlers.Server) { s.CheckURL = g.CheckURL })
}

func TestWebhookURLRefusedByTheGuard(t *testing.T) {
	t.Parallel()
	e := guardEnv(t, &guard.Guard{})
	for _, tc := range []struct{ url, reason string }{
		{"http://127.0.0.1:8080/hook", "destination 127.0.0.1 blocked: loopback"},
		{"http://localhost:8080/hook", `destination localhost blocked: it resolves only to addresses deliveries may not reach: 127.0.0.1 (loopback)`},
		{"http://169.254.169.254/latest/meta-data/", "cloud metadata service"},
		{"http://[::ffff:10.0.0.1]/hook", "private network"},
		{"http://[fd00::1]/hook", "unique-local"},
		{"http://100.64.1.1/hook", "carrier-grade NAT"},
		{"http://0.0.0.0:9000/hook", "unspecified"},
	} {
		rec := e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"`+tc.url+`","eventTypes":["*"]}`)
		got := assertError(t, rec, http.StatusBadRequest, "invalid_value", "url")
		assert.Contains(t, got.Error.Message, tc.reason, tc.url)
	}
	rec := e.admin(http.MethodGet, "/api/v1/webhooks", "")
	assert.JSONEq(t, `{"data":[]}`, rec.Body.String(), "nothing was created")

	// A public address literal passes (no DNS needed); an edit to a refused one does not.
	id := e.createWebhook("https://93.184.215.14/hook", true, "*")
	got := assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"url":"http://10.1.2.3/"}`), 400, "invalid_value", "url")
	assert.Contains(t, got.Error.Message, "RFC 1918")
	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+id, "")
	assert.Equal(t, "https://93.184.215.14/hook", object(t, rec)["url"], "the edit was not applied")
	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"description":"only the description"}`), http.StatusOK)
}

func TestWebhookURLAllowedByTheGuardSettings(t *testing.T) {
	t.Parallel()
	allowed := guardEnv(t, &guard.Guard{Allowed: mustCIDRs(t, "127.0.0.0/8")})
	allowed.createWebhook("http://127.0.0.1:8080/hook", true, "*")
	off := guardEnv(t, &guard.Guard{AllowPrivate: true})
	off.createWebhook("http://169.254.169.254/", true, "*")

	httpsOnly := guardEnv(t, &guard.Guard{HTTPSOnly: true})
	got := assertError(t, httpsOnly.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"http://93.184.215.14/","eventTypes":["*"]}`),
		400, "invalid_value", "url")
	assert.Contains(t, got.Error.Message, "only https:// URLs are allowed")
	id := httpsOnly.createWebhook("https://93.184.215.14/", true, "*")
	assertError(t, httpsOnly.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"url":"http://93.184.215.14/"}`), 400, "invalid_value", "url")
}

// TestCheckURLSeesTheParsedURL checks what the handler passes to CheckURL, and that CheckURL
// runs only after the URL is valid.
func TestCheckURLSeesTheParsedURL(t *testing.T) {
	t.Parallel()
	var seen []string
	e := newEnv(t, func(s *handlers.Server) {
		s.CheckURL = func(ctx context.Context, u *url.URL) error {
			require.NotNil(t, ctx)
			seen = append(seen, u.Scheme+"|"+u.Hostname()+"|"+u.Port())
			if u.Hostname() == "refused.test" {
				return errors.New("refused for the test")
			}
			return nil
		}
	})
	e.createWebhook("https://ok.test:8443/x", true, "*")
	got := assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"https://refused.test/","eventTypes":["*"]}`), 400, "invalid_value", "url")
	assert.Equal(t, "refused for the test", got.Error.Message)
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"ftp://x.test/","eventTypes":["*"]}`), 400, "invalid_value", "url")
	assert.Equal(t, []string{"https|ok.test|8443", "https|refused.test|"}, seen)
}

func mustCIDRs(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := guard.ParseCIDRs(s)
	require.NoError(t, err)
	return p
}
