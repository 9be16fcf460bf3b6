package storetest

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func deliveryTests() []test {
	return []test{
		{"RetryDelivery", testRetryDelivery},
		{"RetryFailed", testRetryFailed},
		{"ListDeliveries", testListDeliveries},
		{"FindDeliveries", testFindDeliveries},
		{"TimesRoundTripAsUTCMilliseconds", testTimesRoundTripAsUTCMilliseconds},
	}
}

func testRetryDelivery(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name    string
		state   db.State // reached by settle; "" leaves it pending and due, StateDelivering leaves it leased
		disable bool
		wantErr error
	}{
		{name: "failed", state: db.StateFailed},
		{name: "succeeded", state: db.StateSucceeded},
		{name: "pending and due", state: "", wantErr: db.ErrInFlight},
		{name: "pending, retry scheduled", state: db.StatePending, wantErr: db.ErrInFlight},
		{name: "in flight", state: db.StateDelivering, wantErr: db.ErrInFlight},
		{name: "failed, webhook disabled", state: db.StateFailed, disable: true, wantErr: db.ErrWebhookDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, clock := open(t, h)
			wh := dbtest.Webhook(t, store, "https://wh.test/hook")
			dbtest.Event(t, store, "a.b", 1)
			id := dbtest.Deliveries(t, store, wh.ID)[0].ID
			switch tc.state {
			case "":
			case db.StateDelivering:
				settle(t, store, wh.ID)
			default:
				settle(t, store, wh.ID, tc.state)
			}
			if tc.disable {
				_, err := store.UpdateWebhook(t.Context(), wh.ID, db.WebhookUpdate{Enabled: new(false)})
				require.NoError(t, err)
			}
			before := dbtest.Delivery(t, store, id)
			due := watchDue(store)
			now := clock.Add(time.Minute)

			d, err := store.RetryDelivery(t.Context(), id)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.ErrorIs(t, err, db.ErrConflict)
				assert.Equal(t, before, dbtest.Delivery(t, store, id), "nothing changes")
				assert.Empty(t, due.take())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, db.StatePending, d.State)
			assert.True(t, d.Manual)
			assert.Equal(t, now, d.NextAttemptAt, "due at once")
			assert.Equal(t, 1, d.Attempts, "the history is kept")
			assert.Equal(t, d, dbtest.Delivery(t, store, id))
			assert.Equal(t, []string{wh.ID}, due.take())

			c := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims
			require.Len(t, c, 1)
			assert.True(t, c[0].Manual)
			assert.Equal(t, db.TriggerManual, c[0].Trigger())
			record(t, store, db.AttemptResult{Claim: c[0], AttemptedAt: now, StatusCode: 500, Next: db.StateFailed})
			as := dbtest.Attempts(t, store, id)
			require.Len(t, as, 2)
			assert.Equal(t, db.TriggerScheduled, as[0].Trigger)
			assert.Equal(t, db.TriggerManual, as[1].Trigger)
			assert.Equal(t, 2, as[1].Number)
			d = dbtest.Delivery(t, store, id)
			assert.Equal(t, db.StateFailed, d.State)
			assert.False(t, d.Manual, "the manual flag covers one attempt")
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		store, _ := open(t, h)
		_, err := store.RetryDelivery(t.Context(), "dlv_nope")
		assert.ErrorIs(t, err, db.ErrNotFound)
	})
}

