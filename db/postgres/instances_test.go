package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// twoStores opens two stores on one database, as two instances would, sharing a clock.
func twoStores(t *testing.T, o postgres.Options) (a, b *postgres.DB, clock *dbtest.Clock) {
	t.Helper()
	url := pgtest.URL(t)
	clock = dbtest.NewClock(t0)
	a, b = open(t, url, o), open(t, url, o)
	a.Clock, b.Clock = clock.Now, clock.Now
	return a, b, clock
}

// Instances starting together on a fresh database apply each migration once: the advisory
// lock makes the others wait, and then they find nothing left to do.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	const n = 4
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), url, postgres.Options{MaxConns: 2})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "open %d", i)
	}
	s := open(t, url, postgres.Options{})
	versions, err := s.QueryIntForTest(t.Context(), `SELECT count(*) FROM schema_migrations`)
	require.NoError(t, err)
	distinct, err := s.QueryIntForTest(t.Context(), `SELECT count(DISTINCT version) FROM schema_migrations`)
	require.NoError(t, err)
	assert.Equal(t, distinct, versions)
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	assert.EqualValues(t, len(files), versions, "each migration file applied once")
	_ = webhook(t, s, "https://wh.test/hook")
}

// Two instances, each with several engines' worth of goroutines claiming and recording at
// once, never lease one delivery twice: every delivery is claimed exactly once and succeeds.
func TestTwoStoresNeverLeaseADeliveryTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, postgres.Options{})
	var hooks []db.Webhook
	for i := range 4 {
		hooks = append(hooks, webhook(t, a, fmt.Sprintf("https://wh%d.test/hook", i)))
	}
	const events = 500 // × 4 webhooks = 2,000 deliveries
	batch := make([]db.NewEvent, events)
	for i := range batch {
		batch[i] = db.NewEvent{Type: "a.b", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	_, err := a.CreateEvents(ctx, batch)
	require.NoError(t, err)

	var (
		claims sync.Map // delivery id → *atomic.Int32
		total  atomic.Int32
		wg     sync.WaitGroup
	)
	for _, s := range []*postgres.DB{a, b} {
		for range 4 {
			wg.Go(func() {
				var results []db.AttemptResult
				idle := 0
				for idle < 3 {
					reqs := make([]db.ClaimRequest, len(hooks))
					for i, w := range hooks {
						reqs[i] = db.ClaimRequest{WebhookID: w.ID, Limit: 7}
					}
					got, err := s.RecordAndClaim(ctx, results, reqs, time.Hour)
					if !assert.NoError(t, err) {
						return
					}
					results = results[:0]
					if len(got.Claims) == 0 {
						idle++
						continue
					}
					idle = 0
					for _, c := range got.Claims {
						n, _ := claims.LoadOrStore(c.DeliveryID, new(atomic.Int32))
						n.(*atomic.Int32).Add(1)
						total.Add(1)
						results = append(results, db.AttemptResult{Claim: c, AttemptedAt: s.Now(), StatusCode: 200, Next: db.StateSucceeded})
					}
				}
				if len(results) > 0 {
					assert.NoError(t, s.RecordAttempts(ctx, results))
				}
			})
		}
	}
	wg.Wait()
	assert.EqualValues(t, 4*events, total.Load(), "claims made")
	distinct := 0
	claims.Range(func(k, v any) bool {
		distinct++
		assert.EqualValues(t, 1, v.(*atomic.Int32).Load(), "delivery %s claimed more than once", k)
		return true
	})
	assert.Equal(t, 4*events, distinct)
	counts, err := b.CountDeliveries(ctx, "", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, db.DeliveryCounts{db.StateSucceeded: 4 * events}, counts)
	assert.Equal(t, 4*events, count(t, a, "attempts"))
}

// A webhook's cap on deliveries in flight holds across instances: what one has leased
// counts against what another may claim.
func TestCapHoldsAcrossStores(t *testing.T) {
	t.Parallel()
	a, b, clock := twoStores(t, postgres.Options{})
	wh := webhook(t, a, "https://wh.test/hook")
	for i := range 10 {
		event(t, a, "a.b", i)
	}
	req := db.ClaimRequest{WebhookID: wh.ID, Limit: 5, Cap: 3}
	first := claim(t, a, time.Minute, req)
	assert.Len(t, first.Claims, 3, "the cap, not the limit")
	second := claim(t, b, time.Minute, req)
	assert.Empty(t, second.Claims, "the other instance holds the cap")
	due, ok := second.NextDue[wh.ID]
	require.True(t, ok, "due work is still reported")
	assert.True(t, due.After(clock.Now()), "…a little later, so that the engine does not spin: %s", due)

	record(t, a, db.AttemptResult{Claim: first.Claims[0], AttemptedAt: clock.Now(), StatusCode: 200, Next: db.StateSucceeded})
	third := claim(t, b, time.Minute, req)
	assert.Len(t, third.Claims, 1, "one slot was freed")
}

// Many claimers on two instances never have more of a webhook's deliveries in flight than
// its cap.
func TestCapHoldsUnderConcurrentClaims(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, postgres.Options{})
	wh := webhook(t, a, "https://wh.test/hook")
	batch := make([]db.NewEvent, 300)
	for i := range batch {
		batch[i] = db.NewEvent{Type: "a.b", Data: []byte(`{}`)}
	}
	_, err := a.CreateEvents(ctx, batch)
	require.NoError(t, err)

	const capacity = 3
	var (
		inFlight, most, done atomic.Int32
		wg                   sync.WaitGroup
	)
	for _, s := range []*postgres.DB{a, b} {
		for range 4 {
			wg.Go(func() {
				for done.Load() < int32(len(batch)) {
					got, err := s.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: wh.ID, Limit: 2, Cap: capacity}}, time.Hour)
					if !assert.NoError(t, err) {
						return
					}
					// Counted after the claim committed, uncounted before the result is recorded:
					// never more than the database has in flight.
					n := inFlight.Add(int32(len(got.Claims)))
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					if len(got.Claims) == 0 {
						continue
					}
					var results []db.AttemptResult
					for _, c := range got.Claims {
						results = append(results, db.AttemptResult{Claim: c, AttemptedAt: s.Now(), StatusCode: 200, Next: db.StateSucceeded})
					}
					inFlight.Add(-int32(len(got.Claims)))
					if !assert.NoError(t, s.RecordAttempts(ctx, results)) {
						return
					}
					done.Add(int32(len(got.Claims)))
				}
			})
		}
	}
	wg.Wait()
	assert.EqualValues(t, len(batch), done.Load())
	assert.LessOrEqual(t, most.Load(), int32(capacity))
	assert.Positive(t, most.Load())
}

