package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func rescueTests() []test {
	return []test{
		{"RecordAttemptsAfterLostLease", testRecordAttemptsAfterLostLease},
		{"RescueExpired", testRescueExpired},
		{"RescueFailsADeliveryWhoseLastAttemptWasLost", testRescueFailsADeliveryWhoseLastAttemptWasLost},
	}
}

// Leases here are expired (over at once) or held (see the package doc): the injected clock
// moves only to tell due times and stamps apart.

func testRecordAttemptsAfterLostLease(t *testing.T, h Harness) {
	t.Run("requeued and claimed again", func(t *testing.T) {
		t.Parallel()
		store, clock := open(t, h)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		old := claim(t, store, expired, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		clock.Add(time.Minute)
		require.Equal(t, 1, rescue(t, store, 7))
		cur := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		require.Equal(t, old.DeliveryID, cur.DeliveryID)

		// The old attempt finishes late: it happened, so it is recorded (replacing the
		// rescuer's lease_expired placeholder), but the current claim owns the state.
		record(t, store, db.AttemptResult{Claim: old, AttemptedAt: t0, StatusCode: 200, Next: db.StateSucceeded})
		d := dbtest.Delivery(t, store, old.DeliveryID)
		assert.Equal(t, db.StateDelivering, d.State)
		assert.Equal(t, 2, d.Attempts, "both claims counted")
		assert.Equal(t, db.ClassLeaseExpired, d.LastError, "as the rescuer left it")

		record(t, store, db.AttemptResult{Claim: cur, AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StatePending, NextAt: clock.Now().Add(time.Hour)})
		d = dbtest.Delivery(t, store, old.DeliveryID)
		assert.Equal(t, db.StatePending, d.State)
		assert.Equal(t, 2, d.Attempts)
		assert.Equal(t, 500, d.LastStatusCode)
		as := dbtest.Attempts(t, store, old.DeliveryID)
		require.Len(t, as, 2)
		assert.Equal(t, []int{1, 2}, []int{as[0].Number, as[1].Number})
		assert.Equal(t, []int{200, 500}, []int{as[0].StatusCode, as[1].StatusCode})
	})
	t.Run("both attempts in one batch", func(t *testing.T) {
		t.Parallel()
		store, clock := open(t, h)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		dbtest.Event(t, store, "a.b", 2)
		first := claim(t, store, expired, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
		require.Len(t, first, 2)
		old := first[0]
		clock.Add(time.Minute)
		require.Equal(t, 2, rescue(t, store, 7))
		again := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
		require.Len(t, again, 2)
		var cur db.Claim
		for _, c := range again {
			if c.DeliveryID == old.DeliveryID {
				cur = c
			}
		}
		require.NotEmpty(t, cur.DeliveryID)
		// The late old attempt and the current one come back in the same batch.
		require.NoError(t, store.RecordAttempts(t.Context(), []db.AttemptResult{
			{Claim: old, AttemptedAt: t0, StatusCode: 200, Next: db.StateSucceeded},
			{Claim: cur, AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StatePending, NextAt: clock.Now().Add(time.Hour)},
		}))
		d := dbtest.Delivery(t, store, old.DeliveryID)
		assert.Equal(t, db.StatePending, d.State, "the current claim owns the state")
		assert.Equal(t, 2, d.Attempts)
		as := dbtest.Attempts(t, store, old.DeliveryID)
		require.Len(t, as, 2)
		assert.Equal(t, []int{1, 2}, []int{as[0].Number, as[1].Number})
		assert.Equal(t, []int{200, 500}, []int{as[0].StatusCode, as[1].StatusCode})
	})
	t.Run("requeued, not yet claimed", func(t *testing.T) {
		t.Parallel()
		store, clock := open(t, h)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		old := claim(t, store, expired, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		clock.Add(2 * time.Minute)
		require.Equal(t, 1, rescue(t, store, 7))
		record(t, store, db.AttemptResult{Claim: old, AttemptedAt: t0, StatusCode: 500, Next: db.StateFailed})
		d := dbtest.Delivery(t, store, old.DeliveryID)
		assert.Equal(t, db.StatePending, d.State, "the rescued delivery is attempted again")
		assert.Equal(t, clock.Now(), d.NextAttemptAt)
		assert.Len(t, dbtest.Attempts(t, store, old.DeliveryID), 1)
	})
	t.Run("webhook deleted meanwhile", func(t *testing.T) {
		t.Parallel()
		store, _ := open(t, h)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		c := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		require.NoError(t, store.DeleteWebhook(t.Context(), wh.ID))
		record(t, store, db.AttemptResult{Claim: c, AttemptedAt: t0, StatusCode: 200, Next: db.StateSucceeded})
		_, err := store.FindDelivery(t.Context(), c.DeliveryID)
		assert.ErrorIs(t, err, db.ErrNotFound)
	})
}

func testRescueExpired(t *testing.T, h Harness) {
	store, clock := open(t, h)
	short := dbtest.Webhook(t, store, "https://short.test/hook")
	long := dbtest.Webhook(t, store, "https://long.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Event(t, store, "a.b", 2)
	kept := claim(t, store, held, db.ClaimRequest{WebhookID: long.ID, Limit: 2}).Claims
	require.Len(t, kept, 2)
	due := watchDue(store)

	assert.Zero(t, rescue(t, store, 7), "a lease is honoured until it runs out")
	assert.Empty(t, due.take())

	lost := claim(t, store, expired, db.ClaimRequest{WebhookID: short.ID, Limit: 2}).Claims
	require.Len(t, lost, 2)
	now := clock.Add(time.Minute)
	assert.Equal(t, 2, rescue(t, store, 7), "a lease that ran out is ended")
	assert.Equal(t, []string{short.ID}, due.take(), "each webhook announced once")
	for _, c := range lost {
		d := dbtest.Delivery(t, store, c.DeliveryID)
		assert.Equal(t, db.StatePending, d.State)
		assert.Equal(t, now, d.NextAttemptAt, "due at once")
		assert.Equal(t, 1, d.Attempts, "the lost attempt counts")
		assert.Equal(t, db.ClassLeaseExpired, d.LastError)
		as := dbtest.Attempts(t, store, c.DeliveryID)
		require.Len(t, as, 1, "the lost attempt is on record")
		assert.Equal(t, db.ClassLeaseExpired, as[0].ErrorClass)
		assert.Equal(t, t0, as[0].AttemptedAt, "when it was claimed")
	}
	assert.Equal(t, map[db.State]int{db.StateDelivering: 2}, statesOf(t, store, long.ID))
	assert.Zero(t, rescue(t, store, 7), "a rescued delivery is pending, not rescued again")

	again := claim(t, store, held, db.ClaimRequest{WebhookID: short.ID, Limit: 2}).Claims
	require.Len(t, again, 2)
	assert.ElementsMatch(t, []string{lost[0].DeliveryID, lost[1].DeliveryID}, []string{again[0].DeliveryID, again[1].DeliveryID})
	assert.Zero(t, rescue(t, store, 7), "nothing twice")
	assert.Empty(t, due.take())
}

// An attempt that never comes back still counts: the rescuer fails the delivery once its last
// attempt is lost, and queues its alert, instead of handing it out forever.
func testRescueFailsADeliveryWhoseLastAttemptWasLost(t *testing.T, h Harness) {
	ctx := t.Context()
	store, _ := open(t, h)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	const maxAttempts = 2
	lose := func(wantState db.State) db.Delivery {
		t.Helper()
		require.Len(t, claim(t, store, expired, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims, 1)
		require.Equal(t, 1, rescue(t, store, maxAttempts))
		d := dbtest.Deliveries(t, store, wh.ID)[0]
		require.Equal(t, wantState, d.State)
		return d
	}
	lose(db.StatePending)
	d := lose(db.StateFailed)
	assert.Equal(t, 2, d.Attempts)
	as := dbtest.Attempts(t, store, d.ID)
	require.Len(t, as, 2)
	assert.Equal(t, db.ClassLeaseExpired, as[1].ErrorClass)
	assert.Equal(t, 1, h.Count(t, store, "alert_failures"), "its alert is queued as for any failure")

	_, err := store.RetryDelivery(ctx, d.ID)
	require.NoError(t, err)
	d = lose(db.StateFailed)
	assert.Equal(t, 3, d.Attempts, "a lost manual retry fails at once")
	assert.Equal(t, 1, h.Count(t, store, "alert_failures"), "a manual retry raises no alert")
}
