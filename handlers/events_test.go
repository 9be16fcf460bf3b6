package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/handlers"
)

type ingestResp struct {
	ID         string `json:"id"`
	Deliveries int    `json:"deliveries"`
}

func TestIngestFansOutToMatchingEnabledWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exact := e.createWebhook("https://exact.test/", true, "workflow.completed")
	prefix := e.createWebhook("https://prefix.test/", true, "workflow.*")
	all := e.createWebhook("https://all.test/", true, "*")
	other := e.createWebhook("https://other.test/", true, "billing.paid", "billing.*")
	disabled := e.createWebhook("https://disabled.test/", false, "*")

	for _, tc := range []struct {
		eventType string
		want      []string
	}{
		{"workflow.completed", []string{exact, prefix, all}},
		{"workflow.step.failed", []string{prefix, all}}, // multi-segment under the prefix
		{"workflow", []string{all}},                     // "workflow.*" needs a segment after the dot
		{"workflowx.completed", []string{all}},
		{"unrelated", []string{all}},
	} {
		// Not parallel: the subtests share e, and the checks after the loop count what they wrote.
		t.Run(tc.eventType, func(t *testing.T) {
			rec := e.ingest(`{"eventType":"` + tc.eventType + `","data":{"k":1}}`)
			requireStatus(t, rec, http.StatusAccepted)
			var got ingestResp
			decodeInto(t, rec, &got)
			assert.True(t, strings.HasPrefix(got.ID, "evt_"), got.ID)
			assert.Equal(t, len(tc.want), got.Deliveries)

			// The rows are there, one per matching webhook, and only for those.
			ds, _, err := e.store.ListDeliveries(context.Background(), db.DeliveryFilter{EventID: got.ID})
			require.NoError(t, err)
			var webhooks []string
			for _, d := range ds {
				webhooks = append(webhooks, d.WebhookID)
				assert.Equal(t, db.StatePending, d.State)
				assert.Equal(t, tc.eventType, d.EventType)
			}
			assert.ElementsMatch(t, tc.want, webhooks)
		})
	}
	assert.Empty(t, dbtest.Deliveries(t, e.store, other))
	assert.Empty(t, dbtest.Deliveries(t, e.store, disabled))
}

func TestIngestStoresNormalizedEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook("https://all.test/", true, "*")
	rec := e.ingest(`{"eventType":"workflow.completed","workflowId":"wf-1","timestamp":"2025-03-04T10:00:00.5+02:00",
		"data":{ "a" : [1, 2],  "b":{"c":null} }}`, "Content-Type", "application/json; charset=utf-8")
	requireStatus(t, rec, http.StatusAccepted)
	var got ingestResp
	decodeInto(t, rec, &got)

	ev, err := e.store.FindEvent(context.Background(), got.ID)
	require.NoError(t, err)
	assert.Equal(t, "workflow.completed", ev.Type)
	assert.Equal(t, "wf-1", ev.WorkflowID)
	assert.Equal(t, "2025-03-04T08:00:00.5Z", db.FormatTime(ev.OccurredAt))
	assert.JSONEq(t, `{"a":[1,2],"b":{"c":null}}`, string(ev.Data()))
	assert.Equal(t, `{"a":[1,2],"b":{"c":null}}`, string(ev.Data()), "data is stored compact")
	assert.Empty(t, ev.IdempotencyKey)
}

