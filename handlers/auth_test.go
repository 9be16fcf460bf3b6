package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/handlers"
)

// A missing or unknown credential is 401; a known one whose role does not allow the route is
// 403. The static tokens keep working as keys: the ingest token as an ingest key (the two
// ingest routes only), the admin token as an admin key (everything, ingest included).
func TestAuthRejectsMissingWrongAndCrossedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	whID := e.createWebhook("https://receiver.test/hook", true, "*")
	event := `{"eventType":"workflow.completed","data":{}}`

	for _, tc := range []struct {
		name          string
		method, path  string
		body          string
		authorization string
	}{
		{"ingest without token", http.MethodPost, "/api/v1/events", event, ""},
		{"ingest with wrong token", http.MethodPost, "/api/v1/events", event, "Bearer nope"},
		{"ingest with a made-up key", http.MethodPost, "/api/v1/events", event, "Bearer hrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"ingest token as basic auth", http.MethodPost, "/api/v1/events", event, "Basic " + ingestToken},
		{"ingest token without scheme", http.MethodPost, "/api/v1/events", event, ingestToken},
		{"ingest token with suffix", http.MethodPost, "/api/v1/events", event, "Bearer " + ingestToken + "x"},
		{"admin without token", http.MethodGet, "/api/v1/webhooks", "", ""},
		{"admin with wrong token", http.MethodGet, "/api/v1/webhooks", "", "Bearer nope"},
	} {
		// Not parallel: the subtests share e, and the checks after the loop count what they wrote.
		t.Run(tc.name, func(t *testing.T) {
			rec := e.call(tc.method, tc.path, "", tc.body, "Authorization", tc.authorization)
			assertError(t, rec, http.StatusUnauthorized, "unauthorized", "")
			assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
		})
	}
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
	}{
		{"list webhooks", http.MethodGet, "/api/v1/webhooks", ""},
		{"create webhook", http.MethodPost, "/api/v1/webhooks", `{"url":"https://x.test","eventTypes":["*"]}`},
		{"read secret", http.MethodGet, "/api/v1/webhooks/" + whID + "/secret", ""},
		{"delete webhook", http.MethodDelete, "/api/v1/webhooks/" + whID, ""},
		{"event detail", http.MethodGet, "/api/v1/events/evt_x", ""},
		{"deliveries", http.MethodGet, "/api/v1/deliveries", ""},
	} {
		t.Run("ingest token: "+tc.name, func(t *testing.T) {
			rec := e.call(tc.method, tc.path, ingestToken, tc.body)
			er := assertError(t, rec, http.StatusForbidden, "forbidden", "")
			assert.Contains(t, er.Error.Message, "ingest")
		})
	}

	// Nothing above got through: no event, no webhook created or deleted.
	assert.Zero(t, countDeliveries(t, e.store))
	rec := e.admin(http.MethodGet, "/api/v1/webhooks", "")
	requireStatus(t, rec, http.StatusOK)
	assert.Len(t, object(t, rec)["data"], 1)

	// And the right tokens do open their routes; admin is everything, ingest included.
	requireStatus(t, e.ingest(event), http.StatusAccepted)
	requireStatus(t, e.call(http.MethodPost, "/api/v1/events", adminToken, event), http.StatusAccepted)
	requireStatus(t, e.call(http.MethodPost, "/api/v1/events/batch", adminToken, `{"events":[`+event+`]}`), http.StatusAccepted)
	requireStatus(t, e.admin(http.MethodGet, "/api/v1/webhooks/"+whID+"/secret", ""), http.StatusOK)
}

func TestAuthEmptyConfiguredTokenAdmitsNobody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.AdminToken = "" })
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer  "} {
		rec := e.call(http.MethodGet, "/api/v1/webhooks", "", "", "Authorization", auth)
		assertError(t, rec, http.StatusUnauthorized, "unauthorized", "")
	}
	require.Equal(t, http.StatusAccepted, e.ingest(`{"eventType":"a","data":{}}`).Code)
}
