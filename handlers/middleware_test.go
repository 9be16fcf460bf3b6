package handlers_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

// syncBuffer collects log output from handlers running on other goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPanicBecomesJSON500AndServingGoesOn(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := &handlers.Server{DB: dbtest.New(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// A real server: a panic that escaped would kill the test binary, not just a recorder.
	ts := httptest.NewServer(srv.WithMiddleware(mux))
	t.Cleanup(ts.Close)

	rec := get(t, ts, "/panic")
	e := assertError(t, rec, http.StatusInternalServerError, "internal", "")
	assert.Equal(t, "Something went wrong", e.Error.Message)
	reqID := rec.Header().Get("X-Request-Id")
	require.NotEmpty(t, reqID)
	assert.Contains(t, logs.String(), "handler panicked")
	assert.Contains(t, logs.String(), "request_id="+reqID)
	assert.Contains(t, logs.String(), "boom")

	for range 2 {
		assert.Equal(t, http.StatusNoContent, get(t, ts, "/ok").Code)
	}
	assert.Equal(t, http.StatusInternalServerError, get(t, ts, "/panic").Code, "a second panic is caught too")
}

// get fetches path from ts and returns the response as a recorder, for the shared asserts.
func get(t *testing.T, ts *httptest.Server, path string) *httptest.ResponseRecorder {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	rec := httptest.NewRecorder()
	rec.Code = resp.StatusCode
	maps.Copy(rec.Header(), resp.Header)
	_, err = rec.Body.ReadFrom(resp.Body)
	require.NoError(t, err)
	return rec
}

func TestRequestLogHasNoTokensOrBodies(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := &handlers.Server{DB: dbtest.New(t), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		IngestToken: ingestToken, AdminToken: adminToken}
	h := srv.Routes()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/events?secret=query-value",
		strings.NewReader(`{"eventType":"a.b","data":{"card":"body-value"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("X-Request-Id", "req-from-proxy")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	requireStatus(t, rec, http.StatusAccepted)
	assert.Equal(t, "req-from-proxy", rec.Header().Get("X-Request-Id"))

	out := logs.String()
	assert.Contains(t, out, "method=POST")
	assert.Contains(t, out, "path=/api/v1/events")
	assert.Contains(t, out, "status=202")
	assert.Contains(t, out, "request_id=req-from-proxy")
	assert.Contains(t, out, "duration=")
	for _, secret := range []string{ingestToken, "body-value", "query-value"} {
		assert.NotContains(t, out, secret)
	}
}

// TestRequestLogLevels: successful ingests and health probes are logged at debug, since they
// come by the thousand; everything else, refused ingests included, at info.
func TestRequestLogLevels(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := &handlers.Server{DB: dbtest.New(t), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		IngestToken: ingestToken, AdminToken: adminToken}
	h := srv.Routes()
	n := 0
	do := func(method, path, token, body string) string {
		n++
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Request-Id", fmt.Sprintf("level-test-%d", n))
		h.ServeHTTP(httptest.NewRecorder(), req)
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "request_id="+req.Header.Get("X-Request-Id")+" ") || strings.HasSuffix(line, "request_id="+req.Header.Get("X-Request-Id")) {
				return line
			}
		}
		t.Fatalf("no log line for %s %s", method, path)
		return ""
	}
	assert.Contains(t, do(http.MethodPost, "/api/v1/events", ingestToken, `{"eventType":"a.b","data":{}}`), "level=DEBUG")
	assert.Contains(t, do(http.MethodPost, "/api/v1/events", ingestToken, `{"eventType":"a..b","data":{}}`), "level=INFO")
	assert.Contains(t, do(http.MethodPost, "/api/v1/events", "wrong", `{}`), "level=INFO")
	assert.Contains(t, do(http.MethodGet, "/healthz", "", ""), "level=DEBUG")
	assert.Contains(t, do(http.MethodGet, "/api/v1/webhooks", adminToken, ""), "level=INFO")
}

func TestUnknownAPIRoutesAndMethodsAnswerJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	assertError(t, e.admin(http.MethodGet, "/api/v1/nope", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodGet, "/api/v1/webhooks/x/y/z", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodPut, "/api/v1/webhooks", ""), http.StatusMethodNotAllowed, "method_not_allowed", "")
	assertError(t, e.admin(http.MethodDelete, "/api/v1/events", ""), http.StatusMethodNotAllowed, "method_not_allowed", "")
	// "/" is the admin UI, which sends a browser without a session to sign in.
	rec := e.call(http.MethodGet, "/", "", "")
	assert.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/login", rec.Header().Get("Location"))
}
