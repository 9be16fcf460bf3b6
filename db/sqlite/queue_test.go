package sqlite_test

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// dueLog records OnDue notifications.
type dueLog struct {
	mu  sync.Mutex
	ids []string
}

func watchDue(store *sqlite.DB) *dueLog {
	l := &dueLog{}
	store.OnDue(func(ids []string) {
		l.mu.Lock()
		l.ids = append(l.ids, ids...)
		l.mu.Unlock()
	})
	return l
}

func (l *dueLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ids
	l.ids = nil
	return out
}

func claim(t *testing.T, store *sqlite.DB, lease time.Duration, reqs ...db.ClaimRequest) db.Claimed {
	t.Helper()
	c, err := store.ClaimDue(t.Context(), reqs, lease)
	require.NoError(t, err)
	return c
}

func record(t *testing.T, store *sqlite.DB, results ...db.AttemptResult) {
	t.Helper()
	require.NoError(t, store.RecordAttempts(t.Context(), results))
}

func statesOf(t *testing.T, store *sqlite.DB, webhookID string) map[db.State]int {
	t.Helper()
	out := map[db.State]int{}
	for _, d := range allDeliveries(t, store, db.DeliveryFilter{WebhookID: webhookID}) {
		out[d.State]++
	}
	return out
}

func TestClaimDueLeasesPerWebhook(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://wh.test/hook", "*")
	other := dbtest.Webhook(t, store, "https://other.test/hook", "*")
	off := dbtest.Webhook(t, store, "https://off.test/hook", "*")
	idle := dbtest.Webhook(t, store, "https://idle.test/hook", "never.*")
	var events []db.IngestResult
	for i := range 5 {
		events = append(events, dbtest.Event(t, store, "a.b", i))
	}
	_, err := store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)

	got := claim(t, store, time.Minute,
		db.ClaimRequest{WebhookID: wh.ID, Limit: 2},
		db.ClaimRequest{WebhookID: off.ID, Limit: 5},
		db.ClaimRequest{WebhookID: idle.ID, Limit: 5},
		db.ClaimRequest{WebhookID: other.ID, Limit: 0}, // asks only when work is due
		db.ClaimRequest{WebhookID: "whk_gone", Limit: 5},
	)
	require.Len(t, got.Claims, 2, "the per-webhook limit holds, and a disabled webhook gets nothing")
	for i, c := range got.Claims {
		ev, err := store.FindEvent(ctx, events[i].EventID)
		require.NoError(t, err)
		assert.Equal(t, wh.ID, c.WebhookID)
		assert.Equal(t, "https://wh.test/hook", c.URL)
		assert.Equal(t, []string{dbtest.Secret}, c.Secrets)
		assert.Equal(t, events[i].EventID, c.EventID, "oldest due first")
		assert.Equal(t, "a.b", c.EventType)
		assert.Equal(t, ev.Body, c.Body)
		assert.Zero(t, c.Attempts)
		assert.False(t, c.Manual)
		assert.Equal(t, db.TriggerScheduled, c.Trigger())
		assert.Equal(t, t0.Add(time.Minute), c.LeaseUntil)
		d := dbtest.Delivery(t, store, c.DeliveryID)
		assert.Equal(t, db.StateDelivering, d.State)
		assert.Equal(t, 1, d.Attempts, "an attempt counts when it is claimed")
	}
	assert.Equal(t, map[string]time.Time{wh.ID: t0, other.ID: t0}, got.NextDue,
		"remaining due work is reported; disabled, idle and unknown webhooks are absent")
	assert.Equal(t, map[db.State]int{db.StateDelivering: 2, db.StatePending: 3}, statesOf(t, store, wh.ID))
	assert.Equal(t, map[db.State]int{db.StatePending: 5}, statesOf(t, store, off.ID))
	assert.Equal(t, map[db.State]int{db.StatePending: 5}, statesOf(t, store, other.ID))

	got = claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 10})
	require.Len(t, got.Claims, 3, "leased deliveries are not claimed twice")
	for i, c := range got.Claims {
		assert.Equal(t, events[i+2].EventID, c.EventID)
	}
	assert.Empty(t, got.NextDue)
	assert.Empty(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 10}).Claims)

	// Enabling the webhook again makes its held deliveries claimable.
	due := watchDue(store)
	_, err = store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	assert.Equal(t, []string{off.ID}, due.take())
	assert.Len(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: off.ID, Limit: 10}).Claims, 5)
}

func TestClaimDueSkipsDeliveriesNotYetDue(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	retryAt := t0.Add(10 * time.Second)
	record(t, store, db.AttemptResult{Claim: c, AttemptedAt: t0, StatusCode: 503, Next: db.StatePending, NextAt: retryAt})

	got := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
	assert.Empty(t, got.Claims)
	assert.Equal(t, map[string]time.Time{wh.ID: retryAt}, got.NextDue)

	clock.Add(10*time.Second - time.Millisecond)
	assert.Empty(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims)
	clock.Add(time.Millisecond)
	got = claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
	require.Len(t, got.Claims, 1, "due exactly at next_attempt_at")
	assert.Equal(t, 1, got.Claims[0].Attempts)
}

