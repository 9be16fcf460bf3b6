package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"hookrelay/db"
	"hookrelay/webhook"
)

// Options configure an Engine. Zero values take the documented defaults.
type Options struct {
	Client *http.Client // default NewClient with MaxConnsPerHost = WebhookConcurrency
	Policy Policy       // default DefaultSchedule with 10% jitter
	// Timeout bounds one attempt: connecting, sending, and reading the answer (default 15s).
	Timeout time.Duration
	// ResponseBodyLimit is how many bytes of a response body are kept (default 16384).
	ResponseBodyLimit int64
	// Concurrency caps attempts in flight over all webhooks (default 512).
	Concurrency int
	// WebhookConcurrency caps attempts in flight to one webhook (default 32), so a slow or
	// dead receiver holds at most this many of the Concurrency slots.
	WebhookConcurrency int
	// RescueInterval is how often expired leases are looked for (default 5s).
	RescueInterval time.Duration
	// ResyncInterval is how often the engine rebuilds its view of due work from the
	// database, a safety net behind the commit notifications (default 30s).
	ResyncInterval time.Duration
	UserAgent      string // default "hookrelay"
	Logger         *slog.Logger
}

// Engine claims due deliveries, sends them, records every attempt and schedules the next.
// All its state that matters is in the database; what it keeps in memory (which webhooks
// have work due when, what is in flight) is rebuilt at start.
type Engine struct {
	store *db.DB
	o     Options
	lease time.Duration

	wake chan struct{}
	mu   sync.Mutex // guards the inbox below, filled by other goroutines
	due  map[string]struct{}
	done []completion
}

// completion tells the run loop that an attempt has been recorded.
type completion struct {
	webhookID string
	nextAt    time.Time // when the delivery is due again; zero if it is final
}

// NewEngine returns an engine over store and subscribes it to store's commit notifications,
// so that new work is picked up the moment it commits.
func NewEngine(store *db.DB, o Options) *Engine {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.ResponseBodyLimit <= 0 {
		o.ResponseBodyLimit = 16384
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 512
	}
	if o.WebhookConcurrency <= 0 {
		o.WebhookConcurrency = 32
	}
	o.WebhookConcurrency = min(o.WebhookConcurrency, o.Concurrency)
	if o.Policy.Schedule == nil {
		o.Policy = Policy{Schedule: DefaultSchedule, Jitter: 0.1}
	}
	if o.RescueInterval <= 0 {
		o.RescueInterval = 5 * time.Second
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 30 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "hookrelay"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = NewClient(ClientOptions{MaxConnsPerHost: o.WebhookConcurrency, MaxIdleConns: o.Concurrency})
	}
	e := &Engine{
		store: store,
		o:     o,
		// A lease outlives the longest possible attempt with room to record it; only then may
		// the rescuer assume the claimer died.
		lease: 2*o.Timeout + 5*time.Second,
		wake:  make(chan struct{}, 1),
		due:   map[string]struct{}{},
	}
	store.OnDue(e.notify)
	return e
}

// Lease is how long a claimed delivery stays leased before the rescuer may requeue it.
func (e *Engine) Lease() time.Duration { return e.lease }

// notify marks webhooks as having due work. It is called on the database's write loop
// after a commit and must not block.
func (e *Engine) notify(webhookIDs []string) {
	e.mu.Lock()
	for _, id := range webhookIDs {
		e.due[id] = struct{}{}
	}
	e.mu.Unlock()
	e.Wake()
}

// Wake makes the run loop look for due work now.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) complete(c []completion) {
	e.mu.Lock()
	e.done = append(e.done, c...)
	e.mu.Unlock()
	e.Wake()
}

// loopState is owned by the Run goroutine.
type loopState struct {
	nextDue    map[string]time.Time // webhooks with pending work, and when it is due
	inFlight   map[string]int
	total      int
	nextRescue time.Time
	nextResync time.Time
	retryAt    time.Time // after a database error, when to try again
}

