package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
	"github.com/hookrelay/hookrelay/metrics"
)

const metricsToken = "metrics-token-for-tests"

// withMetrics wires the real Prometheus metrics into the server, as cmd does.
func withMetrics(t *testing.T, token string) func(*handlers.Server) {
	return func(s *handlers.Server) {
		reg := metrics.NewRegistry()
		m, err := metrics.New(reg, metrics.Options{Version: "test", Queue: s.DB})
		require.NoError(t, err)
		s.Metrics, s.MetricsHandler, s.MetricsToken = m, metrics.Handler(reg, nil), token
	}
}

func scrape(t *testing.T, e *env, token string) *httptest.ResponseRecorder {
	t.Helper()
	return e.call(http.MethodGet, "/metrics", token, "")
}

// /metrics takes the metrics token, or any key or token whose role may read.
func TestMetricsNeedTheMetricsTokenOrAReadingRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withMetrics(t, metricsToken))
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a wrong token", "metrics-token-for-testz", http.StatusUnauthorized},
		{"the ingest token", ingestToken, http.StatusForbidden},
		{"an ingest key", e.apiKey("ingest", db.RoleIngest), http.StatusForbidden},
		{"a viewer key", e.apiKey("dashboards", db.RoleViewer), http.StatusOK},
		{"the admin token", adminToken, http.StatusOK},
		{"the metrics token", metricsToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := scrape(t, e, tc.token)
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.want == http.StatusOK {
				assert.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
				assert.Contains(t, rec.Body.String(), `hookrelay_build_info{version="test"} 1`)
				assert.Contains(t, rec.Body.String(), `hookrelay_deliveries{status="pending"} 0`)
			} else {
				if tc.want == http.StatusUnauthorized {
					assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
				}
				assert.NotContains(t, rec.Body.String(), "hookrelay_")
			}
		})
	}

	// The metrics token opens nothing else.
	requireStatus(t, e.call(http.MethodGet, "/api/v1/webhooks", metricsToken, ""), http.StatusUnauthorized)
	requireStatus(t, e.ingest(`{"eventType":"a.b","data":{}}`, "Authorization", "Bearer "+metricsToken), http.StatusUnauthorized)
}

func TestMetricsWithoutAMetricsTokenTakeTheAdminToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withMetrics(t, ""))
	requireStatus(t, scrape(t, e, adminToken), http.StatusOK)
	requireStatus(t, scrape(t, e, ""), http.StatusUnauthorized)
	requireStatus(t, e.call(http.MethodGet, "/metrics", "Bearer", ""), http.StatusUnauthorized)

	none := newEnv(t)
	requireStatus(t, scrape(t, none, adminToken), http.StatusNotFound)
}

func TestIngestCountsStoredEventsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withMetrics(t, ""))
	dbtest.Webhook(t, e.store, "https://wh.test/hook")
	requireStatus(t, e.ingest(`{"eventType":"a.b","data":{}}`, "Idempotency-Key", "k1"), http.StatusAccepted)
	requireStatus(t, e.ingest(`{"eventType":"a.b","data":{}}`, "Idempotency-Key", "k1"), http.StatusOK) // a duplicate
	requireStatus(t, e.call(http.MethodPost, "/api/v1/events/batch", ingestToken,
		`{"events":[{"eventType":"a.b","data":{}},{"eventType":"a.b","data":{},"idempotencyKey":"k1"},{"eventType":"bad type!","data":{}},{"eventType":"c.d","data":{}}]}`),
		http.StatusAccepted)
	requireStatus(t, e.ingest(`{"eventType":"a.b"}`), http.StatusBadRequest)

	body := scrape(t, e, adminToken).Body.String()
	assert.Contains(t, body, "\nhookrelay_events_ingested_total 3\n", "one single, two of the batch; no duplicate, no invalid item")
	assert.Contains(t, body, `hookrelay_deliveries{status="pending"} 3`)
}
