package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// SQLite serves one process per file, so its database clock is the store's clock
// (DB.Clock): leases start, run and end on it. The conformance suite cannot move a
// database's clock and so checks leases only as over at once or held; these tests check the
// exact instants on the clock SQLite uses.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// twoStores opens two stores on one file, as two processes would, sharing a clock.
func twoStores(t *testing.T) (a, b *sqlite.DB, clock *dbtest.Clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	clock = dbtest.NewClock(t0)
	for _, s := range []**sqlite.DB{&a, &b} {
		store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { store.Close() })
		store.Clock = clock.Now
		*s = store
	}
	return a, b, clock
}

func claim(t *testing.T, store *sqlite.DB, lease time.Duration, reqs ...db.ClaimRequest) []db.Claim {
	t.Helper()
	c, err := store.ClaimDue(t.Context(), reqs, lease)
	require.NoError(t, err)
	return c.Claims
}

func TestLeasesFollowTheStoreClock(t *testing.T) {
	t.Parallel()
	store, _, clock := twoStores(t)
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Event(t, store, "a.b", 2)
	lost := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 2})
	require.Len(t, lost, 2)
	for _, c := range lost {
		assert.Equal(t, t0.Add(time.Minute), c.LeaseUntil)
	}

	clock.Add(time.Minute - time.Millisecond)
	n, err := store.RescueExpired(t.Context(), 7)
	require.NoError(t, err)
	assert.Zero(t, n, "a lease is honoured until it runs out")

	now := clock.Add(time.Millisecond)
	n, err = store.RescueExpired(t.Context(), 7)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "and ended at the instant it does")
	for _, c := range lost {
		assert.Equal(t, now, dbtest.Delivery(t, store, c.DeliveryID).NextAttemptAt, "due at once")
	}
	again := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 2})
	require.Len(t, again, 2)
	assert.Equal(t, now.Add(time.Minute), again[0].LeaseUntil)
}

func TestLeaseTimesAreUTCMilliseconds(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	zone := time.FixedZone("UTC-7", -7*3600)
	store.Clock = dbtest.NewClock(time.Date(2026, 5, 6, 7, 8, 9, 123_456_789, zone)).Now
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	dbtest.Event(t, store, "a.b", 1)
	c := claim(t, store, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})[0]
	assert.Equal(t, time.Date(2026, 5, 6, 14, 9, 9, 123_000_000, time.UTC), c.LeaseUntil.Truncate(time.Millisecond).UTC())
}

func TestTryLeadOnTheStoreClock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, clock := twoStores(t)
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
	clock.Add(time.Second - time.Millisecond)
	assert.False(t, lead(b, "B"), "held until the instant it expires")
	clock.Add(time.Millisecond)
	assert.True(t, lead(b, "B"), "an expired lease is taken over")
	assert.False(t, lead(a, "A"))
}