// Run delivers until ctx is cancelled, then stops claiming, lets attempts in flight finish
// (each is bounded by the delivery timeout), records them, and returns.
func (e *Engine) Run(ctx context.Context) error {
	st := &loopState{nextDue: map[string]time.Time{}, inFlight: map[string]int{}}
	results := make(chan db.AttemptResult, e.o.Concurrency)
	var attempts, recorder sync.WaitGroup
	recorder.Go(func() { e.record(context.WithoutCancel(ctx), results) })
	defer func() {
		attempts.Wait()
		close(results)
		recorder.Wait()
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		e.drainInbox(st, now)
		if ctx.Err() != nil {
			return nil
		}
		if !now.Before(st.nextRescue) {
			if _, err := e.store.RescueExpired(ctx); err != nil && ctx.Err() == nil {
				e.o.Logger.Error("rescue expired leases", "err", err)
			}
			st.nextRescue = now.Add(e.o.RescueInterval)
		}
		if !now.Before(st.nextResync) {
			e.resync(ctx, st, now)
		}
		if !now.Before(st.retryAt) {
			claims, err := e.claim(ctx, st, now)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				e.o.Logger.Error("claim due deliveries", "err", err)
				st.retryAt = now.Add(time.Second)
			}
			for _, c := range claims {
				st.inFlight[c.WebhookID]++
				st.total++
				attempts.Go(func() { results <- e.attempt(context.WithoutCancel(ctx), c) })
			}
		}
		timer.Reset(e.sleep(st, now))
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// drainInbox applies notifications and completions posted by other goroutines.
func (e *Engine) drainInbox(st *loopState, now time.Time) {
	e.mu.Lock()
	due, done := e.due, e.done
	e.due, e.done = map[string]struct{}{}, nil
	e.mu.Unlock()
	for id := range due {
		st.nextDue[id] = now
	}
	for _, c := range done {
		st.total--
		if st.inFlight[c.webhookID]--; st.inFlight[c.webhookID] <= 0 {
			delete(st.inFlight, c.webhookID)
		}
		if !c.nextAt.IsZero() {
			if t, ok := st.nextDue[c.webhookID]; !ok || c.nextAt.Before(t) {
				st.nextDue[c.webhookID] = c.nextAt
			}
		}
	}
}

// resync rebuilds the schedule from the database. Commit notifications keep it current; this
// catches anything they cannot see, such as rows written by another process.
func (e *Engine) resync(ctx context.Context, st *loopState, now time.Time) {
	due, err := e.store.DueWebhooks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.o.Logger.Error("read due webhooks", "err", err)
		}
		st.nextResync = now.Add(time.Second)
		return
	}
	for id, at := range due {
		if t, ok := st.nextDue[id]; !ok || at.Before(t) {
			st.nextDue[id] = at
		}
	}
	st.nextResync = now.Add(e.o.ResyncInterval)
}

// claim leases as much due work as the free slots allow, per webhook.
func (e *Engine) claim(ctx context.Context, st *loopState, now time.Time) ([]db.Claim, error) {
	free := e.o.Concurrency - st.total
	var reqs []db.ClaimRequest
	for id, at := range st.nextDue {
		if free <= 0 {
			break
		}
		n := min(e.o.WebhookConcurrency-st.inFlight[id], free)
		if at.After(now) || n <= 0 {
			continue
		}
		reqs = append(reqs, db.ClaimRequest{WebhookID: id, Limit: n})
		free -= n
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	res, err := e.store.ClaimDue(ctx, reqs, e.lease)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if at, ok := res.NextDue[r.WebhookID]; ok {
			st.nextDue[r.WebhookID] = at
		} else {
			delete(st.nextDue, r.WebhookID)
		}
	}
	return res.Claims, nil
}

// sleep returns how long the loop may wait before something is due: the earliest due
// webhook that has a free slot, the next rescue or resync, or a retry after an error.
func (e *Engine) sleep(st *loopState, now time.Time) time.Duration {
	next := st.nextRescue
	if st.nextResync.Before(next) {
		next = st.nextResync
	}
	if st.retryAt.After(now) {
		// Claims are paused after a database error; due work waits for the retry.
		if st.retryAt.Before(next) {
			next = st.retryAt
		}
	} else if st.total < e.o.Concurrency {
		for id, at := range st.nextDue {
			if st.inFlight[id] < e.o.WebhookConcurrency && at.Before(next) {
				next = at
			}
		}
	}
	return max(next.Sub(now), 0)
}

