package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/delivery"
	"github.com/hookrelay/hookrelay/webhook"
)

// guard bounds every wait in the tests against real receivers. It only turns a hang into a
// failure; nothing waits for it to pass.
const guard = 10 * time.Second

// request is what a receiver saw.
type request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	At           time.Time
}

// receiver is a real HTTP server that records every request, signals it on a channel, and
// then answers it with answer (n counts requests from 1).
type receiver struct {
	URL  string
	got  chan request
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan request, 1024)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		req := request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, req)
		n := len(rc.reqs)
		rc.mu.Unlock()
		rc.got <- req
		answer(n, w, r)
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// status answers every request with code and body.
func status(code int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// wait returns once the receiver has seen n more requests.
func (rc *receiver) wait(t *testing.T, n int) []request {
	t.Helper()
	out := make([]request, 0, n)
	timeout := time.After(guard)
	for len(out) < n {
		select {
		case r := <-rc.got:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("receiver saw %d of %d requests", len(out), n)
		}
	}
	return out
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// runner is an engine running against real receivers.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func runEngine(t *testing.T, e *delivery.Engine) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(r.done)
		assert.NoError(t, e.Run(ctx))
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

// wait returns once Run has returned.
func (r *runner) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(guard):
		t.Fatal("the engine did not stop")
	}
}

// stop cancels the engine and waits for Run to return, which it does only after every
// attempt in flight has finished and been recorded.
func (r *runner) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	r.wait(t)
}

// options are engine options for tests: retries after the given delays (none when empty).
func options(t *testing.T, schedule ...time.Duration) delivery.Options {
	return delivery.Options{
		Policy:    delivery.Policy{Schedule: append([]time.Duration{}, schedule...)},
		UserAgent: "github.com/hookrelay/hookrelay/test",
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func createEvent(t *testing.T, store *sqlite.DB, e db.NewEvent) db.IngestResult {
	t.Helper()
	if e.Data == nil {
		e.Data = json.RawMessage(`{}`)
	}
	res, err := store.CreateEvents(t.Context(), []db.NewEvent{e})
	require.NoError(t, err)
	return res[0]
}

func only(t *testing.T, ds []db.Delivery) db.Delivery {
	t.Helper()
	require.Len(t, ds, 1)
	return ds[0]
}

func TestDeliverSuccessOnFirstTry(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, status(http.StatusOK, "thanks"))
	wh := dbtest.Webhook(t, store, rc.URL+"/hooks/in", "workflow.*")
	occurred := time.Date(2026, 2, 3, 4, 5, 6, 789_000_000, time.FixedZone("UTC+2", 2*3600))
	with := createEvent(t, store, db.NewEvent{Type: "workflow.completed", WorkflowID: "wf_42", OccurredAt: occurred,
		Data: json.RawMessage(`{"result": "ok", "steps": [1, 2]}`)})
	without := createEvent(t, store, db.NewEvent{Type: "workflow.started", OccurredAt: occurred, Data: json.RawMessage(`{}`)})
	wantBody := map[string]string{
		with.EventID: `{"id":"` + with.EventID + `","eventType":"workflow.completed","timestamp":"2026-02-03T02:05:06.789Z",` +
			`"workflowId":"wf_42","data":{"result":"ok","steps":[1,2]}}`,
		without.EventID: `{"id":"` + without.EventID + `","eventType":"workflow.started","timestamp":"2026-02-03T02:05:06.789Z",` +
			`"workflowId":null,"data":{}}`,
	}

	before := time.Now()
	r := runEngine(t, delivery.NewEngine(store, options(t, time.Hour)))
	reqs := rc.wait(t, 2)
	r.stop(t)
	after := time.Now()
	assert.Equal(t, 2, rc.count(), "each delivery is made once")

	sigs := map[string]string{}
	for _, req := range reqs {
		id := req.Header.Get("webhook-id")
		assert.Equal(t, http.MethodPost, req.Method)
		assert.Equal(t, "/hooks/in", req.Path)
		assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
		assert.Equal(t, "github.com/hookrelay/hookrelay/test", req.Header.Get("User-Agent"))
		require.Contains(t, wantBody, id, "webhook-id is the event id")
		assert.Equal(t, wantBody[id], string(req.Body))
		ts, err := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, ts, before.Unix())
		assert.LessOrEqual(t, ts, after.Unix())
		sig := req.Header.Get("webhook-signature")
		assert.NoError(t, verifySignature(dbtest.Secret, id, req.Header.Get("webhook-timestamp"), sig, req.Body, time.Now()))
		sigs[id] = sig

		var fields map[string]any
		require.NoError(t, json.Unmarshal(req.Body, &fields))
		assert.Len(t, fields, 5, "id, eventType, timestamp, workflowId, data")
	}

	for _, d := range dbtest.Deliveries(t, store, wh.ID) {
		assert.Equal(t, db.StateSucceeded, d.State)
		assert.Equal(t, 1, d.Attempts)
		assert.True(t, d.NextAttemptAt.IsZero())
		assert.Equal(t, 200, d.LastStatusCode)
		assert.Empty(t, d.LastError)
		as := dbtest.Attempts(t, store, d.ID)
		require.Len(t, as, 1)
		a := as[0]
		assert.Equal(t, 1, a.Number)
		assert.Equal(t, db.TriggerScheduled, a.Trigger)
		assert.Equal(t, 200, a.StatusCode)
		assert.Equal(t, "thanks", string(a.ResponseBody))
		assert.False(t, a.ResponseTruncated)
		assert.Empty(t, a.ErrorClass)
		assert.Equal(t, sigs[d.EventID], a.Signature, "the signature sent is stored")
		assert.False(t, a.AttemptedAt.Before(before.Truncate(time.Millisecond)))
		assert.False(t, a.AttemptedAt.After(after))
		assert.GreaterOrEqual(t, a.Duration, time.Duration(0))
		assert.Less(t, a.Duration, after.Sub(before)+time.Millisecond)
	}
}

func TestDeliverServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "boom")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	wh := dbtest.Webhook(t, store, rc.URL)
	ev := dbtest.Event(t, store, "a.b", 1)

	r := runEngine(t, delivery.NewEngine(store, options(t, time.Millisecond, time.Hour)))
	reqs := rc.wait(t, 2)
	r.stop(t)

	d := only(t, dbtest.Deliveries(t, store, wh.ID))
	assert.Equal(t, db.StateSucceeded, d.State)
	assert.Equal(t, 2, d.Attempts)
	as := dbtest.Attempts(t, store, d.ID)
	require.Len(t, as, 2)
	assert.Equal(t, []int{1, 2}, []int{as[0].Number, as[1].Number})
	assert.Equal(t, []int{500, 202}, []int{as[0].StatusCode, as[1].StatusCode})
	assert.Equal(t, "boom", string(as[0].ResponseBody))
	assert.Equal(t, []db.Trigger{db.TriggerScheduled, db.TriggerScheduled}, []db.Trigger{as[0].Trigger, as[1].Trigger})
	assert.False(t, as[1].AttemptedAt.Before(as[0].AttemptedAt))
	for i, req := range reqs {
		assert.Equal(t, ev.EventID, req.Header.Get("webhook-id"), "the id is stable across retries")
		assert.Equal(t, reqs[0].Body, req.Body, "so is the body")
		assert.Equal(t, as[i].Signature, req.Header.Get("webhook-signature"))
		assert.NoError(t, verifySignature(dbtest.Secret, ev.EventID, req.Header.Get("webhook-timestamp"),
			req.Header.Get("webhook-signature"), req.Body, time.Now()))
	}
}

func TestDeliverRedirectIsAFailureAndNotFollowed(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	targetHit := make(chan struct{}, 10)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			targetHit <- struct{}{}
			return
		}
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	wh := dbtest.Webhook(t, store, rc.URL+"/hook")
	dbtest.Event(t, store, "a.b", 1)

	start := time.Now()
	r := runEngine(t, delivery.NewEngine(store, options(t, time.Hour)))
	rc.wait(t, 1)
	r.stop(t)

	assert.Empty(t, targetHit, "the redirect target was requested")
	assert.Equal(t, 1, rc.count())
	d := only(t, dbtest.Deliveries(t, store, wh.ID))
	assert.Equal(t, db.StatePending, d.State, "a retry is scheduled")
	assert.Equal(t, 302, d.LastStatusCode)
	assert.Equal(t, "HTTP 302", d.LastError)
	assert.WithinRange(t, d.NextAttemptAt, start.Add(time.Hour-time.Second), time.Now().Add(time.Hour))
	a := onlyAttempt(t, dbtest.Attempts(t, store, d.ID))
	assert.Equal(t, 302, a.StatusCode)
	assert.Empty(t, a.ErrorClass)
}

