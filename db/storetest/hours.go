package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// Issue 12 item 10: the counts the charts draw, kept as attempts are recorded.
func hoursTests() []test {
	return []test{{"AttemptsByHour", testAttemptsByHour}}
}

func testAttemptsByHour(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook")
	b := dbtest.Webhook(t, store, "https://b.test/hook")
	for i := range 5 {
		dbtest.Event(t, store, "a.b", i)
	}
	start := clock.Now().Truncate(time.Hour)
	dbtest.Succeed(t, store, a.ID)
	dbtest.Fail(t, store, a.ID, 503)
	dbtest.Succeed(t, store, b.ID)
	clock.Add(time.Hour)
	dbtest.Attempt(t, store, a.ID, db.AttemptResult{StatusCode: 500, Next: db.StatePending, NextAt: store.Now()})
	dbtest.Fail(t, store, a.ID, 500)
	dbtest.Succeed(t, store, b.ID)

	got, err := store.AttemptsByHour(ctx, a.ID, start)
	require.NoError(t, err)
	assert.Equal(t, []db.HourCount{
		{WebhookID: a.ID, Hour: start, Succeeded: 1, Failed: 1},
		{WebhookID: a.ID, Hour: start.Add(time.Hour), Failed: 2},
	}, got, "every attempt, retries included")
	all, err := store.AttemptsByHour(ctx, "", start)
	require.NoError(t, err)
	assert.Equal(t, []db.HourCount{{Hour: start, Succeeded: 2, Failed: 1}, {Hour: start.Add(time.Hour), Succeeded: 1, Failed: 2}}, all)
	later, err := store.AttemptsByHour(ctx, "", start.Add(time.Hour+time.Minute))
	require.NoError(t, err)
	assert.Len(t, later, 1, "from since's hour on")

	require.NoError(t, store.DeleteWebhook(ctx, b.ID))
	all, err = store.AttemptsByHour(ctx, "", start)
	require.NoError(t, err)
	assert.Equal(t, 1, all[0].Succeeded, "a deleted webhook's counts go with it")
}
