package delivery_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
)

func TestExpiredLeaseIsRedelivered(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			calls.Add(1)
			return respond(http.StatusOK, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		e := delivery.NewEngine(store, delivery.Options{Client: client, Timeout: 15 * time.Second, RescueInterval: 5 * time.Second})

		// A process claims the delivery and dies before recording anything.
		crashed, err := store.ClaimDue(t.Context(), []db.ClaimRequest{{WebhookID: wh.ID, Limit: 10}}, e.Lease())
		require.NoError(t, err)
		require.Len(t, crashed.Claims, 1)
		startEngine(t, e)

		time.Sleep(e.Lease() - time.Millisecond)
		synctest.Wait()
		assert.Zero(t, calls.Load(), "not redelivered while the lease holds")
		d := only(t, dbtest.Deliveries(t, store, wh.ID))
		assert.Equal(t, db.StateDelivering, d.State)

		time.Sleep(5 * time.Second) // one rescue interval
		synctest.Wait()
		assert.Equal(t, int32(1), calls.Load(), "redelivered once the lease ran out")
		d = dbtest.Delivery(t, store, d.ID)
		assert.Equal(t, db.StateSucceeded, d.State)
		assert.Equal(t, 2, d.Attempts, "the lost attempt counts")
		a := dbtest.Attempts(t, store, d.ID)
		require.Len(t, a, 2)
		assert.Equal(t, db.ClassLeaseExpired, a[0].ErrorClass, "the lost attempt is on record")
		assert.Equal(t, 200, a[1].StatusCode)
	})
}

func TestPanicInRoundTripperIsRecordedAsInternal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				panic("transport bug")
			}
			return respond(http.StatusOK, "ok"), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		first := dbtest.Event(t, store, "a.b", 1)
		e := delivery.NewEngine(store, delivery.Options{Client: client, Policy: delivery.Policy{Schedule: []time.Duration{time.Minute}}})
		startEngine(t, e)
		synctest.Wait()
		require.Equal(t, int32(1), calls.Load())

		// The engine lives on: a new event goes out at once.
		second := dbtest.Event(t, store, "a.b", 2)
		synctest.Wait()
		require.Equal(t, int32(2), calls.Load())

		ds := map[string]db.Delivery{}
		for _, d := range dbtest.Deliveries(t, store, wh.ID) {
			ds[d.EventID] = d
		}
		assert.Equal(t, db.StateSucceeded, ds[second.EventID].State)
		panicked := ds[first.EventID]
		assert.Equal(t, db.StatePending, panicked.State, "a panic is a failed attempt, retried on schedule")
		assert.Equal(t, delivery.ClassInternal, panicked.LastError)
		a := dbtest.Attempts(t, store, panicked.ID)
		require.Len(t, a, 1)
		assert.Equal(t, delivery.ClassInternal, a[0].ErrorClass)
		assert.Contains(t, a[0].ErrorMessage, "transport bug")
		assert.Zero(t, a[0].StatusCode)

		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(3), calls.Load())
		assert.Equal(t, db.StateSucceeded, dbtest.Delivery(t, store, panicked.ID).State)
	})
}

func TestJitteredScheduleStaysWithinBounds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const jitter = 0.1
		schedule := []time.Duration{time.Minute, 10 * time.Minute, time.Hour}
		store := dbtest.New(t)
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return respond(http.StatusServiceUnavailable, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		for i := range 20 {
			dbtest.Event(t, store, "a.b", i)
		}
		e := delivery.NewEngine(store, delivery.Options{Client: client,
			Policy:         delivery.Policy{Schedule: schedule, Jitter: jitter},
			RescueInterval: time.Hour, ResyncInterval: time.Hour})
		startEngine(t, e)
		time.Sleep(2 * time.Hour)
		synctest.Wait()

		exact := 0
		ds := dbtest.Deliveries(t, store, wh.ID)
		require.Len(t, ds, 20)
		for _, d := range ds {
			assert.Equal(t, db.StateFailed, d.State)
			as := dbtest.Attempts(t, store, d.ID)
			require.Len(t, as, len(schedule)+1)
			for i, delay := range schedule {
				// Times are stored in whole milliseconds, hence the 1ms of slack.
				gap := as[i+1].AttemptedAt.Sub(as[i].AttemptedAt)
				lo := time.Duration(float64(delay)*(1-jitter)) - time.Millisecond
				hi := time.Duration(float64(delay)*(1+jitter)) + time.Millisecond
				assert.True(t, gap >= lo && gap <= hi, "delay %d: %v not within [%v, %v]", i+1, gap, lo, hi)
				if gap.Round(time.Second) == delay {
					exact++
				}
			}
		}
		assert.Less(t, exact, 20*len(schedule)/2, "delays are spread, not exact")
	})
}

func TestShutdownWaitsForAttemptInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			time.Sleep(10 * time.Second) // a slow receiver, in fake time
			return respond(http.StatusOK, ""), nil
		})}
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		e := delivery.NewEngine(store, delivery.Options{Client: client, Timeout: 15 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		var atReturn db.State // the delivery's state the moment Run returns
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(done)
			assert.NoError(t, e.Run(ctx))
			atReturn = only(t, dbtest.Deliveries(t, store, wh.ID)).State
		})
		defer wg.Wait()

		time.Sleep(time.Second)
		cancel()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Run returned while an attempt was in flight")
		default:
		}
		assert.Equal(t, db.StateDelivering, only(t, dbtest.Deliveries(t, store, wh.ID)).State)

		time.Sleep(9 * time.Second)
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run did not return after the attempt finished")
		}
		assert.Equal(t, db.StateSucceeded, atReturn, "the attempt was recorded before Run returned")
		d := only(t, dbtest.Deliveries(t, store, wh.ID))
		a := dbtest.Attempts(t, store, d.ID)
		require.Len(t, a, 1)
		assert.Equal(t, 10*time.Second, a[0].Duration)
	})
}

// A webhook whose signing secret cannot be read (here: damaged at rest) must not stall the
// others: its deliveries wait, it is tried again after a backoff, and everyone else's work
// goes out at once.
func TestBrokenWebhookDoesNotStallTheOthers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hookrelay.db")
		key := make([]byte, db.EncryptionKeySize)
		store, err := sqlite.Open(t.Context(), path, sqlite.Options{EncryptionKey: key})
		require.NoError(t, err)
		t.Cleanup(func() { store.Close() })
		bad := dbtest.Webhook(t, store, "https://bad.test/hook")
		good := dbtest.Webhook(t, store, "https://good.test/hook")
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		require.NoError(t, err)
		defer raw.Close()
		_, err = raw.ExecContext(t.Context(), `UPDATE webhooks SET secret = 'enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE public_id = ?`, bad.ID)
		require.NoError(t, err)

		var calls sync.Map // host → *atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n, _ := calls.LoadOrStore(r.URL.Host, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return respond(http.StatusOK, ""), nil
		})}
		count := func(host string) int32 {
			if n, ok := calls.Load(host); ok {
				return n.(*atomic.Int32).Load()
			}
			return 0
		}
		startEngine(t, delivery.NewEngine(store, delivery.Options{Client: client}))
		for i := range 3 {
			dbtest.Event(t, store, "a.b", i)
			synctest.Wait()
			assert.Equal(t, int32(i+1), count("good.test"), "the healthy webhook's event %d went out at once", i)
		}
		assert.Zero(t, count("bad.test"))
		assert.Equal(t, map[db.State]int{db.StatePending: 3}, statesByWebhook(t, store, bad.ID), "the broken webhook's work waits")
		assert.Equal(t, map[db.State]int{db.StateSucceeded: 3}, statesByWebhook(t, store, good.ID))
	})
}

func statesByWebhook(t *testing.T, store *sqlite.DB, webhookID string) map[db.State]int {
	t.Helper()
	out := map[db.State]int{}
	for _, d := range dbtest.Deliveries(t, store, webhookID) {
		out[d.State]++
	}
	return out
}

// captureOnDue is the real store, with the engine's notice callback kept, so that a test
// can send the notice a store sends when it may have missed others (OnDue(nil)).
type captureOnDue struct {
	*sqlite.DB
	fn func([]string)
}

func (c *captureOnDue) OnDue(fn func([]string)) { c.fn = fn; c.DB.OnDue(fn) }

// A notice that any webhook may have due work (PostgreSQL sends it after its listener
// reconnects) makes the engine read the schedule from the store at once, instead of at the
// next resync.
func TestAnyDueNoticeRebuildsTheSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hookrelay.db")
		open := func() *sqlite.DB {
			s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}
		mine, other := &captureOnDue{DB: open()}, open()
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			calls.Add(1)
			return respond(http.StatusOK, ""), nil
		})}
		dbtest.Webhook(t, mine, "https://receiver.test/hook")
		startEngine(t, delivery.NewEngine(mine, delivery.Options{Client: client, ResyncInterval: time.Hour}))
		synctest.Wait()

		dbtest.Event(t, other, "a.b", 1) // written where this engine hears nothing of it
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Zero(t, calls.Load(), "unheard of until the next resync")

		mine.fn(nil)
		synctest.Wait()
		assert.Equal(t, int32(1), calls.Load(), "delivered once the notice came")
	})
}

// A webhook limited to 20 attempts a second gets 20 a second from the engine, however many
// deliveries are due; the rest wait, and none fails for it.
func TestRateLimitPacesTheEngine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			calls.Add(1)
			return respond(http.StatusOK, ""), nil
		})}
		wh, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: "https://receiver.test/hook", EventTypes: []string{"*"},
			Secret: dbtest.Secret, Enabled: true, RateLimit: 20})
		require.NoError(t, err)
		for i := range 200 {
			dbtest.Event(t, store, "a.b", i)
		}
		startEngine(t, delivery.NewEngine(store, delivery.Options{Client: client}))

		for second := 1; second <= 5; second++ {
			time.Sleep(time.Second)
			synctest.Wait()
			assert.InDelta(t, 20*second, int(calls.Load()), 3, "after %d s", second)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		assert.Equal(t, int32(200), calls.Load(), "all delivered after 10 s and a burst")
		for _, d := range dbtest.Deliveries(t, store, wh.ID) {
			assert.Equal(t, db.StateSucceeded, d.State)
			assert.Equal(t, 1, d.Attempts, "waiting for the limiter uses no attempt")
		}
	})
}
