package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

type deliveryResp struct {
	ID             string  `json:"id"`
	WebhookID      string  `json:"webhookId"`
	EventID        string  `json:"eventId"`
	EventType      string  `json:"eventType"`
	Status         string  `json:"status"`
	AttemptCount   int     `json:"attemptCount"`
	NextAttemptAt  *string `json:"nextAttemptAt"`
	LastAttemptAt  *string `json:"lastAttemptAt"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	Attempts       []struct {
		Number                int     `json:"number"`
		Trigger               string  `json:"trigger"`
		AttemptedAt           string  `json:"attemptedAt"`
		StatusCode            *int    `json:"statusCode"`
		DurationMS            int64   `json:"durationMs"`
		ResponseBody          string  `json:"responseBody"`
		ResponseBodyTruncated bool    `json:"responseBodyTruncated"`
		Error                 *string `json:"error"`
		ErrorMessage          *string `json:"errorMessage"`
		RetryAfterSeconds     *int64  `json:"retryAfterSeconds"`
	} `json:"attempts"`
}

type deliveryPage struct {
	Data       []deliveryResp `json:"data"`
	NextCursor *string        `json:"nextCursor"`
}

func (e *env) page(path string) deliveryPage {
	e.t.Helper()
	rec := e.admin(http.MethodGet, path, "")
	requireStatus(e.t, rec, http.StatusOK)
	var p deliveryPage
	decodeInto(e.t, rec, &p)
	m := object(e.t, rec)
	require.Contains(e.t, m, "nextCursor", "nextCursor is always present")
	for _, d := range p.Data {
		require.Nil(e.t, d.Attempts, "lists leave attempts out")
	}
	return p
}

func TestWebhookDeliveriesPaginate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/", true, "*")
	other := e.createWebhook("https://b.test/", true, "other.*")
	for range 7 {
		requireStatus(t, e.ingest(`{"eventType":"order.paid","data":{}}`), http.StatusAccepted)
	}
	requireStatus(t, e.ingest(`{"eventType":"other.thing","data":{}}`), http.StatusAccepted)
	want := e.deliveriesOf(wh) // newest first
	require.Len(t, want, 8)

	var got []string
	path := "/api/v1/webhooks/" + wh + "/deliveries?limit=3"
	for i, size := range []int{3, 3, 2} {
		p := e.page(path)
		require.Len(t, p.Data, size, "page %d", i)
		for _, d := range p.Data {
			got = append(got, d.ID)
			assert.Equal(t, wh, d.WebhookID)
		}
		if i < 2 {
			require.NotNil(t, p.NextCursor, "page %d", i)
			path = "/api/v1/webhooks/" + wh + "/deliveries?limit=3&cursor=" + url.QueryEscape(*p.NextCursor)
		} else {
			assert.Nil(t, p.NextCursor, "the last page has no next cursor")
		}
	}
	var wantIDs []string
	for _, d := range want {
		wantIDs = append(wantIDs, d.ID)
	}
	assert.Equal(t, wantIDs, got, "every delivery once, newest first, no overlap")

	// The default page holds them all; the other webhook's list is its own.
	assert.Len(t, e.page("/api/v1/webhooks/"+wh+"/deliveries").Data, 8)
	assert.Nil(t, e.page("/api/v1/webhooks/"+wh+"/deliveries").NextCursor)
	assert.Len(t, e.page("/api/v1/webhooks/"+other+"/deliveries").Data, 1)
	// An exact page leaves no empty page behind.
	p := e.page("/api/v1/webhooks/" + wh + "/deliveries?limit=8")
	assert.Len(t, p.Data, 8)
	assert.Nil(t, p.NextCursor)
}

func TestDeliveryListFiltersAndBadQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/", true, "*")
	other := e.createWebhook("https://b.test/", true, "*")
	for _, typ := range []string{"order.paid", "order.paid", "user.created"} {
		requireStatus(t, e.ingest(`{"eventType":"`+typ+`","data":{}}`), http.StatusAccepted)
	}
	// One failed and one succeeded delivery of wh; the third stays pending.
	attempt(t, e.store, wh, db.AttemptResult{StatusCode: 500, Next: db.StateFailed})
	attempt(t, e.store, wh, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})

	statuses := func(p deliveryPage) []string {
		var out []string
		for _, d := range p.Data {
			out = append(out, d.Status)
		}
		return out
	}
	base := "/api/v1/webhooks/" + wh + "/deliveries"
	assert.Equal(t, []string{"failed"}, statuses(e.page(base+"?status=failed")))
	assert.Equal(t, []string{"succeeded"}, statuses(e.page(base+"?status=succeeded")))
	assert.Equal(t, []string{"pending"}, statuses(e.page(base+"?status=pending")))
	assert.Empty(t, e.page(base+"?status=delivering").Data)
	assert.Len(t, e.page("/api/v1/webhooks/"+other+"/deliveries?status=pending").Data, 3)

	// The global list filters by webhook, event type and status together.
	assert.Len(t, e.page("/api/v1/deliveries").Data, 6)
	assert.Len(t, e.page("/api/v1/deliveries?webhookId="+other).Data, 3)
	assert.Len(t, e.page("/api/v1/deliveries?eventType=order.paid").Data, 4)
	assert.Len(t, e.page("/api/v1/deliveries?eventType=user.created&webhookId="+wh).Data, 1)
	assert.Len(t, e.page("/api/v1/deliveries?status=pending").Data, 4)
	assert.Empty(t, e.page("/api/v1/deliveries?webhookId=whk_missing").Data)

	for _, tc := range []struct{ query, field string }{
		{"status=done", "status"},
		{"status=FAILED", "status"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=-1", "limit"},
		{"limit=ten", "limit"},
		{"cursor=not-a-cursor", "cursor"},
		{"cursor=ZDA", "cursor"}, // "d0"
	} {
		assertError(t, e.admin(http.MethodGet, base+"?"+tc.query, ""), http.StatusBadRequest, "invalid_value", tc.field)
		assertError(t, e.admin(http.MethodGet, "/api/v1/deliveries?"+tc.query, ""), http.StatusBadRequest, "invalid_value", tc.field)
	}
	assertError(t, e.admin(http.MethodGet, "/api/v1/deliveries?eventType=a..b", ""), http.StatusBadRequest, "invalid_value", "eventType")
	assertError(t, e.admin(http.MethodGet, "/api/v1/webhooks/whk_missing/deliveries", ""), http.StatusNotFound, "not_found", "")
	assert.Len(t, e.page(base+"?limit=500").Data, 3)
}

func TestDeliveryDetailAndManualRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/", true, "*")
	rec := e.ingest(`{"eventType":"order.paid","data":{}}`)
	requireStatus(t, rec, http.StatusAccepted)
	var ev ingestResp
	decodeInto(t, rec, &ev)
	ds := e.deliveriesOf(wh)
	require.Len(t, ds, 1)
	path := "/api/v1/deliveries/" + ds[0].ID

	detail := func(rec *httptest.ResponseRecorder, status int) deliveryResp {
		t.Helper()
		requireStatus(t, rec, status)
		var d deliveryResp
		decodeInto(t, rec, &d)
		require.NotNil(t, d.Attempts, "the detail always lists attempts")
		return d
	}

	d := detail(e.admin(http.MethodGet, path, ""), http.StatusOK)
	assert.True(t, strings.HasPrefix(d.ID, "dlv_"), d.ID)
	assert.Equal(t, wh, d.WebhookID)
	assert.Equal(t, ev.ID, d.EventID)
	assert.Equal(t, "order.paid", d.EventType)
	assert.Equal(t, "pending", d.Status)
	assert.Zero(t, d.AttemptCount)
	assert.NotNil(t, d.NextAttemptAt)
	assert.Nil(t, d.LastAttemptAt)
	assert.Nil(t, d.LastStatusCode)
	assert.Nil(t, d.LastError)
	assert.Empty(t, d.Attempts)

	// A pending delivery cannot be retried.
	e409 := assertError(t, e.admin(http.MethodPost, path+"/retry", ""), http.StatusConflict, "conflict", "")
	assert.Contains(t, e409.Error.Message, "pending or in flight")

	// The engine's first attempt fails with a 503 asking to wait two minutes, and a body
	// that is not UTF-8.
	at := time.Date(2025, 5, 6, 7, 8, 9, 123e6, time.UTC)
	attempt(t, e.store, wh, db.AttemptResult{
		AttemptedAt: at, StatusCode: 503, Duration: 42 * time.Millisecond, RetryAfter: 2 * time.Minute,
		ResponseBody: []byte("oops \xff"), ResponseTruncated: true, Next: db.StateFailed,
	})
	d = detail(e.admin(http.MethodGet, path, ""), http.StatusOK)
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, 1, d.AttemptCount)
	assert.Nil(t, d.NextAttemptAt)
	require.NotNil(t, d.LastAttemptAt)
	assert.Equal(t, "2025-05-06T07:08:09.123Z", *d.LastAttemptAt)
	require.NotNil(t, d.LastStatusCode)
	assert.Equal(t, 503, *d.LastStatusCode)
	require.NotNil(t, d.LastError)
	require.Len(t, d.Attempts, 1)
	a := d.Attempts[0]
	assert.Equal(t, 1, a.Number)
	assert.Equal(t, "scheduled", a.Trigger)
	assert.Equal(t, "2025-05-06T07:08:09.123Z", a.AttemptedAt)
	require.NotNil(t, a.StatusCode)
	assert.Equal(t, 503, *a.StatusCode)
	assert.Equal(t, int64(42), a.DurationMS)
	assert.Equal(t, "oops \uFFFD", a.ResponseBody)
	assert.True(t, a.ResponseBodyTruncated)
	assert.Nil(t, a.Error)
	assert.Nil(t, a.ErrorMessage)
	require.NotNil(t, a.RetryAfterSeconds)
	assert.Equal(t, int64(120), *a.RetryAfterSeconds)

	// A manual retry answers 202 with the delivery pending again, history kept.
	d = detail(e.admin(http.MethodPost, path+"/retry", ""), http.StatusAccepted)
	assert.Equal(t, "pending", d.Status)
	assert.NotNil(t, d.NextAttemptAt)
	assert.Len(t, d.Attempts, 1)
	assertError(t, e.admin(http.MethodPost, path+"/retry", ""), http.StatusConflict, "conflict", "")

	// The next attempt is the manual one; it times out, so no status code.
	claim := attempt(t, e.store, wh, db.AttemptResult{
		Duration: 15 * time.Second, ErrorClass: "timeout", ErrorMessage: "no answer in 15s", Next: db.StateFailed,
	})
	assert.True(t, claim.Manual, "the retry was scheduled as manual")
	d = detail(e.admin(http.MethodGet, path, ""), http.StatusOK)
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, 2, d.AttemptCount)
	require.Len(t, d.Attempts, 2)
	a = d.Attempts[1]
	assert.Equal(t, 2, a.Number)
	assert.Equal(t, "manual", a.Trigger)
	assert.Nil(t, a.StatusCode)
	assert.Equal(t, int64(15000), a.DurationMS)
	assert.Equal(t, "", a.ResponseBody)
	assert.Nil(t, a.RetryAfterSeconds, "nothing asked, null")
	require.NotNil(t, a.Error)
	assert.Equal(t, "timeout", *a.Error)
	require.NotNil(t, a.ErrorMessage)
	assert.Equal(t, "no answer in 15s", *a.ErrorMessage)
	assert.Nil(t, d.LastStatusCode)

	// Disabled webhooks refuse retries with their own message; nothing changes.
	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+wh, `{"enabled":false}`), http.StatusOK)
	e409 = assertError(t, e.admin(http.MethodPost, path+"/retry", ""), http.StatusConflict, "conflict", "")
	assert.Contains(t, e409.Error.Message, "disabled")
	assert.Equal(t, "failed", detail(e.admin(http.MethodGet, path, ""), http.StatusOK).Status)

	assertError(t, e.admin(http.MethodGet, "/api/v1/deliveries/dlv_missing", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodPost, "/api/v1/deliveries/dlv_missing/retry", ""), http.StatusNotFound, "not_found", "")
}

func TestRetryFailedOfWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/", true, "*")
	other := e.createWebhook("https://b.test/", true, "*")
	for range 4 {
		requireStatus(t, e.ingest(`{"eventType":"x","data":{}}`), http.StatusAccepted)
	}
	attempt(t, e.store, wh, db.AttemptResult{StatusCode: 500, Next: db.StateFailed})
	attempt(t, e.store, wh, db.AttemptResult{StatusCode: 410, Next: db.StateFailed})
	attempt(t, e.store, wh, db.AttemptResult{StatusCode: 204, Next: db.StateSucceeded})
	attempt(t, e.store, other, db.AttemptResult{StatusCode: 500, Next: db.StateFailed})

	rec := e.admin(http.MethodPost, "/api/v1/webhooks/"+wh+"/retry-failed", "")
	requireStatus(t, rec, http.StatusAccepted)
	assert.JSONEq(t, `{"retried":2}`, rec.Body.String())
	count := map[db.State]int{}
	for _, d := range e.deliveriesOf(wh) {
		count[d.State]++
	}
	assert.Equal(t, map[db.State]int{db.StatePending: 3, db.StateSucceeded: 1}, count)
	assert.Equal(t, db.StateFailed, e.deliveriesOf(other)[3].State, "other webhooks are untouched")

	rec = e.admin(http.MethodPost, "/api/v1/webhooks/"+wh+"/retry-failed", "")
	requireStatus(t, rec, http.StatusAccepted)
	assert.JSONEq(t, `{"retried":0}`, rec.Body.String())

	requireStatus(t, e.admin(http.MethodPatch, "/api/v1/webhooks/"+other, `{"enabled":false}`), http.StatusOK)
	e409 := assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks/"+other+"/retry-failed", ""), http.StatusConflict, "conflict", "")
	assert.Contains(t, e409.Error.Message, "disabled")
	assertError(t, e.admin(http.MethodPost, "/api/v1/webhooks/whk_missing/retry-failed", ""), http.StatusNotFound, "not_found", "")
}

// Issue 12 item 9: find deliveries by event, workflow, last status code and error class.
func TestFindDeliveriesByWhatHappened(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.createWebhook("https://a.test/hook", true, "*")
	for i := range 3 {
		requireStatus(t, e.ingest(fmt.Sprintf(`{"eventType":"a.b","workflowId":"wf_%d","data":{}}`, i)), http.StatusAccepted)
	}
	ok := attempt(t, e.store, wh, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	down := attempt(t, e.store, wh, db.AttemptResult{StatusCode: 503, Next: db.StateFailed})
	slow := attempt(t, e.store, wh, db.AttemptResult{ErrorClass: "timeout", Next: db.StateFailed})
	ids := func(query string) []string {
		t.Helper()
		var out []string
		for _, d := range e.page("/api/v1/deliveries" + query).Data {
			out = append(out, d.ID)
		}
		return out
	}
	assert.Equal(t, []string{down.DeliveryID}, ids("?statusCode=503"))
	assert.Equal(t, []string{down.DeliveryID}, ids("?statusCode=5xx"))
	assert.Equal(t, []string{ok.DeliveryID}, ids("?statusCode=2xx"))
	assert.Equal(t, []string{slow.DeliveryID}, ids("?error=timeout"))
	assert.Equal(t, []string{ok.DeliveryID}, ids("?workflowId=wf_0"))
	assert.Equal(t, []string{down.DeliveryID}, ids("?eventId="+down.EventID))
	for q, field := range map[string]string{"?statusCode=6xx": "statusCode", "?statusCode=42": "statusCode", "?error=boom": "error"} {
		assertError(t, e.admin(http.MethodGet, "/api/v1/deliveries"+q, ""), http.StatusBadRequest, "invalid_value", field)
	}
}