func onlyAttempt(t *testing.T, as []db.Attempt) db.Attempt {
	t.Helper()
	require.Len(t, as, 1)
	return as[0]
}

func TestDeliverTimeoutAgainstRealReceiver(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the engine gives up and closes the connection
	})
	wh := dbtest.Webhook(t, store, rc.URL)
	dbtest.Event(t, store, "a.b", 1)
	o := options(t, time.Hour)
	o.Timeout = 200 * time.Millisecond

	r := runEngine(t, delivery.NewEngine(store, o))
	rc.wait(t, 1)
	r.stop(t)

	d := only(t, dbtest.Deliveries(t, store, wh.ID))
	assert.Equal(t, db.StatePending, d.State)
	assert.Equal(t, delivery.ClassTimeout, d.LastError)
	a := onlyAttempt(t, dbtest.Attempts(t, store, d.ID))
	assert.Zero(t, a.StatusCode)
	assert.Equal(t, delivery.ClassTimeout, a.ErrorClass)
	assert.NotEmpty(t, a.ErrorMessage)
	assert.GreaterOrEqual(t, a.Duration, 200*time.Millisecond)
	assert.Less(t, a.Duration, guard)
}

func TestDeliverStoresResponseBodyUpToTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	store := dbtest.New(t)
	body := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteByte("0123456789abcdef"[i%16])
		}
		return b.String()
	}
	// The path says how many bytes to answer with, and with which status.
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		var code, n int
		_, err := fmt.Sscanf(r.URL.Path, "/%d/%d", &code, &n)
		assert.NoError(t, err)
		w.WriteHeader(code)
		io.WriteString(w, body(n))
	})
	cases := []struct {
		name          string
		code, size    int
		wantTruncated bool
	}{
		{"empty", 200, 0, false},
		{"one under the limit", 200, limit - 1, false},
		{"at the limit", 200, limit, false},
		{"one over the limit", 200, limit + 1, true},
		{"far over the limit", 200, 64 * limit, true},
		{"failure far over the limit", 500, 64 * limit, true},
	}
	hooks := map[string]int{}
	for i, tc := range cases {
		wh := dbtest.Webhook(t, store, fmt.Sprintf("%s/%d/%d", rc.URL, tc.code, tc.size))
		hooks[wh.ID] = i
	}
	dbtest.Event(t, store, "a.b", 1)
	o := options(t, time.Hour)
	o.ResponseBodyLimit = limit

	r := runEngine(t, delivery.NewEngine(store, o))
	rc.wait(t, len(cases))
	r.stop(t)

	for id, i := range hooks {
		tc := cases[i]
		t.Run(tc.name, func(t *testing.T) {
			d := only(t, dbtest.Deliveries(t, store, id))
			a := onlyAttempt(t, dbtest.Attempts(t, store, d.ID))
			assert.Equal(t, tc.code, a.StatusCode)
			assert.Equal(t, body(min(tc.size, limit)), string(a.ResponseBody))
			assert.Equal(t, tc.wantTruncated, a.ResponseTruncated)
		})
	}
}

// toggle answers 500 until ok is set, then 200.
func toggle(ok *atomic.Bool) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		if ok.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}
}