// While another instance claims for a webhook (it holds the webhook's advisory lock), a
// claim with a cap takes nothing and reports the webhook due again shortly, instead of
// waiting or forgetting it.
func TestClaimReportsALockedWebhookDueSoon(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	s := open(t, url, postgres.Options{})
	clock := dbtest.NewClock(t0)
	s.Clock = clock.Now
	wh := webhook(t, s, "https://wh.test/hook")
	event(t, s, "a.b", 1)
	row, err := s.QueryIntForTest(ctx, `SELECT id FROM webhooks WHERE public_id = ?`, wh.ID)
	require.NoError(t, err)

	other, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer other.Close(context.Background())
	_, err = other.Exec(ctx, `SELECT pg_advisory_lock($1)`, row)
	require.NoError(t, err)

	req := db.ClaimRequest{WebhookID: wh.ID, Limit: 1, Cap: 5}
	got := claim(t, s, time.Minute, req)
	assert.Empty(t, got.Claims)
	assert.Equal(t, clock.Now().Add(50*time.Millisecond), got.NextDue[wh.ID])

	_, err = other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, row)
	require.NoError(t, err)
	assert.Len(t, claim(t, s, time.Minute, req).Claims, 1)
}

// A commit on one instance that makes work due, or queues an alert, reaches the other
// instance's callbacks through NOTIFY; each store calls its own callbacks once per commit
// and ignores its own notifications.
func TestNotificationsReachTheOtherInstance(t *testing.T) {
	t.Parallel()
	a, b, clock := twoStores(t, postgres.Options{})
	wh := webhook(t, a, "https://wh.test/hook")
	sa, sb := watch(a), watch(b)

	event(t, a, "a.b", 1)
	sb.wait(t, "b to hear of a's event", func(due [][]string, _ int) bool { return len(due) > 0 })
	due, _ := sb.snapshot()
	assert.Equal(t, [][]string{{wh.ID}}, due)

	// b's event reaches a after a's own notification (each listener gets notifications in
	// commit order), so by then a has had every chance to count its own twice.
	event(t, b, "a.b", 2)
	sa.wait(t, "a to hear of b's event", func(due [][]string, _ int) bool { return len(due) >= 2 })
	due, _ = sa.snapshot()
	assert.Equal(t, [][]string{{wh.ID}, {wh.ID}}, due, "a's own commit once, then b's")

	c := claim(t, a, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	record(t, a, db.AttemptResult{Claim: c, AttemptedAt: clock.Now(), StatusCode: 500, Next: db.StateFailed})
	sb.wait(t, "b to hear of a's queued alert", func(_ [][]string, alerts int) bool { return alerts == 1 })
	_, alerts := sa.snapshot()
	assert.Equal(t, 1, alerts, "a's own callback, once")
}

// Ingests announce their work after they commit, several in one notice when they come
// together; however they are grouped, the other instance hears of every webhook, and finds
// each one's two events to claim.
func TestConcurrentIngestsAreAllAnnounced(t *testing.T) {
	t.Parallel()
	a, b, _ := twoStores(t, postgres.Options{})
	want := map[string]bool{}
	for i := range 20 {
		want[webhook(t, a, "https://wh.test/hook", fmt.Sprintf("t.%d", i)).ID] = true
	}
	sb := watch(b)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			data, _ := json.Marshal(map[string]int{"n": i})
			_, err := a.CreateEvents(context.Background(), []db.NewEvent{{Type: fmt.Sprintf("t.%d", i%20), Data: data}})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	heard := map[string]bool{}
	sb.wait(t, "b to hear of every webhook", func(due [][]string, _ int) bool {
		for _, ids := range due {
			for _, id := range ids {
				heard[id] = true
			}
		}
		return len(heard) == len(want)
	})
	assert.Equal(t, want, heard)
	for id := range heard {
		got := claim(t, b, time.Minute, db.ClaimRequest{WebhookID: id, Limit: 10})
		assert.Len(t, got.Claims, 2, "both events of %s are there to claim", id)
	}
}

// When the listener's connection breaks, it reconnects and then says that anything may be
// due, since notifications sent meanwhile were lost; later notifications arrive again.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, postgres.Options{})
	wh := webhook(t, a, "https://wh.test/hook")
	sb := watch(b)
	pid := b.ListenerPIDForTest()
	require.NoError(t, a.ExecForTest(ctx, `SELECT pg_terminate_backend(?)`, int64(pid)))
	sb.wait(t, "b to reconnect", func(due [][]string, alerts int) bool { return len(due) == 1 && alerts == 1 })
	due, _ := sb.snapshot()
	assert.Nil(t, due[0], "anything may be due")
	assert.EqualValues(t, 1, b.ListenerReconnectsForTest())
	assert.NotEqual(t, pid, b.ListenerPIDForTest())

	event(t, a, "a.b", 1)
	sb.wait(t, "b to hear of a's event", func(due [][]string, _ int) bool { return len(due) == 2 })
	due, _ = sb.snapshot()
	assert.Equal(t, []string{wh.ID}, due[1])
}

