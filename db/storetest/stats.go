package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func statsTests() []test {
	return []test{
		{"DeliveryCountsAndWebhookStats", testDeliveryCountsAndWebhookStats},
		{"ListFailingWebhooks", testListFailingWebhooks},
		{"QueueStats", testQueueStats},
	}
}

func lifecycleTests() []test {
	return []test{
		{"Ping", testPing},
		{"CallsAfterCloseFail", testCallsAfterCloseFail},
	}
}

func testDeliveryCountsAndWebhookStats(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook", "*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
	idle := dbtest.Webhook(t, store, "https://idle.test/hook", "never.*")
	dbtest.Event(t, store, "a.x", 0) // a's only delivery from before since
	since := clock.Add(time.Hour)
	for i := range 4 {
		dbtest.Event(t, store, "b.x", i)
	}
	dbtest.Fail(t, store, a.ID, 503) // the old one
	clock.Add(time.Minute)
	dbtest.Succeed(t, store, a.ID)
	aLast := clock.Add(time.Minute)
	dbtest.Fail(t, store, a.ID, 503)
	bLast := clock.Add(time.Minute)
	dbtest.Succeed(t, store, b.ID)
	require.Len(t, claim(t, store, held, db.ClaimRequest{WebhookID: b.ID, Limit: 1}).Claims, 1)

	counts := func(webhookID string, since time.Time) db.DeliveryCounts {
		t.Helper()
		c, err := store.CountDeliveries(ctx, webhookID, since)
		require.NoError(t, err)
		return c
	}
	assert.Equal(t, db.DeliveryCounts{db.StateSucceeded: 2, db.StateFailed: 1, db.StatePending: 4, db.StateDelivering: 1},
		counts("", since), "every webhook's deliveries created since")
	assert.Equal(t, db.DeliveryCounts{db.StateSucceeded: 1, db.StateFailed: 1, db.StatePending: 2}, counts(a.ID, since))
	assert.Equal(t, db.DeliveryCounts{db.StateSucceeded: 1, db.StateFailed: 2, db.StatePending: 2}, counts(a.ID, t0), "at the instant counts")
	assert.Zero(t, counts(a.ID, bLast.Add(time.Millisecond)).Total())
	assert.Zero(t, counts("whk_nope", t0).Total())

	failed := func(webhookID string) int {
		t.Helper()
		n, err := store.CountFailed(ctx, webhookID)
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, 2, failed(a.ID), "whatever their age")
	assert.Zero(t, failed(b.ID))

	stats, err := store.ListWebhookStats(ctx, since)
	require.NoError(t, err)
	assert.Equal(t, map[string]db.WebhookStats{
		a.ID:    {Succeeded: 1, Failed: 1, LastAttemptAt: aLast},
		b.ID:    {Succeeded: 1, LastAttemptAt: bLast},
		idle.ID: {},
	}, stats, "finished deliveries created since, and the latest attempt ever")
	stats, err = store.ListWebhookStats(ctx, t0)
	require.NoError(t, err)
	assert.Equal(t, db.WebhookStats{Succeeded: 1, Failed: 2, LastAttemptAt: aLast}, stats[a.ID])
}

func testListFailingWebhooks(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook")
	b := dbtest.Webhook(t, store, "https://b.test/hook")
	dbtest.Webhook(t, store, "https://idle.test/hook", "never.*")
	for i := range 3 {
		dbtest.Event(t, store, "x.y", i)
	}
	failing := func() []db.FailingWebhook {
		t.Helper()
		out, err := store.ListFailingWebhooks(ctx)
		require.NoError(t, err)
		return out
	}
	assert.Empty(t, failing(), "no attempt yet")

	dbtest.Succeed(t, store, b.ID)
	aAt := clock.Add(time.Minute)
	c := dbtest.Attempt(t, store, a.ID, db.AttemptResult{StatusCode: 503, Next: db.StatePending, NextAt: aAt.Add(time.Hour)})
	got := failing()
	require.Len(t, got, 1, "a success is not failing")
	assert.Equal(t, a.ID, got[0].Webhook.ID)
	assert.Equal(t, a.URL, got[0].Webhook.URL)
	assert.Equal(t, c.DeliveryID, got[0].DeliveryID)
	assert.Equal(t, "HTTP 503", got[0].LastError)
	assert.Equal(t, 503, got[0].LastStatusCode)
	assert.Equal(t, aAt, got[0].LastAttemptAt)

	bAt := clock.Add(time.Minute)
	dbtest.Attempt(t, store, b.ID, db.AttemptResult{ErrorClass: "timeout", ErrorMessage: "no answer", Next: db.StateFailed})
	got = failing()
	require.Len(t, got, 2)
	assert.Equal(t, []string{b.ID, a.ID}, []string{got[0].Webhook.ID, got[1].Webhook.ID}, "most recent first")
	assert.Equal(t, "timeout", got[0].LastError)
	assert.Zero(t, got[0].LastStatusCode)
	assert.Equal(t, bAt, got[0].LastAttemptAt)

	clock.Add(time.Minute)
	dbtest.Succeed(t, store, a.ID)
	got = failing()
	require.Len(t, got, 1, "the latest attempt decides")
	assert.Equal(t, b.ID, got[0].Webhook.ID)
}

func testPing(t *testing.T, h Harness) {
	store, _ := open(t, h)
	require.NoError(t, store.Ping(t.Context()))
}

func testCallsAfterCloseFail(t *testing.T, h Harness) {
	store, _ := open(t, h)
	require.NoError(t, store.Close())
	require.NoError(t, store.Close(), "Close is idempotent")
	_, err := store.CreateEvents(t.Context(), []db.NewEvent{{Type: "a.b", Data: []byte(`{}`)}})
	assert.ErrorIs(t, err, db.ErrClosed)
	assert.True(t, db.Unavailable(err))
	// Reads too: a handler answers 503, not 500, while the store shuts down.
	_, err = store.ListWebhooks(t.Context())
	assert.ErrorIs(t, err, db.ErrClosed, "a read after Close")
	_, _, err = store.ListDeliveries(t.Context(), db.DeliveryFilter{})
	assert.ErrorIs(t, err, db.ErrClosed, "a list after Close")
	_, err = store.FindWebhook(t.Context(), "whk_x")
	assert.ErrorIs(t, err, db.ErrClosed, "a find after Close")
}
