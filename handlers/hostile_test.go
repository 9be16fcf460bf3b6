package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/handlers"
	"github.com/hookrelay/hookrelay/static"
)

// hostile is a server with one webhook subscribed to everything, so every stored event shows
// up as a delivery, and a check that the process still serves and has stored nothing new.
type hostile struct {
	*env
	webhook string
}

func newHostile(t *testing.T, opts ...func(*handlers.Server)) *hostile {
	e := newEnv(t, opts...)
	return &hostile{env: e, webhook: e.createWebhook("https://all.test/hook", true, "*")}
}

// unchanged checks that no event and no webhook was added, and that the server still serves.
func (h *hostile) unchanged(t *testing.T, events int) {
	t.Helper()
	assert.Equal(t, events, countDeliveries(t, h.store), "events stored")
	rec := h.admin(http.MethodGet, "/api/v1/webhooks", "")
	requireStatus(t, rec, http.StatusOK)
	var list struct{ Data []struct{ ID string } }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list.Data, 1, "webhooks")
	assert.Equal(t, h.webhook, list.Data[0].ID)
	requireStatus(t, h.call(http.MethodGet, "/healthz", "", ""), http.StatusOK)
}

func TestHostileOversizedBodies(t *testing.T) {
	t.Parallel()
	h := newHostile(t, func(s *handlers.Server) {
		s.MaxEventBytes, s.MaxBatchBytes, s.MaxAdminBodyBytes = 1000, 5000, 2000
	})
	pad := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name, method, path, token, body string
	}{
		{"event", "POST", "/api/v1/events", ingestToken, `{"eventType":"a.b","data":{"p":"` + pad(1000) + `"}}`},
		{"batch", "POST", "/api/v1/events/batch", ingestToken, `{"events":[{"eventType":"a.b","data":{"p":"` + pad(5000) + `"}}]}`},
		{"webhook create", "POST", "/api/v1/webhooks", adminToken, `{"url":"https://x.test/","eventTypes":["*"],"description":"` + pad(2000) + `"}`},
		{"webhook edit", "PATCH", "/api/v1/webhooks/" + h.webhook, adminToken, `{"description":"` + pad(2000) + `"}`},
		{"a megabyte of whitespace", "POST", "/api/v1/events", ingestToken, strings.Repeat(" ", 1<<20) + `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, h.call(tc.method, tc.path, tc.token, tc.body), http.StatusRequestEntityTooLarge, "too_large", "")
		})
	}
	// One batch item over the event limit is refused alone; the others are stored.
	rec := h.call("POST", "/api/v1/events/batch", ingestToken,
		`{"events":[{"eventType":"a.b","data":{"p":"`+pad(1000)+`"}},{"eventType":"a.b","data":{}}]}`)
	requireStatus(t, rec, http.StatusAccepted)
	assert.Contains(t, rec.Body.String(), `"code":"too_large"`)
	h.unchanged(t, 1)
	rec = h.admin(http.MethodGet, "/api/v1/webhooks/"+h.webhook, "")
	assert.Empty(t, object(t, rec)["description"], "the oversized edit changed nothing")
}

func TestHostileDeeplyNestedJSON(t *testing.T) {
	t.Parallel()
	h := newHostile(t, func(s *handlers.Server) { s.MaxEventBytes, s.MaxBatchBytes = 4<<20, 4<<20 })
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	deepObj := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	for name, body := range map[string]string{
		"arrays in data":            `{"eventType":"a.b","data":{"x":` + nested(1_000_000) + `}}`,
		"objects in data":           `{"eventType":"a.b","data":` + deepObj + `}`,
		"unclosed":                  `{"eventType":"a.b","data":{"x":` + strings.Repeat("[", 1_000_000) + `}`,
		"nested in a batch item":    `{"events":[{"eventType":"a.b","data":{"x":` + nested(200_000) + `}}]}`,
		"nested in an unknown key":  `{"eventType":"a.b","data":{},"zz":` + nested(200_000) + `}`,
		"nested instead of a value": `{"eventType":` + nested(200_000) + `,"data":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := "/api/v1/events"
			if strings.HasPrefix(body, `{"events"`) {
				path = "/api/v1/events/batch"
			}
			rec := h.call("POST", path, ingestToken, body)
			got := assertError(t, rec, http.StatusBadRequest, "invalid_json", "")
			assert.Contains(t, got.Error.Message, "depth")
		})
	}
	h.unchanged(t, 0)
	// Nesting within encoding/json's limit (10,000) is data like any other.
	requireStatus(t, h.ingest(`{"eventType":"a.b","data":{"x":`+nested(5000)+`}}`), http.StatusAccepted)
	h.unchanged(t, 1)
}

