package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

// The main flows end to end on PostgreSQL: ingest with fan-out and idempotency, claim,
// record a failure and a retry, fail for good with an alert folded and sent.
func TestSmokeMainFlows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, clock := newStore(t)
	wh := webhook(t, s, "https://a.test/hook", "order.*")
	other := webhook(t, s, "https://b.test/hook", "*")

	res, err := s.CreateEvents(ctx, []db.NewEvent{
		{Type: "order.created", Data: []byte(`{"n":1}`), IdempotencyKey: "k1"},
		{Type: "user.created", Data: []byte(`{"n":2}`)},
		{Type: "order.created", Data: []byte(`{"n":3}`), IdempotencyKey: "k1"},
	})
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, db.IngestResult{EventID: res[0].EventID, Deliveries: 2}, res[0])
	assert.Equal(t, 1, res[1].Deliveries)
	assert.Equal(t, db.IngestResult{EventID: res[0].EventID, Deliveries: 2, Duplicate: true}, res[2])
	again, err := s.CreateEvents(ctx, []db.NewEvent{{Type: "order.created", Data: []byte(`{}`), IdempotencyKey: "k1"}})
	require.NoError(t, err)
	assert.Equal(t, db.IngestResult{EventID: res[0].EventID, Deliveries: 2, Duplicate: true}, again[0])

	got := claim(t, s, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 10}, db.ClaimRequest{WebhookID: other.ID, Limit: 1})
	require.Len(t, got.Claims, 2)
	c := got.Claims[0]
	assert.Equal(t, wh.ID, c.WebhookID)
	assert.Equal(t, "https://a.test/hook", c.URL)
	assert.Equal(t, []string{secret}, c.Secrets)
	assert.Equal(t, res[0].EventID, c.EventID)
	assert.Equal(t, "order.created", c.EventType)
	assert.JSONEq(t, `{"id":"`+res[0].EventID+`","eventType":"order.created","timestamp":"2030-01-02T03:04:05Z","workflowId":null,"data":{"n":1}}`, string(c.Body))
	assert.Equal(t, 0, c.Attempts)
	assert.Equal(t, other.ID, got.Claims[1].WebhookID)
	assert.Equal(t, clock.Now(), got.NextDue[other.ID], "a full claim: more is due now")
	assert.NotContains(t, got.NextDue, wh.ID, "nothing left pending")

	// A failure with a retry, then the last attempt fails for good.
	record(t, s, db.AttemptResult{Claim: c, AttemptedAt: clock.Now(), StatusCode: 503, Duration: 20 * time.Millisecond,
		ResponseBody: []byte("busy"), ErrorMessage: "oops\x00\xff", Signature: "v1,x", Next: db.StatePending, NextAt: clock.Now().Add(time.Minute)})
	d := delivery(t, s, c.DeliveryID)
	assert.Equal(t, db.StatePending, d.State)
	assert.Equal(t, 1, d.Attempts)
	assert.Equal(t, "HTTP 503", d.LastError)
	assert.Equal(t, clock.Now().Add(time.Minute), d.NextAttemptAt)
	assert.Empty(t, claim(t, s, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims, "not due yet")
	clock.Add(time.Minute)
	got = claim(t, s, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
	require.Len(t, got.Claims, 1)
	assert.Equal(t, 1, got.Claims[0].Attempts)
	record(t, s, db.AttemptResult{Claim: got.Claims[0], AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StateFailed})

	attempts, err := s.ListAttempts(ctx, c.DeliveryID)
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	assert.Equal(t, 1, attempts[0].Number)
	assert.Equal(t, []byte("busy"), attempts[0].ResponseBody)
	assert.Equal(t, "oops\uFFFD\uFFFD", attempts[0].ErrorMessage, "text PostgreSQL cannot store is replaced, not refused")
	assert.Equal(t, 20*time.Millisecond, attempts[0].Duration)
	assert.Equal(t, 2, attempts[1].Number)

	failing, err := s.ListFailingWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, failing, 1)
	assert.Equal(t, wh.ID, failing[0].Webhook.ID)
	assert.Equal(t, "HTTP 500", failing[0].LastError)

	work, _, err := s.AlertWork(ctx)
	require.NoError(t, err)
	assert.True(t, work)
	fold, err := s.FoldAlertFailures(ctx, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 1, fold.Failures)
	require.Len(t, fold.Raised, 1)
	due, err := s.DueAlerts(ctx, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	a := due[0]
	assert.Equal(t, db.AlertImmediate, a.Kind)
	assert.Equal(t, 1, a.DeliveryCount)
	assert.Equal(t, []string{"order.created"}, a.EventTypes)
	assert.Equal(t, c.DeliveryID, a.Last.DeliveryID)
	require.NoError(t, s.RecordAlertSend(ctx, db.AlertSend{AlertID: a.ID, Recipients: []string{"x@y.test"}}))
	a, err = s.FindAlert(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, db.AlertSent, a.State)

	// Retry by hand, lists and counts.
	d, err = s.RetryDelivery(ctx, c.DeliveryID)
	require.NoError(t, err)
	assert.True(t, d.Manual)
	_, err = s.RetryDelivery(ctx, c.DeliveryID)
	require.ErrorIs(t, err, db.ErrInFlight)
	counts, err := s.CountDeliveries(ctx, "", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, db.DeliveryCounts{db.StatePending: 2, db.StateDelivering: 1}, counts)
	events, next, err := s.ListEvents(ctx, db.EventFilter{TypePrefix: "order.", Limit: 1})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Empty(t, next)
	events, next, err = s.ListEvents(ctx, db.EventFilter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, res[1].EventID, events[0].ID, "newest first")
	events, _, err = s.ListEvents(ctx, db.EventFilter{Limit: 1, Cursor: next})
	require.NoError(t, err)
	assert.Equal(t, res[0].EventID, events[0].ID)

	// Users, sessions and settings.
	u, err := s.CreateUser(ctx, "Admin@Example.test", "hash")
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, "admin@example.TEST", "hash")
	require.ErrorIs(t, err, db.ErrUserExists)
	found, err := s.FindUserByEmail(ctx, "ADMIN@example.test")
	require.NoError(t, err)
	assert.Equal(t, u.ID, found.ID)
	sess, err := s.CreateSession(ctx, u.ID, "", time.Time{})
	require.NoError(t, err)
	got2, err := s.FindSession(ctx, sess.ID)
	require.NoError(t, err)
	assert.Equal(t, u.ID, got2.User.ID)
	v, err := s.Setting(ctx, "k", []byte("first"))
	require.NoError(t, err)
	v2, err := s.Setting(ctx, "k", []byte("second"))
	require.NoError(t, err)
	assert.Equal(t, v, v2)
	assert.Equal(t, []byte("first"), v2)
}
