package sqlite_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
)

func TestCountAlertsSince(t *testing.T) {
	t.Parallel()
	store, clock := newStore(t)
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
}
