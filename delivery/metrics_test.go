package delivery_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/delivery"
)

// recordingMetrics keeps what the engine reports.
type recordingMetrics struct {
	mu       sync.Mutex
	attempts []db.AttemptResult
	rescued  int
}

func (m *recordingMetrics) AttemptRecorded(r db.AttemptResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = append(m.attempts, r)
}

func (m *recordingMetrics) LeasesRescued(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rescued += n
}

func (m *recordingMetrics) snapshot() ([]db.AttemptResult, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]db.AttemptResult(nil), m.attempts...), m.rescued
}

func TestEngineReportsEachRecordedAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				return respond(http.StatusServiceUnavailable, ""), nil
			}
			return respond(http.StatusOK, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		created := time.Now()
		time.Sleep(time.Second) // the event waits a second before the engine starts
		ev := dbtest.Event(t, store, "a.b", 1)
		m := &recordingMetrics{}
		e := delivery.NewEngine(store, delivery.Options{Client: client, Metrics: m,
			Policy: delivery.Policy{Schedule: []time.Duration{time.Minute}}})
		startEngine(t, e)
		synctest.Wait()

		got, _ := m.snapshot()
		require.Len(t, got, 1, "reported once recorded")
		first := got[0]
		assert.Equal(t, wh.ID, first.Claim.WebhookID)
		assert.Equal(t, ev.EventID, first.Claim.EventID)
		assert.Equal(t, 0, first.Claim.Attempts, "the first attempt")
		assert.Equal(t, created.Add(time.Second).UTC(), first.Claim.CreatedAt)
		assert.Equal(t, http.StatusServiceUnavailable, first.StatusCode)
		assert.Equal(t, db.StatePending, first.Next)

		time.Sleep(time.Minute)
		synctest.Wait()
		got, rescued := m.snapshot()
		require.Len(t, got, 2)
		assert.Equal(t, 1, got[1].Claim.Attempts)
		assert.Equal(t, http.StatusOK, got[1].StatusCode)
		assert.Equal(t, db.StateSucceeded, got[1].Next)
		assert.Zero(t, rescued)
	})
}

func TestEngineReportsRescuedLeases(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return respond(http.StatusOK, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		dbtest.Event(t, store, "a.b", 2)
		m := &recordingMetrics{}
		e := delivery.NewEngine(store, delivery.Options{Client: client, Metrics: m, Timeout: time.Second, RescueInterval: time.Second})
		// Another process claims both and dies.
		_, err := store.ClaimDue(t.Context(), []db.ClaimRequest{{WebhookID: wh.ID, Limit: 10}}, e.Lease())
		require.NoError(t, err)
		startEngine(t, e)

		time.Sleep(e.Lease() + time.Second)
		synctest.Wait()
		got, rescued := m.snapshot()
		assert.Equal(t, 2, rescued)
		require.Len(t, got, 2, "the rescued deliveries are then attempted and reported")
		for _, r := range got {
			assert.Equal(t, 1, r.Claim.Attempts, "the lost attempt counts")
			assert.Equal(t, db.StateSucceeded, r.Next)
		}
	})
}

// stallingQueue is a store whose RecordAndClaim hangs while stalled is set: the database call
// an engine turn is made of never returns, as with a wedged writer.
type stallingQueue struct {
	delivery.Queue
	stalled atomic.Bool
	release chan struct{}
}

func (q *stallingQueue) RecordAndClaim(ctx context.Context, results []db.AttemptResult, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error) {
	if q.stalled.Load() {
		<-q.release
	}
	return q.Queue.RecordAndClaim(ctx, results, reqs, lease)
}

func TestLastTurnAdvancesWhileTheEngineRunsAndStopsWhenItIsStuck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return respond(http.StatusOK, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		q := &stallingQueue{Queue: store, release: make(chan struct{})}
		e := delivery.NewEngine(q, delivery.Options{Client: client, RescueInterval: 5 * time.Second})
		born := time.Now()
		assert.Equal(t, born, e.LastTurn(), "counted from creation until the first turn")

		time.Sleep(time.Minute) // created but not running: no turn
		assert.Equal(t, born, e.LastTurn())

		startEngine(t, e)
		synctest.Wait()
		assert.Equal(t, time.Now(), e.LastTurn(), "the first turn")

		// Idle, it still turns every rescue interval.
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, time.Now(), e.LastTurn())

		// The database call hangs: no turn completes, however long one waits.
		q.stalled.Store(true)
		dbtest.Event(t, store, "a.b", 1)
		synctest.Wait()
		stuckSince := e.LastTurn()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		assert.Equal(t, stuckSince, e.LastTurn())
		assert.Equal(t, 10*time.Minute, time.Since(e.LastTurn()))

		// Once it returns the engine turns again and delivers.
		q.stalled.Store(false)
		close(q.release)
		synctest.Wait()
		assert.Equal(t, time.Now(), e.LastTurn())
		assert.Equal(t, db.StateSucceeded, only(t, dbtest.Deliveries(t, store, wh.ID)).State)
	})
}
