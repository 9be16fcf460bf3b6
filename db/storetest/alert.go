package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func alertTests() []test {
	return []test{
		{"ExhaustedDeliveryQueuesAnAlertWithItsDetails", testExhaustedDeliveryQueuesAnAlertWithItsDetails},
		{"FailedManualRetryRaisesNoAlert", testFailedManualRetryRaisesNoAlert},
		{"LostLeaseRaisesNoAlert", testLostLeaseRaisesNoAlert},
		{"NoFloodRule", testNoFloodRule},
		{"DigestSentBeforeALateFailureOpensANewWindow", testDigestSentBeforeALateFailureOpensANewWindow},
		{"RecordAlertSend", testRecordAlertSend},
		{"ListAlertsPagesNewestFirst", testListAlertsPagesNewestFirst},
		{"AlertOutlivesItsWebhook", testAlertOutlivesItsWebhook},
		{"AlertDigestListsTheFirstAndCountsAll", testAlertDigestListsTheFirstAndCountsAll},
		{"CountAlertsSince", testCountAlertsSince},
		{"ClaimDueAlertsHoldsEachForOneSender", testClaimDueAlertsHoldsEachForOneSender},
	}
}

const window = time.Hour

func fold(t *testing.T, store Store) db.FoldResult {
	t.Helper()
	res, err := store.FoldAlertFailures(t.Context(), window)
	require.NoError(t, err)
	return res
}

// alertsOf returns every alert of a webhook, oldest first.
func alertsOf(t *testing.T, store Store, webhookID string) []db.Alert {
	t.Helper()
	return alertsOfKind(t, store, webhookID, db.AlertImmediate, db.AlertDigest)
}

// noticesOf returns a webhook's webhook_disabled and recovered alerts, oldest first.
func noticesOf(t *testing.T, store Store, webhookID string) []db.Alert {
	t.Helper()
	return alertsOfKind(t, store, webhookID, db.AlertWebhookDisabled, db.AlertRecovered)
}

func alertsOfKind(t *testing.T, store Store, webhookID string, kinds ...db.AlertKind) []db.Alert {
	t.Helper()
	all, _, err := store.ListAlerts(t.Context(), db.AlertFilter{Limit: 500})
	require.NoError(t, err)
	var out []db.Alert
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].WebhookID == webhookID && slices.Contains(kinds, all[i].Kind) {
			out = append(out, all[i])
		}
	}
	return out
}

// summary is an alert reduced to what the no-flood rule decides.
type summary struct {
	Kind       db.AlertKind
	Deliveries int
	Due        time.Time
}

func summarize(as []db.Alert) []summary {
	out := []summary{}
	for _, a := range as {
		out = append(out, summary{a.Kind, a.DeliveryCount, a.NextAttemptAt})
	}
	return out
}

func testExhaustedDeliveryQueuesAnAlertWithItsDetails(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	_, err := store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Description: new("Orders")})
	require.NoError(t, err)
	ev := dbtest.Event(t, store, "order.paid", 1)

	// Two failed attempts that leave a retry scheduled raise nothing.
	first := dbtest.Attempt(t, store, wh.ID, db.AttemptResult{StatusCode: 500, Next: db.StatePending, NextAt: clock.Now()})
	clock.Add(time.Minute)
	dbtest.Attempt(t, store, wh.ID, db.AttemptResult{ErrorClass: "timeout", ErrorMessage: "no answer in 15s",
		Next: db.StatePending, NextAt: clock.Now()})
	outbox, _, err := store.AlertWork(t.Context())
	require.NoError(t, err)
	assert.False(t, outbox, "a delivery with retries left raises no alert")

	clock.Add(time.Minute)
	failedAt := clock.Now()
	dbtest.Attempt(t, store, wh.ID, db.AttemptResult{StatusCode: 503, Next: db.StateFailed})
	outbox, _, err = store.AlertWork(t.Context())
	require.NoError(t, err)
	assert.True(t, outbox, "the failure is in the outbox as soon as the delivery is failed")

	res := fold(t, store)
	assert.Equal(t, 1, res.Failures)
	require.Len(t, res.Raised, 1)
	a, err := store.FindAlert(t.Context(), res.Raised[0])
	require.NoError(t, err)
	assert.Equal(t, db.AlertImmediate, a.Kind)
	assert.Equal(t, db.AlertPending, a.State)
	assert.Equal(t, wh.ID, a.WebhookID)
	assert.Equal(t, "https://receiver.test/hook", a.WebhookURL)
	assert.Equal(t, "Orders", a.WebhookDescription)
	assert.Equal(t, t0, a.FailingSince, "failing since the delivery's first attempt")
	assert.Equal(t, failedAt, a.NextAttemptAt, "due at once")
	assert.Equal(t, failedAt.Add(window), a.WindowEndsAt)
	assert.Equal(t, 1, a.DeliveryCount)
	assert.Equal(t, []string{"order.paid"}, a.EventTypes)
	want := db.AlertFailure{DeliveryID: first.DeliveryID, EventID: ev.EventID, EventType: "order.paid", Attempts: 3,
		StatusCode: 503, Error: "HTTP 503", FirstAttemptAt: t0, FailedAt: failedAt}
	assert.Equal(t, []db.AlertFailure{want}, a.Failures)
	assert.Equal(t, want, a.Last)
	assert.True(t, a.ID[:4] == "alr_", a.ID)

	due, err := store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, a.ID, due[0].ID)
	assert.Equal(t, 0, fold(t, store).Failures, "each failure is folded once")
}

