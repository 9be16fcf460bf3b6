package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

func eventTests() []test {
	return []test{
		{"CreateEventsFansOutToEnabledMatchingWebhooks", testCreateEventsFansOutToEnabledMatchingWebhooks},
		{"CreateEventsStoresTheDeliveredBody", testCreateEventsStoresTheDeliveredBody},
		{"CreateEventsIdempotency", testCreateEventsIdempotency},
		{"CreateEventsLargeBatch", testCreateEventsLargeBatch},
		{"CreateEventsConcurrentCallsAllCommit", testCreateEventsConcurrentCallsAllCommit},
		{"CreateTestEventTargetsOneWebhook", testCreateTestEventTargetsOneWebhook},
		{"ListEventsSearchAndPages", testListEventsSearchAndPages},
	}
}

func testCreateEventsFansOutToEnabledMatchingWebhooks(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	all := dbtest.Webhook(t, store, "https://all.test", "*")
	prefix := dbtest.Webhook(t, store, "https://prefix.test", "workflow.*")
	exact := dbtest.Webhook(t, store, "https://exact.test", "workflow.completed")
	several := dbtest.Webhook(t, store, "https://several.test", "deploy.*", "workflow.completed")
	bare := dbtest.Webhook(t, store, "https://bare.test", "workflow.started", "deploy.*", "workflow")
	_, err := store.CreateWebhook(ctx, db.NewWebhook{URL: "https://off.test", EventTypes: []string{"*"}, Secret: dbtest.Secret, Enabled: false})
	require.NoError(t, err)
	turnedOff := dbtest.Webhook(t, store, "https://turned-off.test", "*")
	_, err = store.UpdateWebhook(ctx, turnedOff.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)

	res, err := store.CreateEvents(ctx, []db.NewEvent{
		{Type: "workflow.completed", Data: json.RawMessage(`{}`)},
		{Type: "workflow.step.failed", Data: json.RawMessage(`{}`)},
		{Type: "ping", Data: json.RawMessage(`{}`)},
		{Type: "workflow", Data: json.RawMessage(`{}`)},
	})
	require.NoError(t, err)
	require.Len(t, res, 4)
	for i, want := range [][]string{
		{all.ID, prefix.ID, exact.ID, several.ID},
		{all.ID, prefix.ID},
		{all.ID},
		{all.ID, bare.ID},
	} {
		r := res[i]
		assert.False(t, r.Duplicate)
		assert.Equal(t, len(want), r.Deliveries, "event %d", i)
		ds := allDeliveries(t, store, db.DeliveryFilter{EventID: r.EventID})
		assert.ElementsMatch(t, want, webhookIDs(ds), "event %d", i)
		for _, d := range ds {
			assert.Equal(t, db.StatePending, d.State)
			assert.Equal(t, t0, d.NextAttemptAt, "due at once")
			assert.Zero(t, d.Attempts)
			assert.False(t, d.Manual)
		}
		ev, err := store.FindEvent(ctx, r.EventID)
		require.NoError(t, err)
		assert.Equal(t, len(want), ev.Fanout)
	}
}

