package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// Issue 12 item 5: POST /api/v1/deliveries/recover.
func TestRecoverDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.createWebhook("https://a.test/hook", true, "order.*")
	b := e.createWebhook("https://b.test/hook", true, "invoice.*")
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	for i := range 2 {
		dbtest.Event(t, e.store, "order.paid", i)
		dbtest.Fail(t, e.store, a, 503)
	}
	dbtest.Event(t, e.store, "invoice.paid", 1)
	dbtest.Fail(t, e.store, b, 500)
	operator := e.apiKey("ops", db.RoleOperator)

	rec := e.call(http.MethodPost, "/api/v1/deliveries/recover", operator, `{"since":"`+since+`","webhookId":"`+a+`"}`)
	requireStatus(t, rec, http.StatusAccepted)
	assert.JSONEq(t, `{"retried":2}`, rec.Body.String())
	for _, d := range e.deliveriesOf(a) {
		assert.Equal(t, db.StatePending, d.State, "queued at once")
	}
	rec = e.call(http.MethodPost, "/api/v1/deliveries/recover", operator,
		`{"since":"`+since+`","until":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`","eventType":"invoice.paid"}`)
	requireStatus(t, rec, http.StatusAccepted)
	assert.JSONEq(t, `{"retried":1}`, rec.Body.String())
	rec = e.admin(http.MethodPost, "/api/v1/deliveries/recover", `{"since":"`+since+`"}`)
	requireStatus(t, rec, http.StatusAccepted)
	assert.JSONEq(t, `{"retried":0}`, rec.Body.String(), "nothing failed is left")

	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{Action: db.AuditDeliveryRecover})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, a, recs[2].Target.ID)
	assert.Contains(t, recs[2].Summary, "2 failed deliveries retried, created from ")

	for _, c := range []struct{ body, field string }{
		{`{}`, "since"},
		{`{"since":"yesterday"}`, "since"},
		{`{"since":"` + since + `","until":"2000-01-01T00:00:00Z"}`, "until"},
		{`{"since":"` + since + `","webhookId":"whk_missing"}`, "webhookId"},
		{`{"since":"` + since + `","eventType":""}`, "eventType"},
	} {
		assertError(t, e.admin(http.MethodPost, "/api/v1/deliveries/recover", c.body), http.StatusBadRequest, "invalid_value", c.field)
	}
	viewer := e.apiKey("viewer", db.RoleViewer)
	assert.Equal(t, http.StatusForbidden, e.call(http.MethodPost, "/api/v1/deliveries/recover", viewer, `{"since":"`+since+`"}`).Code)
}
