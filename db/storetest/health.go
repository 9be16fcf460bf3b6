package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// Issue 12 items 2 to 4: a 410 disables a webhook, so does a long run of failures, and the
// administrators hear of both, and of the recovery.
func healthTests() []test {
	return []test{
		{"GoneDisablesTheWebhookAndAlerts", testGoneDisablesTheWebhookAndAlerts},
		{"LongRunOfFailuresDisablesTheWebhook", testLongRunOfFailuresDisablesTheWebhook},
		{"SuccessRestartsTheRunOfFailures", testSuccessRestartsTheRunOfFailures},
		{"EnablingStartsTheRunAfresh", testEnablingStartsTheRunAfresh},
		{"DisableAfterZeroNeverDisables", testDisableAfterZeroNeverDisables},
	}
}

const gone = "the receiver answered 410 Gone"

// retryable records a failed attempt that leaves the delivery due again at once, as the
// engine would with disableAfter set.
func retryable(t *testing.T, store Store, webhookID string, status int, disableAfter time.Duration) db.Claim {
	t.Helper()
	return dbtest.Attempt(t, store, webhookID, db.AttemptResult{StatusCode: status, Next: db.StatePending,
		NextAt: store.Now(), DisableAfter: disableAfter})
}

func findWebhook(t *testing.T, store Store, id string) db.Webhook {
	t.Helper()
	w, err := store.FindWebhook(t.Context(), id)
	require.NoError(t, err)
	return w
}

func testGoneDisablesTheWebhookAndAlerts(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://gone.test/hook")
	other := dbtest.Webhook(t, store, "https://other.test/hook")
	for i := range 4 {
		dbtest.Event(t, store, "a.b", i)
	}
	first := clock.Now()
	retryable(t, store, wh.ID, 503, 0)
	at := clock.Add(time.Minute)
	// Two attempts in flight when the receiver goes: the second 410 finds it disabled.
	claimed, err := store.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: wh.ID, Limit: 2}}, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed.Claims, 2)
	var c db.Claim
	for _, cl := range claimed.Claims {
		if cl.Attempts == 1 {
			c = cl
		}
	}
	require.NotEmpty(t, c.DeliveryID, "the delivery that failed once is due again")
	for _, cl := range []db.Claim{c, otherClaim(claimed.Claims, c)} {
		require.NoError(t, store.RecordAttempts(ctx, []db.AttemptResult{{Claim: cl, AttemptedAt: at, StatusCode: 410,
			Next: db.StateFailed, DisableReason: gone}}))
	}

	w := findWebhook(t, store, wh.ID)
	assert.False(t, w.Enabled)
	assert.Equal(t, gone, w.DisabledReason)
	assert.Equal(t, at, w.DisabledAt)
	assert.True(t, findWebhook(t, store, other.ID).Enabled, "only the webhook that answered")

	d, err := store.FindDelivery(ctx, c.DeliveryID)
	require.NoError(t, err)
	assert.Equal(t, db.StateFailed, d.State, "a 410 fails the delivery at once")

	notices := noticesOf(t, store, wh.ID)
	require.Len(t, notices, 1, "one alert, however many 410s")
	n := notices[0]
	assert.Equal(t, db.AlertWebhookDisabled, n.Kind)
	assert.Equal(t, gone, n.Reason)
	assert.Equal(t, db.AlertPending, n.State)
	assert.Equal(t, at, n.NextAttemptAt, "sent at once, no window")
	assert.Equal(t, first, n.FailingSince, "failing since its first failed attempt")
	assert.Equal(t, 1, n.DeliveryCount)
	assert.Equal(t, c.DeliveryID, n.Last.DeliveryID)
	assert.Equal(t, 410, n.Last.StatusCode)
	assert.Equal(t, 2, n.Last.Attempts)
	assert.Equal(t, first, n.Last.FirstAttemptAt)
	fold(t, store)
	assert.Empty(t, alertsOf(t, store, wh.ID), "no failure alert besides: the disabled alert tells of the deliveries")

	recs := listAudit(t, store, db.AuditFilter{TargetID: wh.ID})
	require.Len(t, recs, 1)
	assert.Equal(t, db.SystemActor, recs[0].Actor)
	assert.Equal(t, db.AuditWebhookDisable, recs[0].Action)
	assert.Equal(t, gone, recs[0].Summary)

	// Its other deliveries wait, as for any disabled webhook.
	claimed, err = store.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: wh.ID, Limit: 10}}, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, claimed.Claims)
	due, err := store.DueWebhooks(ctx)
	require.NoError(t, err)
	assert.NotContains(t, due, wh.ID)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: wh.ID, State: db.StatePending}), 2,
		"kept, not failed")

	clock.Add(time.Minute)
	_, err = store.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	w = findWebhook(t, store, wh.ID)
	assert.True(t, w.Enabled)
	assert.Empty(t, w.DisabledReason, "enabling clears the reason")
	assert.True(t, w.DisabledAt.IsZero(), "and when")
	dbtest.Succeed(t, store, wh.ID)
	notices = noticesOf(t, store, wh.ID)
	require.Len(t, notices, 2, "succeeding again after the alert: one recovered email")
	assert.Equal(t, db.AlertRecovered, notices[1].Kind)
	assert.Equal(t, at, notices[1].FailingSince, "enabling restarted the run: failing since the alert")
	dbtest.Succeed(t, store, wh.ID)
	assert.Len(t, noticesOf(t, store, wh.ID), 2)
}

