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

func webhookTests() []test {
	return []test{
		{"WebhookCreateFindListUpdate", testWebhookCreateFindListUpdate},
		{"DeleteWebhookTakesItsDeliveries", testDeleteWebhookTakesItsDeliveries},
		{"DeleteWebhookWithALongHistory", testDeleteWebhookWithALongHistory},
	}
}

func testWebhookCreateFindListUpdate(t *testing.T, h Harness) {
	store, clock := open(t, h)
	ctx := t.Context()
	created, err := store.CreateWebhook(ctx, db.NewWebhook{URL: "https://a.test/hook", Description: "Orders",
		EventTypes: []string{"order.*", "invoice.paid"}, Secret: dbtest.Secret, Enabled: true})
	require.NoError(t, err)
	assert.Regexp(t, `^whk_[0-9A-Z]{26}$`, created.ID)
	assert.Equal(t, db.Webhook{ID: created.ID, URL: "https://a.test/hook", Description: "Orders",
		EventTypes: []string{"order.*", "invoice.paid"}, Secret: dbtest.Secret, Enabled: true, CreatedAt: t0, UpdatedAt: t0}, created)
	found, err := store.FindWebhook(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, created, found)

	clock.Add(time.Second)
	other := dbtest.Webhook(t, store, "https://b.test/hook")
	list, err := store.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, []db.Webhook{created, other}, list, "oldest first")

	now := clock.Add(time.Minute)
	updated, err := store.UpdateWebhook(ctx, created.ID, db.WebhookUpdate{URL: new("https://c.test/hook"), EventTypes: []string{"*"}})
	require.NoError(t, err)
	want := created
	want.URL, want.EventTypes, want.UpdatedAt = "https://c.test/hook", []string{"*"}, now
	assert.Equal(t, want, updated, "nil fields are left as they are")
	found, err = store.FindWebhook(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, want, found)

	updated, err = store.UpdateWebhook(ctx, created.ID, db.WebhookUpdate{Description: new(""), Enabled: new(false)})
	require.NoError(t, err)
	want.Description, want.Enabled, want.DisabledAt = "", false, now
	assert.Equal(t, want, updated, "disabled by hand: when, and no reason")
	found, err = store.FindWebhook(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, want, found)

	later := clock.Add(time.Minute)
	updated, err = store.UpdateWebhook(ctx, created.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	want.Enabled, want.DisabledAt, want.UpdatedAt = true, time.Time{}, later
	assert.Equal(t, want, updated, "enabled again: disabledAt is cleared")
	found, err = store.FindWebhook(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, want, found)

	_, err = store.FindWebhook(ctx, "whk_nope")
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = store.UpdateWebhook(ctx, "whk_nope", db.WebhookUpdate{Enabled: new(true)})
	assert.ErrorIs(t, err, db.ErrNotFound)
}

func testDeleteWebhookTakesItsDeliveries(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	gone := dbtest.Webhook(t, store, "https://gone.test/hook")
	kept := dbtest.Webhook(t, store, "https://kept.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	c := dbtest.Fail(t, store, gone.ID, 503)
	k := dbtest.Succeed(t, store, kept.ID)
	require.Equal(t, 2, h.Count(t, store, "attempts"))

	require.NoError(t, store.DeleteWebhook(ctx, gone.ID))
	_, err := store.FindWebhook(ctx, gone.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = store.FindDelivery(ctx, c.DeliveryID)
	assert.ErrorIs(t, err, db.ErrNotFound)
	as, err := store.ListAttempts(ctx, c.DeliveryID)
	require.NoError(t, err)
	assert.Empty(t, as)
	assert.Equal(t, 1, h.Count(t, store, "deliveries"), "the other webhook's delivery stays")
	assert.Equal(t, 1, h.Count(t, store, "attempts"))
	assert.Len(t, dbtest.Attempts(t, store, k.DeliveryID), 1)
	list, err := store.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, []db.Webhook{kept}, list)

	assert.ErrorIs(t, store.DeleteWebhook(ctx, gone.ID), db.ErrNotFound)
}

// A history longer than one batch is deleted in several transactions, all of it, and only
// the webhook's own.
func testDeleteWebhookWithALongHistory(t *testing.T, h Harness) {
	store, _ := open(t, h)
	ctx := t.Context()
	gone := dbtest.Webhook(t, store, "https://gone.test/hook", "a.*")
	kept := dbtest.Webhook(t, store, "https://kept.test/hook", "b.*")
	n := 2*db.DefaultPruneBatch + 7
	ingestTyped(t, store, "a.b", n)
	ingestTyped(t, store, "b.c", 3)
	for {
		cs := claim(t, store, held, db.ClaimRequest{WebhookID: gone.ID, Limit: 1000}).Claims
		if len(cs) == 0 {
			break
		}
		var results []db.AttemptResult
		for _, c := range cs {
			results = append(results, db.AttemptResult{Claim: c, AttemptedAt: t0, StatusCode: 200, Next: db.StateSucceeded})
		}
		record(t, store, results...)
	}
	require.Equal(t, n, h.Count(t, store, "attempts"))

	require.NoError(t, store.DeleteWebhook(ctx, gone.ID))
	assert.Zero(t, h.Count(t, store, "attempts"))
	assert.Equal(t, 3, h.Count(t, store, "deliveries"), "the other webhook's deliveries stay")
	assert.Len(t, dbtest.Deliveries(t, store, kept.ID), 3)
	_, err := store.FindWebhook(ctx, gone.ID)
	assert.ErrorIs(t, err, db.ErrNotFound)
}

// ingestTyped ingests n events of type typ in one call.
func ingestTyped(t *testing.T, store Store, typ string, n int) {
	t.Helper()
	events := make([]db.NewEvent, n)
	for i := range events {
		events[i] = db.NewEvent{Type: typ, Data: json.RawMessage(`{}`)}
	}
	_, err := store.CreateEvents(t.Context(), events)
	require.NoError(t, err)
}