func TestRecordAttemptsTransitions(t *testing.T) {
	t.Parallel()
	attemptedAt := t0.Add(1500 * time.Millisecond)
	retryAt := attemptedAt.Add(5 * time.Minute)
	for _, tc := range []struct {
		name   string
		result db.AttemptResult
		want   db.Delivery // only the fields the record sets
	}{
		{
			name: "success",
			result: db.AttemptResult{StatusCode: 204, Duration: 42 * time.Millisecond, ResponseBody: []byte("thanks"),
				Signature: "v1,abc", Next: db.StateSucceeded},
			want: db.Delivery{State: db.StateSucceeded, LastStatusCode: 204},
		},
		{
			name: "failure with retry scheduled",
			result: db.AttemptResult{StatusCode: 500, Duration: time.Second, ResponseBody: []byte("boom"), ResponseTruncated: true,
				Signature: "v1,abc v1,def", Next: db.StatePending, NextAt: retryAt},
			want: db.Delivery{State: db.StatePending, NextAttemptAt: retryAt, LastStatusCode: 500, LastError: "HTTP 500"},
		},
		{
			name: "redirect is a failure",
			result: db.AttemptResult{StatusCode: 302, Duration: time.Millisecond, Signature: "v1,abc",
				Next: db.StatePending, NextAt: retryAt},
			want: db.Delivery{State: db.StatePending, NextAttemptAt: retryAt, LastStatusCode: 302, LastError: "HTTP 302"},
		},
		{
			name: "error without status, schedule used up",
			result: db.AttemptResult{ErrorClass: "timeout", ErrorMessage: "context deadline exceeded", Duration: 15 * time.Second,
				Signature: "v1,abc", Next: db.StateFailed},
			want: db.Delivery{State: db.StateFailed, LastError: "timeout"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, _ := newStore(t)
			wh := dbtest.Webhook(t, store, "https://wh.test/hook")
			dbtest.Event(t, store, "a.b", 1)
			c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
			r := tc.result
			r.Claim, r.AttemptedAt = c, attemptedAt
			record(t, store, r)

			d := dbtest.Delivery(t, store, c.DeliveryID)
			assert.Equal(t, tc.want.State, d.State)
			assert.Equal(t, 1, d.Attempts)
			assert.Equal(t, tc.want.NextAttemptAt, d.NextAttemptAt)
			assert.Equal(t, attemptedAt, d.LastAttemptAt)
			assert.Equal(t, tc.want.LastStatusCode, d.LastStatusCode)
			assert.Equal(t, tc.want.LastError, d.LastError)
			assert.False(t, d.Manual)

			as := dbtest.Attempts(t, store, c.DeliveryID)
			require.Len(t, as, 1)
			want := db.Attempt{
				Number: 1, Trigger: db.TriggerScheduled, AttemptedAt: attemptedAt, StatusCode: r.StatusCode,
				Duration: r.Duration, ResponseBody: r.ResponseBody, ResponseTruncated: r.ResponseTruncated,
				ErrorClass: r.ErrorClass, ErrorMessage: r.ErrorMessage, Signature: r.Signature,
			}
			assert.Equal(t, want, as[0])

			// Nothing more is due unless a retry was scheduled, and then not before its time.
			assert.Empty(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims)
		})
	}
}

func TestRecordAttemptsBatchAndNumbering(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Event(t, store, "a.b", 2)
	cs := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
	require.Len(t, cs, 2)
	record(t, store,
		db.AttemptResult{Claim: cs[0], AttemptedAt: t0, StatusCode: 500, Next: db.StatePending, NextAt: t0},
		db.AttemptResult{Claim: cs[1], AttemptedAt: t0, StatusCode: 200, Next: db.StateSucceeded},
	)
	assert.Equal(t, map[db.State]int{db.StatePending: 1, db.StateSucceeded: 1}, statesOf(t, store, wh.ID))

	for n := 2; n <= 3; n++ {
		clock.Add(time.Second)
		c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
		require.Len(t, c, 1)
		assert.Equal(t, cs[0].DeliveryID, c[0].DeliveryID)
		assert.Equal(t, n-1, c[0].Attempts)
		record(t, store, db.AttemptResult{Claim: c[0], AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StatePending, NextAt: clock.Now()})
	}
	var numbers []int
	for _, a := range dbtest.Attempts(t, store, cs[0].DeliveryID) {
		numbers = append(numbers, a.Number)
	}
	assert.Equal(t, []int{1, 2, 3}, numbers)
	assert.Equal(t, 3, dbtest.Delivery(t, store, cs[0].DeliveryID).Attempts)
}

