package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// The queue's figures for the gauges and /readyz (issue 14), and what a claim tells of its
// delivery's age.

func testQueueStats(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()

	q, err := store.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, db.QueueStats{At: t0}, q, "an empty queue")
	assert.Zero(t, q.OldestDueAge())

	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	off := dbtest.Webhook(t, store, "https://off.test/hook")
	for i := range 5 {
		dbtest.Event(t, store, "a.b", i) // at t0: one delivery per webhook each
	}
	_, err = store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)

	clock.Add(time.Minute)
	claims := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 3}).Claims
	require.Len(t, claims, 3)
	record(t, store,
		db.AttemptResult{Claim: claims[0], AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StateFailed},
		db.AttemptResult{Claim: claims[1], AttemptedAt: clock.Now(), StatusCode: 503, Next: db.StatePending,
			NextAt: clock.Now().Add(time.Hour)})
	// Now wh has: one failed, one pending due in an hour, one delivering, two pending due
	// since t0; off has five pending due since t0, held while it is disabled.
	clock.Add(30 * time.Second)
	q, err = store.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, db.QueueStats{Pending: 8, Due: 2, Delivering: 1, Failed: 1, OldestDue: t0, At: t0.Add(90 * time.Second)}, q)
	assert.Equal(t, 90*time.Second, q.OldestDueAge())

	// With the due ones claimed, the oldest pending is due in the future: nothing is late.
	require.Len(t, claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims, 2)
	q, err = store.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, q.Due)
	assert.Equal(t, 3, q.Delivering)
	assert.Equal(t, 6, q.Pending)
	assert.Equal(t, t0.Add(time.Minute+time.Hour), q.OldestDue)
	assert.Zero(t, q.OldestDueAge())

	// Enabling the held webhook makes its deliveries due, and late since t0.
	_, err = store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	q, err = store.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, q.Due)
	assert.Equal(t, 90*time.Second, q.OldestDueAge())
}

func testClaimCarriesWhenTheDeliveryWasCreated(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	clock.Add(1500 * time.Millisecond)
	c := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	assert.Equal(t, t0, c.CreatedAt)

	// A retry's claim still carries the creation time, not the retry's.
	record(t, store, db.AttemptResult{Claim: c, AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StatePending, NextAt: clock.Now()})
	clock.Add(time.Second)
	c = claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	assert.Equal(t, 1, c.Attempts)
	assert.Equal(t, t0, c.CreatedAt)
}
