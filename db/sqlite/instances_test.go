package sqlite_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// twoStores opens two stores on one file, as two processes would, sharing a clock.
func twoStores(t *testing.T, o sqlite.Options) (a, b *sqlite.DB, clock *dbtest.Clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	clock = dbtest.NewClock(t0)
	for _, s := range []**sqlite.DB{&a, &b} {
		store, err := sqlite.Open(context.Background(), path, o)
		require.NoError(t, err)
		t.Cleanup(func() { store.Close() })
		store.Clock = clock.Now
		*s = store
	}
	return a, b, clock
}

// A claim follows a change made by another process at once, even though claims cache what
// they read of a webhook.
func TestClaimFollowsWebhookChangesFromAnotherProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, sqlite.Options{})
	wh := dbtest.Webhook(t, a, "https://old.test/hook")
	attempt := func() db.Claimed {
		t.Helper()
		dbtest.Event(t, b, "a.b", 1)
		got := claim(t, a, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
		for _, c := range got.Claims {
			record(t, a, db.AttemptResult{Claim: c, AttemptedAt: a.Now(), StatusCode: 200, Next: db.StateSucceeded})
		}
		return got
	}
	require.Equal(t, "https://old.test/hook", attempt().Claims[0].URL)

	_, err := b.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{URL: new("https://new.test/hook")})
	require.NoError(t, err)
	assert.Equal(t, "https://new.test/hook", attempt().Claims[0].URL, "a URL changed elsewhere")

	const rotated = "whsec_Zm9yIHRoZSByb3RhdGlvbiB0ZXN0IG9ubHkhIQ=="
	_, err = b.RotateSecret(ctx, wh.ID, rotated, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{rotated}, attempt().Claims[0].Secrets, "a secret rotated elsewhere with no grace")

	_, err = b.UpdateWebhook(ctx, wh.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)
	assert.Empty(t, attempt().Claims, "a webhook disabled elsewhere")
}

// Event row ids are reused once the newest rows are deleted; the bodies claims cache must not
// be mistaken for a new event's.
func TestClaimCarriesANewEventAfterTheTableWasEmptied(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	first := dbtest.Event(t, store, "a.b", 1)
	c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	require.Equal(t, first.EventID, c.EventID)
	record(t, store, db.AttemptResult{Claim: c, AttemptedAt: store.Now(), StatusCode: 200, Next: db.StateSucceeded})
	require.NoError(t, store.ExecForTest(t.Context(), `DELETE FROM events`))

	second := dbtest.Event(t, store, "a.b", 2)
	ev, err := store.FindEvent(t.Context(), second.EventID)
	require.NoError(t, err)
	c = claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	assert.Equal(t, second.EventID, c.EventID)
	assert.Equal(t, ev.Body, c.Body)
}

// A webhook whose secret cannot be read is reported, and every other webhook's work is
// claimed as usual.
func TestClaimSkipsAWebhookWhoseSecretDoesNotDecrypt(t *testing.T) {
	t.Parallel()
	key := make([]byte, db.EncryptionKeySize)
	rand.Read(key)
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hookrelay.db"), sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	bad := dbtest.Webhook(t, store, "https://bad.test/hook")
	good := dbtest.Webhook(t, store, "https://good.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	require.NoError(t, store.ExecForTest(t.Context(), `UPDATE webhooks SET secret = 'enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE public_id = ?`, bad.ID))

	got := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: bad.ID, Limit: 5}, db.ClaimRequest{WebhookID: good.ID, Limit: 5})
	require.Len(t, got.Claims, 1)
	assert.Equal(t, good.ID, got.Claims[0].WebhookID)
	require.Contains(t, got.Failed, bad.ID)
	assert.ErrorIs(t, got.Failed[bad.ID], db.ErrEncryptionKeyWrong)
	assert.Equal(t, map[db.State]int{db.StatePending: 1}, statesOf(t, store, bad.ID), "its work waits")
}

// An attempt that never comes back still counts: the rescuer fails the delivery once its last
// attempt is lost, and queues its alert, instead of handing it out forever.
func TestRescueFailsADeliveryWhoseLastAttemptWasLost(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, clock := newStore(t)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	const maxAttempts = 2
	lose := func(wantState db.State) db.Delivery {
		t.Helper()
		require.Len(t, claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims, 1)
		clock.Add(time.Minute)
		n, err := store.RescueExpired(ctx, maxAttempts)
		require.NoError(t, err)
		require.Equal(t, 1, n)
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
	outbox, err := store.CountRowsForTest(ctx, "alert_failures")
	require.NoError(t, err)
	assert.Equal(t, 1, outbox, "its alert is queued as for any failure")

	_, err = store.RetryDelivery(ctx, d.ID)
	require.NoError(t, err)
	d = lose(db.StateFailed)
	assert.Equal(t, 3, d.Attempts, "a lost manual retry fails at once")
	outbox, err = store.CountRowsForTest(ctx, "alert_failures")
	require.NoError(t, err)
	assert.Equal(t, 1, outbox, "a manual retry raises no alert")
}

func TestTryLead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, clock := twoStores(t, sqlite.Options{})
	lead := func(s *sqlite.DB, holder string) bool {
		t.Helper()
		ok, err := s.TryLead(ctx, "rescuer", holder, 10*time.Second)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, lead(a, "A"), "a free lease is taken")
	assert.False(t, lead(b, "B"), "a held lease is not")
	clock.Add(9 * time.Second)
	assert.True(t, lead(a, "A"), "the holder renews")
	clock.Add(9 * time.Second)
	assert.False(t, lead(b, "B"), "renewed, so still held")
	ok, err := b.TryLead(ctx, "alerts", "B", 10*time.Second)
	require.NoError(t, err)
	assert.True(t, ok, "leases are per name")
	clock.Add(2 * time.Second)
	assert.True(t, lead(b, "B"), "an expired lease is taken over")
	assert.False(t, lead(a, "A"))
}