func TestManualRetry(t *testing.T) {
	t.Parallel()
	// Two retries: three scheduled attempts in all.
	schedule := []time.Duration{time.Millisecond, time.Millisecond}
	for _, tc := range []struct {
		name      string
		firstOK   bool // how the receiver answers the scheduled attempts
		retryOK   bool // how it answers the manual one
		scheduled int  // attempts until the delivery is final
		want      db.State
		wantCode  int
	}{
		{"failed, then success", false, true, 3, db.StateSucceeded, 200},
		{"failed, then failure goes back to failed", false, false, 3, db.StateFailed, 500},
		// The schedule has retries left here, and still none is made.
		{"succeeded, then failure goes to failed", true, false, 1, db.StateFailed, 500},
		{"succeeded, then success", true, true, 1, db.StateSucceeded, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := dbtest.New(t)
			var ok atomic.Bool
			ok.Store(tc.firstOK)
			rc := newReceiver(t, toggle(&ok))
			wh := dbtest.Webhook(t, store, rc.URL)
			dbtest.Event(t, store, "a.b", 1)

			r := runEngine(t, delivery.NewEngine(store, options(t, schedule...)))
			rc.wait(t, tc.scheduled)
			r.stop(t)
			d := only(t, dbtest.Deliveries(t, store, wh.ID))
			require.True(t, d.State.Final(), "state %s", d.State)
			require.Equal(t, tc.scheduled, d.Attempts)

			ok.Store(tc.retryOK)
			d, err := store.RetryDelivery(t.Context(), d.ID)
			require.NoError(t, err)
			require.Equal(t, db.StatePending, d.State)
			r = runEngine(t, delivery.NewEngine(store, options(t, schedule...)))
			rc.wait(t, 1)
			r.stop(t)

			d = dbtest.Delivery(t, store, d.ID)
			assert.Equal(t, tc.want, d.State)
			assert.Equal(t, tc.scheduled+1, d.Attempts)
			assert.True(t, d.NextAttemptAt.IsZero(), "the schedule is not restarted")
			assert.False(t, d.Manual)
			as := dbtest.Attempts(t, store, d.ID)
			require.Len(t, as, tc.scheduled+1)
			last := as[tc.scheduled]
			assert.Equal(t, db.TriggerManual, last.Trigger)
			assert.Equal(t, tc.scheduled+1, last.Number)
			assert.Equal(t, tc.wantCode, last.StatusCode)
			for _, a := range as[:tc.scheduled] {
				assert.Equal(t, db.TriggerScheduled, a.Trigger)
			}
			assert.Equal(t, tc.scheduled+1, rc.count())
		})
	}
}

func TestRetryFailedDeliveriesOfAWebhook(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	var aOK, bOK atomic.Bool
	a := newReceiver(t, toggle(&aOK))
	b := newReceiver(t, toggle(&bOK))
	whA := dbtest.Webhook(t, store, a.URL)
	whB := dbtest.Webhook(t, store, b.URL)
	for i := range 3 {
		dbtest.Event(t, store, "a.b", i)
	}

	r := runEngine(t, delivery.NewEngine(store, options(t))) // no retries: one failure fails
	a.wait(t, 3)
	b.wait(t, 3)
	r.stop(t)
	aOK.Store(true)
	bOK.Store(true)

	n, err := store.RetryFailed(t.Context(), whA.ID)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	r = runEngine(t, delivery.NewEngine(store, options(t)))
	a.wait(t, 3)
	r.stop(t)

	for _, d := range dbtest.Deliveries(t, store, whA.ID) {
		assert.Equal(t, db.StateSucceeded, d.State)
		as := dbtest.Attempts(t, store, d.ID)
		require.Len(t, as, 2)
		assert.Equal(t, db.TriggerManual, as[1].Trigger)
		assert.Equal(t, 200, as[1].StatusCode)
	}
	for _, d := range dbtest.Deliveries(t, store, whB.ID) {
		assert.Equal(t, db.StateFailed, d.State, "another webhook's failures are left alone")
	}
	assert.Equal(t, 6, a.count())
	assert.Equal(t, 3, b.count())
}

func TestFanOutReachesOnlyMatchingWebhooks(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	ok := status(http.StatusNoContent, "")
	prefix, all, exact, other := newReceiver(t, ok), newReceiver(t, ok), newReceiver(t, ok), newReceiver(t, ok)
	dbtest.Webhook(t, store, prefix.URL, "workflow.*")
	dbtest.Webhook(t, store, all.URL, "*")
	dbtest.Webhook(t, store, exact.URL, "workflow.completed")
	whOther := dbtest.Webhook(t, store, other.URL, "deploy.*", "workflow")
	completed := dbtest.Event(t, store, "workflow.completed", 1)
	failed := dbtest.Event(t, store, "workflow.step.failed", 2)
	require.Equal(t, 3, completed.Deliveries)
	require.Equal(t, 2, failed.Deliveries)

	r := runEngine(t, delivery.NewEngine(store, options(t)))
	ids := func(reqs []request) []string {
		var out []string
		for _, q := range reqs {
			out = append(out, q.Header.Get("webhook-id"))
		}
		return out
	}
	assert.ElementsMatch(t, []string{completed.EventID, failed.EventID}, ids(prefix.wait(t, 2)))
	assert.ElementsMatch(t, []string{completed.EventID, failed.EventID}, ids(all.wait(t, 2)))
	assert.ElementsMatch(t, []string{completed.EventID}, ids(exact.wait(t, 1)))
	r.stop(t)

	assert.Zero(t, other.count())
	assert.Empty(t, dbtest.Deliveries(t, store, whOther.ID))
	assert.Equal(t, []int{2, 2, 1}, []int{prefix.count(), all.count(), exact.count()})
}