func testFailedManualRetryRaisesNoAlert(t *testing.T, h Harness) {
	store, _ := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	c := dbtest.Fail(t, store, wh.ID, 503)
	require.Len(t, fold(t, store).Raised, 1)

	_, err := store.RetryDelivery(t.Context(), c.DeliveryID)
	require.NoError(t, err)
	manual := dbtest.Fail(t, store, wh.ID, 503)
	require.True(t, manual.Manual)
	assert.Equal(t, db.StateFailed, dbtest.Delivery(t, store, c.DeliveryID).State)
	assert.Zero(t, fold(t, store).Failures, "the admin who retried sees the outcome; no second alert")
}

func testLostLeaseRaisesNoAlert(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	stale := claim(t, store, expired, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	clock.Add(2 * time.Minute)
	require.Equal(t, 1, rescue(t, store, 7))
	record(t, store, db.AttemptResult{Claim: stale, AttemptedAt: clock.Now(), StatusCode: 503, Next: db.StateFailed})
	assert.Zero(t, fold(t, store).Failures, "the attempt of a lost lease does not fail the delivery")
}

// testNoFloodRule walks one webhook through an incident, its digest, a continuing outage,
// a recovery and a new incident, with a second webhook alongside.
func testNoFloodRule(t *testing.T, h Harness) {
	store, clock := open(t, h)
	a := dbtest.Webhook(t, store, "https://a.test/hook", "a.*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
	for i := range 40 {
		dbtest.Event(t, store, "a.x", i)
	}
	for i := range 3 {
		dbtest.Event(t, store, "b.x", i)
	}

	// 20 failures of a within the window: one immediate alert, the rest in one digest that is
	// due when the window closes, however late they are folded.
	start := clock.Now()
	dbtest.Fail(t, store, a.ID, 503)
	fold(t, store)
	for range 19 {
		clock.Add(2 * time.Minute)
		dbtest.Fail(t, store, a.ID, 503)
	}
	clock.Add(time.Minute)
	dbtest.Fail(t, store, b.ID, 500)
	fold(t, store)
	assert.Equal(t, []summary{{db.AlertImmediate, 1, start}, {db.AlertDigest, 19, start.Add(window)}},
		summarize(alertsOf(t, store, a.ID)))
	assert.Equal(t, []summary{{db.AlertImmediate, 1, start.Add(39 * time.Minute)}},
		summarize(alertsOf(t, store, b.ID)), "another webhook gets its own alert")
	digest := alertsOf(t, store, a.ID)[1]
	assert.Equal(t, start, digest.FailingSince)
	assert.Equal(t, "HTTP 503", digest.Last.Error)

	due, err := store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	assert.Len(t, due, 2, "the digest waits for its window")
	clock.Add(start.Add(window).Sub(clock.Now()))
	due, err = store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	assert.Len(t, due, 3, "the digest is due when its window closes")
	for _, d := range due {
		require.NoError(t, store.RecordAlertSend(t.Context(), db.AlertSend{AlertID: d.ID, Recipients: []string{"ops@x.test"}}))
	}

	// Still failing, no success in between: a new window with a digest only.
	clock.Add(5 * time.Minute)
	second := clock.Now()
	dbtest.Fail(t, store, a.ID, 503)
	clock.Add(10 * time.Minute)
	dbtest.Fail(t, store, a.ID, 504)
	fold(t, store)
	got := summarize(alertsOf(t, store, a.ID))
	require.Len(t, got, 3)
	assert.Equal(t, summary{db.AlertDigest, 2, second.Add(window)}, got[2], "a continuing outage costs one email per window")
	cont := alertsOf(t, store, a.ID)[2]
	assert.Equal(t, start, cont.FailingSince, "the incident started with the first failure")
	assert.Equal(t, "HTTP 504", cont.Last.Error)

	// a recovers; a failure inside the open window still folds into its digest.
	recoveredAt := clock.Now()
	okID := dbtest.Succeed(t, store, a.ID).DeliveryID
	notices := noticesOf(t, store, a.ID)
	require.Len(t, notices, 1, "the first success after alerts sends one recovered email")
	assert.Equal(t, db.AlertRecovered, notices[0].Kind)
	assert.Equal(t, "delivery "+okID+" succeeded at "+db.FormatTime(recoveredAt), notices[0].Reason)
	assert.Equal(t, start, notices[0].FailingSince)
	assert.Equal(t, db.AlertPending, notices[0].State)
	assert.Equal(t, recoveredAt, notices[0].NextAttemptAt, "due at once")
	dbtest.Succeed(t, store, b.ID)
	require.Len(t, noticesOf(t, store, b.ID), 1, "b was alerted on too")
	dbtest.Succeed(t, store, b.ID)
	assert.Len(t, noticesOf(t, store, b.ID), 1, "one recovered email, not one per success")
	clock.Add(time.Minute)
	dbtest.Fail(t, store, a.ID, 503)
	fold(t, store)
	assert.Len(t, alertsOf(t, store, a.ID), 3)
	assert.Equal(t, 3, alertsOf(t, store, a.ID)[2].DeliveryCount)

	// After the window, a recovered webhook that fails again alerts at once.
	clock.Add(window)
	dbtest.Succeed(t, store, a.ID)
	assert.Len(t, noticesOf(t, store, a.ID), 2, "the failure folded into the digest was alerted on: recovered again")
	clock.Add(time.Minute)
	again := clock.Now()
	dbtest.Fail(t, store, a.ID, 503)
	fold(t, store)
	got = summarize(alertsOf(t, store, a.ID))
	require.Len(t, got, 4)
	assert.Equal(t, summary{db.AlertImmediate, 1, again}, got[3])
	assert.Equal(t, again, alertsOf(t, store, a.ID)[3].FailingSince, "a new incident starts at its own first failure")

	// A quiet spell longer than the window, even without a success, is a new incident too.
	clock.Add(3 * window)
	quiet := clock.Now()
	dbtest.Fail(t, store, a.ID, 503)
	fold(t, store)
	got = summarize(alertsOf(t, store, a.ID))
	require.Len(t, got, 5)
	assert.Equal(t, summary{db.AlertImmediate, 1, quiet}, got[4])
}

func testDigestSentBeforeALateFailureOpensANewWindow(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	for i := range 3 {
		dbtest.Event(t, store, "a.b", i)
	}
	dbtest.Fail(t, store, wh.ID, 503)
	clock.Add(time.Minute)
	dbtest.Fail(t, store, wh.ID, 503)
	fold(t, store)
	clock.Add(window)
	due, err := store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	for _, d := range due {
		require.NoError(t, store.RecordAlertSend(t.Context(), db.AlertSend{AlertID: d.ID}))
	}
	// A failure stamped inside the window but folded after its digest went out.
	clock.Add(-time.Minute)
	dbtest.Fail(t, store, wh.ID, 503)
	clock.Add(time.Minute)
	fold(t, store)
	as := alertsOf(t, store, wh.ID)
	require.Len(t, as, 3)
	assert.Equal(t, db.AlertSent, as[1].State)
	assert.Equal(t, 1, as[1].DeliveryCount, "a sent digest is never changed")
	assert.Equal(t, db.AlertDigest, as[2].Kind)
	assert.Equal(t, db.AlertPending, as[2].State)
}

func testRecordAlertSend(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Fail(t, store, wh.ID, 503)
	id := fold(t, store).Raised[0]

	require.NoError(t, store.RecordAlertSend(t.Context(), db.AlertSend{AlertID: id, Err: "421 try later", RetryIn: time.Minute}))
	a, err := store.FindAlert(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, db.AlertFailedToSend, a.State)
	assert.Equal(t, 1, a.Attempts)
	assert.Equal(t, "421 try later", a.LastError)
	assert.Equal(t, t0, a.LastAttemptAt)
	assert.Equal(t, t0.Add(time.Minute), a.NextAttemptAt)
	due, err := store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "not due again before the backoff")
	_, next, err := store.AlertWork(t.Context())
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Minute), next)
	n, err := store.CountUnsentAlerts(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	clock.Add(time.Minute)
	due, err = store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.NoError(t, store.RecordAlertSend(t.Context(), db.AlertSend{AlertID: id, Recipients: []string{"a@x.test", "b@x.test"}}))
	a, err = store.FindAlert(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, db.AlertSent, a.State)
	assert.Equal(t, 2, a.Attempts)
	assert.Equal(t, clock.Now(), a.SentAt)
	assert.Equal(t, []string{"a@x.test", "b@x.test"}, a.Recipients)
	assert.Equal(t, "421 try later", a.LastError, "the last SMTP error stays visible")
	due, err = store.DueAlerts(t.Context(), 10)
	require.NoError(t, err)
	assert.Empty(t, due)
	_, next, err = store.AlertWork(t.Context())
	require.NoError(t, err)
	assert.True(t, next.IsZero())
	n, err = store.CountUnsentAlerts(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)

	err = store.RecordAlertSend(t.Context(), db.AlertSend{AlertID: id, Err: "x"})
	assert.ErrorIs(t, err, db.ErrNotFound, "a sent alert is final")
}

