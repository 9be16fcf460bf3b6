package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// Issue 12 item 6: a stored event sent again, with its own id and body.
func replayTests() []test {
	return []test{
		{"ReplayToMatchingWebhooksNow", testReplayToMatchingWebhooksNow},
		{"ReplayToListedWebhooks", testReplayToListedWebhooks},
	}
}

func testReplayToMatchingWebhooksNow(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook", "order.*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "invoice.*")
	off := dbtest.Webhook(t, store, "https://off.test/hook", "*")
	_, err := store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)
	ev := dbtest.Event(t, store, "order.paid", 1)
	first := dbtest.Succeed(t, store, a.ID)

	// b subscribes after the event: a replay of all goes to whoever matches now.
	_, err = store.UpdateWebhook(ctx, b.ID, db.WebhookUpdate{EventTypes: []string{"order.paid"}})
	require.NoError(t, err)
	got, err := store.ReplayEvent(ctx, ev.EventID, nil)
	require.NoError(t, err)
	require.Len(t, got, 2, "enabled and matching: a and b, not the disabled one")
	byHook := map[string]string{}
	for _, r := range got {
		byHook[r.WebhookID] = r.DeliveryID
	}
	assert.Contains(t, byHook, a.ID)
	assert.Contains(t, byHook, b.ID)
	for _, r := range got {
		d, err := store.FindDelivery(ctx, r.DeliveryID)
		require.NoError(t, err)
		assert.Equal(t, db.StatePending, d.State)
		assert.Equal(t, ev.EventID, d.EventID, "the same event")
		assert.Zero(t, d.Attempts)
	}
	due, err := store.DueWebhooks(ctx)
	require.NoError(t, err)
	assert.Contains(t, due, b.ID)

	c := dbtest.Attempt(t, store, a.ID, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
	assert.Equal(t, byHook[a.ID], c.DeliveryID, "the replayed delivery is due at once")
	assert.Equal(t, ev.EventID, c.EventID, "receivers see the same webhook-id")
	assert.Equal(t, first.Body, c.Body, "and the same body")
	assert.Equal(t, "order.paid", c.EventType)

	_, err = store.ReplayEvent(ctx, "evt_missing", nil)
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testReplayToListedWebhooks(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook", "order.*")
	other := dbtest.Webhook(t, store, "https://other.test/hook", "invoice.*")
	ev := dbtest.Event(t, store, "order.paid", 1)
	got, err := store.ReplayEvent(ctx, ev.EventID, []string{other.ID})
	require.NoError(t, err)
	require.Len(t, got, 1, "listed: whatever its filter")
	assert.Equal(t, other.ID, got[0].WebhookID)
	assert.Len(t, dbtest.Deliveries(t, store, a.ID), 1, "a is not listed: nothing new")
	assert.Len(t, dbtest.Deliveries(t, store, other.ID), 1)

	_, err = store.ReplayEvent(ctx, ev.EventID, []string{a.ID, "whk_missing"})
	assert.ErrorIs(t, err, db.ErrNotFound)
	assert.Len(t, dbtest.Deliveries(t, store, a.ID), 1, "all or nothing")
}
