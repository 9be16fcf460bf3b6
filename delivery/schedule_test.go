package delivery_test

import (
	"context"
	"io"
	"net/http"
	"strings"
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

// roundTripFunc lets a test answer requests in-process, which is what keeps HTTP inside a
// synctest bubble (no sockets).
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func respond(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
}

// startEngine runs e until the test ends.
func startEngine(t *testing.T, e *delivery.Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { e.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

var testSchedule = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour, 24 * time.Hour}

func TestExhaustionAfterSevenAttemptsOnSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		type call struct {
			at                time.Time
			id, ts, signature string
			body              string
		}
		var (
			mu    sync.Mutex
			calls []call
		)
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			calls = append(calls, call{time.Now(), r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"),
				r.Header.Get("webhook-signature"), string(b)})
			mu.Unlock()
			time.Sleep(120 * time.Millisecond) // the receiver's think time, in fake time
			return respond(http.StatusServiceUnavailable, "down for maintenance"), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		start := time.Now()
		ev := dbtest.Event(t, store, "workflow.completed", 1)
		// Rescue and resync run a transaction every interval even when idle: at their 5s and
		// 30s defaults the two fake days below cost ~40k of them (30s under -race), and they
		// play no part in the schedule.
		e := delivery.NewEngine(store, delivery.Options{Client: client, Policy: delivery.Policy{Schedule: testSchedule},
			RescueInterval: time.Hour, ResyncInterval: time.Hour})
		startEngine(t, e)

		// Attempt k happens at the sum of the first k-1 delays (plus the receiver's 120ms think
		// time per earlier attempt, since the delay starts when an attempt ends).
		var at time.Duration
		for k := 1; k <= 7; k++ {
			time.Sleep(time.Until(start.Add(at)) + time.Millisecond)
			synctest.Wait()
			mu.Lock()
			n := len(calls)
			mu.Unlock()
			require.Equal(t, k, n, "attempts made by %v", at)
			if k <= len(testSchedule) {
				at += testSchedule[k-1] + 120*time.Millisecond
				// Nothing more happens just before the next due time.
				time.Sleep(time.Until(start.Add(at)) - time.Second)
				synctest.Wait()
				mu.Lock()
				require.Len(t, calls, k, "an attempt came early")
				mu.Unlock()
			}
		}
		time.Sleep(48 * time.Hour)
		synctest.Wait()
		require.Len(t, calls, 7, "no attempt after the schedule is used up")

		dl := dbtest.Deliveries(t, store, wh.ID)
		require.Len(t, dl, 1)
		d := dl[0]
		assert.Equal(t, db.StateFailed, d.State)
		assert.Equal(t, 7, d.Attempts)
		assert.True(t, d.NextAttemptAt.IsZero())
		assert.Equal(t, 503, d.LastStatusCode)

		attempts := dbtest.Attempts(t, store, d.ID)
		require.Len(t, attempts, 7)
		for i, a := range attempts {
			c := calls[i]
			assert.Equal(t, i+1, a.Number)
			assert.Equal(t, db.TriggerScheduled, a.Trigger)
			assert.Equal(t, c.at.UnixMilli(), a.AttemptedAt.UnixMilli(), "attempt %d time", i+1)
			assert.Equal(t, 503, a.StatusCode)
			assert.Equal(t, 120*time.Millisecond, a.Duration)
			assert.Equal(t, "down for maintenance", string(a.ResponseBody))
			assert.False(t, a.ResponseTruncated)
			assert.Empty(t, a.ErrorClass)
			assert.Equal(t, c.signature, a.Signature)
			// Every attempt carries the same id and body, a fresh timestamp, and a valid signature.
			assert.Equal(t, ev.EventID, c.id)
			assert.NoError(t, verifySignature(dbtest.Secret, c.id, c.ts, c.signature, []byte(c.body), c.at))
			assert.Equal(t, calls[0].body, c.body)
		}
	})
}

func TestDeliveryTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			<-r.Context().Done() // a receiver that never answers
			return nil, r.Context().Err()
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		e := delivery.NewEngine(store, delivery.Options{Client: client, Timeout: 15 * time.Second,
			Policy: delivery.Policy{Schedule: []time.Duration{time.Minute}}})
		startEngine(t, e)

		time.Sleep(15*time.Second - time.Millisecond)
		synctest.Wait()
		d := dbtest.Deliveries(t, store, wh.ID)[0]
		assert.Equal(t, db.StateDelivering, d.State, "still in flight just before the timeout")

		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		d = dbtest.Deliveries(t, store, wh.ID)[0]
		assert.Equal(t, db.StatePending, d.State)
		a := dbtest.Attempts(t, store, d.ID)
		require.Len(t, a, 1)
		assert.Equal(t, delivery.ClassTimeout, a[0].ErrorClass)
		assert.Zero(t, a[0].StatusCode)
		assert.Equal(t, 15*time.Second, a[0].Duration)
		assert.Equal(t, "timeout", d.LastError)
	})
}