func testListAlertsPagesNewestFirst(t *testing.T, h Harness) {
	store, clock := open(t, h)
	var ids []string
	for i := range 5 {
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook", "t"+string(rune('a'+i)))
		dbtest.Event(t, store, "t"+string(rune('a'+i)), i)
		dbtest.Fail(t, store, wh.ID, 503)
		ids = append(ids, fold(t, store).Raised...)
		clock.Add(time.Second)
	}
	require.NoError(t, store.RecordAlertSend(t.Context(), db.AlertSend{AlertID: ids[1]}))

	page, next, err := store.ListAlerts(t.Context(), db.AlertFilter{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []string{ids[4], ids[3]}, []string{page[0].ID, page[1].ID})
	require.NotEmpty(t, next)
	page, next, err = store.ListAlerts(t.Context(), db.AlertFilter{Limit: 2, Cursor: next})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[2], ids[1]}, []string{page[0].ID, page[1].ID})
	page, next, err = store.ListAlerts(t.Context(), db.AlertFilter{Limit: 2, Cursor: next})
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0]}, []string{page[0].ID})
	assert.Empty(t, next)

	page, _, err = store.ListAlerts(t.Context(), db.AlertFilter{State: db.AlertSent})
	require.NoError(t, err)
	require.Len(t, page, 1)
	assert.Equal(t, ids[1], page[0].ID)

	_, _, err = store.ListAlerts(t.Context(), db.AlertFilter{Cursor: "bogus"})
	assert.ErrorIs(t, err, db.ErrBadCursor)
	_, err = store.FindAlert(t.Context(), "alr_nope")
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testAlertOutlivesItsWebhook(t *testing.T, h Harness) {
	store, _ := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	c := dbtest.Fail(t, store, wh.ID, 503)
	require.NoError(t, store.DeleteWebhook(t.Context(), wh.ID))

	res := fold(t, store)
	require.Len(t, res.Raised, 1, "a failure queued before the webhook was deleted still alerts")
	a, err := store.FindAlert(t.Context(), res.Raised[0])
	require.NoError(t, err)
	assert.Equal(t, wh.ID, a.WebhookID)
	assert.Equal(t, "https://receiver.test/hook", a.WebhookURL)
	assert.Equal(t, c.DeliveryID, a.Last.DeliveryID)
}