func TestDisabledWebhookGetsNothing(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	ok := status(http.StatusOK, "")
	on, off, later := newReceiver(t, ok), newReceiver(t, ok), newReceiver(t, ok)
	dbtest.Webhook(t, store, on.URL)
	whOff, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: off.URL, EventTypes: []string{"*"}, Secret: dbtest.Secret})
	require.NoError(t, err)
	whLater := dbtest.Webhook(t, store, later.URL)
	dbtest.Event(t, store, "a.b", 1)
	dbtest.Event(t, store, "a.b", 2)
	// Disabled after fan-out: its deliveries are held, not sent.
	_, err = store.UpdateWebhook(t.Context(), whLater.ID, db.WebhookUpdate{Enabled: new(false)})
	require.NoError(t, err)

	r := runEngine(t, delivery.NewEngine(store, options(t)))
	on.wait(t, 2)
	r.stop(t)
	assert.Zero(t, off.count())
	assert.Zero(t, later.count())
	assert.Empty(t, dbtest.Deliveries(t, store, whOff.ID), "no deliveries for a webhook disabled at ingest")
	held := dbtest.Deliveries(t, store, whLater.ID)
	require.Len(t, held, 2)
	for _, d := range held {
		assert.Equal(t, db.StatePending, d.State)
		assert.Zero(t, d.Attempts)
	}

	// Enabling it again releases what it held, to a running engine.
	r = runEngine(t, delivery.NewEngine(store, options(t)))
	_, err = store.UpdateWebhook(t.Context(), whLater.ID, db.WebhookUpdate{Enabled: new(true)})
	require.NoError(t, err)
	later.wait(t, 2)
	r.stop(t)
	for _, d := range dbtest.Deliveries(t, store, whLater.ID) {
		assert.Equal(t, db.StateSucceeded, d.State)
	}
	assert.Zero(t, off.count())
}

func TestRestartResumesPendingDeliveries(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	rc := newReceiver(t, status(http.StatusOK, ""))

	first := dbtest.Open(t, path)
	wh := dbtest.Webhook(t, first, rc.URL)
	var ids []string
	for i := range 5 {
		ids = append(ids, dbtest.Event(t, first, "a.b", i).EventID)
	}
	require.NoError(t, first.Close()) // the process stops before the engine sent anything
	require.Zero(t, rc.count())

	second := dbtest.Open(t, path)
	r := runEngine(t, delivery.NewEngine(second, options(t)))
	var got []string
	for _, q := range rc.wait(t, 5) {
		got = append(got, q.Header.Get("webhook-id"))
	}
	r.stop(t)
	assert.ElementsMatch(t, ids, got)
	for _, d := range dbtest.Deliveries(t, second, wh.ID) {
		assert.Equal(t, db.StateSucceeded, d.State)
		assert.Equal(t, 1, d.Attempts)
	}
}

func TestHangingReceiverDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	const events, perWebhook = 10, 2
	store := dbtest.New(t)
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	hanging := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { <-release })
	healthy := newReceiver(t, status(http.StatusOK, ""))
	whHanging := dbtest.Webhook(t, store, hanging.URL)
	whHealthy := dbtest.Webhook(t, store, healthy.URL)
	for i := range events {
		dbtest.Event(t, store, "a.b", i)
	}
	o := options(t)
	o.WebhookConcurrency = perWebhook
	r := runEngine(t, delivery.NewEngine(store, o))
	t.Cleanup(unblock) // runs before the engine's cleanup, which waits for attempts in flight

	healthy.wait(t, events)
	hanging.wait(t, perWebhook)
	r.cancel() // stop claiming before the hanging requests are let go
	unblock()
	r.wait(t)

	assert.Equal(t, perWebhook, hanging.count(), "the hanging receiver never had more than its cap")
	assert.Equal(t, events, healthy.count())
	for _, d := range dbtest.Deliveries(t, store, whHealthy.ID) {
		assert.Equal(t, db.StateSucceeded, d.State)
	}
	states := map[db.State]int{}
	for _, d := range dbtest.Deliveries(t, store, whHanging.ID) {
		states[d.State]++
	}
	assert.Equal(t, map[db.State]int{db.StateSucceeded: perWebhook, db.StatePending: events - perWebhook}, states)
}

