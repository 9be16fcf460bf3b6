package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryJSONBodyMatchesKeysExactly sends each JSON body the API takes with a key in the
// wrong case, a near-miss spelling, and a key given twice: each is refused with 400 naming
// the key, and nothing is stored or changed.
func TestEveryJSONBodyMatchesKeysExactly(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	secret := h.secretOf(h.webhook)
	for _, ep := range []struct {
		name, method, path, token string
		body                      string // a valid body, whose first key is the one broken
		key                       string
	}{
		{"ingest", "POST", "/api/v1/events", ingestToken, `{"eventType":"a.b","workflowId":"wf","data":{}}`, "eventType"},
		{"batch", "POST", "/api/v1/events/batch", ingestToken, `{"events":[{"eventType":"a.b","data":{}}]}`, "events"},
		{"webhook create", "POST", "/api/v1/webhooks", adminToken, `{"url":"https://x.test/","eventTypes":["*"]}`, "url"},
		{"webhook edit", "PATCH", "/api/v1/webhooks/" + h.webhook, adminToken, `{"description":"changed","enabled":false}`, "description"},
		{"secret rotation", "POST", "/api/v1/webhooks/" + h.webhook + "/secret/rotate", adminToken, `{"gracePeriod":"1h"}`, "gracePeriod"},
		{"test email", "POST", "/api/v1/alerts/test-email", adminToken, `{"to":"ops@example.com"}`, "to"},
	} {
		t.Run(ep.name, func(t *testing.T) { // not parallel: the checks after the loop need every request made
			quoted := `"` + ep.key + `"`
			for _, bad := range []string{strings.ToUpper(ep.key), strings.ToLower(ep.key), strings.ToUpper(ep.key[:1]) + ep.key[1:]} {
				if bad == ep.key {
					continue
				}
				body := strings.Replace(ep.body, quoted, `"`+bad+`"`, 1)
				got := assertError(t, h.call(ep.method, ep.path, ep.token, body), http.StatusBadRequest, "unknown_field", bad)
				assert.Equal(t, `unknown field "`+bad+`"`, got.Error.Message)
				// The right key next to its miscased twin: before, the last one won.
				body = strings.Replace(ep.body, quoted, quoted+`:null,"`+bad+`"`, 1)
				assertError(t, h.call(ep.method, ep.path, ep.token, body), http.StatusBadRequest, "unknown_field", bad)
			}
			// The whole body twice over in one object: the first key comes again.
			inner := strings.TrimSuffix(strings.TrimPrefix(ep.body, "{"), "}")
			got := assertError(t, h.call(ep.method, ep.path, ep.token, "{"+inner+","+inner+"}"), http.StatusBadRequest, "invalid_json", ep.key)
			assert.Contains(t, got.Error.Message, `duplicate key "`+ep.key+`"`)
		})
	}
	assertError(t, h.ingest(`{"eventType":"a.b","data":{},"workflowID":"wf"}`), http.StatusBadRequest, "unknown_field", "workflowID")
	assertError(t, h.ingest(`{"eventType":"a.b","eventtype":"c.d","data":{}}`), http.StatusBadRequest, "unknown_field", "eventtype")
	assertError(t, h.ingest(`{"eventType":"a.b","data":{},"eventType":"c.d"}`), http.StatusBadRequest, "invalid_json", "eventType")
	assertError(t, h.ingest(`{"eventType":"a.b","data":{"k":1},"data":{"k":2}}`), http.StatusBadRequest, "invalid_json", "data")
	assertError(t, h.ingest(`{"EVENTTYPE":"a.b","DATA":{}}`), http.StatusBadRequest, "unknown_field", "EVENTTYPE") // the first, in the order sent

	h.unchanged(t, 0)
	rec := h.admin(http.MethodGet, "/api/v1/webhooks/"+h.webhook, "")
	assert.Empty(t, object(t, rec)["description"], "no refused edit changed the webhook")
	assert.Equal(t, true, object(t, rec)["enabled"])
	assert.Equal(t, secret, h.secretOf(h.webhook), "no refused rotation changed the secret")
}

// TestBatchItemsMatchKeysExactly checks that each item of a batch is held to the same rule
// on its own: a miscased or repeated key refuses that item, and the others are stored.
func TestBatchItemsMatchKeysExactly(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	rec := h.call(http.MethodPost, "/api/v1/events/batch", ingestToken, `{"events":[
		{"eventType":"a.b","data":{}},
		{"eventType":"a.b","data":{},"workflowID":"wf"},
		{"eventType":"a.b","eventType":"c.d","data":{}},
		{"EventType":"a.b","data":{}},
		{"eventType":"a.b","data":{"k":1,"k":2}}]}`)
	requireStatus(t, rec, http.StatusAccepted)
	var got batchResp
	decodeInto(t, rec, &got)
	require.Len(t, got.Results, 5)
	for i, want := range []struct{ code, field string }{{}, {"unknown_field", "workflowID"}, {"invalid_json", "eventType"}, {"unknown_field", "EventType"}, {}} {
		r := got.Results[i]
		if want.code == "" {
			assert.Nil(t, r.Error, "item %d", i)
			continue
		}
		if assert.NotNil(t, r.Error, "item %d", i) {
			assert.Equal(t, want.code, r.Error.Code, "item %d", i)
			assert.Equal(t, want.field, r.Error.Field, "item %d", i)
		}
	}
	h.unchanged(t, 2)
}

// TestEventDataIsKeptAsWritten shows the choice for the free-form data object: it is not
// decoded into a struct, so hookrelay does not judge its keys, and receivers get it as
// the sender wrote it, repeated keys and all.
func TestEventDataIsKeptAsWritten(t *testing.T) {
	t.Parallel()
	h := newHostile(t)
	rec := h.ingest(`{"eventType":"a.b","data":{"amount":1,"Amount":2,"amount":3,"nested":{"k":[],"k":{}}}}`)
	requireStatus(t, rec, http.StatusAccepted)
	rec = h.admin(http.MethodGet, "/api/v1/events/"+object(t, rec)["id"].(string), "")
	requireStatus(t, rec, http.StatusOK)
	assert.Contains(t, rec.Body.String(), `"data":{"amount":1,"Amount":2,"amount":3,"nested":{"k":[],"k":{}}}`)
}