func testAlertDigestListsTheFirstAndCountsAll(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	n := db.AlertFailuresListed + 5
	for i := range n + 1 {
		typ := "a.one"
		if i%2 == 1 {
			typ = "a.two"
		}
		dbtest.Event(t, store, typ, i)
	}
	for range n + 1 {
		dbtest.Fail(t, store, wh.ID, 503)
		clock.Add(time.Second)
	}
	fold(t, store)
	as := alertsOf(t, store, wh.ID)
	require.Len(t, as, 2)
	d := as[1]
	assert.Equal(t, n, d.DeliveryCount)
	assert.Len(t, d.Failures, db.AlertFailuresListed)
	assert.Equal(t, []string{"a.one", "a.two"}, d.EventTypes)
	assert.Equal(t, t0.Add(time.Duration(n)*time.Second), d.Last.FailedAt)
}

func testCountAlertsSince(t *testing.T, h Harness) {
	store, clock := open(t, h)
	count := func(since time.Time) int {
		t.Helper()
		n, err := store.CountAlertsSince(t.Context(), since)
		require.NoError(t, err)
		return n
	}
	assert.Zero(t, count(t0.Add(-time.Hour)))

	a := dbtest.Webhook(t, store, "https://a.test/hook")
	b := dbtest.Webhook(t, store, "https://b.test/hook")
	dbtest.Event(t, store, "order.paid", 1) // one delivery to each
	dbtest.Fail(t, store, a.ID, 503)
	fold(t, store)
	clock.Add(2 * time.Hour)
	dbtest.Fail(t, store, b.ID, 500)
	fold(t, store)

	assert.Equal(t, 2, count(t0), "sent or not, every alert raised since then")
	assert.Equal(t, 1, count(t0.Add(time.Minute)))
	assert.Equal(t, 1, count(t0.Add(2*time.Hour)), "at the instant counts")
	assert.Zero(t, count(t0.Add(2*time.Hour+time.Millisecond)))

	dbtest.Event(t, store, "order.paid", 2)
	dbtest.Succeed(t, store, a.ID)
	require.Len(t, noticesOf(t, store, a.ID), 1)
	assert.Equal(t, 2, count(t0), "a recovered alert needs no attention: not counted")
}

