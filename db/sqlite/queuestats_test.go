package sqlite_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

func TestQueueStatsCountsStatesAndTheOldestDue(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
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
	claims := claim(t, store, time.Hour, db.ClaimRequest{WebhookID: wh.ID, Limit: 3}).Claims
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
	claims = claim(t, store, time.Hour, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
	require.Len(t, claims, 2)
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

// TestQueueStatsReadsOnlyIndexes keeps the gauges' query cheap at any table size: every step
// that touches deliveries goes through an index of the rows it counts.
func TestQueueStatsReadsOnlyIndexes(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	plan, err := store.QueryPlanForTest(t.Context(), sqlite.QueueStatsQuery, 0)
	require.NoError(t, err)
	var deliverySteps int
	for _, step := range plan {
		if !strings.Contains(step, "deliveries") && !strings.Contains(step, " d ") {
			continue
		}
		deliverySteps++
		assert.Contains(t, step, "USING COVERING INDEX", "a step reads the deliveries table itself: %q", step)
	}
	assert.Equal(t, 5, deliverySteps, "plan: %q", plan)
}

func TestClaimCarriesWhenTheDeliveryWasCreated(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	clock.Add(1500 * time.Millisecond)
	c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	assert.Equal(t, t0, c.CreatedAt)

	// A retry's claim still carries the creation time, not the retry's.
	record(t, store, db.AttemptResult{Claim: c, AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StatePending, NextAt: clock.Now()})
	clock.Add(time.Second)
	c = claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	assert.Equal(t, 1, c.Attempts)
	assert.Equal(t, t0, c.CreatedAt)
}