func testRetryFailed(t *testing.T, h Harness) {
	store, clock := open(t, h)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook", "*")
	other := dbtest.Webhook(t, store, "https://other.test/hook", "*")
	for i := range 6 {
		dbtest.Event(t, store, "a.b", i)
	}
	cs := settle(t, store, wh.ID, db.StateFailed, db.StateSucceeded, db.StateFailed, db.StatePending, db.StateFailed)
	// cs[5] stays in flight.
	settle(t, store, other.ID, db.StateFailed, db.StateFailed)
	due := watchDue(store)
	now := clock.Add(time.Minute)

	n, err := store.RetryFailed(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, []string{wh.ID}, due.take())
	for i, want := range []db.State{db.StatePending, db.StateSucceeded, db.StatePending, db.StatePending, db.StatePending, db.StateDelivering} {
		d := dbtest.Delivery(t, store, cs[i].DeliveryID)
		assert.Equal(t, want, d.State, "delivery %d", i)
		switch i {
		case 0, 2, 4:
			assert.True(t, d.Manual)
			assert.Equal(t, now, d.NextAttemptAt)
		case 3:
			assert.False(t, d.Manual, "a scheduled retry is left alone")
			assert.Equal(t, t0.Add(time.Hour), d.NextAttemptAt)
		}
	}
	assert.Equal(t, map[db.State]int{db.StateFailed: 2, db.StateDelivering: 4}, statesOf(t, store, other.ID), "other webhooks are untouched")

	n, err = store.RetryFailed(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, due.take(), "no announcement when nothing changed")

	_, err = store.UpdateWebhook(t.Context(), other.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)
	_, err = store.RetryFailed(t.Context(), other.ID)
	assert.ErrorIs(t, err, db.ErrWebhookDisabled)
	_, err = store.RetryFailed(t.Context(), "whk_nope")
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testListDeliveries(t *testing.T, h Harness) {
	store, clock := open(t, h)
	a := dbtest.Webhook(t, store, "https://a.test/hook", "*")
	b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
	var events []db.IngestResult
	for i, typ := range []string{"a.x", "b.y", "a.x", "b.y", "a.x", "b.y"} {
		if i > 0 {
			clock.Add(time.Second)
		}
		events = append(events, dbtest.Event(t, store, typ, i))
	}
	settle(t, store, a.ID, db.StateFailed, db.StateSucceeded, db.StateFailed) // a's other three stay in flight
	ids := func(ds []db.Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.EventID+"/"+d.WebhookID)
		}
		return out
	}
	key := func(ev int, w db.Webhook) string { return events[ev].EventID + "/" + w.ID }

	for _, tc := range []struct {
		name string
		f    db.DeliveryFilter
		want []string // newest first
	}{
		{"all", db.DeliveryFilter{}, []string{
			key(5, b), key(5, a), key(4, a), key(3, b), key(3, a), key(2, a), key(1, b), key(1, a), key(0, a)}},
		{"webhook", db.DeliveryFilter{WebhookID: b.ID}, []string{key(5, b), key(3, b), key(1, b)}},
		{"event", db.DeliveryFilter{EventID: events[3].EventID}, []string{key(3, b), key(3, a)}},
		{"state failed", db.DeliveryFilter{State: db.StateFailed}, []string{key(2, a), key(0, a)}},
		{"state and webhook", db.DeliveryFilter{WebhookID: a.ID, State: db.StateDelivering}, []string{key(5, a), key(4, a), key(3, a)}},
		{"event type", db.DeliveryFilter{EventType: "a.x"}, []string{key(4, a), key(2, a), key(0, a)}},
		{"since, inclusive", db.DeliveryFilter{Since: t0.Add(4 * time.Second)}, []string{key(5, b), key(5, a), key(4, a)}},
		{"until, exclusive", db.DeliveryFilter{Until: t0.Add(time.Second)}, []string{key(0, a)}},
		{"window", db.DeliveryFilter{WebhookID: a.ID, Since: t0.Add(2 * time.Second), Until: t0.Add(4 * time.Second)}, []string{key(3, a), key(2, a)}},
		{"unknown webhook", db.DeliveryFilter{WebhookID: "whk_nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, next, err := store.ListDeliveries(t.Context(), tc.f)
			require.NoError(t, err)
			assert.Empty(t, next)
			assert.Equal(t, tc.want, ids(got))
			if tc.f.State != "" {
				for _, d := range got {
					assert.Equal(t, tc.f.State, d.State)
				}
			}

			// Paging in any page size yields the same rows, each once, in the same order.
			for _, size := range []int{1, 2, 4} {
				f := tc.f
				f.Limit = size
				var paged []db.Delivery
				for range 20 {
					page, next, err := store.ListDeliveries(t.Context(), f)
					require.NoError(t, err)
					assert.LessOrEqual(t, len(page), size)
					paged = append(paged, page...)
					if next == "" {
						break
					}
					assert.Len(t, page, size, "only the last page is short")
					f.Cursor = next
				}
				assert.Equal(t, tc.want, ids(paged), "page size %d", size)
			}
		})
	}

	t.Run("bad cursor", func(t *testing.T) {
		t.Parallel()
		for _, c := range []string{"garbage!", base64.RawURLEncoding.EncodeToString([]byte("x12")),
			base64.RawURLEncoding.EncodeToString([]byte("d0")), base64.RawURLEncoding.EncodeToString([]byte("d-4")),
			base64.RawURLEncoding.EncodeToString([]byte("d"))} {
			_, _, err := store.ListDeliveries(t.Context(), db.DeliveryFilter{Cursor: c})
			assert.ErrorIs(t, err, db.ErrBadCursor, "cursor %q", c)
		}
	})
	t.Run("new rows do not shift pages", func(t *testing.T) {
		t.Parallel()
		store, _ := open(t, h)
		w := dbtest.Webhook(t, store, "https://c.test/hook")
		for i := range 4 {
			dbtest.Event(t, store, "a.x", i)
		}
		first, next, err := store.ListDeliveries(t.Context(), db.DeliveryFilter{Limit: 2})
		require.NoError(t, err)
		require.NotEmpty(t, next)
		dbtest.Event(t, store, "a.x", 9)
		second, next, err := store.ListDeliveries(t.Context(), db.DeliveryFilter{Limit: 2, Cursor: next})
		require.NoError(t, err)
		assert.Empty(t, next)
		all := dbtest.Deliveries(t, store, w.ID)
		require.Len(t, all, 5)
		assert.Equal(t, ids(all[1:]), ids(append(first, second...)))
	})
}