func TestGracefulShutdownFinishesAttemptInFlight(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	wh := dbtest.Webhook(t, store, rc.URL)
	dbtest.Event(t, store, "a.b", 1)
	r := runEngine(t, delivery.NewEngine(store, options(t, time.Millisecond)))
	t.Cleanup(unblock)

	rc.wait(t, 1)
	r.cancel()
	select {
	case <-r.done:
		t.Fatal("Run returned while an attempt was in flight")
	default:
	}
	unblock()
	r.wait(t)

	assert.Equal(t, 1, rc.count())
	d := only(t, dbtest.Deliveries(t, store, wh.ID))
	assert.Equal(t, db.StateSucceeded, d.State, "the attempt was recorded before Run returned")
	assert.Equal(t, 1, d.Attempts)
	assert.Len(t, dbtest.Attempts(t, store, d.ID), 1)
	inFlight, _, err := store.ListDeliveries(t.Context(), db.DeliveryFilter{State: db.StateDelivering})
	require.NoError(t, err)
	assert.Empty(t, inFlight)
}

// verifySignature checks one delivery's headers the way a receiver would, with the clock at
// now and the Standard Webhooks tolerance of five minutes.
func verifySignature(secret, id, timestamp, signature string, body []byte, now time.Time) error {
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		return err
	}
	v.Now = func() time.Time { return now }
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, timestamp)
	h.Set(webhook.HeaderSignature, signature)
	return v.Verify(h, body)
}

// A receiver that answers 429 or 503 with Retry-After gets its next attempt no sooner than
// it asked (up to the cap), and the answered attempt is counted like any other; any other
// status's Retry-After is not a request to wait.
func TestDeliverHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	farBase := time.Now()
	far := farBase.Add(30 * 24 * time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		status     int
		retryAfter string
		wantDelay  time.Duration // 0: retried on the (1 ms) schedule
		asked      time.Duration
	}{
		{"503 with seconds", http.StatusServiceUnavailable, "3600", time.Hour, time.Hour},
		{"429 with a date past the cap", http.StatusTooManyRequests, far, 2 * time.Hour, 30 * 24 * time.Hour},
		{"500 is retried on the schedule", http.StatusInternalServerError, "3600", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			store := dbtest.New(t)
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n > 1 {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				w.Header().Set("Retry-After", c.retryAfter)
				w.WriteHeader(c.status)
			})
			wh := dbtest.Webhook(t, store, rc.URL)
			dbtest.Event(t, store, "a.b", 1)
			o := options(t, time.Millisecond, time.Millisecond)
			o.Policy.RetryAfterMax = 2 * time.Hour

			before := time.Now()
			r := runEngine(t, delivery.NewEngine(store, o))
			if c.wantDelay == 0 {
				rc.wait(t, 2)
				r.stop(t)
				assert.Equal(t, db.StateSucceeded, only(t, dbtest.Deliveries(t, store, wh.ID)).State)
				return
			}
			rc.wait(t, 1)
			r.stop(t)
			after := time.Now()
			d := only(t, dbtest.Deliveries(t, store, wh.ID))
			assert.Equal(t, db.StatePending, d.State)
			assert.Equal(t, 1, d.Attempts, "waiting uses no extra attempt")
			assert.False(t, d.NextAttemptAt.Before(before.Add(c.wantDelay).Truncate(time.Millisecond)), "next attempt %v is sooner than asked", d.NextAttemptAt)
			assert.False(t, d.NextAttemptAt.After(after.Add(c.wantDelay)), "next attempt %v is later than asked or the cap", d.NextAttemptAt)
			as := dbtest.Attempts(t, store, d.ID)
			require.Len(t, as, 1)
			assert.Equal(t, c.status, as[0].StatusCode)
			// The attempt keeps what was asked, before the cap: an hour, or the 30 days to the
			// date, less the time from writing the date to the attempt (whole seconds).
			assert.LessOrEqual(t, as[0].RetryAfter, c.asked+time.Second, "recorded Retry-After")
			assert.GreaterOrEqual(t, as[0].RetryAfter, c.asked-after.Sub(farBase)-time.Second, "recorded Retry-After")
		})
	}
}

