package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/webhook"
)

type webhookResp struct {
	ID             string             `json:"id"`
	URL            string             `json:"url"`
	EventTypes     []string           `json:"eventTypes"`
	Description    string             `json:"description"`
	Enabled        bool               `json:"enabled"`
	DisabledReason *string            `json:"disabledReason"`
	DisabledAt     *string            `json:"disabledAt"`
	Headers        map[string]*string `json:"headers"`
	RateLimit      *int               `json:"rateLimit"`
	CreatedAt      string             `json:"createdAt"`
	UpdatedAt      string             `json:"updatedAt"`
	Secret         string             `json:"secret"`
}

func TestWebhookCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	rec := e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"https://receiver.test/hook","eventTypes":["workflow.*","billing.paid"]}`)
	requireStatus(t, rec, http.StatusCreated)
	var created webhookResp
	decodeInto(t, rec, &created)
	assert.True(t, strings.HasPrefix(created.ID, "whk_"), created.ID)
	assert.Equal(t, "/api/v1/webhooks/"+created.ID, rec.Header().Get("Location"))
	assert.Equal(t, "https://receiver.test/hook", created.URL)
	assert.Equal(t, []string{"workflow.*", "billing.paid"}, created.EventTypes)
	assert.Equal(t, "", created.Description)
	assert.True(t, created.Enabled, "enabled by default")
	parseTime(t, created.CreatedAt)
	assert.Equal(t, created.CreatedAt, created.UpdatedAt)
	key, err := webhook.ParseSecret(created.Secret)
	require.NoError(t, err, "a generated secret is a valid whsec_ secret")
	assert.Len(t, key, 32)

	// Reads never carry the secret, except its own route.
	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID, "")
	requireStatus(t, rec, http.StatusOK)
	m := object(t, rec)
	assert.NotContains(t, m, "secret")
	assert.Equal(t, created.ID, m["id"])
	assert.Equal(t, "", m["description"])

	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/secret", "")
	requireStatus(t, rec, http.StatusOK)
	assert.JSONEq(t, fmt.Sprintf(`{"secret":%q,"oldSecrets":[]}`, created.Secret), rec.Body.String())

	other := e.createWebhook("https://other.test/", false, "*")
	rec = e.admin(http.MethodGet, "/api/v1/webhooks", "")
	requireStatus(t, rec, http.StatusOK)
	var list struct {
		Data []webhookResp `json:"data"`
	}
	decodeInto(t, rec, &list)
	require.Len(t, list.Data, 2)
	assert.Equal(t, created.ID, list.Data[0].ID)
	assert.Equal(t, other, list.Data[1].ID)
	assert.False(t, list.Data[1].Enabled)
	assert.NotContains(t, rec.Body.String(), "secret")
	assert.NotContains(t, rec.Body.String(), "whsec_")

	// PATCH changes only what it names.
	rec = e.admin(http.MethodPatch, "/api/v1/webhooks/"+created.ID, `{"description":"orders","enabled":false}`)
	requireStatus(t, rec, http.StatusOK)
	var patched webhookResp
	decodeInto(t, rec, &patched)
	assert.Equal(t, "orders", patched.Description)
	assert.False(t, patched.Enabled)
	assert.Equal(t, created.URL, patched.URL)
	assert.Equal(t, created.EventTypes, patched.EventTypes)
	assert.Empty(t, patched.Secret)
	assert.False(t, parseTime(t, patched.UpdatedAt).Before(parseTime(t, created.UpdatedAt)), "updatedAt moves forward")

	rec = e.admin(http.MethodPatch, "/api/v1/webhooks/"+created.ID, `{"url":"http://new.test:8080/x","eventTypes":["*"],"enabled":true}`)
	requireStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &patched)
	assert.Equal(t, "http://new.test:8080/x", patched.URL)
	assert.Equal(t, []string{"*"}, patched.EventTypes)
	assert.True(t, patched.Enabled)
	assert.Equal(t, "orders", patched.Description)

	// The stored row agrees, and the secret never changed.
	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID, "")
	requireStatus(t, rec, http.StatusOK)
	var stored webhookResp
	decodeInto(t, rec, &stored)
	patched.Secret = ""
	assert.Equal(t, patched, stored)
	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID+"/secret", "")
	assert.Contains(t, rec.Body.String(), created.Secret)

	// The secret is not patchable, even to the same value; nothing changes.
	for _, body := range []string{`{"secret":"` + dbtest.Secret + `"}`, `{"secret":null}`, `{"description":"x","secret":"` + created.Secret + `"}`} {
		assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+created.ID, body), http.StatusBadRequest, "invalid_value", "secret")
	}
	for _, tc := range []struct{ body, code, field string }{
		{`{"url":"/relative"}`, "invalid_value", "url"},
		{`{"eventTypes":[]}`, "invalid_value", "eventTypes"},
		{`{"eventTypes":["a..b"]}`, "invalid_value", "eventTypes"},
		{`{"enabled":"yes"}`, "invalid_value", "enabled"},
		{`{"description":"` + strings.Repeat("d", 1025) + `"}`, "invalid_value", "description"},
		{`{"color":"red"}`, "unknown_field", "color"},
		{`{"url":"https://x.test"} {}`, "invalid_json", ""},
	} {
		assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+created.ID, tc.body), http.StatusBadRequest, tc.code, tc.field)
	}
	assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+created.ID, `{"enabled":true}`, "Content-Type", "text/plain"),
		http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	rec = e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID, "")
	decodeInto(t, rec, &stored)
	assert.Equal(t, patched, stored, "refused patches changed nothing")

	// Unknown ids.
	assertError(t, e.admin(http.MethodGet, "/api/v1/webhooks/whk_missing", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodGet, "/api/v1/webhooks/whk_missing/secret", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodPatch, "/api/v1/webhooks/whk_missing", `{"enabled":true}`), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodDelete, "/api/v1/webhooks/whk_missing", ""), http.StatusNotFound, "not_found", "")

	// DELETE removes the webhook and its deliveries.
	requireStatus(t, e.ingest(`{"eventType":"x","data":{}}`), http.StatusAccepted)
	require.Len(t, e.deliveriesOf(created.ID), 1)
	rec = e.admin(http.MethodDelete, "/api/v1/webhooks/"+created.ID, "")
	requireStatus(t, rec, http.StatusNoContent)
	assert.Empty(t, rec.Body.String())
	assertError(t, e.admin(http.MethodGet, "/api/v1/webhooks/"+created.ID, ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodDelete, "/api/v1/webhooks/"+created.ID, ""), http.StatusNotFound, "not_found", "")
	assert.Zero(t, countDeliveries(t, e.store))
	rec = e.admin(http.MethodGet, "/api/v1/webhooks", "")
	decodeInto(t, rec, &list)
	require.Len(t, list.Data, 1)
	assert.Equal(t, other, list.Data[0].ID)
}

func TestCreateWebhookWithGivenSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.admin(http.MethodPost, "/api/v1/webhooks",
		`{"url":"https://r.test/","eventTypes":["*"],"secret":"`+dbtest.Secret+`","description":"mine","enabled":false}`)
	requireStatus(t, rec, http.StatusCreated)
	var got webhookResp
	decodeInto(t, rec, &got)
	assert.Equal(t, dbtest.Secret, got.Secret)
	assert.Equal(t, "mine", got.Description)
	assert.False(t, got.Enabled)

	// Two webhooks created without a secret get different ones.
	a := e.createWebhook("https://a.test/", true, "*")
	b := e.createWebhook("https://b.test/", true, "*")
	assert.NotEqual(t, e.secretOf(a), e.secretOf(b))
}

func TestCreateWebhookValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	longURL := "https://r.test/" + strings.Repeat("p", 2049-len("https://r.test/"))
	patterns := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = fmt.Sprintf("t%d", i)
		}
		b, _ := json.Marshal(ps)
		return string(b)
	}
	for _, tc := range []struct {
		name, body, code, field string
	}{
		{"missing url", `{"eventTypes":["*"]}`, "invalid_value", "url"},
		{"empty url", `{"url":"","eventTypes":["*"]}`, "invalid_value", "url"},
		{"relative url", `{"url":"/hook","eventTypes":["*"]}`, "invalid_value", "url"},
		{"ftp url", `{"url":"ftp://r.test/hook","eventTypes":["*"]}`, "invalid_value", "url"},
		{"no host", `{"url":"http://","eventTypes":["*"]}`, "invalid_value", "url"},
		{"empty host", `{"url":"https:///path","eventTypes":["*"]}`, "invalid_value", "url"},
		{"opaque", `{"url":"http:r.test","eventTypes":["*"]}`, "invalid_value", "url"},
		{"not a url", `{"url":"https://bad host/","eventTypes":["*"]}`, "invalid_value", "url"},
		{"url too long", `{"url":"` + longURL + `","eventTypes":["*"]}`, "invalid_value", "url"},
		{"url not a string", `{"url":1,"eventTypes":["*"]}`, "invalid_value", "url"},
		{"missing eventTypes", `{"url":"https://r.test/"}`, "invalid_value", "eventTypes"},
		{"null eventTypes", `{"url":"https://r.test/","eventTypes":null}`, "invalid_value", "eventTypes"},
		{"empty eventTypes", `{"url":"https://r.test/","eventTypes":[]}`, "invalid_value", "eventTypes"},
		{"bad pattern", `{"url":"https://r.test/","eventTypes":["ok","a..b"]}`, "invalid_value", "eventTypes"},
		{"star in the middle", `{"url":"https://r.test/","eventTypes":["a.*.b"]}`, "invalid_value", "eventTypes"},
		{"bare prefix star", `{"url":"https://r.test/","eventTypes":["a*"]}`, "invalid_value", "eventTypes"},
		{"too many patterns", `{"url":"https://r.test/","eventTypes":` + patterns(65) + `}`, "invalid_value", "eventTypes"},
		{"eventTypes not a list", `{"url":"https://r.test/","eventTypes":"*"}`, "invalid_value", "eventTypes"},
		{"description too long", `{"url":"https://r.test/","eventTypes":["*"],"description":"` + strings.Repeat("é", 1025) + `"}`, "invalid_value", "description"},
		{"bad secret prefix", `{"url":"https://r.test/","eventTypes":["*"],"secret":"nope"}`, "invalid_value", "secret"},
		{"short secret", `{"url":"https://r.test/","eventTypes":["*"],"secret":"whsec_c2hvcnQ="}`, "invalid_value", "secret"},
		{"secret not base64", `{"url":"https://r.test/","eventTypes":["*"],"secret":"whsec_!!!"}`, "invalid_value", "secret"},
		{"enabled not bool", `{"url":"https://r.test/","eventTypes":["*"],"enabled":1}`, "invalid_value", "enabled"},
		{"unknown field", `{"url":"https://r.test/","eventTypes":["*"],"filters":{}}`, "unknown_field", "filters"},
		{"trailing garbage", `{"url":"https://r.test/","eventTypes":["*"]}]`, "invalid_json", ""},
	} {
		// Not parallel: the subtests share e, and the checks after the loop count what they wrote.
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks", tc.body), http.StatusBadRequest, tc.code, tc.field)
		})
	}
	rec := e.admin(http.MethodPost, "/api/v1/webhooks", `{"url":"https://r.test/","eventTypes":["*"]}`, "Content-Type", "")
	assertError(t, rec, http.StatusUnsupportedMediaType, "unsupported_media_type", "")

	rec = e.admin(http.MethodGet, "/api/v1/webhooks", "")
	assert.JSONEq(t, `{"data":[]}`, rec.Body.String(), "nothing was created")

	// The limits themselves are accepted.
	okURL := longURL[:2048]
	body := `{"url":"` + okURL + `","eventTypes":` + patterns(64) + `,"description":"` + strings.Repeat("é", 1024) + `"}`
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks", body), http.StatusCreated)
	requireStatus(t, e.admin(http.MethodPost, "/api/v1/webhooks",
		`{"url":"http://user:pw@127.0.0.1:9000/h?q=1","eventTypes":["a.b","a.*","*"]}`), http.StatusCreated)
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	require.Equal(t, time.UTC, tm.Location(), "times are UTC: %s", s)
	return tm
}

// A webhook hookrelay disabled says why and since when; enabling it clears both (issue #12
// item 4).
func TestWebhookSaysWhyItWasDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.createWebhook("https://gone.test/hook", true, "*")
	dbtest.Event(t, e.store, "a.b", 1)
	attempt(t, e.store, id, db.AttemptResult{StatusCode: 410, Next: db.StateFailed, DisableReason: "the receiver answered 410 Gone"})

	var got webhookResp
	rec := e.admin(http.MethodGet, "/api/v1/webhooks/"+id, "")
	requireStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &got)
	assert.False(t, got.Enabled)
	require.NotNil(t, got.DisabledReason)
	assert.Equal(t, "the receiver answered 410 Gone", *got.DisabledReason)
	require.NotNil(t, got.DisabledAt)
	parseTime(t, *got.DisabledAt)

	rec = e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"enabled":true}`)
	requireStatus(t, rec, http.StatusOK)
	got = webhookResp{}
	decodeInto(t, rec, &got)
	assert.True(t, got.Enabled)
	assert.Nil(t, got.DisabledReason, "enabling clears the reason")
	assert.Nil(t, got.DisabledAt, "and when")
	assert.Contains(t, rec.Body.String(), `"disabledReason":null,"disabledAt":null`, "present, as null")

	rec = e.admin(http.MethodPatch, "/api/v1/webhooks/"+id, `{"enabled":false}`)
	requireStatus(t, rec, http.StatusOK)
	got = webhookResp{}
	decodeInto(t, rec, &got)
	assert.Nil(t, got.DisabledReason, "disabled by hand: no reason")
	require.NotNil(t, got.DisabledAt, "but when")
}
