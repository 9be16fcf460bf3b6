package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/handlers"
)

const (
	ingestToken = "ingest-token-for-tests"
	adminToken  = "admin-token-for-tests"
)

// env is one server on its own fresh database.
type env struct {
	t      *testing.T
	store  *sqlite.DB
	dbPath string // the store's file, for tests that open it beside the server
	srv    *handlers.Server
	h      http.Handler
}

// newEnv starts a server; opts may adjust it before its routes are built.
func newEnv(t *testing.T, opts ...func(*handlers.Server)) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	store := dbtest.Open(t, path)
	srv := &handlers.Server{
		DB:          store,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
		IngestToken: ingestToken,
		AdminToken:  adminToken,
		Version:     "test",
	}
	for _, o := range opts {
		o(srv)
	}
	return &env{t: t, store: store, dbPath: path, srv: srv, h: srv.Routes()}
}

// call sends one request. A non-empty body is sent as application/json unless header
// (name, value pairs) says otherwise; an empty value deletes the header.
func (e *env) call(method, path, token, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	checkExchange(e.t, req, body, rec) // see openapi_test.go
	return rec
}

func (e *env) admin(method, path, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.call(method, path, adminToken, body, header...)
}

func (e *env) ingest(body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.call(http.MethodPost, "/api/v1/events", ingestToken, body, header...)
}

// object decodes a JSON object response, checking the content type on the way.
func object(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"), "body: %s", rec.Body)
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), "body: %s", rec.Body)
	return m
}

// decodeInto decodes the response into v, refusing fields v does not declare.
func decodeInto(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "body: %s", rec.Body)
}

// requireStatus stops the test when the status is not want, showing the body.
func requireStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	require.Equal(t, want, rec.Code, "body: %s", rec.Body)
}

// apiErr is the error body of the API.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// assertError checks status, code and field of an error response and returns it.
func assertError(t *testing.T, rec *httptest.ResponseRecorder, status int, code, field string) apiErr {
	t.Helper()
	var e apiErr
	assert.Equal(t, status, rec.Code, "body: %s", rec.Body)
	assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
	if !assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "body: %s", rec.Body) {
		return e
	}
	assert.Equal(t, code, e.Error.Code, "body: %s", rec.Body)
	assert.Equal(t, field, e.Error.Field, "body: %s", rec.Body)
	assert.NotEmpty(t, e.Error.Message)
	return e
}

// countDeliveries counts every delivery in the store. With a "*" webhook in place every
// stored event has one, so it counts events too (db has no event listing).
func countDeliveries(t *testing.T, store *sqlite.DB) int {
	t.Helper()
	n := 0
	f := db.DeliveryFilter{Limit: 500}
	for {
		ds, next, err := store.ListDeliveries(context.Background(), f)
		require.NoError(t, err)
		n += len(ds)
		if next == "" {
			return n
		}
		f.Cursor = next
	}
}

// createWebhook creates a webhook through the API and returns its id.
func (e *env) createWebhook(url string, enabled bool, patterns ...string) string {
	e.t.Helper()
	b, err := json.Marshal(map[string]any{"url": url, "eventTypes": patterns, "enabled": enabled})
	require.NoError(e.t, err)
	rec := e.admin(http.MethodPost, "/api/v1/webhooks", string(b))
	requireStatus(e.t, rec, http.StatusCreated)
	id, _ := object(e.t, rec)["id"].(string)
	require.True(e.t, strings.HasPrefix(id, "whk_"), "id %q", id)
	return id
}

// secretOf reads a webhook's secret through the API.
func (e *env) secretOf(id string) string {
	e.t.Helper()
	rec := e.admin(http.MethodGet, "/api/v1/webhooks/"+id+"/secret", "")
	requireStatus(e.t, rec, http.StatusOK)
	s, _ := object(e.t, rec)["secret"].(string)
	return s
}

// attempt claims the webhook's due delivery and records one attempt for it, as the engine
// would, returning the claim.
func attempt(t *testing.T, store *sqlite.DB, webhookID string, res db.AttemptResult) db.Claim {
	t.Helper()
	ctx := context.Background()
	claimed, err := store.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: webhookID, Limit: 1}}, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed.Claims, 1, "no due delivery for %s", webhookID)
	res.Claim = claimed.Claims[0]
	if res.AttemptedAt.IsZero() {
		res.AttemptedAt = time.Now()
	}
	require.NoError(t, store.RecordAttempts(ctx, []db.AttemptResult{res}))
	return res.Claim
}

// deliveriesOf returns every delivery of a webhook, newest first.
func (e *env) deliveriesOf(webhookID string) []db.Delivery {
	e.t.Helper()
	return dbtest.Deliveries(e.t, e.store, webhookID)
}