// Every instance runs an alert sender: a claimed alert is held from the others until its
// lease has passed (the sender that claimed it died), and then handed out once more.
func testClaimDueAlertsHoldsEachForOneSender(t *testing.T, h Harness) {
	store, clock := open(t, h)
	other := openAgain(t, h, store, Options{Clock: clock.Now})
	for i, url := range []string{"https://a.test/hook", "https://b.test/hook"} {
		wh := dbtest.Webhook(t, store, url, fmt.Sprintf("t%d.*", i))
		dbtest.Event(t, store, fmt.Sprintf("t%d.x", i), 1)
		dbtest.Fail(t, store, wh.ID, 503)
	}
	require.Len(t, fold(t, store).Raised, 2)

	first, err := store.ClaimDueAlerts(t.Context(), 1, 5*time.Minute)
	require.NoError(t, err)
	require.Len(t, first, 1)
	second, err := other.ClaimDueAlerts(t.Context(), 10, 5*time.Minute)
	require.NoError(t, err)
	require.Len(t, second, 1, "the other instance gets the other alert only")
	assert.NotEqual(t, first[0].ID, second[0].ID)
	none, err := other.ClaimDueAlerts(t.Context(), 10, 5*time.Minute)
	require.NoError(t, err)
	assert.Empty(t, none, "both are held")

	require.NoError(t, other.RecordAlertSend(t.Context(), db.AlertSend{AlertID: second[0].ID, Recipients: []string{"a@x.test"}}))
	clock.Add(5 * time.Minute)
	later, err := other.ClaimDueAlerts(t.Context(), 10, 5*time.Minute)
	require.NoError(t, err)
	require.Len(t, later, 1, "the unsent one is due again once its claim has run out; the sent one never")
	assert.Equal(t, first[0].ID, later[0].ID)
}
