package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// t0 is where every test's injected clock starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Lease lengths (see the package doc): expired is over at once, held outlasts any test,
// including every move of the injected clock a test makes.
const (
	expired = 0
	held    = 24 * time.Hour
)

// open returns a fresh store whose clock stands still at t0 until the test moves it.
func open(t *testing.T, h Harness) (Store, *dbtest.Clock) {
	t.Helper()
	clock := dbtest.NewClock(t0)
	return h.Open(t, Options{Clock: clock.Now}), clock
}

// allDeliveries pages through every delivery the filter selects.
func allDeliveries(t *testing.T, store Store, f db.DeliveryFilter) []db.Delivery {
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

// dueLog records OnDue notifications.
type dueLog struct {
	mu  sync.Mutex
	ids []string
}

func watchDue(store Store) *dueLog {
	l := &dueLog{}
	store.OnDue(func(ids []string) {
		l.mu.Lock()
		l.ids = append(l.ids, ids...)
		l.mu.Unlock()
	})
	return l
}

func (l *dueLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ids
	l.ids = nil
	return out
}

func claim(t *testing.T, store Store, lease time.Duration, reqs ...db.ClaimRequest) db.Claimed {
	t.Helper()
	c, err := store.ClaimDue(t.Context(), reqs, lease)
	require.NoError(t, err)
	return c
}

func record(t *testing.T, store Store, results ...db.AttemptResult) {
	t.Helper()
	require.NoError(t, store.RecordAttempts(t.Context(), results))
}

func rescue(t *testing.T, store Store, maxAttempts int) int {
	t.Helper()
	n, err := store.RescueExpired(t.Context(), maxAttempts)
	require.NoError(t, err)
	return n
}

func statesOf(t *testing.T, store Store, webhookID string) map[db.State]int {
	t.Helper()
	out := map[db.State]int{}
	for _, d := range allDeliveries(t, store, db.DeliveryFilter{WebhookID: webhookID}) {
		out[d.State]++
	}
	return out
}

// settle claims every due delivery of a webhook and records each with the next state from
// states, in order; deliveries beyond len(states) stay leased (delivering).
func settle(t *testing.T, store Store, webhookID string, states ...db.State) []db.Claim {
	t.Helper()
	cs := claim(t, store, held, db.ClaimRequest{WebhookID: webhookID, Limit: 100}).Claims
	require.GreaterOrEqual(t, len(cs), len(states))
	var results []db.AttemptResult
	for i, s := range states {
		r := db.AttemptResult{Claim: cs[i], AttemptedAt: t0, StatusCode: 500, Next: s}
		switch s {
		case db.StateSucceeded:
			r.StatusCode = 200
		case db.StatePending:
			r.NextAt = t0.Add(time.Hour)
		}
		results = append(results, r)
	}
	record(t, store, results...)
	return cs
}

// assertLeaseLength checks, without knowing the database's clock, that two claims made
// moments apart were leased for lengths that differ by want.
func assertLeaseLength(t *testing.T, short, long db.Claim, want time.Duration) {
	t.Helper()
	require.Equal(t, time.UTC, short.LeaseUntil.Location(), "lease in UTC")
	require.Equal(t, time.UTC, long.LeaseUntil.Location(), "lease in UTC")
	require.InDelta(t, want.Seconds(), long.LeaseUntil.Sub(short.LeaseUntil).Seconds(), 5, "leases of %s apart", want)
}