func TestRecordAttemptsAfterLostLease(t *testing.T) {
	t.Parallel()
	t.Run("requeued and claimed again", func(t *testing.T) {
		t.Parallel()
		store, clock := newStore(t)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		old := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		clock.Add(time.Minute)
		n, err := store.RescueExpired(t.Context(), 7)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		cur := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
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
		store, clock := newStore(t)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		dbtest.Event(t, store, "a.b", 2)
		first := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
		require.Len(t, first, 2)
		old := first[0]
		clock.Add(time.Minute)
		_, err := store.RescueExpired(t.Context(), 7)
		require.NoError(t, err)
		again := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 2}).Claims
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
		store, clock := newStore(t)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		old := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		clock.Add(2 * time.Minute)
		_, err := store.RescueExpired(t.Context(), 7)
		require.NoError(t, err)
		record(t, store, db.AttemptResult{Claim: old, AttemptedAt: t0, StatusCode: 500, Next: db.StateFailed})
		d := dbtest.Delivery(t, store, old.DeliveryID)
		assert.Equal(t, db.StatePending, d.State, "the rescued delivery is attempted again")
		assert.Equal(t, clock.Now(), d.NextAttemptAt)
		assert.Len(t, dbtest.Attempts(t, store, old.DeliveryID), 1)
	})
	t.Run("webhook deleted meanwhile", func(t *testing.T) {
		t.Parallel()
		store, _ := newStore(t)
		wh := dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
		require.NoError(t, store.DeleteWebhook(t.Context(), wh.ID))
		record(t, store, db.AttemptResult{Claim: c, AttemptedAt: t0, StatusCode: 200, Next: db.StateSucceeded})
		_, err := store.FindDelivery(t.Context(), c.DeliveryID)
		assert.ErrorIs(t, err, db.ErrNotFound)
	})
}

func TestRescueExpired(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
	short := dbtest.Webhook(t, store, "https://short.test/hook")
	long := dbtest.Webhook(t, store, "https://long.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Event(t, store, "a.b", 2)
	lost := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: short.ID, Limit: 2}).Claims
	require.Len(t, lost, 2)
	held := claim(t, store, time.Hour, db.ClaimRequest{WebhookID: long.ID, Limit: 2}).Claims
	require.Len(t, held, 2)
	due := watchDue(store)

	clock.Add(time.Minute - time.Millisecond)
	n, err := store.RescueExpired(t.Context(), 7)
	require.NoError(t, err)
	assert.Zero(t, n, "a lease is honoured until it runs out")
	assert.Empty(t, due.take())

	now := clock.Add(time.Millisecond)
	n, err = store.RescueExpired(t.Context(), 7)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
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

	again := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: short.ID, Limit: 2}).Claims
	require.Len(t, again, 2)
	assert.ElementsMatch(t, []string{lost[0].DeliveryID, lost[1].DeliveryID}, []string{again[0].DeliveryID, again[1].DeliveryID})
	assert.Equal(t, now.Add(time.Minute), again[0].LeaseUntil)

	n, err = store.RescueExpired(t.Context(), 7)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing twice")
}

func TestDueWebhooks(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
	a := dbtest.Webhook(t, store, "https://a.test/hook", "a.*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
	off := dbtest.Webhook(t, store, "https://off.test/hook", "*")
	dbtest.Webhook(t, store, "https://idle.test/hook", "idle.*")
	dbtest.Event(t, store, "a.x", 1)
	clock.Add(time.Second)
	dbtest.Event(t, store, "b.x", 1)
	_, err := store.UpdateWebhook(t.Context(), off.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)

	got, err := store.DueWebhooks(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{a.ID: t0, b.ID: t0.Add(time.Second)}, got)

	claim(t, store, time.Minute, db.ClaimRequest{WebhookID: a.ID, Limit: 1})
	got, err = store.DueWebhooks(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{b.ID}, slices.Collect(maps.Keys(got)), "leased work is not due")
}

// TestClaimsFollowWebhookChanges: what claims carry of a webhook (URL, secrets, enabled) is
// cached between claims, and every change to the webhook must show in the next claim.
func TestClaimsFollowWebhookChanges(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
	wh := dbtest.Webhook(t, store, "https://one.test/hook")
	next := func() db.Claim {
		t.Helper()
		dbtest.Event(t, store, "a.b", 1)
		c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims
		require.Len(t, c, 1)
		return c[0]
	}
	c := next()
	assert.Equal(t, "https://one.test/hook", c.URL)
	assert.Equal(t, []string{dbtest.Secret}, c.Secrets)

	u := "https://two.test/hook"
	_, err := store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{URL: &u})
	require.NoError(t, err)
	assert.Equal(t, u, next().URL, "a new URL shows at once")

	newSecret := "whsec_" + strings.Repeat("A", 43) + "="
	_, err = store.RotateSecret(t.Context(), wh.ID, newSecret, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []string{newSecret, dbtest.Secret}, next().Secrets, "signed with both during the grace period")

	clock.Add(time.Hour)
	assert.Equal(t, []string{newSecret}, next().Secrets, "the old secret stops when its grace period ends")

	off := false
	_, err = store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Enabled: &off})
	require.NoError(t, err)
	dbtest.Event(t, store, "a.b", 2) // not fanned out: the webhook is disabled
	assert.Empty(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 5}).Claims,
		"a disabled webhook's held deliveries are not claimed")

	require.NoError(t, store.DeleteWebhook(t.Context(), wh.ID))
	res := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 5})
	assert.Empty(t, res.Claims)
	assert.NotContains(t, res.NextDue, wh.ID)
}