func testCreateEventsStoresTheDeliveredBody(t *testing.T, h Harness) {
	store, _ := open(t, h)
	at := time.Date(2026, 2, 3, 4, 5, 6, 789_999_999, time.FixedZone("UTC+2", 2*3600))
	for _, tc := range []struct {
		name string
		in   db.NewEvent
		want string
	}{
		{
			name: "with workflow id",
			in:   db.NewEvent{Type: "workflow.completed", WorkflowID: "wf_42", OccurredAt: at, Data: json.RawMessage(`{"b": [1, 2], "a": "x"}`)},
			want: `{"id":%q,"eventType":"workflow.completed","timestamp":"2026-02-03T02:05:06.789Z","workflowId":"wf_42","data":{"b":[1,2],"a":"x"}}`,
		},
		{
			name: "without workflow id",
			in:   db.NewEvent{Type: "ping", Data: json.RawMessage(`{}`)},
			want: `{"id":%q,"eventType":"ping","timestamp":"2026-03-01T12:00:00Z","workflowId":null,"data":{}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := store.CreateEvents(t.Context(), []db.NewEvent{tc.in})
			require.NoError(t, err)
			ev, err := store.FindEvent(t.Context(), res[0].EventID)
			require.NoError(t, err)
			assert.Regexp(t, `^evt_[0-9A-Z]{26}$`, ev.ID)
			assert.Equal(t, fmt.Sprintf(tc.want, ev.ID), string(ev.Body))
			assert.Equal(t, tc.in.Type, ev.Type)
			assert.Equal(t, tc.in.WorkflowID, ev.WorkflowID)
			assert.JSONEq(t, string(tc.in.Data), string(ev.Data()))
		})
	}
}

func testCreateEventsIdempotency(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test", "*")
	b := dbtest.Webhook(t, store, "https://b.test", "a.*")

	first, err := store.CreateEvents(ctx, []db.NewEvent{{Type: "a.b", Data: json.RawMessage(`{"n":1}`), IdempotencyKey: "key-1"}})
	require.NoError(t, err)
	require.False(t, first[0].Duplicate)
	require.Equal(t, 2, first[0].Deliveries)

	// A third webhook that would match: a duplicate must still create nothing.
	dbtest.Webhook(t, store, "https://c.test", "*")
	again, err := store.CreateEvents(ctx, []db.NewEvent{
		{Type: "x.y", Data: json.RawMessage(`{"n":2}`), IdempotencyKey: "key-1"},
		{Type: "a.c", Data: json.RawMessage(`{"n":3}`), IdempotencyKey: "key-2"},
		{Type: "a.d", Data: json.RawMessage(`{"n":4}`), IdempotencyKey: "key-2"}, // repeated within one batch
	})
	require.NoError(t, err)
	assert.Equal(t, db.IngestResult{EventID: first[0].EventID, Deliveries: 2, Duplicate: true}, again[0])
	assert.False(t, again[1].Duplicate)
	assert.Equal(t, 3, again[1].Deliveries)
	assert.Equal(t, db.IngestResult{EventID: again[1].EventID, Deliveries: 3, Duplicate: true}, again[2])

	ev, err := store.FindEvent(ctx, first[0].EventID)
	require.NoError(t, err)
	assert.Equal(t, "a.b", ev.Type, "the original is kept")
	assert.JSONEq(t, `{"n":1}`, string(ev.Data()))
	assert.Equal(t, "key-1", ev.IdempotencyKey)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{EventID: first[0].EventID}), 2)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: a.ID}), 2)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: b.ID}), 2)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{}), 2+3)

	// Events without a key are never duplicates of each other.
	x := dbtest.Event(t, store, "a.b", 1)
	y := dbtest.Event(t, store, "a.b", 1)
	assert.NotEqual(t, x.EventID, y.EventID)
	assert.False(t, y.Duplicate)
}

// A batch larger than one insert statement's rows: each event gets its own id and its own
// deliveries, in the order given.
func testCreateEventsLargeBatch(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	wh := dbtest.Webhook(t, store, "https://a.test", "a.*")
	events := make([]db.NewEvent, 600)
	for i := range events {
		typ := "a.b"
		if i%3 == 2 {
			typ = "x.y" // matches no webhook
		}
		events[i] = db.NewEvent{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	got, err := store.CreateEvents(ctx, events)
	require.NoError(t, err)
	require.Len(t, got, 600)
	seen := map[string]bool{}
	for i, r := range got {
		require.False(t, seen[r.EventID], "event %d has an id of its own", i)
		seen[r.EventID] = true
		ev, err := store.FindEvent(ctx, r.EventID)
		require.NoError(t, err)
		assert.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(ev.Data()), "event %d", i)
		want := 1
		if i%3 == 2 {
			want = 0
		}
		assert.Equal(t, want, r.Deliveries, "event %d", i)
		if i%97 == 0 || i == 599 {
			assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{EventID: r.EventID}), want, "event %d", i)
		}
	}
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: wh.ID}), 400)
}

func testCreateEventsConcurrentCallsAllCommit(t *testing.T, h Harness) {
	store, _ := open(t, h)
	a := dbtest.Webhook(t, store, "https://a.test", "*")
	b := dbtest.Webhook(t, store, "https://b.test", "even.*")
	const writers, perWriter = 50, 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]bool{}
		shared  []db.IngestResult
		errs    []error
		matched int
	)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				typ := "odd.x"
				if i%2 == 0 {
					typ = "even.x"
				}
				res, err := store.CreateEvents(t.Context(), []db.NewEvent{{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids[res[0].EventID] = true
					matched += res[0].Deliveries
				}
				mu.Unlock()
			}
			// Every writer races for the same idempotency key: exactly one creates the event.
			res, err := store.CreateEvents(t.Context(), []db.NewEvent{{Type: "odd.y", Data: json.RawMessage(`{}`), IdempotencyKey: "shared"}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			shared = append(shared, res[0])
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	assert.Len(t, ids, writers*perWriter, "every event got its own id")
	assert.Equal(t, writers*perWriter+writers*perWriter/2, matched)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: a.ID}), writers*perWriter+1)
	assert.Len(t, allDeliveries(t, store, db.DeliveryFilter{WebhookID: b.ID}), writers*perWriter/2)

	require.Len(t, shared, writers)
	created := 0
	for _, r := range shared {
		assert.Equal(t, shared[0].EventID, r.EventID)
		assert.Equal(t, 1, r.Deliveries)
		if !r.Duplicate {
			created++
		}
	}
	assert.Equal(t, 1, created)
}

func testCreateTestEventTargetsOneWebhook(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	a := dbtest.Webhook(t, store, "https://a.test/", "order.*")
	b := dbtest.Webhook(t, store, "https://b.test/")

	d, err := store.CreateTestEvent(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, db.TestEventType, d.EventType)
	assert.Equal(t, a.ID, d.WebhookID)
	assert.Equal(t, db.StatePending, d.State)
	assert.Empty(t, dbtest.Deliveries(t, store, b.ID))
	ev, err := store.FindEvent(ctx, d.EventID)
	require.NoError(t, err)
	assert.Equal(t, 1, ev.Fanout)
	assert.JSONEq(t, `{"message":"This is a test event sent from the hookrelay admin UI.","webhookId":"`+a.ID+`"}`, string(ev.Data()))

	off := false
	_, err = store.UpdateWebhook(ctx, a.ID, db.WebhookUpdate{Enabled: &off})
	require.NoError(t, err)
	_, err = store.CreateTestEvent(ctx, a.ID)
	assert.ErrorIs(t, err, db.ErrWebhookDisabled)
	_, err = store.CreateTestEvent(ctx, "whk_missing")
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testListEventsSearchAndPages(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	var all []db.NewEvent
	for i := range 7 {
		typ := "workflow.step"
		if i%2 == 1 {
			typ = "invoice.paid"
		}
		all = append(all, db.NewEvent{Type: typ, WorkflowID: "wf_" + string(rune('0'+i%3)), Data: []byte(`{}`)})
	}
	res, err := store.CreateEvents(ctx, all)
	require.NoError(t, err)

	ids := func(f db.EventFilter) []string {
		var out []string
		for {
			evs, next, err := store.ListEvents(ctx, f)
			require.NoError(t, err)
			for _, e := range evs {
				out = append(out, e.ID)
			}
			if next == "" {
				return out
			}
			f.Cursor = next
		}
	}
	assert.Equal(t, []string{res[6].EventID, res[5].EventID, res[4].EventID, res[3].EventID, res[2].EventID, res[1].EventID, res[0].EventID},
		ids(db.EventFilter{Limit: 2}), "newest first across pages")
	assert.Equal(t, []string{res[6].EventID, res[4].EventID, res[2].EventID, res[0].EventID}, ids(db.EventFilter{TypePrefix: "work"}))
	assert.Equal(t, []string{res[6].EventID, res[3].EventID, res[0].EventID}, ids(db.EventFilter{WorkflowID: "wf_0"}))
	assert.Empty(t, ids(db.EventFilter{TypePrefix: "%"}), "no LIKE wildcards")

	// Received times: the first seven at t0, one more an hour later.
	later := clock.Add(time.Hour)
	dbtest.Event(t, store, "workflow.late", 1)
	got := ids(db.EventFilter{Since: later})
	require.Len(t, got, 1)
	assert.Len(t, ids(db.EventFilter{Until: later}), 7, "before until")
	assert.Len(t, ids(db.EventFilter{Since: t0, Until: later.Add(time.Millisecond), TypePrefix: "workflow."}), 5)
	_, _, err = store.ListEvents(ctx, db.EventFilter{Cursor: "nope"})
	assert.ErrorIs(t, err, db.ErrBadCursor)
}
