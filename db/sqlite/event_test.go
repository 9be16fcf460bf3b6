package sqlite_test

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
	"github.com/hookrelay/hookrelay/db/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newStore returns a fresh database whose clock stands still at t0 until the test moves it.
func newStore(t *testing.T) (*sqlite.DB, *dbtest.Clock) {
	t.Helper()
	store := dbtest.New(t)
	clock := dbtest.NewClock(t0)
	store.Clock = clock.Now
	return store, clock
}

// allDeliveries pages through every delivery the filter selects.
func allDeliveries(t *testing.T, store *sqlite.DB, f db.DeliveryFilter) []db.Delivery {
	t.Helper()
	var out []db.Delivery
	for {
		page, next, err := store.ListDeliveries(t.Context(), f)
		require.NoError(t, err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func webhookIDs(ds []db.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.WebhookID)
	}
	return out
}

func TestCreateEventsFansOutToEnabledMatchingWebhooks(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
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

func TestCreateEventsStoresTheDeliveredBody(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
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

func TestCreateEventsIdempotency(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
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

func TestCreateEventsConcurrentCallsAllCommit(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
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
