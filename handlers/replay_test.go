package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

type replayResp struct {
	Deliveries []struct {
		ID        string `json:"id"`
		WebhookID string `json:"webhookId"`
	} `json:"deliveries"`
}

// Issue 12 item 6: POST /api/v1/events/{id}/replay.
func TestReplayEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.createWebhook("https://a.test/hook", true, "order.*")
	ev := dbtest.Event(t, e.store, "order.paid", 1)
	late := e.createWebhook("https://late.test/hook", true, "order.paid")
	other := e.createWebhook("https://other.test/hook", true, "invoice.*")
	operator := e.apiKey("ops", db.RoleOperator)

	// No body: every enabled webhook that matches now, the late one included.
	rec := e.call(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", operator, "")
	requireStatus(t, rec, http.StatusAccepted)
	var got replayResp
	decodeInto(t, rec, &got)
	hooks := map[string]string{}
	for _, d := range got.Deliveries {
		hooks[d.WebhookID] = d.ID
	}
	assert.Len(t, hooks, 2)
	assert.Contains(t, hooks, a)
	assert.Contains(t, hooks, late)
	for _, d := range got.Deliveries {
		stored, err := e.store.FindDelivery(t.Context(), d.ID)
		require.NoError(t, err)
		assert.Equal(t, ev.EventID, stored.EventID, "the same event id: receivers de-duplicate on it")
		assert.Equal(t, db.StatePending, stored.State)
	}

	// Listed: those webhooks, whatever their filter.
	rec = e.call(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", operator, `{"webhookIds":["`+other+`"]}`)
	requireStatus(t, rec, http.StatusAccepted)
	got = replayResp{}
	decodeInto(t, rec, &got)
	require.Len(t, got.Deliveries, 1)
	assert.Equal(t, other, got.Deliveries[0].WebhookID)

	// An empty list is "all matching", like no body.
	rec = e.admin(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", `{"webhookIds":[]}`)
	requireStatus(t, rec, http.StatusAccepted)
	decodeInto(t, rec, &got)
	assert.Len(t, got.Deliveries, 2)

	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{TargetID: ev.EventID, Action: db.AuditEventReplay})
	require.NoError(t, err)
	require.Len(t, recs, 3, "every replay is audited")
	assert.Equal(t, "replayed to the listed webhooks: 1 delivery ("+other+")", recs[1].Summary)
	assert.Equal(t, "ops", recs[2].Actor.Name)

	before := len(e.deliveriesOf(a))
	assertError(t, e.admin(http.MethodPost, "/api/v1/events/evt_missing/replay", ""), http.StatusNotFound, "not_found", "")
	assertError(t, e.admin(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", `{"webhookIds":["`+a+`","whk_missing"]}`),
		http.StatusBadRequest, "invalid_value", "webhookIds")
	assertError(t, e.admin(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", `{"webhookIds":["`+a+`","`+a+`"]}`),
		http.StatusBadRequest, "invalid_value", "webhookIds")
	assertError(t, e.admin(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", `{"webhookIds":["dlv_x"]}`),
		http.StatusBadRequest, "invalid_value", "webhookIds")
	many := `{"webhookIds":["whk_` + strings.Repeat(`a","whk_`, 100) + `b"]}`
	assertError(t, e.admin(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", many),
		http.StatusBadRequest, "invalid_value", "webhookIds")
	assertError(t, e.admin(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", `{"webhooks":[]}`),
		http.StatusBadRequest, "unknown_field", "webhooks")
	assert.Len(t, e.deliveriesOf(a), before, "a refused replay creates nothing")

	viewer := e.apiKey("viewer", db.RoleViewer)
	assert.Equal(t, http.StatusForbidden, e.call(http.MethodPost, "/api/v1/events/"+ev.EventID+"/replay", viewer, "").Code)
}