func TestIngestIdempotency(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		body        string
		header      []string
		repeatBody  string
		repeatHeads []string
	}{
		{
			name:   "header",
			body:   `{"eventType":"a.b","data":{"n":1}}`,
			header: []string{"Idempotency-Key", "key-1"},
			// The repeat may differ in content: the key alone decides.
			repeatBody:  `{"eventType":"a.b","data":{"n":2}}`,
			repeatHeads: []string{"Idempotency-Key", "key-1"},
		},
		{
			name:       "field",
			body:       `{"eventType":"a.b","data":{"n":1},"idempotencyKey":"key-1"}`,
			repeatBody: `{"eventType":"a.b","data":{"n":1},"idempotencyKey":"key-1"}`,
		},
		{
			name:        "field then header",
			body:        `{"eventType":"a.b","data":{"n":1},"idempotencyKey":"key-1"}`,
			repeatBody:  `{"eventType":"a.b","data":{"n":1}}`,
			repeatHeads: []string{"Idempotency-Key", "key-1"},
		},
		{
			name:        "both equal",
			body:        `{"eventType":"a.b","data":{"n":1},"idempotencyKey":"key-1"}`,
			header:      []string{"Idempotency-Key", "key-1"},
			repeatBody:  `{"eventType":"a.b","data":{"n":1},"idempotencyKey":"key-1"}`,
			repeatHeads: []string{"Idempotency-Key", "key-1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			wh := e.createWebhook("https://all.test/", true, "*")
			first := e.ingest(tc.body, tc.header...)
			requireStatus(t, first, http.StatusAccepted)
			var got ingestResp
			decodeInto(t, first, &got)
			require.Equal(t, 1, got.Deliveries)

			again := e.ingest(tc.repeatBody, tc.repeatHeads...)
			requireStatus(t, again, http.StatusOK)
			assert.JSONEq(t, first.Body.String(), again.Body.String())
			assert.Len(t, dbtest.Deliveries(t, e.store, wh), 1, "a repeat creates no delivery")

			ev, err := e.store.FindEvent(context.Background(), got.ID)
			require.NoError(t, err)
			assert.Equal(t, "key-1", ev.IdempotencyKey)
			assert.JSONEq(t, `{"n":1}`, string(ev.Data()), "the original is kept")

			// Another key is another event.
			requireStatus(t, e.ingest(`{"eventType":"a.b","data":{"n":3}}`, "Idempotency-Key", "key-2"), http.StatusAccepted)
			assert.Len(t, dbtest.Deliveries(t, e.store, wh), 2)
		})
	}
}

func TestIngestIdempotencyHeaderFieldMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook("https://all.test/", true, "*")
	rec := e.ingest(`{"eventType":"a.b","data":{},"idempotencyKey":"one"}`, "Idempotency-Key", "two")
	assertError(t, rec, http.StatusBadRequest, "invalid_value", "idempotencyKey")
	assert.Zero(t, countDeliveries(t, e.store))
}

func TestIngestRejectsBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.MaxEventBytes = 1024 })
	e.createWebhook("https://all.test/", true, "*")

	for _, tc := range []struct {
		name   string
		body   string
		header []string
		status int
		code   string
		field  string
	}{
		{"missing eventType", `{"data":{}}`, nil, 400, "invalid_value", "eventType"},
		{"bad eventType", `{"eventType":"a..b","data":{}}`, nil, 400, "invalid_value", "eventType"},
		{"eventType with space", `{"eventType":"a b","data":{}}`, nil, 400, "invalid_value", "eventType"},
		{"eventType too long", `{"eventType":"` + strings.Repeat("a", 129) + `","data":{}}`, nil, 400, "invalid_value", "eventType"},
		{"eventType not a string", `{"eventType":5,"data":{}}`, nil, 400, "invalid_value", "eventType"},
		{"missing data", `{"eventType":"a.b"}`, nil, 400, "invalid_value", "data"},
		{"data null", `{"eventType":"a.b","data":null}`, nil, 400, "invalid_value", "data"},
		{"data array", `{"eventType":"a.b","data":[1]}`, nil, 400, "invalid_value", "data"},
		{"data string", `{"eventType":"a.b","data":"x"}`, nil, 400, "invalid_value", "data"},
		{"bad timestamp", `{"eventType":"a.b","data":{},"timestamp":"yesterday"}`, nil, 400, "invalid_value", "timestamp"},
		{"timestamp without zone", `{"eventType":"a.b","data":{},"timestamp":"2025-01-02T03:04:05"}`, nil, 400, "invalid_value", "timestamp"},
		{"timestamp not a string", `{"eventType":"a.b","data":{},"timestamp":1700000000}`, nil, 400, "invalid_value", "timestamp"},
		{"workflowId too long", `{"eventType":"a.b","data":{},"workflowId":"` + strings.Repeat("w", 257) + `"}`, nil, 400, "invalid_value", "workflowId"},
		{"workflowId empty", `{"eventType":"a.b","data":{},"workflowId":""}`, nil, 400, "invalid_value", "workflowId"},
		{"idempotencyKey too long", `{"eventType":"a.b","data":{},"idempotencyKey":"` + strings.Repeat("k", 256) + `"}`, nil, 400, "invalid_value", "idempotencyKey"},
		{"Idempotency-Key header too long", `{"eventType":"a.b","data":{}}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_value", "Idempotency-Key"},
		{"unknown field", `{"eventType":"a.b","data":{},"extra":1}`, nil, 400, "unknown_field", "extra"},
		{"trailing garbage", `{"eventType":"a.b","data":{}} xyz`, nil, 400, "invalid_json", ""},
		{"second object", `{"eventType":"a.b","data":{}}{"eventType":"a.b","data":{}}`, nil, 400, "invalid_json", ""},
		{"truncated", `{"eventType":"a.b","data":{`, nil, 400, "invalid_json", ""},
		{"malformed", `{"eventType":'a'}`, nil, 400, "invalid_json", ""},
		{"array body", `[{"eventType":"a.b","data":{}}]`, nil, 400, "invalid_json", ""},
		{"null body", `null`, nil, 400, "invalid_json", ""},
		{"empty body", ``, []string{"Content-Type", "application/json"}, 400, "invalid_json", ""},
		{"text/plain", `{"eventType":"a.b","data":{}}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"no content type", `{"eventType":"a.b","data":{}}`, []string{"Content-Type", ""}, 415, "unsupported_media_type", ""},
		{"latin1 charset", `{"eventType":"a.b","data":{}}`, []string{"Content-Type", "application/json; charset=latin1"}, 415, "unsupported_media_type", ""},
		{"form", `eventType=a.b`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"over the limit", `{"eventType":"a.b","data":{"pad":"` + strings.Repeat("x", 1024) + `"}}`, nil, 413, "too_large", ""},
	} {
		// Not parallel: the subtests share e, and the checks after the loop count what they wrote.
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, e.ingest(tc.body, tc.header...), tc.status, tc.code, tc.field)
		})
	}
	assert.Zero(t, countDeliveries(t, e.store), "no bad request stored an event")

	// Just under the limit is fine.
	body := `{"eventType":"a.b","data":{"pad":"`
	body += strings.Repeat("x", 1024-len(body)-3) + `"}}`
	require.Len(t, body, 1024)
	requireStatus(t, e.ingest(body), http.StatusAccepted)
}

func TestIngestStorageErrorIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.store.Close())
	rec := e.ingest(`{"eventType":"a.b","data":{}}`)
	assertError(t, rec, http.StatusServiceUnavailable, "unavailable", "")
	rec = e.call(http.MethodPost, "/api/v1/events/batch", ingestToken, `{"events":[{"eventType":"a.b","data":{}}]}`)
	assertError(t, rec, http.StatusServiceUnavailable, "unavailable", "")
}