// Leases are taken and expire by the database's clock, whatever the instances' clocks say:
// an instance whose clock is a year ahead neither hands out leases that end a year from
// now nor takes over leases that have not ended.
func TestLeasesUseTheDatabaseClock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	ahead, behind := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	ahead.Clock = func() time.Time { return time.Now().AddDate(1, 0, 0) }
	behind.Clock = func() time.Time { return time.Now().AddDate(-1, 0, 0) }
	wh := webhook(t, behind, "https://wh.test/hook")
	event(t, behind, "a.b", 1) // due a year ago, so due for both

	before := time.Now().Truncate(time.Millisecond)
	got := claim(t, ahead, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
	after := time.Now()
	require.Len(t, got.Claims, 1)
	lease := got.Claims[0].LeaseUntil
	assert.False(t, lease.Before(before.Add(time.Minute)), "lease %s ends a minute after the claim, by the database", lease)
	assert.False(t, lease.After(after.Add(time.Minute)), "lease %s ends a minute after the claim, by the database", lease)

	n, err := ahead.RescueExpired(ctx, 5)
	require.NoError(t, err)
	assert.Zero(t, n, "a year ahead by its own clock, but the lease has not ended")

	event(t, behind, "a.b", 2)
	got = claim(t, behind, 0, db.ClaimRequest{WebhookID: wh.ID, Limit: 1})
	require.Len(t, got.Claims, 1)
	n, err = behind.RescueExpired(ctx, 5)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a lease of 0 has ended at once, though this clock is a year behind")

	led, err := ahead.TryLead(ctx, "rescuer", "ahead", time.Minute)
	require.NoError(t, err)
	assert.True(t, led)
	led, err = behind.TryLead(ctx, "rescuer", "behind", time.Minute)
	require.NoError(t, err)
	assert.False(t, led, "the lease taken a moment ago holds for a minute")
	led, err = ahead.TryLead(ctx, "rescuer", "ahead", 0)
	require.NoError(t, err)
	assert.True(t, led, "renewed by its holder")
	led, err = behind.TryLead(ctx, "rescuer", "behind", time.Minute)
	require.NoError(t, err)
	assert.True(t, led, "a ttl of 0 has ended at once")
}

