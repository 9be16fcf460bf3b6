package alert_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/delivery"
)

// recorder is a Mailer at the process edge for the timing tests, which run in a synctest
// bubble where no socket may be opened; the SMTP tests use a real server.
type recorder struct {
	mu    sync.Mutex
	sent  []sent
	fails int // refuse this many sends first
}

type sent struct {
	At      time.Time
	Subject string
}

func (r *recorder) Send(_ context.Context, m alert.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return errors.New("421 service not available")
	}
	r.sent = append(r.sent, sent{time.Now(), m.Subject})
	return nil
}

func (r *recorder) all() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sent...)
}

func (r *recorder) failNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fails = n
}

// run starts s.Run in the bubble and stops it when the test ends.
func run(t *testing.T, s *alert.Sender) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, s.Run(ctx))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestRunSendsAtOnceAndTheDigestWhenTheWindowCloses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		for i := range 4 {
			dbtest.Event(t, store, "a.b", i)
		}
		m := &recorder{}
		run(t, alert.NewSender(store, alert.Options{Mailer: m, BaseURL: base, Window: time.Hour,
			Recipients: func(context.Context) ([]string, error) { return recipients, nil }}))
		synctest.Wait()

		time.Sleep(time.Minute)
		first := time.Now()
		dbtest.Fail(t, store, wh.ID, 503)
		synctest.Wait()
		got := m.all()
		require.Len(t, got, 1, "the first failure is emailed at once")
		assert.Equal(t, first, got[0].At)

		for range 3 {
			time.Sleep(5 * time.Minute)
			dbtest.Fail(t, store, wh.ID, 503)
		}
		time.Sleep(time.Until(first.Add(time.Hour).Add(-time.Millisecond)))
		synctest.Wait()
		require.Len(t, m.all(), 1, "nothing more before the window closes")
		time.Sleep(time.Second)
		synctest.Wait()
		got = m.all()
		require.Len(t, got, 2)
		assert.Equal(t, first.Add(time.Hour).UnixMilli(), got[1].At.UnixMilli(), "the digest goes out as the window closes")
		assert.Contains(t, got[1].Subject, "3 more deliveries failed")

		time.Sleep(3 * time.Hour)
		synctest.Wait()
		assert.Len(t, m.all(), 2)
	})
}

func TestRunRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		m := &recorder{}
		m.failNext(3)
		run(t, alert.NewSender(store, alert.Options{Mailer: m, BaseURL: base,
			Recipients: func(context.Context) ([]string, error) { return recipients, nil }}))
		start := time.Now()
		dbtest.Fail(t, store, wh.ID, 503)

		// Tries at +0, +30s and +1m30s fail; the fourth, at +3m30s, is accepted.
		time.Sleep(3*time.Minute + 30*time.Second - time.Millisecond)
		synctest.Wait()
		assert.Empty(t, m.all())
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got := m.all()
		require.Len(t, got, 1)
		assert.Equal(t, 3*time.Minute+30*time.Second, got[0].At.Sub(start))
		as, _, err := store.ListAlerts(t.Context(), db.AlertFilter{})
		require.NoError(t, err)
		require.Len(t, as, 1)
		assert.Equal(t, db.AlertSent, as[0].State)
		assert.Equal(t, 4, as[0].Attempts)
		assert.Equal(t, "421 service not available", as[0].LastError)
	})
}

func TestRunWithEmailOffRecordsAlertsAndSaysSoOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		dbtest.Event(t, store, "a.b", 2)
		var logs syncBuffer
		run(t, alert.NewSender(store, alert.Options{BaseURL: base,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
		dbtest.Fail(t, store, wh.ID, 503)
		time.Sleep(2 * time.Hour)
		dbtest.Fail(t, store, wh.ID, 503)
		time.Sleep(2 * time.Hour)
		synctest.Wait()

		as, _, err := store.ListAlerts(t.Context(), db.AlertFilter{})
		require.NoError(t, err)
		require.Len(t, as, 2, "alerts are recorded with email off")
		for _, a := range as {
			assert.Equal(t, db.AlertPending, a.State)
			assert.Zero(t, a.Attempts)
		}
		out := logs.String()
		assert.Equal(t, 1, strings.Count(out, "alert email is off"), out)
		assert.Contains(t, out, "no SMTP server is configured")
	})
}

func TestRunWaitsForRecipients(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		var (
			mu sync.Mutex
			to []string
		)
		var logs syncBuffer
		m := &recorder{}
		run(t, alert.NewSender(store, alert.Options{Mailer: m, BaseURL: base, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Recipients: func(context.Context) ([]string, error) {
				mu.Lock()
				defer mu.Unlock()
				return to, nil
			}}))
		dbtest.Fail(t, store, wh.ID, 503)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Empty(t, m.all(), "nobody to tell")
		assert.Equal(t, 1, strings.Count(logs.String(), "alert email is off"), logs.String())

		mu.Lock()
		to = []string{"admin@example.com"}
		mu.Unlock()
		time.Sleep(time.Minute) // the poll interval
		synctest.Wait()
		assert.Len(t, m.all(), 1, "sent once someone can receive it")
	})
}

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestEngineAndSenderTogether runs the real engine and the sender in one bubble: 20 events
// to a dead receiver, each exhausting a two-attempt schedule over 15 minutes, and one to
// another dead receiver.
func TestEngineAndSenderTogether(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		a := dbtest.Webhook(t, store, "https://a.test/hook", "a.*")
		b := dbtest.Webhook(t, store, "https://b.test/hook", "b.*")
		client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody}, nil
		})}
		engine := delivery.NewEngine(store, delivery.Options{Client: client,
			Policy:         delivery.Policy{Schedule: []time.Duration{time.Minute}},
			RescueInterval: time.Hour, ResyncInterval: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			assert.NoError(t, engine.Run(ctx))
		}()
		defer func() { cancel(); <-done }()
		m := &recorder{}
		run(t, alert.NewSender(store, alert.Options{Mailer: m, BaseURL: base, Window: time.Hour,
			Recipients: func(context.Context) ([]string, error) { return recipients, nil }}))

		start := time.Now()
		for i := range 20 {
			dbtest.Event(t, store, "a.created", i)
			if i == 10 {
				dbtest.Event(t, store, "b.created", i)
			}
			time.Sleep(45 * time.Second)
		}
		time.Sleep(time.Until(start.Add(time.Hour + time.Minute - time.Millisecond)))
		synctest.Wait()
		got := m.all()
		require.Len(t, got, 2, "a at its first failure, b at its own")
		assert.Equal(t, start.Add(time.Minute), got[0].At, "a's first delivery failed after its retry, and was emailed then")
		assert.Contains(t, got[0].Subject, "https://a.test/hook")
		assert.Contains(t, got[1].Subject, "https://b.test/hook")
		for _, d := range dbtest.Deliveries(t, store, a.ID) {
			assert.Equal(t, db.StateFailed, d.State)
		}
		assert.Equal(t, db.StateFailed, dbtest.Deliveries(t, store, b.ID)[0].State)

		time.Sleep(time.Millisecond)
		synctest.Wait()
		got = m.all()
		require.Len(t, got, 3, "the digest goes out when a's window closes")
		assert.Equal(t, start.Add(time.Hour+time.Minute), got[2].At)
		assert.Contains(t, got[2].Subject, "19 more deliveries failed")
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Len(t, m.all(), 3)
	})
}