func otherClaim(claims []db.Claim, not db.Claim) db.Claim {
	for _, c := range claims {
		if c.DeliveryID != not.DeliveryID {
			return c
		}
	}
	return db.Claim{}
}

func listAudit(t *testing.T, store Store, f db.AuditFilter) []db.AuditRecord {
	t.Helper()
	recs, _, err := store.ListAudit(t.Context(), f)
	require.NoError(t, err)
	return recs
}

func testLongRunOfFailuresDisablesTheWebhook(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://down.test/hook")
	dbtest.Event(t, store, "a.b", 0)
	const after = 120 * time.Hour
	start := clock.Now()
	retryable(t, store, wh.ID, 500, after)
	clock.Add(after - time.Minute)
	retryable(t, store, wh.ID, 500, after)
	assert.True(t, findWebhook(t, store, wh.ID).Enabled, "failing for less than HOOKRELAY_DISABLE_AFTER")
	assert.Empty(t, noticesOf(t, store, wh.ID))

	at := clock.Add(time.Minute)
	retryable(t, store, wh.ID, 502, after)
	w := findWebhook(t, store, wh.ID)
	assert.False(t, w.Enabled, "no successful attempt for HOOKRELAY_DISABLE_AFTER")
	want := "no successful attempt for 120h0m0s (HOOKRELAY_DISABLE_AFTER); last error: HTTP 502"
	assert.Equal(t, want, w.DisabledReason)
	assert.Equal(t, at, w.DisabledAt)
	notices := noticesOf(t, store, wh.ID)
	require.Len(t, notices, 1)
	assert.Equal(t, db.AlertWebhookDisabled, notices[0].Kind)
	assert.Equal(t, want, notices[0].Reason)
	assert.Equal(t, start, notices[0].FailingSince)
	assert.Equal(t, 502, notices[0].Last.StatusCode)
	recs := listAudit(t, store, db.AuditFilter{Actor: "system", Action: db.AuditWebhookDisable})
	require.Len(t, recs, 1)
	assert.Equal(t, wh.ID, recs[0].Target.ID)
	assert.Equal(t, want, recs[0].Summary)
}

func testSuccessRestartsTheRunOfFailures(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://flaky.test/hook")
	for i := range 2 {
		dbtest.Event(t, store, "a.b", i)
	}
	const after = 120 * time.Hour
	retryable(t, store, wh.ID, 500, after)
	clock.Add(100 * time.Hour)
	dbtest.Succeed(t, store, wh.ID)
	clock.Add(time.Hour)
	retryable(t, store, wh.ID, 500, after)
	clock.Add(30 * time.Hour)
	retryable(t, store, wh.ID, 500, after)
	assert.True(t, findWebhook(t, store, wh.ID).Enabled, "131h since the first failure, but only 30h since the last success")
	assert.Empty(t, noticesOf(t, store, wh.ID))
	clock.Add(91 * time.Hour)
	retryable(t, store, wh.ID, 500, after)
	assert.False(t, findWebhook(t, store, wh.ID).Enabled, "121h since the first failure after the success")
}

func testEnablingStartsTheRunAfresh(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://down.test/hook")
	dbtest.Event(t, store, "a.b", 0)
	const after = time.Hour
	retryable(t, store, wh.ID, 500, after)
	clock.Add(2 * time.Hour)
	retryable(t, store, wh.ID, 500, after)
	require.False(t, findWebhook(t, store, wh.ID).Enabled)

	clock.Add(time.Minute)
	_, err := store.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	clock.Add(time.Minute)
	retryable(t, store, wh.ID, 500, after)
	assert.True(t, findWebhook(t, store, wh.ID).Enabled, "the first failure after enabling is not a run of hours")
	clock.Add(time.Hour)
	retryable(t, store, wh.ID, 500, after)
	assert.False(t, findWebhook(t, store, wh.ID).Enabled, "an hour of failures after enabling is")
	assert.Len(t, noticesOf(t, store, wh.ID), 2)
}

func testDisableAfterZeroNeverDisables(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://down.test/hook")
	dbtest.Event(t, store, "a.b", 0)
	retryable(t, store, wh.ID, 500, 0)
	clock.Add(1000 * time.Hour)
	retryable(t, store, wh.ID, 500, 0)
	assert.True(t, findWebhook(t, store, wh.ID).Enabled)
	assert.Empty(t, noticesOf(t, store, wh.ID))
}