type eventDetail struct {
	ID             string          `json:"id"`
	EventType      string          `json:"eventType"`
	WorkflowID     *string         `json:"workflowId"`
	Timestamp      string          `json:"timestamp"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey *string         `json:"idempotencyKey"`
	CreatedAt      string          `json:"createdAt"`
	Deliveries     []struct {
		ID        string `json:"id"`
		WebhookID string `json:"webhookId"`
		Status    string `json:"status"`
	} `json:"deliveries"`
}

func TestGetEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.createWebhook("https://a.test/", true, "order.*")
	b := e.createWebhook("https://b.test/", true, "*")

	rec := e.ingest(`{"eventType":"order.paid","data":{"total":12},"workflowId":"wf-9","timestamp":"2025-01-02T03:04:05Z"}`,
		"Idempotency-Key", "k-9")
	requireStatus(t, rec, http.StatusAccepted)
	var created ingestResp
	decodeInto(t, rec, &created)

	rec = e.admin(http.MethodGet, "/api/v1/events/"+created.ID, "")
	requireStatus(t, rec, http.StatusOK)
	var got eventDetail
	decodeInto(t, rec, &got)
	assert.Equal(t, created.ID, got.ID)
	assert.Equal(t, "order.paid", got.EventType)
	require.NotNil(t, got.WorkflowID)
	assert.Equal(t, "wf-9", *got.WorkflowID)
	assert.Equal(t, "2025-01-02T03:04:05Z", got.Timestamp)
	assert.JSONEq(t, `{"total":12}`, string(got.Data))
	require.NotNil(t, got.IdempotencyKey)
	assert.Equal(t, "k-9", *got.IdempotencyKey)
	parseTime(t, got.CreatedAt)
	require.Len(t, got.Deliveries, 2)
	var webhooks []string
	for _, d := range got.Deliveries {
		assert.True(t, strings.HasPrefix(d.ID, "dlv_"), d.ID)
		assert.Equal(t, "pending", d.Status)
		webhooks = append(webhooks, d.WebhookID)
	}
	assert.ElementsMatch(t, []string{a, b}, webhooks)

	// Optional fields absent are null, not missing or empty.
	rec = e.ingest(`{"eventType":"x","data":{}}`)
	requireStatus(t, rec, http.StatusAccepted)
	decodeInto(t, rec, &created)
	rec = e.admin(http.MethodGet, "/api/v1/events/"+created.ID, "")
	requireStatus(t, rec, http.StatusOK)
	m := object(t, rec)
	assert.Contains(t, m, "workflowId")
	assert.Nil(t, m["workflowId"])
	assert.Contains(t, m, "idempotencyKey")
	assert.Nil(t, m["idempotencyKey"])

	assertError(t, e.admin(http.MethodGet, "/api/v1/events/evt_missing", ""), http.StatusNotFound, "not_found", "")
}

// Issue 12 item 9: GET /api/v1/events lists events newest first, with filters and cursor
// pages.
func TestListEventsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, typ := range []string{"workflow.started", "invoice.paid", "workflow.completed"} {
		rec := e.ingest(fmt.Sprintf(`{"eventType":%q,"workflowId":"wf_%d","data":{"n":%d}}`, typ, i%2, i))
		requireStatus(t, rec, http.StatusAccepted)
	}
	type page struct {
		Data []struct {
			ID             string          `json:"id"`
			EventType      string          `json:"eventType"`
			WorkflowID     *string         `json:"workflowId"`
			Timestamp      string          `json:"timestamp"`
			Data           json.RawMessage `json:"data"`
			IdempotencyKey *string         `json:"idempotencyKey"`
			CreatedAt      string          `json:"createdAt"`
		} `json:"data"`
		NextCursor *string `json:"nextCursor"`
	}
	get := func(query string) page {
		t.Helper()
		rec := e.admin(http.MethodGet, "/api/v1/events"+query, "")
		requireStatus(t, rec, http.StatusOK)
		var p page
		decodeInto(t, rec, &p)
		return p
	}
	all := get("")
	require.Len(t, all.Data, 3)
	assert.Equal(t, "workflow.completed", all.Data[0].EventType, "newest first")
	assert.JSONEq(t, `{"n":2}`, string(all.Data[0].Data))
	assert.Nil(t, all.NextCursor)

	first := get("?limit=2")
	require.Len(t, first.Data, 2)
	require.NotNil(t, first.NextCursor)
	second := get("?limit=2&cursor=" + url.QueryEscape(*first.NextCursor))
	require.Len(t, second.Data, 1)
	assert.Equal(t, "workflow.started", second.Data[0].EventType)

	assert.Len(t, get("?eventType=workflow.").Data, 2, "by the start of the type")
	assert.Len(t, get("?workflowId=wf_1").Data, 1)
	assert.Len(t, get("?since="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))).Data, 3)
	assert.Empty(t, get("?until="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))).Data)

	assertError(t, e.admin(http.MethodGet, "/api/v1/events?since=yesterday", ""), http.StatusBadRequest, "invalid_value", "since")
	assertError(t, e.admin(http.MethodGet, "/api/v1/events?limit=0", ""), http.StatusBadRequest, "invalid_value", "limit")
	assertError(t, e.admin(http.MethodGet, "/api/v1/events?cursor=nope", ""), http.StatusBadRequest, "invalid_value", "cursor")
}
