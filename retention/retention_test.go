package retention_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/retention"
)

// counts is a Metrics that remembers what it was told.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) RetentionDeleted(table string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[table] += n
}

func (c *counts) get() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// batches counts PruneBatch calls through a store.
type batches struct {
	retention.Store
	mu    sync.Mutex
	calls int
}

func (b *batches) PruneBatch(ctx context.Context, r db.PruneRequest) (db.Pruned, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	return b.Store.PruneBatch(ctx, r)
}

func (b *batches) n() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func run(t *testing.T, p *retention.Pruner) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, p.Run(ctx)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Events delivered an hour before the retention ends are deleted at the first round after
// it ends, not before; what the pruner deleted is counted.
func TestPrunerDeletesEventsOnceTheirRetentionEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		wh := dbtest.Webhook(t, store, "https://receiver.test/")
		for i := range 3 {
			dbtest.Event(t, store, "a.b", i)
			dbtest.Succeed(t, store, wh.ID)
		}
		m := &counts{}
		run(t, retention.New(store, retention.Options{Retention: 2 * time.Hour, Interval: time.Minute, Instance: "a", Metrics: m}))

		time.Sleep(2*time.Hour - time.Minute)
		synctest.Wait()
		assert.Len(t, dbtest.Deliveries(t, store, wh.ID), 3, "within the retention")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Empty(t, dbtest.Deliveries(t, store, wh.ID), "past it")
		assert.Equal(t, map[string]int{"events": 3, "deliveries": 3, "attempts": 3}, m.get())
	})
}

// A round deletes everything due in batches, pausing between them.
func TestRoundWorksThroughBatches(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		events := make([]db.NewEvent, 5)
		for i := range events {
			events[i] = db.NewEvent{Type: "a.b", Data: json.RawMessage(`{}`)}
		}
		_, err := store.CreateEvents(t.Context(), events)
		require.NoError(t, err)
		time.Sleep(time.Hour)
		b := &batches{Store: store}
		p := retention.New(b, retention.Options{Retention: time.Minute, Batch: 2, Pause: time.Second, Instance: "a"})
		start := time.Now()
		got, err := p.Round(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 5, got.Deleted["events"])
		assert.Equal(t, 3, b.n(), "2 + 2 + 1")
		assert.Equal(t, 2*time.Second, time.Since(start), "a pause after each full batch")
	})
}

// Of two instances, the one holding the lease prunes; the other takes over once the lease
// of one that stopped runs out.
func TestOneInstancePrunesAtATime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		a, b := &batches{Store: store}, &batches{Store: store}
		o := retention.Options{Retention: time.Hour, Interval: time.Minute}
		oa, ob := o, o
		oa.Instance, ob.Instance = "a", "b"
		pa, pb := retention.New(a, oa), retention.New(b, ob)
		for range 3 {
			_, err := pa.Round(t.Context())
			require.NoError(t, err)
			_, err = pb.Round(t.Context())
			require.NoError(t, err)
			time.Sleep(time.Minute)
		}
		assert.Equal(t, 3, a.n())
		assert.Zero(t, b.n(), "b waits while a holds the lease")

		time.Sleep(2 * time.Minute) // a stopped: its lease runs out
		_, err := pb.Round(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1, b.n())
	})
}

func TestNothingToKeepNothingToRun(t *testing.T) {
	t.Parallel()
	b := &batches{Store: dbtest.New(t)}
	p := retention.New(b, retention.Options{})
	assert.False(t, p.Enabled())
	require.NoError(t, p.Run(t.Context()), "returns at once")
	assert.Zero(t, b.n())
	assert.True(t, retention.New(b, retention.Options{IdempotencyTTL: time.Hour}).Enabled())
}

// reclaims counts ReclaimSpace calls, passing them on.
type reclaims struct {
	*batches
	calls int
}

func (r *reclaims) ReclaimSpace(ctx context.Context) (int, error) {
	r.calls++
	return r.Store.(retention.Reclaimer).ReclaimSpace(ctx)
}

// A round that deleted rows asks the store to give the space back; one that deleted nothing
// does not.
func TestRoundReclaimsSpaceAfterDeleting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		r := &reclaims{batches: &batches{Store: store}}
		p := retention.New(r, retention.Options{Retention: time.Minute, Instance: "a"})
		_, err := p.Round(t.Context())
		require.NoError(t, err)
		assert.Zero(t, r.calls, "nothing deleted")
		_, err = store.CreateEvents(t.Context(), []db.NewEvent{{Type: "a.b", Data: json.RawMessage(`{}`)}})
		require.NoError(t, err)
		time.Sleep(time.Hour)
		got, err := p.Round(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1, got.Deleted["events"])
		assert.Equal(t, 1, r.calls)
	})
}

// slowStore takes 100 µs per row of a batch, and always has more to prune until calls run out.
type slowStore struct {
	retention.Store
	batches []int
	left    int
	leads   int
}

func (s *slowStore) PruneBatch(_ context.Context, r db.PruneRequest) (db.Pruned, error) {
	s.batches = append(s.batches, r.Batch)
	time.Sleep(time.Duration(r.Batch) * 100 * time.Microsecond)
	s.left--
	return db.Pruned{Deleted: map[string]int{"events": r.Batch}, More: s.left > 0}, nil
}

func (s *slowStore) TryLead(context.Context, string, string, time.Duration) (bool, error) {
	s.leads++
	return true, nil
}

// A batch that holds the writer longer than BatchTime halves the next; the pause after each
// is at least as long as the batch took, so pruning has at most half of the writer's time.
func TestBatchesShrinkToTheirTimeBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &slowStore{left: 8}
		p := retention.New(s, retention.Options{Retention: time.Hour, Batch: 500, BatchTime: 5 * time.Millisecond,
			Pause: time.Millisecond, Instance: "a"})
		start := time.Now()
		_, err := p.Round(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []int{500, 250, 125, 62, 31, 31, 31, 31}, s.batches)
		work := time.Duration(500+250+125+62+31*4) * 100 * time.Microsecond
		assert.GreaterOrEqual(t, time.Since(start), 2*work-31*100*time.Microsecond, "a pause as long as each batch but the last")
		assert.Equal(t, 1, s.leads, "a round of a quarter second takes the lease once")
	})
}

// A round longer than a quarter of the lease renews it as it goes.
func TestALongRoundRenewsItsLease(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := &slowStore{left: 40}
		// 40 batches of 500 rows at 100 µs a row, each followed by as long a pause: 4 s.
		p := retention.New(s, retention.Options{Retention: time.Hour, Batch: 500, BatchTime: time.Second,
			Interval: time.Second, Instance: "a"})
		_, err := p.Round(t.Context())
		require.NoError(t, err)
		assert.Len(t, s.batches, 40)
		assert.InDelta(t, 8, s.leads, 1, "once every half second (a quarter of the 2 s lease)")
	})
}