// A 410 fails its delivery at once and disables the webhook, so its other deliveries wait;
// a long run of failures disables it too (issue #12 items 2 and 3; the rules on both stores
// are in db/storetest).
func TestDeliverGoneOrFailingDisablesTheWebhook(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		status       int
		disableAfter time.Duration
		attempts     int // made before the webhook is disabled
		reason       string
	}{
		{"410 Gone", http.StatusGone, 0, 1, "the receiver answered 410 Gone"},
		{"failing for HOOKRELAY_DISABLE_AFTER", http.StatusInternalServerError, time.Millisecond, 2,
			"no successful attempt for 1ms (HOOKRELAY_DISABLE_AFTER); last error: HTTP 500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			store := dbtest.New(t)
			rc := newReceiver(t, status(c.status, "bye"))
			wh := dbtest.Webhook(t, store, rc.URL)
			dbtest.Event(t, store, "a.b", 1)
			if c.status == http.StatusGone {
				dbtest.Event(t, store, "a.b", 2)
			}
			// One attempt at a time: the second delivery is claimed only after the first
			// attempt's result is recorded, and by then the webhook is disabled. (Failing, the
			// one delivery's second attempt comes at least the 1 ms schedule after its first.)
			o := options(t, time.Millisecond, time.Millisecond, time.Millisecond)
			o.WebhookConcurrency, o.DisableAfter = 1, c.disableAfter
			r := runEngine(t, delivery.NewEngine(store, o))
			rc.wait(t, c.attempts)
			r.stop(t)

			w, err := store.FindWebhook(t.Context(), wh.ID)
			require.NoError(t, err)
			assert.False(t, w.Enabled)
			assert.Equal(t, c.reason, w.DisabledReason)
			assert.Equal(t, c.attempts, rc.count(), "nothing more is sent to a disabled webhook")
			states := map[db.State]int{}
			for _, d := range dbtest.Deliveries(t, store, wh.ID) {
				states[d.State]++
			}
			if c.status == http.StatusGone {
				assert.Equal(t, map[db.State]int{db.StateFailed: 1, db.StatePending: 1}, states,
					"the 410 delivery failed at once; the other waits")
			} else {
				assert.Equal(t, map[db.State]int{db.StatePending: 1}, states, "it waits for the webhook, attempts left")
			}
		})
	}
}

// A webhook's custom headers go with every attempt, next to the signature headers, which
// still verify.
func TestDeliverSendsCustomHeaders(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, status(http.StatusOK, ""))
	headers := map[string]string{"Authorization": "Bearer tok-5521", "x-tenant-id": "acme"}
	_, err := store.CreateWebhook(t.Context(), db.NewWebhook{URL: rc.URL, EventTypes: []string{"*"}, Secret: dbtest.Secret,
		Enabled: true, Headers: headers})
	require.NoError(t, err)
	plain := newReceiver(t, status(http.StatusOK, ""))
	dbtest.Webhook(t, store, plain.URL)
	createEvent(t, store, db.NewEvent{Type: "a.b"})

	r := runEngine(t, delivery.NewEngine(store, options(t, time.Hour)))
	req := rc.wait(t, 1)[0]
	other := plain.wait(t, 1)[0]
	r.stop(t)
	assert.Equal(t, "Bearer tok-5521", req.Header.Get("Authorization"))
	assert.Equal(t, "acme", req.Header.Get("X-Tenant-Id"))
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, "github.com/hookrelay/hookrelay/test", req.Header.Get("User-Agent"))
	assert.NoError(t, verifySignature(dbtest.Secret, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"),
		req.Header.Get("webhook-signature"), req.Body, time.Now()))
	assert.Empty(t, other.Header.Get("Authorization"), "another webhook's headers are its own")
	assert.Empty(t, other.Header.Get("X-Tenant-Id"))
}
