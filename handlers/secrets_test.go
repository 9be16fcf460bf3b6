package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
	"github.com/hookrelay/hookrelay/webhook"
)

type secretResp struct {
	Secret     string `json:"secret"`
	OldSecrets []struct {
		RotatedAt string `json:"rotatedAt"`
		ExpiresAt string `json:"expiresAt"`
	} `json:"oldSecrets"`
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e.store.Clock = clock.Now
	wh := e.createWebhook("https://a.test/", true, "*")
	first := e.secretOf(wh)
	path := "/api/v1/webhooks/" + wh + "/secret/rotate"
	rotate := func(body string, header ...string) secretResp {
		t.Helper()
		rec := e.admin(http.MethodPost, path, body, header...)
		requireStatus(t, rec, http.StatusOK)
		var got secretResp
		decodeInto(t, rec, &got)
		return got
	}
	secrets := func() secretResp {
		t.Helper()
		rec := e.admin(http.MethodGet, "/api/v1/webhooks/"+wh+"/secret", "")
		requireStatus(t, rec, http.StatusOK)
		var got secretResp
		decodeInto(t, rec, &got)
		return got
	}

	// A bare POST generates a secret and keeps the old one signing for 24 hours.
	got := rotate("")
	_, err := webhook.ParseSecret(got.Secret)
	require.NoError(t, err)
	assert.NotEqual(t, first, got.Secret)
	require.Len(t, got.OldSecrets, 1)
	assert.Equal(t, "2026-03-01T12:00:00Z", got.OldSecrets[0].RotatedAt)
	assert.Equal(t, "2026-03-02T12:00:00Z", got.OldSecrets[0].ExpiresAt)
	assert.Equal(t, got, secrets(), "GET .../secret shows the same")
	assert.NotContains(t, e.admin(http.MethodGet, "/api/v1/webhooks/"+wh+"/secret", "").Body.String(), first,
		"old secrets' values are never shown")
	second := got.Secret

	// Deliveries are signed with both, the new one first.
	requireStatus(t, e.ingest(`{"eventType":"a","data":{}}`), http.StatusAccepted)
	claim := attempt(t, e.store, wh, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	assert.Equal(t, []string{second, first}, claim.Secrets)

	// A chosen secret and grace period, as a duration or in seconds.
	third := webhook.NewSecret()
	clock.Add(time.Minute)
	got = rotate(`{"secret":"` + third + `","gracePeriod":"90m"}`)
	assert.Equal(t, third, got.Secret)
	require.Len(t, got.OldSecrets, 2)
	for _, o := range got.OldSecrets {
		assert.Equal(t, "2026-03-01T13:31:00Z", o.ExpiresAt, "the new grace period ends every old secret's")
	}
	assert.Equal(t, "2026-03-01T12:01:00Z", got.OldSecrets[0].RotatedAt, "newest first")
	got = rotate(`{"gracePeriod":604800}`)
	require.Len(t, got.OldSecrets, 3)
	assert.Equal(t, "2026-03-08T12:01:00Z", got.OldSecrets[0].ExpiresAt, "7 days is allowed")
	got = rotate(`{"gracePeriod":"168h","secret":null}`, "Content-Type", "application/json; charset=utf-8")
	assert.Len(t, got.OldSecrets, 3, "at most three old secrets are kept")

	// Grace 0 ends every old secret at once.
	got = rotate(`{"gracePeriod":"0s"}`)
	assert.Empty(t, got.OldSecrets)
	assert.NotNil(t, got.OldSecrets, "an empty list, not null")
	requireStatus(t, e.ingest(`{"eventType":"a","data":{}}`), http.StatusAccepted)
	claim = attempt(t, e.store, wh, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	assert.Equal(t, []string{got.Secret}, claim.Secrets)
}

func TestRotateSecretRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/", true, "*")
	path := "/api/v1/webhooks/" + wh + "/secret/rotate"
	current := e.secretOf(wh)
	for _, tc := range []struct{ name, body, code, field string }{
		{"grace over 7 days", `{"gracePeriod":"168h1s"}`, "invalid_value", "gracePeriod"},
		{"grace over 7 days in seconds", `{"gracePeriod":604801}`, "invalid_value", "gracePeriod"},
		{"negative grace", `{"gracePeriod":"-1h"}`, "invalid_value", "gracePeriod"},
		{"negative seconds", `{"gracePeriod":-1}`, "invalid_value", "gracePeriod"},
		{"fractional seconds", `{"gracePeriod":1.5}`, "invalid_value", "gracePeriod"},
		{"days are not a Go duration", `{"gracePeriod":"2d"}`, "invalid_value", "gracePeriod"},
		{"boolean grace", `{"gracePeriod":true}`, "invalid_value", "gracePeriod"},
		{"bad secret", `{"secret":"hunter2"}`, "invalid_value", "secret"},
		{"secret of the wrong type", `{"secret":42}`, "invalid_value", "secret"},
		{"the current secret", `{"secret":"` + current + `"}`, "invalid_value", "secret"},
		{"unknown field", `{"grace":"1h"}`, "unknown_field", "grace"},
		{"not an object", `[]`, "invalid_json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertError(t, e.admin(http.MethodPost, path, tc.body), http.StatusBadRequest, tc.code, tc.field)
		})
	}
	assertError(t, e.admin(http.MethodPost, path, `{}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks/whk_missing/secret/rotate", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.call(http.MethodPost, path, ingestToken, ""), http.StatusForbidden, "forbidden", "")
	assertError(t, e.admin(http.MethodGet, path, ""), http.StatusMethodNotAllowed, "method_not_allowed", "")
}

// The refusals above ran in parallel; none of them changed the secret.
func TestRefusedRotationsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/", true, "*")
	before := e.secretOf(wh)
	for _, body := range []string{`{"gracePeriod":"8h","secret":"nope"}`, `{"gracePeriod":"9999h"}`, `{"secret":"` + before + `"}`} {
		rec := e.admin(http.MethodPost, "/api/v1/webhooks/"+wh+"/secret/rotate", body)
		require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	}
	ws, err := e.store.FindWebhookSecrets(t.Context(), wh)
	require.NoError(t, err)
	assert.Equal(t, db.WebhookSecrets{Current: before}, ws)
}

func TestParseGracePeriodAcceptsFormInput(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]time.Duration{
		`"24h"`: 24 * time.Hour, `3600`: time.Hour, `0`: 0, `"0s"`: 0, `36h`: 36 * time.Hour, `"168h"`: 7 * 24 * time.Hour,
	} {
		got, err := handlers.ParseGracePeriod([]byte(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, want, got, raw)
	}
}