func TestHostileInvalidUTF8(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	for name, body := range map[string]string{
		"in a data string":     "{\"eventType\":\"a.b\",\"data\":{\"s\":\"\xff\xfe\"}}",
		"in a data key":        "{\"eventType\":\"a.b\",\"data\":{\"\xc3\x28\":1}}",
		"in the event type":    "{\"eventType\":\"a.\xe2\x82\",\"data\":{}}",
		"in workflowId":        "{\"eventType\":\"a.b\",\"data\":{},\"workflowId\":\"w\xed\xa0\x80\"}", // an encoded surrogate
		"in idempotencyKey":    "{\"eventType\":\"a.b\",\"data\":{},\"idempotencyKey\":\"\xc0\xaf\"}",  // an overlong '/'
		"a UTF-16 body":        "\xff\xfe{\x00}\x00",
		"a NUL-padded body":    "{\"eventType\":\"a.b\",\"data\":{}}\x00",
		"a Latin-1 data value": "{\"eventType\":\"a.b\",\"data\":{\"name\":\"Jos\xe9\"}}",
	} {
		t.Run(name, func(t *testing.T) {
			assertError(t, h.ingest(body), http.StatusBadRequest, "invalid_json", "")
		})
	}
	rec := h.call("POST", "/api/v1/events/batch", ingestToken, "{\"events\":[{\"eventType\":\"a.b\",\"data\":{\"s\":\"\xff\"}}]}")
	assertError(t, rec, http.StatusBadRequest, "invalid_json", "")
	rec = h.admin(http.MethodPost, "/api/v1/webhooks", "{\"url\":\"https://x.test/\",\"eventTypes\":[\"*\"],\"description\":\"\xff\"}")
	assertError(t, rec, http.StatusBadRequest, "invalid_json", "")
	assertError(t, h.ingest(`{"eventType":"a.b","data":{}}`, "Idempotency-Key", "k\xff"), http.StatusBadRequest, "invalid_value", "Idempotency-Key")
	h.unchanged(t, 0)

	// Escaped non-ASCII is valid JSON and kept as sent.
	rec = h.ingest(`{"eventType":"a.b","data":{"name":"Jos\u00e9","emoji":"😀"}}`)
	requireStatus(t, rec, http.StatusAccepted)
	rec = h.admin(http.MethodGet, "/api/v1/events/"+object(t, rec)["id"].(string), "")
	assert.JSONEq(t, `{"name":"José","emoji":"😀"}`, string(mustRaw(t, object(t, rec)["data"])))
}

