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
	return []test{{"AttemptsByHour", testAttemptsByHour}, {"AttemptsByDaySurvivePruning", testAttemptsByDaySurvivePruning}}
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

// Issue 14: the pruner rolls the hourly counts of the days before the retention's cut up into
// daily ones, in batches, and the daily view is the same before and after; the hours of the
// cut's own day stay hourly.
func testAttemptsByDaySurvivePruning(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/hook")
	b := dbtest.Webhook(t, store, "https://b.test/hook")
	day := db.DayStart(clock.Now())
	clock.Add(day.Add(22 * time.Hour).Sub(clock.Now())) // 22:00 on the first day
	for i := range 6 {
		dbtest.Event(t, store, "a.b", i)
	}
	dbtest.Succeed(t, store, a.ID)
	dbtest.Fail(t, store, a.ID, 503)
	dbtest.Succeed(t, store, b.ID)
	clock.Add(time.Hour) // 23:00
	dbtest.Succeed(t, store, a.ID)
	clock.Add(2 * time.Hour) // 01:00 on the next day
	dbtest.Fail(t, store, a.ID, 500)
	dbtest.Succeed(t, store, b.ID)

	want := []db.DayCount{{WebhookID: a.ID, Day: day, Succeeded: 2, Failed: 1}, {WebhookID: a.ID, Day: day.AddDate(0, 0, 1), Failed: 1}}
	got, err := store.AttemptsByDay(ctx, a.ID, day)
	require.NoError(t, err)
	require.Equal(t, want, got)
	all, err := store.AttemptsByDay(ctx, "", day.Add(time.Hour))
	require.NoError(t, err)
	wantAll := []db.DayCount{{Day: day, Succeeded: 3, Failed: 1}, {Day: day.AddDate(0, 0, 1), Succeeded: 1, Failed: 1}}
	require.Equal(t, wantAll, all, "from since's day on, every webhook")

	// The cut falls on the second day: the first day's three hourly rows roll up, one per
	// batch; the second day's stay hourly.
	r := db.PruneRequest{Before: day.AddDate(0, 0, 1).Add(12 * time.Hour), Batch: 1}
	rolled := 0
	for range 10 {
		p := prune(t, store, r)
		rolled += p.HoursRolledUp
		if !p.More {
			break
		}
	}
	assert.Equal(t, 3, rolled)
	hours, err := store.AttemptsByHour(ctx, "", day)
	require.NoError(t, err)
	assert.Equal(t, []db.HourCount{{Hour: day.Add(25 * time.Hour), Succeeded: 1, Failed: 1}}, hours, "only the cut's day is hourly")
	got, err = store.AttemptsByDay(ctx, a.ID, day)
	require.NoError(t, err)
	assert.Equal(t, want, got, "the days read the same after the roll-up")
	all, err = store.AttemptsByDay(ctx, "", day)
	require.NoError(t, err)
	assert.Equal(t, wantAll, all)

	// Attempts recorded in a rolled-up day's hours later (a clock set back) are added, not lost.
	dbtest.Event(t, store, "a.b", 7)
	clock.Add(-3 * time.Hour) // 22:00 on the first day again
	dbtest.Succeed(t, store, a.ID)
	prune(t, store, db.PruneRequest{Before: r.Before, Batch: 10})
	got, err = store.AttemptsByDay(ctx, a.ID, day)
	require.NoError(t, err)
	assert.Equal(t, 3, got[0].Succeeded)

	require.NoError(t, store.DeleteWebhook(ctx, b.ID))
	all, err = store.AttemptsByDay(ctx, "", day)
	require.NoError(t, err)
	assert.Equal(t, 3, all[0].Succeeded, "a deleted webhook's days go with it")
}
