package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/handlers"
)

// headersBody is a create body with the given headers JSON.
func headersBody(headers string) string {
	return `{"url":"https://r.test/","eventTypes":["*"],"headers":` + headers + `}`
}

func manyHeaders(n int) string {
	h := map[string]string{}
	for i := range n {
		h[fmt.Sprintf("X-H%d", i)] = "v"
	}
	b, _ := json.Marshal(h)
	return string(b)
}

func TestCustomHeadersValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ name, headers, want string }{
		{"too many", manyHeaders(21), "at most 20 headers"},
		{"name with a space", `{"X Key":"v"}`, "letters, digits"},
		{"empty name", `{"":"v"}`, "must not be empty"},
		{"signature header", `{"webhook-signature":"v1,forged"}`, "webhook-*"},
		{"signature header in capitals", `{"Webhook-Id":"x"}`, "webhook-*"},
		{"content type", `{"Content-Type":"text/plain"}`, "application/json"},
		{"content length", `{"content-length":"1"}`, "cannot be set"},
		{"host", `{"Host":"evil.test"}`, "cannot be set"},
		{"user agent", `{"User-Agent":"x"}`, "cannot be set"},
		{"connection", `{"Connection":"close"}`, "hop-by-hop"},
		{"transfer encoding", `{"Transfer-Encoding":"chunked"}`, "hop-by-hop"},
		{"upgrade", `{"Upgrade":"websocket"}`, "hop-by-hop"},
		{"control character", `{"X-Key":"a\u0001b"}`, "printable ASCII"},
		{"line break", `{"X-Key":"a\r\nX-Injected: 1"}`, "printable ASCII"},
		{"not ASCII", `{"X-Key":"café"}`, "printable ASCII"},
		{"value too long", `{"X-Key":"` + strings.Repeat("k", 1025) + `"}`, "at most 1024 bytes"},
		{"empty value", `{"X-Key":""}`, "must not be empty"},
		{"padded value", `{"X-Key":" v"}`, "white space"},
		{"same name twice", `{"X-Key":"a","x-key":"b"}`, "ignore case"},
		{"null on create", `{"X-Key":null}`, "has none"},
		{"not an object", `["X-Key"]`, ""},
		{"value not a string", `{"X-Key":1}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(tc.headers)), http.StatusBadRequest, "invalid_value", "headers")
			assert.Contains(t, got.Error.Message, tc.want)
		})
	}
	rec := e.admin(http.MethodGet, "/api/v1/webhooks", "")
	assert.JSONEq(t, `{"data":[]}`, rec.Body.String(), "nothing was created")

	// The limits themselves, and Authorization, are accepted.
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(manyHeaders(20))), http.StatusCreated)
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks",
		headersBody(`{"Authorization":"Bearer `+strings.Repeat("k", 1024-len("Bearer "))+`","X-Tab":"a\tb"}`)), http.StatusCreated)
}

// Lower limits from the configuration apply.
func TestCustomHeaderLimitsAreConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.MaxCustomHeaders, s.MaxCustomHeaderBytes = 2, 8 })
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(manyHeaders(3))), http.StatusBadRequest, "invalid_value", "headers")
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(`{"X-Key":"123456789"}`)), http.StatusBadRequest, "invalid_value", "headers")
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(`{"X-Key":"12345678","X-B":"b"}`)), http.StatusCreated)
}

// Values never appear in webhook answers; an admin reads them through their own route, which
// the audit log records, naming the headers but not their values. A viewer cannot.
func TestCustomHeadersAreMaskedUntilRevealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(`{"Authorization":"Bearer tok-8812","X-Tenant":"acme"}`))
	requireStatus(t, rec, http.StatusCreated)
	assert.NotContains(t, rec.Body.String(), "tok-8812")
	var created webhookResp
	decodeInto(t, rec, &created)
	assert.Equal(t, map[string]*string{"Authorization": nil, "X-Tenant": nil}, created.Headers)

	for _, path := range []string{"/api/v1/webhooks/" + created.ID, "/api/v1/webhooks"} {
		rec := e.admin(http.MethodGet, path, "")
		requireStatus(t, rec, http.StatusOK)
		assert.Contains(t, rec.Body.String(), `"Authorization":null`)
		assert.NotContains(t, rec.Body.String(), "tok-8812", path)
	}

	viewer := e.apiKey("viewer", db.RoleViewer)
	assertError(t, e.call(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/headers", viewer, ""), http.StatusForbidden, "forbidden", "")
	operator := e.apiKey("operator", db.RoleOperator)
	assertError(t, e.call(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/headers", operator, ""), http.StatusForbidden, "forbidden", "")

	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/headers", "")
	requireStatus(t, rec, http.StatusOK)
	assert.JSONEq(t, `{"headers":{"Authorization":"Bearer tok-8812","X-Tenant":"acme"}}`, rec.Body.String())
	log := e.auditLog("?action=webhook.headers.reveal")
	require.Len(t, log.Data, 1)
	assert.Equal(t, "Authorization, X-Tenant read through the API", log.Data[0].Summary)
	assert.Equal(t, created.ID, *log.Data[0].Target.ID)

	assertError(t, e.admin(http.MethodGet, "/api/v1/webhooks/whk_nope/headers", ""), http.StatusNotFound, "not_found", "")
	plain := e.createWebhook("https://plain.test/", true, "*")
	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+plain+"/headers", "")
	requireStatus(t, rec, http.StatusOK)
	assert.JSONEq(t, `{"headers":{}}`, rec.Body.String())
}

// A PATCH replaces the set; a name sent back with null keeps its value, so the headers of a
// GET can go back unchanged. Only an admin changes them, and the audit log names what
// changed, never a value.
func TestPatchCustomHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.admin(http.MethodPost, "/api/v1/webhooks", headersBody(`{"Authorization":"Bearer keep-me","X-Old":"o"}`))
	requireStatus(t, rec, http.StatusCreated)
	var wh webhookResp
	decodeInto(t, rec, &wh)
	path := "/api/v1/webhooks/" + wh.ID
	reveal := func() string {
		rec := e.admin(http.MethodGet, path+"/headers", "")
		requireStatus(t, rec, http.StatusOK)
		return rec.Body.String()
	}

	rec = e.admin(http.MethodPatch, path, `{"headers":{"Authorization":null,"X-New":"n"}}`)
	requireStatus(t, rec, http.StatusOK)
	var patched webhookResp
	decodeInto(t, rec, &patched)
	assert.Equal(t, map[string]*string{"Authorization": nil, "X-New": nil}, patched.Headers)
	assert.JSONEq(t, `{"headers":{"Authorization":"Bearer keep-me","X-New":"n"}}`, reveal())
	log := e.auditLog("?action=webhook.update")
	require.NotEmpty(t, log.Data)
	assert.Equal(t, "headers added X-New, removed X-Old", log.Data[0].Summary)

	// The masked answer of a GET sent back changes nothing.
	get := e.admin(http.MethodGet, path, "")
	var masked webhookResp
	decodeInto(t, get, &masked)
	b, _ := json.Marshal(map[string]any{"headers": masked.Headers})
	requireStatus(t, e.admin(http.MethodPatch, path, string(b)), http.StatusOK)
	assert.JSONEq(t, `{"headers":{"Authorization":"Bearer keep-me","X-New":"n"}}`, reveal())

	rec = e.admin(http.MethodPatch, path, `{"headers":{"Authorization":"Bearer rotated"}}`)
	requireStatus(t, rec, http.StatusOK)
	log = e.auditLog("?action=webhook.update")
	assert.Equal(t, "headers changed Authorization, removed X-New", log.Data[0].Summary)
	for _, r := range e.auditLog("").Data {
		assert.NotContains(t, r.Summary, "keep-me")
		assert.NotContains(t, r.Summary, "rotated")
	}

	assertError(t, e.admin(http.MethodPatch, path, `{"headers":{"X-Unknown":null}}`), http.StatusBadRequest, "invalid_value", "headers")
	assertError(t, e.admin(http.MethodPatch, path, `{"headers":{"Host":"x"}}`), http.StatusBadRequest, "invalid_value", "headers")
	requireStatus(t, e.admin(http.MethodPatch, path, `{"headers":null}`), http.StatusOK)
	assert.JSONEq(t, `{"headers":{"Authorization":"Bearer rotated"}}`, reveal(), "null leaves them")

	operator := e.apiKey("operator", db.RoleOperator)
	assertError(t, e.call(http.MethodPatch, path, operator, `{"headers":{}}`), http.StatusForbidden, "forbidden", "")
	requireStatus(t, e.admin(http.MethodPatch, path, `{"headers":{}}`), http.StatusOK)
	assert.JSONEq(t, `{"headers":{}}`, reveal(), "{} removes them")
}

func TestWebhookRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"https://r.test/","eventTypes":["*"],"rateLimit":50}`)
	requireStatus(t, rec, http.StatusCreated)
	var wh webhookResp
	decodeInto(t, rec, &wh)
	require.NotNil(t, wh.RateLimit)
	assert.Equal(t, 50, *wh.RateLimit)
	path := "/api/v1/webhooks/" + wh.ID

	rec = e.admin(http.MethodPatch, path, `{"description":"x"}`)
	decodeInto(t, rec, &wh)
	require.NotNil(t, wh.RateLimit, "absent leaves it")
	rec = e.admin(http.MethodPatch, path, `{"rateLimit":7}`)
	decodeInto(t, rec, &wh)
	assert.Equal(t, 7, *wh.RateLimit)
	assert.Equal(t, "rate limit 50/s → 7/s", e.auditLog("?action=webhook.update").Data[0].Summary)
	rec = e.admin(http.MethodPatch, path, `{"rateLimit":null}`)
	decodeInto(t, rec, &wh)
	assert.Nil(t, wh.RateLimit, "null removes it")

	for _, bad := range []string{`0`, `-1`, `1.5`, `100001`, `"5"`} {
		assertError(t, e.admin(http.MethodPatch, path, `{"rateLimit":`+bad+`}`), http.StatusBadRequest, "invalid_value", "rateLimit")
		assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"https://r.test/","eventTypes":["*"],"rateLimit":`+bad+`}`),
			http.StatusBadRequest, "invalid_value", "rateLimit")
	}
	requireStatus(t, e.admin(http.MethodPatch, path, `{"rateLimit":100000}`), http.StatusOK)
	operator := e.apiKey("operator", db.RoleOperator)
	assertError(t, e.call(http.MethodPatch, path, operator, `{"rateLimit":1}`), http.StatusForbidden, "forbidden", "")
}
