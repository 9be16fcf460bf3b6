package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/webhook"
)

func TestRotateSecretFromTheWebhookPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")
	old := wh.Secret
	path := "/webhooks/" + wh.ID + "/rotate-secret"

	page := doc(t, b.get("/webhooks/"+wh.ID))
	assert.Equal(t, path, testid(page, "rotate-secret").AttrOr("href", ""))
	assert.Equal(t, 0, testid(page, "old-secrets").Length(), "no rotation yet")

	// The form asks first and says what will happen.
	rec := b.get(path)
	require.Equal(t, http.StatusOK, rec.Code)
	form := doc(t, rec)
	assert.Contains(t, text(testid(form, "rotate-explanation")), "For the grace period every delivery carries two signatures")
	assert.Equal(t, "24h", form.Find("#grace_period").AttrOr("value", ""), "24 hours by default")
	assert.Equal(t, "", form.Find("#secret").AttrOr("value", ""))
	assert.Equal(t, path, testid(form, "rotate-form").AttrOr("action", ""))
	assert.Equal(t, "none signing", text(testid(form, "no-old-secrets")))
	assert.NotContains(t, rec.Body.String(), old)
	got, err := e.store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, old, got.Secret, "asking rotates nothing")

	// A chosen secret and grace period. The answer goes back to the webhook page, so a
	// reload there cannot rotate again.
	e.clock.Add(time.Minute)
	chosen := webhook.NewSecret()
	rec = b.post(path, url.Values{"secret": {" " + chosen + " "}, "grace_period": {"90m"}})
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	assert.Equal(t, "/webhooks/"+wh.ID, rec.Header().Get("Location"))
	got, err = e.store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, chosen, got.Secret)

	rec = b.get("/webhooks/" + wh.ID)
	page = doc(t, rec)
	assert.Equal(t, "Secret rotated: deliveries are signed with the new secret from now on. Reveal it below and give it to "+
		"the receiver before 2026-03-01 13:31:00 UTC, when the old secret stops signing.", text(testid(page, "flash")))
	assert.NotContains(t, rec.Body.String(), chosen, "the new secret is hidden until revealed")
	assert.NotContains(t, rec.Body.String(), old, "old secrets' values are never shown")
	assert.Equal(t, "/webhooks/"+wh.ID+"/secret", testid(page, "reveal-secret").AttrOr("hx-get", ""))
	olds := testid(page, "old-secret")
	require.Equal(t, 1, olds.Length())
	assert.Contains(t, text(testid(olds, "old-secret-expires")), "2026-03-01 13:31:00 UTC (in 1 h)")
	assert.Contains(t, text(olds), "replaced 2026-03-01 12:01:00 UTC")
	rec = b.htmx(http.MethodGet, "/webhooks/"+wh.ID+"/secret", nil)
	assert.Equal(t, chosen, text(testid(doc(t, rec), "secret-value")), "revealed, it is the new one")
	assert.Equal(t, 0, testid(doc(t, b.get("/webhooks/"+wh.ID)), "flash").Length(), "the message shows once")

	// The next delivery is signed with both, the new secret first.
	dbtest.Event(t, e.store, "order.paid", 1)
	claim := attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	assert.Equal(t, []string{chosen, old}, claim.Secrets)

	// Empty fields: a generated secret, 24 hours for the one it replaces.
	rec = b.post(path, url.Values{"secret": {""}, "grace_period": {""}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	ws, err := e.store.FindWebhookSecrets(t.Context(), wh.ID)
	require.NoError(t, err)
	_, err = webhook.ParseSecret(ws.Current)
	require.NoError(t, err)
	assert.NotEqual(t, chosen, ws.Current)
	require.Len(t, ws.Old, 2)
	assert.Equal(t, e.clock.Now().Add(24*time.Hour), ws.Old[0].ExpiresAt)
	assert.Equal(t, 2, testid(doc(t, b.get("/webhooks/"+wh.ID)), "old-secret").Length())
	form = doc(t, b.get(path))
	assert.Equal(t, 2, testid(form, "old-secret").Length(), "the form lists the secrets still signing")
	assert.Contains(t, text(testid(form, "rotate-explanation")), "Older secrets still signing stop at the end of this grace period at the latest.")

	// 0s stops the old secrets at once: the next delivery carries one signature.
	rec = b.htmx(http.MethodPost, path, url.Values{"grace_period": {"0s"}})
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "/webhooks/"+wh.ID, rec.Header().Get("HX-Redirect"))
	page = doc(t, b.get("/webhooks/"+wh.ID))
	assert.Equal(t, 0, testid(page, "old-secret").Length())
	assert.Contains(t, text(testid(page, "flash")), "give it to the receiver now: the old secret no longer signs.")
	ws, err = e.store.FindWebhookSecrets(t.Context(), wh.ID)
	require.NoError(t, err)
	dbtest.Event(t, e.store, "order.paid", 2)
	claim = attempt(t, e.store, wh.ID, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	assert.Equal(t, []string{ws.Current}, claim.Secrets)
}

func TestRotateSecretRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()
	wh := dbtest.Webhook(t, e.store, "https://receiver.test/hook")
	path := "/webhooks/" + wh.ID + "/rotate-secret"

	for _, tc := range []struct {
		name          string
		secret, grace string
		field, msg    string
	}{
		{"grace over 7 days", "", "169h", "grace_period", `The grace period must be a duration such as "24h" or "90m", or a number of seconds, from 0 to 168h0m0s (7 days).`},
		{"grace in days", "", "2d", "grace_period", "The grace period must be a duration"},
		{"negative grace", "", "-1h", "grace_period", "The grace period must be a duration"},
		{"not a whsec secret", "hunter2", "24h", "secret", `The new secret must start with "whsec_".`},
		{"not base64", "whsec_***", "24h", "secret", `The new secret must be "whsec_" followed by standard base64.`},
		{"too short", "whsec_c2hvcnQ=", "24h", "secret", "The new secret key must be 24 to 64 bytes, got 5."},
		{"the current secret", wh.Secret, "24h", "secret", "This secret is already in use by this webhook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.post(path, url.Values{"secret": {tc.secret}, "grace_period": {tc.grace}})
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
			d := doc(t, rec)
			assert.Contains(t, text(testid(d, "error-"+tc.field)), tc.msg)
			assert.Equal(t, "true", d.Find("#"+tc.field).AttrOr("aria-invalid", ""))
			assert.Equal(t, 1, testid(d, "form-errors").Length())
			assert.Equal(t, tc.grace, d.Find("#grace_period").AttrOr("value", ""), "what was typed is kept")
			assert.Equal(t, tc.secret, d.Find("#secret").AttrOr("value", ""))
		})
	}
	ws, err := e.store.FindWebhookSecrets(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, wh.Secret, ws.Current, "nothing was rotated")
	assert.Empty(t, ws.Old)

	// A post from another site is refused (CSRF).
	rec := b.post(path, url.Values{"grace_period": {"0s"}}, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, rec.Code)
	rec = b.post(path, url.Values{"grace_period": {"0s"}}, "Sec-Fetch-Site", "", "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, rec.Code)
	ws, err = e.store.FindWebhookSecrets(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, wh.Secret, ws.Current, "nothing was rotated")

	assert.Equal(t, http.StatusNotFound, b.get("/webhooks/whk_missing/rotate-secret").Code)
	assert.Equal(t, http.StatusNotFound, b.post("/webhooks/whk_missing/rotate-secret", url.Values{}).Code)
}
