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

func pruneTests() []test {
	return []test{
		{"PruneDeletesOldFinishedEventsOnly", testPruneDeletesOldFinishedEventsOnly},
		{"PruneWorksInBatches", testPruneWorksInBatches},
		{"PruneDeletesOldSentAlertsOnly", testPruneDeletesOldSentAlertsOnly},
		{"PruneForgetsOldIdempotencyKeys", testPruneForgetsOldIdempotencyKeys},
		{"PruneDeletesExpiredSessions", testPruneDeletesExpiredSessions},
		{"PruneWithZeroTimesDeletesNothing", testPruneWithZeroTimesDeletesNothing},
	}
}

const retention = 90 * 24 * time.Hour

func prune(t *testing.T, store Store, r db.PruneRequest) db.Pruned {
	t.Helper()
	got, err := store.PruneBatch(t.Context(), r)
	require.NoError(t, err)
	return got
}

func eventExists(t *testing.T, store Store, id string) bool {
	t.Helper()
	_, err := store.FindEvent(t.Context(), id)
	if err == nil {
		return true
	}
	require.ErrorIs(t, err, db.ErrNotFound)
	return false
}

// Only events past the retention whose every delivery is final go, with their deliveries
// and attempts: pending work and anything attempted since the cut stay.
func testPruneDeletesOldFinishedEventsOnly(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://a.test/", "order.*")
	succeeded := dbtest.Event(t, store, "order.paid", 1)
	dbtest.Succeed(t, store, wh.ID)
	failed := dbtest.Event(t, store, "order.paid", 2)
	dbtest.Fail(t, store, wh.ID, 500)
	retried := dbtest.Event(t, store, "order.paid", 3)
	dbtest.Fail(t, store, wh.ID, 500)
	unmatched := dbtest.Event(t, store, "user.created", 4) // no webhook: no deliveries
	pending := dbtest.Event(t, store, "order.paid", 5)

	clock.Add(retention + time.Hour)
	// Retried by hand long after: its newest attempt is recent, so it stays.
	d := dbtest.Deliveries(t, store, wh.ID)
	var retriedDelivery string
	for _, x := range d {
		if x.EventID == retried.EventID {
			retriedDelivery = x.ID
		}
	}
	_, err := store.RetryDelivery(t.Context(), retriedDelivery)
	require.NoError(t, err)
	dbtest.Fail(t, store, wh.ID, 500)
	recent := dbtest.Event(t, store, "order.paid", 6)

	got := prune(t, store, db.PruneRequest{Before: clock.Now().Add(-retention), Batch: 100})
	assert.Equal(t, map[string]int{"events": 3, "deliveries": 2, "attempts": 2}, nonZero(got.Deleted))
	assert.False(t, got.More)
	for id, want := range map[string]bool{succeeded.EventID: false, failed.EventID: false, unmatched.EventID: false,
		retried.EventID: true, pending.EventID: true, recent.EventID: true} {
		assert.Equal(t, want, eventExists(t, store, id), id)
	}
	assert.Len(t, dbtest.Deliveries(t, store, wh.ID), 3)
	assert.Equal(t, db.Pruned{Deleted: map[string]int{}}, withoutZero(prune(t, store, db.PruneRequest{Before: clock.Now().Add(-retention), Batch: 100})),
		"nothing more to do")
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func withoutZero(p db.Pruned) db.Pruned {
	p.Deleted = nonZero(p.Deleted)
	return p
}

func testPruneWorksInBatches(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ingestMany(t, store, 7) // no webhook: old events without deliveries
	clock.Add(time.Hour)
	r := db.PruneRequest{Before: clock.Now(), Batch: 3}
	var counts []int
	for {
		got := prune(t, store, r)
		counts = append(counts, got.Deleted["events"])
		if !got.More {
			break
		}
		require.Less(t, len(counts), 10)
	}
	assert.Equal(t, []int{3, 3, 1}, counts)
}

// Sent alerts past the retention go with the failures they reported; an unsent one stays,
// however old: its email is still owed.
func testPruneDeletesOldSentAlertsOnly(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/", "a")
	b := dbtest.Webhook(t, store, "https://b.test/", "b")
	dbtest.Event(t, store, "a", 1)
	dbtest.Fail(t, store, a.ID, 500)
	dbtest.Event(t, store, "b", 2)
	dbtest.Fail(t, store, b.ID, 500)
	raised := fold(t, store).Raised
	require.Len(t, raised, 2)
	sent, unsent := raised[0], raised[1]
	require.NoError(t, store.RecordAlertSend(ctx, db.AlertSend{AlertID: sent, Recipients: []string{"ops@x.test"}}))
	require.NoError(t, store.RecordAlertSend(ctx, db.AlertSend{AlertID: unsent, Err: "421", RetryIn: time.Hour}))

	clock.Add(retention + time.Hour)
	got := prune(t, store, db.PruneRequest{Before: clock.Now().Add(-retention), Batch: 100})
	assert.Equal(t, 1, got.Deleted["alerts"])
	assert.Equal(t, 1, got.Deleted["alert_failures"])
	_, err := store.FindAlert(ctx, sent)
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = store.FindAlert(ctx, unsent)
	assert.NoError(t, err)
}

// After the TTL a key is forgotten (its event stays) and may be used again.
func testPruneForgetsOldIdempotencyKeys(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	ingest := func(key string) db.IngestResult {
		res, err := store.CreateEvents(ctx, []db.NewEvent{{Type: "a.b", Data: json.RawMessage(`{}`), IdempotencyKey: key}})
		require.NoError(t, err)
		return res[0]
	}
	old := ingest("order-1")
	clock.Add(25 * time.Hour)
	fresh := ingest("order-2")
	assert.True(t, ingest("order-1").Duplicate, "within the TTL, before pruning")

	got := prune(t, store, db.PruneRequest{IdempotencyBefore: clock.Now().Add(-24 * time.Hour), Batch: 100})
	assert.Equal(t, 1, got.KeysForgotten)
	assert.True(t, eventExists(t, store, old.EventID), "the event stays")
	again := ingest("order-1")
	assert.False(t, again.Duplicate, "a forgotten key makes a new event")
	assert.NotEqual(t, old.EventID, again.EventID)
	assert.True(t, ingest("order-2").Duplicate, "a key within the TTL is kept")
	assert.Equal(t, fresh.EventID, ingest("order-2").EventID)
}

func testPruneDeletesExpiredSessions(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	u, err := store.CreateUser(ctx, "a@x.test", "hash")
	require.NoError(t, err)
	stale, err := store.CreateSession(ctx, u.ID, "", time.Time{})
	require.NoError(t, err)
	clock.Add(13 * time.Hour)
	live, err := store.CreateSession(ctx, u.ID, "", time.Time{})
	require.NoError(t, err)

	got := prune(t, store, db.PruneRequest{SessionsBefore: clock.Now().Add(-12 * time.Hour), Batch: 100})
	assert.Equal(t, 1, got.Deleted["sessions"])
	_, err = store.FindSession(ctx, stale.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = store.FindSession(ctx, live.ID)
	assert.NoError(t, err)
}

func testPruneWithZeroTimesDeletesNothing(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ingestMany(t, store, 3)
	clock.Add(10 * retention)
	got := prune(t, store, db.PruneRequest{})
	assert.Equal(t, db.Pruned{Deleted: map[string]int{}}, withoutZero(got))
	assert.Equal(t, 3, h.Count(t, store, "events"))
}
