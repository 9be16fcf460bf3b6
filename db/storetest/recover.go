package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// Issue 12 item 5: recover the failed deliveries of a time range.
func recoverTests() []test {
	return []test{
		{"RecoverFailedInARange", testRecoverFailedInARange},
		{"RecoverWorksInBatches", testRecoverWorksInBatches},
	}
}

// failAll ingests n events of typ and fails every delivery of webhookID they made.
func failAll(t *testing.T, store Store, webhookID, typ string, n int) {
	t.Helper()
	ctx := t.Context()
	evs := make([]db.NewEvent, n)
	for i := range evs {
		data, _ := json.Marshal(map[string]int{"n": i})
		evs[i] = db.NewEvent{Type: typ, Data: data}
	}
	_, err := store.CreateEvents(ctx, evs)
	require.NoError(t, err)
	claimed, err := store.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: webhookID, Limit: n}}, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed.Claims, n)
	results := make([]db.AttemptResult, n)
	for i, c := range claimed.Claims {
		results[i] = db.AttemptResult{Claim: c, AttemptedAt: store.Now(), StatusCode: 503, Next: db.StateFailed}
	}
	require.NoError(t, store.RecordAttempts(ctx, results))
}

func testRecoverFailedInARange(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook", "order.*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "invoice.*")
	off := dbtest.Webhook(t, store, "https://off.test/hook", "off.*")
	failAll(t, store, a.ID, "order.paid", 2) // before the outage
	start := clock.Add(time.Hour)
	failAll(t, store, a.ID, "order.paid", 3)
	failAll(t, store, a.ID, "order.shipped", 1)
	failAll(t, store, b.ID, "invoice.paid", 2)
	failAll(t, store, off.ID, "off.x", 1)
	_, err := store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)
	end := clock.Add(time.Hour)
	failAll(t, store, a.ID, "order.paid", 1) // after it

	for f, want := range map[db.RecoverFilter]int{
		{Since: start, Until: end, WebhookID: a.ID, EventType: "order.paid"}: 3,
		{Since: start, Until: end}:         6,
		{Since: start}:                     7,
		{Since: end.Add(time.Millisecond)}: 0,
	} {
		n, err := store.CountRecoverable(ctx, f)
		require.NoError(t, err)
		assert.Equal(t, want, n, "%+v", f)
	}
	n, err := store.RecoverFailed(ctx, db.RecoverFilter{Since: start, Until: end, WebhookID: a.ID, EventType: "order.paid"})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "a's order.paid failures of the range")
	n, err = store.RecoverFailed(ctx, db.RecoverFilter{Since: start, Until: end})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the rest of the range: a's order.shipped and b's two; not the disabled webhook's")

	pending := allDeliveries(t, store, db.DeliveryFilter{State: db.StatePending})
	assert.Len(t, pending, 6)
	for _, d := range pending {
		assert.False(t, d.CreatedAt.Before(start), "created in the range")
		assert.True(t, d.CreatedAt.Before(end))
	}
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: off.ID, State: db.StateFailed}), 1)
	due, err := store.DueWebhooks(ctx)
	require.NoError(t, err)
	assert.Contains(t, due, a.ID)
	assert.Contains(t, due, b.ID)
	c := dbtest.Attempt(t, store, b.ID, db.AttemptResult{StatusCode: 500, Next: db.StateFailed})
	assert.True(t, c.Manual, "one manual attempt: a failure leaves it failed")

	n, err = store.RecoverFailed(ctx, db.RecoverFilter{Since: start})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "no until: up to now; the one b just failed again, and the one after the range")
}

func testRecoverWorksInBatches(t *testing.T, h Harness) {
	store, _ := open(t, h)
	a := dbtest.Webhook(t, store, "https://a.test/hook")
	failAll(t, store, a.ID, "order.paid", db.RecoverBatch+7)
	n, err := store.RecoverFailed(t.Context(), db.RecoverFilter{Since: t0})
	require.NoError(t, err)
	assert.Equal(t, db.RecoverBatch+7, n)
	assert.Empty(t, allDeliveries(t, store, db.DeliveryFilter{State: db.StateFailed}))
}
