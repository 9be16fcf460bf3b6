package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/handlers"
)

type batchResp struct {
	Results []struct {
		ID         string `json:"id"`
		Deliveries *int   `json:"deliveries"`
		Duplicate  bool   `json:"duplicate"`
		Error      *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	} `json:"results"`
}

func (e *env) batch(body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.call(http.MethodPost, "/api/v1/events/batch", ingestToken, body, header...)
}

func TestBatchMixedItemsGetResultsInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.MaxEventBytes = 200 })
	wh := e.createWebhook("https://all.test/", true, "*")
	first := e.ingest(`{"eventType":"a.b","data":{}}`, "Idempotency-Key", "seen")
	requireStatus(t, first, http.StatusAccepted)
	var orig ingestResp
	decodeInto(t, first, &orig)

	items := []string{
		/* 0 */ `{"eventType":"order.paid","data":{"n":0}}`,
		/* 1 */ `{"eventType":"bad..type","data":{}}`,
		/* 2 */ `{"eventType":"a.b","data":{},"idempotencyKey":"seen"}`,
		/* 3 */ `5`,
		/* 4 */ `{"eventType":"a.b","data":{},"nope":true}`,
		/* 5 */ `{"eventType":"a.b","data":{"pad":"` + strings.Repeat("x", 200) + `"}}`,
		/* 6 */ `{"eventType":"a.b","data":[]}`,
		/* 7 */ `{"eventType":"order.shipped","data":{"n":7},"idempotencyKey":"new-key"}`,
		/* 8 */ `{"eventType":"order.shipped","data":{"n":8},"idempotencyKey":"new-key"}`,
	}
	rec := e.batch(`{"events":[` + strings.Join(items, ",\n") + `]}`)
	requireStatus(t, rec, http.StatusAccepted)
	var got batchResp
	decodeInto(t, rec, &got)
	require.Len(t, got.Results, len(items))

	ok := func(i int) {
		t.Helper()
		r := got.Results[i]
		assert.Nil(t, r.Error, "item %d", i)
		assert.True(t, strings.HasPrefix(r.ID, "evt_"), "item %d: id %q", i, r.ID)
		if assert.NotNil(t, r.Deliveries, "item %d", i) {
			assert.Equal(t, 1, *r.Deliveries, "item %d", i)
		}
	}
	failed := func(i int, code, field string) {
		t.Helper()
		r := got.Results[i]
		assert.Empty(t, r.ID, "item %d", i)
		assert.Nil(t, r.Deliveries, "item %d", i)
		if assert.NotNil(t, r.Error, "item %d", i) {
			assert.Equal(t, code, r.Error.Code, "item %d", i)
			assert.Equal(t, field, r.Error.Field, "item %d", i)
			assert.NotEmpty(t, r.Error.Message, "item %d", i)
		}
	}
	ok(0)
	assert.False(t, got.Results[0].Duplicate)
	failed(1, "invalid_value", "eventType")
	ok(2)
	assert.True(t, got.Results[2].Duplicate)
	assert.Equal(t, orig.ID, got.Results[2].ID, "a duplicate reports the original event")
	failed(3, "invalid_json", "")
	failed(4, "unknown_field", "nope")
	failed(5, "too_large", "")
	failed(6, "invalid_value", "data")
	ok(7)
	assert.False(t, got.Results[7].Duplicate)
	ok(8)
	assert.True(t, got.Results[8].Duplicate, "the same key twice in one batch stores one event")
	assert.Equal(t, got.Results[7].ID, got.Results[8].ID)

	// In the raw JSON, new events carry exactly id and deliveries, and errors only error.
	raw := object(t, rec)["results"].([]any)
	assert.Len(t, raw[0], 2)
	assert.Contains(t, raw[0], "deliveries")
	assert.Equal(t, true, raw[2].(map[string]any)["duplicate"])
	assert.Len(t, raw[1], 1)

	// The original event, plus items 0 and 7.
	assert.Len(t, e.deliveriesOf(wh), 3)
}

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.MaxBatchBytes = 64 << 10 })
	e.createWebhook("https://all.test/", true, "*")
	item := `{"eventType":"a.b","data":{}}`
	events := func(n int) string {
		return `{"events":[` + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + `]}`
	}

	assertError(t, e.batch(`{"events":[]}`), http.StatusBadRequest, "invalid_value", "events")
	assertError(t, e.batch(`{}`), http.StatusBadRequest, "invalid_value", "events")
	assertError(t, e.batch(`{"events":null}`), http.StatusBadRequest, "invalid_value", "events")
	assertError(t, e.batch(events(101)), http.StatusBadRequest, "invalid_value", "events")
	assertError(t, e.batch(`{"events":{}}`), http.StatusBadRequest, "invalid_value", "events")
	assertError(t, e.batch(`{"events":[]} x`), http.StatusBadRequest, "invalid_json", "")
	assertError(t, e.batch(`{"events":[],"more":1}`), http.StatusBadRequest, "unknown_field", "more")
	assertError(t, e.batch(events(1), "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	assertError(t, e.batch(events(1), "Idempotency-Key", "k"), http.StatusBadRequest, "invalid_value", "Idempotency-Key")
	big := `{"events":[{"eventType":"a.b","data":{"pad":"` + strings.Repeat("x", 64<<10) + `"}}]}`
	assertError(t, e.batch(big), http.StatusRequestEntityTooLarge, "too_large", "")
	assert.Zero(t, countDeliveries(t, e.store))

	rec := e.batch(events(100))
	requireStatus(t, rec, http.StatusAccepted)
	var got batchResp
	decodeInto(t, rec, &got)
	require.Len(t, got.Results, 100)
	seen := map[string]bool{}
	for i, r := range got.Results {
		require.Nil(t, r.Error, "item %d", i)
		seen[r.ID] = true
	}
	assert.Len(t, seen, 100)
	assert.Equal(t, 100, countDeliveries(t, e.store))
}

func TestBatchMaxEventsIsConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *handlers.Server) { s.MaxBatchEvents = 2 })
	item := `{"eventType":"a.b","data":{}}`
	requireStatus(t, e.batch(fmt.Sprintf(`{"events":[%s,%s]}`, item, item)), http.StatusAccepted)
	assertError(t, e.batch(fmt.Sprintf(`{"events":[%s,%s,%s]}`, item, item, item)), http.StatusBadRequest, "invalid_value", "events")
}