func mustRaw(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestHostileContentTypeLies(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	event := `{"eventType":"a.b","data":{}}`
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"JSON sent as text/plain", "text/plain", event, 415, "unsupported_media_type"},
		{"JSON sent as a form", "application/x-www-form-urlencoded", event, 415, "unsupported_media_type"},
		{"JSON sent as multipart", "multipart/form-data; boundary=x", event, 415, "unsupported_media_type"},
		{"JSON sent as XML", "application/xml", event, 415, "unsupported_media_type"},
		{"a lookalike media type", "application/jsonp", event, 415, "unsupported_media_type"},
		{"a UTF-16 charset", "application/json; charset=utf-16", event, 415, "unsupported_media_type"},
		{"a malformed media type", "application/json; charset", event, 415, "unsupported_media_type"},
		{"a form body labelled JSON", "application/json", "eventType=a.b&data=x", 400, "invalid_json"},
		{"XML labelled JSON", "application/json", `<event type="a.b"/>`, 400, "invalid_json"},
		{"gzip bytes labelled JSON", "application/json", "\x1f\x8b\x08\x00\x00\x00\x00\x00", 400, "invalid_json"},
		{"a JSON string", "application/json", `"{\"eventType\":\"a.b\",\"data\":{}}"`, 400, "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, h.ingest(tc.body, "Content-Type", tc.contentType), tc.status, tc.code, "")
			assertError(t, h.admin(http.MethodPost, "/api/v1/webhooks", tc.body, "Content-Type", tc.contentType), tc.status, tc.code, "")
		})
	}
	h.unchanged(t, 0)
	// Case and parameters of the right type are fine.
	requireStatus(t, h.ingest(event, "Content-Type", "Application/JSON; Charset=UTF-8"), http.StatusAccepted)
	h.unchanged(t, 1)
}

func TestHostileUnknownFields(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	for _, tc := range []struct{ method, path, token, body, field string }{
		{"POST", "/api/v1/events", ingestToken, `{"eventType":"a.b","data":{},"id":"evt_mine"}`, "id"},
		{"POST", "/api/v1/events", ingestToken, `{"eventType":"a.b","data":{},"__proto__":{"admin":true}}`, "__proto__"},
		{"POST", "/api/v1/events/batch", ingestToken, `{"events":[],"webhookId":"x"}`, "webhookId"},
		{"POST", "/api/v1/webhooks", adminToken, `{"url":"https://x.test/","eventTypes":["*"],"id":"whk_mine"}`, "id"},
		{"POST", "/api/v1/webhooks", adminToken, `{"url":"https://x.test/","eventTypes":["*"],"createdAt":"2020-01-01T00:00:00Z"}`, "createdAt"},
		{"PATCH", "/api/v1/webhooks/" + h.webhook, adminToken, `{"id":"whk_other"}`, "id"},
	} {
		assertError(t, h.call(tc.method, tc.path, tc.token, tc.body), http.StatusBadRequest, "unknown_field", tc.field)
	}
	rec := h.call("POST", "/api/v1/events/batch", ingestToken, `{"events":[{"eventType":"a.b","data":{},"deliverTo":"http://10.0.0.1/"}]}`)
	requireStatus(t, rec, http.StatusAccepted)
	assert.Contains(t, rec.Body.String(), `"code":"unknown_field","message":"unknown field \"deliverTo\"","field":"deliverTo"`)
	h.unchanged(t, 0)
}

