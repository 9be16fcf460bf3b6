package storetest

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func queueTests() []test {
	return []test{
		{"ClaimDueLeasesPerWebhook", testClaimDueLeasesPerWebhook},
		{"ClaimDueSkipsDeliveriesNotYetDue", testClaimDueSkipsDeliveriesNotYetDue},
		{"RecordAttemptsTransitions", testRecordAttemptsTransitions},
		{"RecordAttemptsBatchAndNumbering", testRecordAttemptsBatchAndNumbering},
		{"DueWebhooks", testDueWebhooks},
		{"ClaimsFollowWebhookChanges", testClaimsFollowWebhookChanges},
		{"ClaimCarriesWhenTheDeliveryWasCreated", testClaimCarriesWhenTheDeliveryWasCreated},
	}
}

func testClaimDueLeasesPerWebhook(t *testing.T, h Harness) {
	store, _ := open(t, h)
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
		d := dbtest.Delivery(t, store, c.DeliveryID)
		assert.Equal(t, db.StateDelivering, d.State)
		assert.Equal(t, 1, d.Attempts, "an attempt counts when it is claimed")
	}
	assert.Equal(t, map[string]time.Time{wh.ID: t0, other.ID: t0}, got.NextDue,
		"remaining due work is reported; disabled, idle and unknown webhooks are absent")
	assert.Equal(t, map[db.State]int{db.StateDelivering: 2, db.StatePending: 3}, statesOf(t, store, wh.ID))
	assert.Equal(t, map[db.State]int{db.StatePending: 5}, statesOf(t, store, off.ID))
	assert.Equal(t, map[db.State]int{db.StatePending: 5}, statesOf(t, store, other.ID))

	first := got.Claims[0]
	got = claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 10})
	require.Len(t, got.Claims, 3, "leased deliveries are not claimed twice")
	for i, c := range got.Claims {
		assert.Equal(t, events[i+2].EventID, c.EventID)
	}
	assertLeaseLength(t, first, got.Claims[0], held-time.Minute)
	assert.Empty(t, got.NextDue)
	assert.Empty(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 10}).Claims)

	// Enabling the webhook again makes its held deliveries claimable.
	due := watchDue(store)
	_, err = store.UpdateWebhook(ctx, off.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	assert.Equal(t, []string{off.ID}, due.take())
	assert.Len(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: off.ID, Limit: 10}).Claims, 5)
}

func testClaimDueSkipsDeliveriesNotYetDue(t *testing.T, h Harness) {
	store, clock := open(t, h)
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

func testRecordAttemptsTransitions(t *testing.T, h Harness) {
	attemptedAt := t0.Add(1500 * time.Millisecond)
	retryAt := attemptedAt.Add(5 * time.Minute)
	for _, tc := range []struct {
		name           string
		result         db.AttemptResult
		want           db.Delivery   // only the fields the record sets
		wantRetryAfter time.Duration // as the attempt keeps it
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
			name: "503 asking to wait with Retry-After",
			result: db.AttemptResult{StatusCode: 503, Duration: time.Millisecond, Signature: "v1,abc",
				RetryAfter: 3600 * time.Second, Next: db.StatePending, NextAt: retryAt},
			want:           db.Delivery{State: db.StatePending, NextAttemptAt: retryAt, LastStatusCode: 503, LastError: "HTTP 503"},
			wantRetryAfter: time.Hour,
		},
		{
			name: "Retry-After from a date is kept in whole seconds, rounded up",
			result: db.AttemptResult{StatusCode: 429, Duration: time.Millisecond, Signature: "v1,abc",
				RetryAfter: 90*time.Second + time.Millisecond, Next: db.StatePending, NextAt: retryAt},
			want:           db.Delivery{State: db.StatePending, NextAttemptAt: retryAt, LastStatusCode: 429, LastError: "HTTP 429"},
			wantRetryAfter: 91 * time.Second,
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
			store, _ := open(t, h)
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
				RetryAfter: tc.wantRetryAfter,
			}
			assert.Equal(t, want, as[0])

			// Nothing more is due unless a retry was scheduled, and then not before its time.
			assert.Empty(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims)
		})
	}
}

func testRecordAttemptsBatchAndNumbering(t *testing.T, h Harness) {
	store, clock := open(t, h)
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

func testDueWebhooks(t *testing.T, h Harness) {
	store, clock := open(t, h)
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

// testClaimsFollowWebhookChanges: what claims carry of a webhook (URL, secrets, enabled) is
// cached between claims, and every change to the webhook must show in the next claim.
func testClaimsFollowWebhookChanges(t *testing.T, h Harness) {
	store, clock := open(t, h)
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