func testTimesRoundTripAsUTCMilliseconds(t *testing.T, h Harness) {
	zone := time.FixedZone("UTC-7", -7*3600)
	now := time.Date(2026, 5, 6, 7, 8, 9, 123_456_789, zone)
	clock := dbtest.NewClock(now)
	store := h.Open(t, Options{Clock: clock.Now})
	want := time.Date(2026, 5, 6, 14, 8, 9, 123_000_000, time.UTC)
	isUTCms := func(t *testing.T, want, got time.Time, what string) {
		t.Helper()
		assert.Equal(t, want, got, what)
		assert.Equal(t, time.UTC, got.Location(), what)
	}

	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	isUTCms(t, want, wh.CreatedAt, "webhook created, as returned")
	found, err := store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	isUTCms(t, want, found.CreatedAt, "webhook created")
	isUTCms(t, want, found.UpdatedAt, "webhook updated")

	occurred := time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, zone)
	res, err := store.CreateEvents(t.Context(), []db.NewEvent{{Type: "a.b", Data: json.RawMessage(`{}`), OccurredAt: occurred}})
	require.NoError(t, err)
	ev, err := store.FindEvent(t.Context(), res[0].EventID)
	require.NoError(t, err)
	isUTCms(t, time.Date(2026, 1, 2, 10, 4, 5, 999_000_000, time.UTC), ev.OccurredAt, "event occurred")
	isUTCms(t, want, ev.CreatedAt, "event created")
	var body struct{ Timestamp string }
	require.NoError(t, json.Unmarshal(ev.Body, &body))
	assert.Equal(t, "2026-01-02T10:04:05.999Z", body.Timestamp)
	assert.Equal(t, "2026-01-02T10:04:05.999Z", db.FormatTime(occurred))

	d := dbtest.Deliveries(t, store, wh.ID)[0]
	isUTCms(t, want, d.CreatedAt, "delivery created")
	isUTCms(t, want, d.UpdatedAt, "delivery updated")
	isUTCms(t, want, d.NextAttemptAt, "delivery due")

	// The lease is on the database's clock; db/sqlite checks it against the store's.
	c := claim(t, store, held, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	attempted := now.Add(time.Second)
	record(t, store, db.AttemptResult{Claim: c, AttemptedAt: attempted, Duration: 1234567 * time.Microsecond,
		StatusCode: 500, Next: db.StatePending, NextAt: attempted.Add(time.Hour)})
	a := dbtest.Attempts(t, store, d.ID)[0]
	isUTCms(t, want.Add(time.Second), a.AttemptedAt, "attempted")
	assert.Equal(t, 1234*time.Millisecond, a.Duration, "durations are whole milliseconds")
	d = dbtest.Delivery(t, store, d.ID)
	isUTCms(t, want.Add(time.Second), d.LastAttemptAt, "last attempt")
	isUTCms(t, want.Add(time.Second+time.Hour), d.NextAttemptAt, "next attempt")
}