func TestHostileWrongMethods(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	id := h.webhook
	for _, tc := range []struct{ method, path, token string }{
		{"PATCH", "/api/v1/events", ingestToken},
		{"PUT", "/api/v1/events", ingestToken},
		{"DELETE", "/api/v1/events", ingestToken},
		{"PATCH", "/api/v1/events/batch", ingestToken},
		{"PUT", "/api/v1/webhooks", adminToken},
		{"DELETE", "/api/v1/webhooks", adminToken},
		{"POST", "/api/v1/webhooks/" + id, adminToken},
		{"PUT", "/api/v1/webhooks/" + id, adminToken},
		{"POST", "/api/v1/webhooks/" + id + "/secret", adminToken},
		{"DELETE", "/api/v1/webhooks/" + id + "/deliveries", adminToken},
		{"GET", "/api/v1/webhooks/" + id + "/retry-failed", adminToken},
		{"POST", "/api/v1/deliveries", adminToken},
		{"DELETE", "/api/v1/deliveries/dlv_x", adminToken},
		{"GET", "/api/v1/deliveries/dlv_x/retry", adminToken},
		{"TRACE", "/api/v1/webhooks", adminToken},
		{"CONNECT", "/api/v1/webhooks", adminToken},
	} {
		rec := h.call(tc.method, tc.path, tc.token, `{"eventType":"a.b","data":{}}`)
		assertError(t, rec, http.StatusMethodNotAllowed, "method_not_allowed", "")
	}
	// chi refuses a method it does not know before routing, so the API's JSON body is
	// missing; the status is still 405.
	rec := h.admin("BREW", "/api/v1/webhooks", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	rec = h.call("TRACE", "/healthz", "", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	// GET /api/v1/events/batch is the event route with id "batch": a viewer's call, not found.
	assertError(t, h.call("GET", "/api/v1/events/batch", ingestToken, ""), http.StatusForbidden, "forbidden", "")
	assertError(t, h.admin("GET", "/api/v1/events/batch", ""), http.StatusNotFound, "not_found", "")
	h.unchanged(t, 0)
}

// TestHostilePathTraversal: the API matches ids exactly, and the static file server the
// admin UI mounts under /static/ (http.FileServerFS over the embedded static.FS, as STYLE.md
// §7 shows) serves only what is embedded.
func TestHostilePathTraversal(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	for _, p := range []string{
		"/api/v1/webhooks/../webhooks",
		"/api/v1/webhooks/..%2F..%2Fetc%2Fpasswd",
		"/api/v1/webhooks/%2e%2e/secret",
		"/api/v1/deliveries/..%2f..%2fgo.mod",
		"/api/v1/events/....//....//etc/passwd",
	} {
		rec := h.admin(http.MethodGet, p, "")
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s: %s", p, rec.Body)
		assert.NotContains(t, rec.Body.String(), "whsec_")
	}

	files := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	embedded, err := fs.Glob(static.FS, "*")
	require.NoError(t, err)
	require.NotEmpty(t, embedded)
	for _, p := range []string{
		"/static/../go.mod",
		"/static/../../../../etc/passwd",
		"/static/..%2f..%2fgo.mod",
		"/static/%2e%2e/%2e%2e/etc/passwd",
		"/static/..\\..\\go.mod",
		"/static/static.go",
		"/static//etc/passwd",
		"/static/./../static/static.go",
		"/static/app.css/../../go.mod",
		"/static/%00",
	} {
		req := httptest.NewRequest(http.MethodGet, "http://x.test/", nil)
		req.URL = &url.URL{Path: mustUnescape(t, p), RawPath: p}
		rec := httptest.NewRecorder()
		files.ServeHTTP(rec, req)
		assert.NotEqual(t, http.StatusOK, rec.Code, "%s served %q", p, truncate(rec.Body.String()))
		assert.NotContains(t, rec.Body.String(), "module hookrelay")
		assert.NotContains(t, rec.Body.String(), "root:")
		assert.NotContains(t, rec.Body.String(), "package static")
	}
	rec := httptest.NewRecorder()
	files.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/"+embedded[0], nil))
	assert.Equal(t, http.StatusOK, rec.Code, "embedded files are served")
	h.unchanged(t, 0)
}

func mustUnescape(t *testing.T, p string) string {
	t.Helper()
	u, err := url.PathUnescape(p)
	require.NoError(t, err)
	return u
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// sqlPayloads are classic SQL injection strings; every one must be treated as data.
var sqlPayloads = []string{
	`' OR '1'='1`,
	`' OR 1=1 --`,
	`"; DROP TABLE deliveries; --`,
	`'); DELETE FROM webhooks; --`,
	`1 UNION SELECT secret FROM webhooks`,
	`%' OR 'x' LIKE '%`,
	`\'; PRAGMA writable_schema=1; --`,
	"whk_x' /*",
	"0x27 OR 1=1",
}

func TestHostileSQLMetacharacters(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	requireStatus(t, h.ingest(`{"eventType":"a.b","data":{}}`), http.StatusAccepted)
	for _, p := range sqlPayloads {
		q := url.QueryEscape(p)
		// Free-form filters match nothing; validated ones are refused with a 400.
		for _, path := range []string{"/api/v1/deliveries?webhookId=" + q, "/api/v1/deliveries?webhookId=" + h.webhook + "%27%20OR%20%271%27%3D%271"} {
			rec := h.admin(http.MethodGet, path, "")
			requireStatus(t, rec, http.StatusOK)
			assert.JSONEq(t, `{"data":[],"nextCursor":null}`, rec.Body.String(), path)
		}
		for _, tc := range []struct{ param, field string }{
			{"status", "status"}, {"eventType", "eventType"}, {"limit", "limit"}, {"cursor", "cursor"},
		} {
			assertError(t, h.admin(http.MethodGet, "/api/v1/deliveries?"+tc.param+"="+q, ""), 400, "invalid_value", tc.field)
			if tc.param != "eventType" { // the webhook's own list has no eventType filter
				assertError(t, h.admin(http.MethodGet, "/api/v1/webhooks/"+h.webhook+"/deliveries?"+tc.param+"="+q, ""), 400, "invalid_value", tc.field)
			}
		}
		// A cursor is opaque: SQL inside its encoding is refused too.
		c := base64.RawURLEncoding.EncodeToString([]byte(p))
		assertError(t, h.admin(http.MethodGet, "/api/v1/deliveries?cursor="+c, ""), 400, "invalid_value", "cursor")

		// Every path id.
		pid := url.PathEscape(p)
		for _, tc := range []struct{ method, path string }{
			{"GET", "/api/v1/events/" + pid},
			{"GET", "/api/v1/webhooks/" + pid},
			{"GET", "/api/v1/webhooks/" + pid + "/secret"},
			{"GET", "/api/v1/webhooks/" + pid + "/deliveries"},
			{"POST", "/api/v1/webhooks/" + pid + "/retry-failed"},
			{"DELETE", "/api/v1/webhooks/" + pid},
			{"GET", "/api/v1/deliveries/" + pid},
			{"POST", "/api/v1/deliveries/" + pid + "/retry"},
		} {
			rec := h.admin(tc.method, tc.path, "")
			assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s: %s", tc.method, tc.path, rec.Body)
		}
		rec := h.admin(http.MethodPatch, "/api/v1/webhooks/"+pid, `{"description":"x"}`)
		assert.Equal(t, http.StatusNotFound, rec.Code)

		// In an event type: refused by validation.
		b, _ := json.Marshal(map[string]any{"eventType": p, "data": map[string]any{}})
		assertError(t, h.ingest(string(b)), 400, "invalid_value", "eventType")
	}
	h.unchanged(t, 1)

	// Where free text is allowed, it is stored and returned exactly as sent.
	for i, p := range sqlPayloads {
		b, _ := json.Marshal(map[string]any{"eventType": "a.b", "workflowId": p, "idempotencyKey": p, "data": map[string]string{p: p}})
		rec := h.ingest(string(b))
		requireStatus(t, rec, http.StatusAccepted)
		id := object(t, rec)["id"].(string)
		rec = h.ingest(string(b))
		requireStatus(t, rec, http.StatusOK) // the key matched exactly itself
		assert.Equal(t, id, object(t, rec)["id"])
		got := object(t, h.admin(http.MethodGet, "/api/v1/events/"+id, ""))
		assert.Equal(t, p, got["workflowId"])
		assert.Equal(t, p, got["idempotencyKey"])
		assert.Equal(t, map[string]any{p: p}, got["data"])
		h.unchanged(t, 2+i)
	}
	desc, _ := json.Marshal(map[string]string{"description": sqlPayloads[2]})
	requireStatus(t, h.admin(http.MethodPatch, "/api/v1/webhooks/"+h.webhook, string(desc)), http.StatusOK)
	assert.Equal(t, sqlPayloads[2], object(t, h.admin(http.MethodGet, "/api/v1/webhooks/"+h.webhook, ""))["description"])
	h.unchanged(t, 1+len(sqlPayloads))
}