// record writes attempt results in batches, then frees their slots in the run loop. One
// transaction per batch rather than per attempt is what lets the writer keep up.
func (e *Engine) record(ctx context.Context, results <-chan db.AttemptResult) {
	batch := make([]db.AttemptResult, 0, e.o.Concurrency)
	for r := range results {
		batch = append(batch[:0], r)
	more:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		done := make([]completion, len(batch))
		if err := e.store.RecordAttempts(ctx, batch); err != nil {
			// The leases will expire and the rescuer will requeue these deliveries: they are
			// attempted again rather than lost.
			e.o.Logger.Error("record attempts", "err", err, "count", len(batch))
			for i, r := range batch {
				done[i] = completion{webhookID: r.Claim.WebhookID}
			}
		} else {
			for i, r := range batch {
				done[i] = completion{webhookID: r.Claim.WebhookID}
				if r.Next == db.StatePending {
					done[i].nextAt = r.NextAt
				}
				e.logResult(r)
			}
		}
		e.complete(done)
		clear(batch)
	}
}

func (e *Engine) logResult(r db.AttemptResult) {
	attrs := []any{"delivery_id", r.Claim.DeliveryID, "webhook_id", r.Claim.WebhookID, "event_id", r.Claim.EventID,
		"attempt", r.Claim.Attempts + 1, "status", r.StatusCode, "duration", r.Duration}
	if r.ErrorClass != "" {
		attrs = append(attrs, "err", r.ErrorClass)
	}
	switch r.Next {
	case db.StateFailed:
		e.o.Logger.Info("delivery failed", attrs...)
	case db.StatePending:
		e.o.Logger.Debug("delivery attempt failed", append(attrs, "next_attempt_at", r.NextAt)...)
	default:
		e.o.Logger.Debug("delivery succeeded", attrs...)
	}
}

// attempt makes one HTTP request for c and returns its result. A panic becomes a failed
// attempt of class internal, never a dead process.
func (e *Engine) attempt(ctx context.Context, c db.Claim) (res db.AttemptResult) {
	start := time.Now()
	res = db.AttemptResult{Claim: c, AttemptedAt: start}
	defer func() {
		if p := recover(); p != nil {
			e.o.Logger.Error("panic in delivery attempt", "delivery_id", c.DeliveryID, "panic", p, "stack", string(debug.Stack()))
			res.StatusCode, res.ResponseBody, res.ResponseTruncated = 0, nil, false
			res.ErrorClass, res.ErrorMessage = ClassInternal, fmt.Sprintf("%v: %v", errPanic, p)
			res.Duration = time.Since(start)
			res.Next, res.NextAt = e.o.Policy.Next(c.Attempts+1, false, c.Manual, time.Now())
		}
	}()
	out := e.send(ctx, c, start, &res)
	res.StatusCode, res.ErrorClass, res.ErrorMessage = out.StatusCode, out.ErrorClass, out.Message
	res.Duration = time.Since(start)
	res.Next, res.NextAt = e.o.Policy.Next(c.Attempts+1, out.OK(), c.Manual, time.Now())
	return res
}

// send signs and POSTs the payload, keeping at most ResponseBodyLimit bytes of the answer.
func (e *Engine) send(ctx context.Context, c db.Claim, start time.Time, res *db.AttemptResult) Outcome {
	keys := make([][]byte, 0, len(c.Secrets))
	for _, s := range c.Secrets {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			return Outcome{ErrorClass: ClassInternal, Message: "stored secret is invalid: " + err.Error()}
		}
		keys = append(keys, k)
	}
	res.Signature = webhook.SignatureHeader(keys, c.EventID, start.Unix(), c.Body)

	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return Outcome{ErrorClass: ClassInternal, Message: "build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", e.o.UserAgent)
	req.Header.Set(webhook.HeaderID, c.EventID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(start.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, res.Signature)
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return Classify(0, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, e.o.ResponseBodyLimit+1))
	if int64(len(body)) > e.o.ResponseBodyLimit {
		body, res.ResponseTruncated = body[:e.o.ResponseBodyLimit], true
	}
	res.ResponseBody = body
	if err != nil && !(resp.StatusCode >= 200 && resp.StatusCode <= 299) {
		// The receiver did not finish its answer; a 2xx already counts as accepted.
		out := Classify(0, err)
		out.StatusCode = resp.StatusCode
		return out
	}
	return Outcome{StatusCode: resp.StatusCode}
}