// Issue 12 item 9: deliveries found by workflow, last status code (one or a class) and error
// class.
func testFindDeliveries(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://a.test/hook")
	_, err := store.CreateEvents(ctx, []db.NewEvent{
		{Type: "a.b", WorkflowID: "wf_1", Data: []byte(`{}`)},
		{Type: "a.b", WorkflowID: "wf_1", Data: []byte(`{}`)},
		{Type: "a.b", WorkflowID: "wf_2", Data: []byte(`{}`)},
		{Type: "a.b", Data: []byte(`{}`)},
	})
	require.NoError(t, err)
	ok := dbtest.Attempt(t, store, wh.ID, db.AttemptResult{StatusCode: 204, Next: db.StateSucceeded})
	gone := dbtest.Attempt(t, store, wh.ID, db.AttemptResult{StatusCode: 503, Next: db.StateFailed})
	busy := dbtest.Attempt(t, store, wh.ID, db.AttemptResult{StatusCode: 502, Next: db.StateFailed})
	slow := dbtest.Attempt(t, store, wh.ID, db.AttemptResult{ErrorClass: "timeout", Next: db.StateFailed})
	ids := func(f db.DeliveryFilter) []string {
		t.Helper()
		var out []string
		for _, d := range allDeliveries(t, store, f) {
			out = append(out, d.ID)
		}
		return out
	}
	assert.ElementsMatch(t, []string{ok.DeliveryID, gone.DeliveryID}, ids(db.DeliveryFilter{WorkflowID: "wf_1"}))
	assert.Equal(t, []string{gone.DeliveryID}, ids(db.DeliveryFilter{StatusFrom: 503, StatusTo: 503}))
	assert.ElementsMatch(t, []string{gone.DeliveryID, busy.DeliveryID}, ids(db.DeliveryFilter{StatusFrom: 500, StatusTo: 599}))
	assert.Equal(t, []string{ok.DeliveryID}, ids(db.DeliveryFilter{StatusFrom: 200, StatusTo: 299}))
	assert.Equal(t, []string{slow.DeliveryID}, ids(db.DeliveryFilter{ErrorClass: "timeout"}))
	assert.Equal(t, []string{busy.DeliveryID}, ids(db.DeliveryFilter{ErrorClass: "HTTP 502"}))
	assert.Equal(t, []string{busy.DeliveryID}, ids(db.DeliveryFilter{WorkflowID: "wf_2", StatusFrom: 500, StatusTo: 599}), "filters combine")
	assert.Empty(t, ids(db.DeliveryFilter{WorkflowID: "wf_2", StatusFrom: 200, StatusTo: 299}))
}