// A result recorded by an instance whose lease was taken over changes nothing but its
// attempt row, which replaces the rescuer's placeholder; the new holder's result counts.
func TestLateResultFromAnotherInstance(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, clock := twoStores(t, postgres.Options{})
	wh := webhook(t, a, "https://wh.test/hook")
	event(t, a, "a.b", 1)
	lost := claim(t, a, 0, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	n, err := b.RescueExpired(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	taken := claim(t, b, time.Minute, db.ClaimRequest{WebhookID: wh.ID, Limit: 1}).Claims[0]
	require.Equal(t, lost.DeliveryID, taken.DeliveryID)
	assert.Equal(t, 2, taken.Number())

	record(t, a, db.AttemptResult{Claim: lost, AttemptedAt: clock.Now(), StatusCode: 200, Next: db.StateSucceeded})
	d := delivery(t, b, lost.DeliveryID)
	assert.Equal(t, db.StateDelivering, d.State, "b still holds it")
	record(t, b, db.AttemptResult{Claim: taken, AttemptedAt: clock.Now(), StatusCode: 503, Next: db.StatePending, NextAt: clock.Now().Add(time.Minute)})
	d = delivery(t, a, lost.DeliveryID)
	assert.Equal(t, db.StatePending, d.State)
	assert.Equal(t, "HTTP 503", d.LastError)
	attempts, err := a.ListAttempts(ctx, lost.DeliveryID)
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	assert.Equal(t, 200, attempts[0].StatusCode, "the late result replaced the placeholder")
	assert.Empty(t, attempts[0].ErrorClass)
	assert.Equal(t, 503, attempts[1].StatusCode)
}

// Many claimers on two instances, at one instant, share one rate allowance: a webhook
// limited to 100 attempts a second gets its burst (a tenth of a second's worth, plus one)
// and not one attempt more, however the claims interleave.
func TestRateLimitHoldsUnderConcurrentClaims(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, _ := twoStores(t, postgres.Options{})
	wh, err := a.CreateWebhook(ctx, db.NewWebhook{URL: "https://wh.test/hook", EventTypes: []string{"*"}, Secret: secret,
		Enabled: true, RateLimit: 100})
	require.NoError(t, err)
	batch := make([]db.NewEvent, 200)
	for i := range batch {
		batch[i] = db.NewEvent{Type: "a.b", Data: []byte(`{}`)}
	}
	_, err = a.CreateEvents(ctx, batch)
	require.NoError(t, err)

	var (
		claimed atomic.Int32
		wg      sync.WaitGroup
	)
	for _, s := range []*postgres.DB{a, b} {
		for range 4 {
			wg.Go(func() {
				for range 25 {
					got, err := s.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: wh.ID, Limit: 5}}, time.Hour)
					if !assert.NoError(t, err) {
						return
					}
					claimed.Add(int32(len(got.Claims)))
				}
			})
		}
	}
	wg.Wait()
	assert.EqualValues(t, 11, claimed.Load(), "the clock stands still: one burst in all")
}

// A retry or a replay on one instance racing the pruner on another: whatever the order,
// work the retry or replay reported done is never pruned. Either it went first (the event
// stays, its new work pending) or the pruner did (the retry finds no delivery, the replay no
// event).
func TestPruneNeverTakesWorkARetryOrReplayQueued(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, clock := twoStores(t, postgres.Options{})
	wh := webhook(t, a, "https://wh.test/hook")
	for i := range 40 {
		ev := dbtest.Event(t, a, "a.b", i)
		failed := dbtest.Fail(t, a, wh.ID, 500)
		clock.Add(2 * time.Hour)
		cut := clock.Now().Add(-time.Hour)

		var (
			wg       sync.WaitGroup
			pruneErr error
			replayed []db.Replayed
			otherErr error
		)
		wg.Go(func() { _, pruneErr = a.PruneBatch(ctx, db.PruneRequest{Before: cut, Batch: 100}) })
		wg.Go(func() {
			if i%2 == 0 {
				_, otherErr = b.RetryDelivery(ctx, failed.DeliveryID)
			} else {
				replayed, otherErr = b.ReplayEvent(ctx, ev.EventID, nil)
			}
		})
		wg.Wait()
		require.NoError(t, pruneErr)
		if otherErr != nil {
			require.ErrorIs(t, otherErr, db.ErrNotFound, "round %d", i)
			_, err := a.FindEvent(ctx, ev.EventID)
			assert.ErrorIs(t, err, db.ErrNotFound, "round %d: refused because the event was pruned", i)
			continue
		}
		queued := []string{failed.DeliveryID}
		if i%2 == 1 {
			queued = queued[:0]
			for _, r := range replayed {
				queued = append(queued, r.DeliveryID)
			}
		}
		for _, id := range queued {
			d, err := a.FindDelivery(ctx, id)
			require.NoError(t, err, "round %d: queued work was pruned", i)
			assert.Equal(t, db.StatePending, d.State)
		}
		// Settle it, so that the next round's claim takes the next event's delivery.
		for range queued {
			dbtest.Fail(t, a, wh.ID, 500)
		}
	}
}
