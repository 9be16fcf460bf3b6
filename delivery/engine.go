package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/webhook"
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
	// DisableAfter disables a webhook that has failed attempts and no successful one for
	// this long (0: never). A 410 Gone answer disables it at once whatever this says.
	DisableAfter time.Duration
	// Instance names this engine among those sharing the store, for the rescuer's leader
	// lease (default: random).
	Instance string
	Logger   *slog.Logger
	// Metrics is told what the engine measures; nil measures nothing.
	Metrics Metrics
}

// Metrics receives the engine's measurements; cmd wires the Prometheus ones (package
// metrics). Its methods are called on the engine's loop and must not block.
type Metrics interface {
	// AttemptRecorded is told of every attempt once its result is committed, with what the
	// policy decided next.
	AttemptRecorded(r db.AttemptResult)
	// LeasesRescued is told how many expired leases one round of the rescuer ended.
	LeasesRescued(n int)
}

type noMetrics struct{}

func (noMetrics) AttemptRecorded(db.AttemptResult) {}
func (noMetrics) LeasesRescued(int)                {}

// Queue is what the engine needs of the store: the deliveries table as a queue. Both
// stores implement it (db/sqlite, db/postgres).
type Queue interface {
	// RecordAndClaim records attempt results and leases due work, in one transaction.
	RecordAndClaim(ctx context.Context, results []db.AttemptResult, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error)
	// RescueExpired ends the leases that ran out: pending again, or failed after the
	// maxAttempts-th attempt.
	RescueExpired(ctx context.Context, maxAttempts int) (int, error)
	// TryLead takes or renews the lease of singleton work (the rescuer) for holder.
	TryLead(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// DueWebhooks tells, per webhook with pending deliveries, when the earliest is due.
	DueWebhooks(ctx context.Context) (map[string]time.Time, error)
	// OnDue registers the callback told after a commit that made deliveries due.
	OnDue(fn func(webhookIDs []string))
}

// Engine claims due deliveries, sends them, records every attempt and schedules the next.
// All its state that matters is in the database; what it keeps in memory (which webhooks
// have work due when, what is in flight) is rebuilt at start.
type Engine struct {
	store Queue
	o     Options
	lease time.Duration

	wake      chan struct{}
	mu        sync.Mutex          // guards due and resyncNow, filled by the store's notices
	due       map[string]struct{} // webhooks announced as having due work
	resyncNow bool                // a notice said any webhook may have due work

	signers sync.Map // secret → *webhook.Signer

	lastTurn atomic.Int64 // unix nanoseconds; see LastTurn
}

// NewEngine returns an engine over store and subscribes it to store's commit notifications,
// so that new work is picked up the moment it commits.
func NewEngine(store Queue, o Options) *Engine {
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
	if o.Instance == "" {
		o.Instance = rand.Text()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = NewClient(ClientOptions{MaxConnsPerHost: o.WebhookConcurrency, MaxIdleConns: o.Concurrency})
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
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
	// Counted from creation: an engine whose Run never starts, or never gets through its
	// first turn, is as stuck as one that stopped turning.
	e.lastTurn.Store(time.Now().UnixNano())
	store.OnDue(e.notify)
	return e
}

// LastTurn is when Run last completed a turn of its loop (NewEngine's time before the first).
// A running engine turns at least every RescueInterval, and whenever work comes due or
// attempts finish; each turn is at most one database call. A LastTurn far in the past while
// work is due means the engine is stuck, which /readyz reports.
func (e *Engine) LastTurn() time.Time { return time.Unix(0, e.lastTurn.Load()) }

// signer returns the signer of a secret, made once per secret: signing is on the hot path.
// Secrets change only by rotation, so the map stays small.
func (e *Engine) signer(secret string) (*webhook.Signer, error) {
	if s, ok := e.signers.Load(secret); ok {
		return s.(*webhook.Signer), nil
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	s, _ := e.signers.LoadOrStore(secret, webhook.NewSigner(key))
	return s.(*webhook.Signer), nil
}

// Lease is how long a claimed delivery stays leased before the rescuer may requeue it.
func (e *Engine) Lease() time.Duration { return e.lease }

// notify marks webhooks as having due work. It is called on the database's write loop
// after a commit and must not block.
func (e *Engine) notify(webhookIDs []string) {
	e.mu.Lock()
	if webhookIDs == nil {
		// "Any webhook may have due work" (a store that lost its notices for a while): the
		// schedule is rebuilt from the store at once.
		e.resyncNow = true
	}
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

// loopState is owned by the Run goroutine.
type loopState struct {
	nextDue    map[string]time.Time // webhooks with pending work, and when it is due
	inFlight   map[string]int
	total      int
	nextRescue time.Time
	nextResync time.Time
	retryAt    time.Time // after a database error, when to try again
	// broken holds the webhooks whose deliveries could not be claimed, and when to try
	// again; their error is logged once per backoff.
	broken map[string]time.Time
}

// brokenBackoff is how long a webhook whose deliveries could not be claimed (its secret does
// not decrypt) waits before the engine tries it again.
const brokenBackoff = time.Minute

// Run delivers until ctx is cancelled, then stops claiming, lets attempts in flight finish
// (each is bounded by the delivery timeout), records them, and returns.
//
// Each turn of the loop is one database call: it records the results that came back since
// the last turn and claims due work for the slots they freed, in one transaction. While that
// call waits for the writer, more results queue up and go into the next turn, so the batches
// grow with the load.
func (e *Engine) Run(ctx context.Context) error {
	st := &loopState{nextDue: map[string]time.Time{}, inFlight: map[string]int{}, broken: map[string]time.Time{}}
	// Every slot holds its attempt's result until the loop takes it, so sends never block.
	results := make(chan db.AttemptResult, e.o.Concurrency)
	var (
		attempts sync.WaitGroup
		pending  []db.AttemptResult // taken from results, not recorded yet
	)
	take := func(r db.AttemptResult) {
		st.total--
		if st.inFlight[r.Claim.WebhookID]--; st.inFlight[r.Claim.WebhookID] <= 0 {
			delete(st.inFlight, r.Claim.WebhookID)
		}
		pending = append(pending, r)
	}
	defer func() {
		// Hand the rescuer's lease back (a lease of 0 has run out) for another instance.
		if _, err := e.store.TryLead(context.WithoutCancel(ctx), "rescuer", e.o.Instance, 0); err != nil {
			e.o.Logger.Warn("hand back the rescuer's lease", "err", err)
		}
	}()
	defer func() {
		// Stopping: no more claims; wait for the attempts in flight and record everything.
		attempts.Wait()
		for len(results) > 0 {
			take(<-results)
		}
		if len(pending) > 0 {
			if _, err := e.store.RecordAndClaim(context.WithoutCancel(ctx), pending, nil, e.lease); err != nil {
				e.o.Logger.Error("record attempts", "err", err, "count", len(pending))
			} else {
				e.recorded(st, pending)
			}
		}
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		e.drainInbox(st, now)
		for len(results) > 0 {
			take(<-results)
		}
		if ctx.Err() != nil {
			return nil
		}
		if !now.Before(st.nextRescue) {
			e.rescue(ctx)
			st.nextRescue = now.Add(e.o.RescueInterval)
		}
		if !now.Before(st.nextResync) {
			e.resync(ctx, st, now)
		}
		var reqs []db.ClaimRequest
		if !now.Before(st.retryAt) {
			reqs = e.claimRequests(st, now)
		}
		if len(pending) > 0 || len(reqs) > 0 {
			// Results are recorded even when ctx ends meanwhile: they happened.
			claimed, err := e.store.RecordAndClaim(context.WithoutCancel(ctx), pending, reqs, e.lease)
			if err != nil {
				// Unrecorded attempts keep their leases until the rescuer requeues them: they are
				// attempted again rather than lost.
				e.o.Logger.Error("record attempts and claim due deliveries", "err", err, "results", len(pending))
				st.retryAt = now.Add(time.Second)
			} else {
				e.recorded(st, pending)
				e.claimed(st, reqs, claimed, now)
				for _, c := range claimed.Claims {
					st.inFlight[c.WebhookID]++
					st.total++
					attempts.Go(func() { results <- e.attempt(context.WithoutCancel(ctx), c) })
				}
			}
			clear(pending)
			pending = pending[:0]
		}
		e.lastTurn.Store(time.Now().UnixNano())
		timer.Reset(e.sleep(st, now))
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-timer.C:
		case r := <-results:
			take(r)
		}
	}
}

// rescue ends expired leases, on one engine at a time among those sharing the store: the
// lease is held for three rounds, so a stopped leader is replaced within that.
func (e *Engine) rescue(ctx context.Context) {
	led, err := e.store.TryLead(ctx, "rescuer", e.o.Instance, 3*e.o.RescueInterval)
	if err == nil && led {
		var n int
		if n, err = e.store.RescueExpired(ctx, e.o.Policy.MaxAttempts()); n > 0 {
			e.o.Logger.Warn("rescued deliveries whose lease expired", "count", n)
			e.o.Metrics.LeasesRescued(n)
		}
	}
	if err != nil && ctx.Err() == nil {
		e.o.Logger.Error("rescue expired leases", "err", err)
	}
}

// drainInbox applies the database's notifications of due work.
func (e *Engine) drainInbox(st *loopState, now time.Time) {
	e.mu.Lock()
	due := e.due
	e.due = map[string]struct{}{}
	if e.resyncNow {
		e.resyncNow = false
		st.nextResync = now
	}
	e.mu.Unlock()
	for id := range due {
		st.nextDue[id] = now
	}
}

// recorded notes, after their commit, when the recorded deliveries are due again, and
// counts them.
func (e *Engine) recorded(st *loopState, results []db.AttemptResult) {
	for _, r := range results {
		e.logResult(r)
		e.o.Metrics.AttemptRecorded(r)
		if r.Next != db.StatePending {
			continue
		}
		w := r.Claim.WebhookID
		if t, ok := st.nextDue[w]; !ok || r.NextAt.Before(t) {
			st.nextDue[w] = r.NextAt
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

// claimRequests asks for as much due work as the free slots allow, per webhook.
func (e *Engine) claimRequests(st *loopState, now time.Time) []db.ClaimRequest {
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
		if until, ok := st.broken[id]; ok && now.Before(until) {
			continue
		}
		reqs = append(reqs, db.ClaimRequest{WebhookID: id, Limit: n, Cap: e.o.WebhookConcurrency})
		free -= n
	}
	return reqs
}

// claimed updates the schedule with what the database said is left after a claim.
func (e *Engine) claimed(st *loopState, reqs []db.ClaimRequest, res db.Claimed, now time.Time) {
	for _, r := range reqs {
		if err, ok := res.Failed[r.WebhookID]; ok {
			e.o.Logger.Error("cannot deliver to webhook; its deliveries wait", "webhook_id", r.WebhookID, "err", err,
				"retry_in", brokenBackoff)
			st.broken[r.WebhookID] = now.Add(brokenBackoff)
			st.nextDue[r.WebhookID] = now.Add(brokenBackoff)
			continue
		}
		delete(st.broken, r.WebhookID)
		if at, ok := res.NextDue[r.WebhookID]; ok {
			st.nextDue[r.WebhookID] = at
		} else {
			delete(st.nextDue, r.WebhookID)
		}
	}
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
			if until, ok := st.broken[id]; ok && until.After(at) {
				at = until
			}
			if st.inFlight[id] < e.o.WebhookConcurrency && at.Before(next) {
				next = at
			}
		}
	}
	return max(next.Sub(now), 0)
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
	res.RetryAfter = out.RetryAfter
	res.Duration = time.Since(start)
	now := time.Now()
	res.Next, res.NextAt = e.o.Policy.Next(c.Attempts+1, out.OK(), c.Manual, now)
	if res.Next == db.StatePending {
		res.NextAt = e.o.Policy.Defer(res.NextAt, out.RetryAfter, now)
	}
	if reason, gone := Gone(out.StatusCode); gone {
		// The receiver says it is gone for good: retrying cannot help, and the store disables
		// the webhook with this attempt's record.
		res.Next, res.NextAt, res.DisableReason = db.StateFailed, time.Time{}, reason
	}
	res.DisableAfter = e.o.DisableAfter
	return res
}

// send signs and POSTs the payload, keeping at most ResponseBodyLimit bytes of the answer.
func (e *Engine) send(ctx context.Context, c db.Claim, start time.Time, res *db.AttemptResult) Outcome {
	sigs := make([]string, len(c.Secrets))
	for i, secret := range c.Secrets {
		signer, err := e.signer(secret)
		if err != nil {
			return Outcome{ErrorClass: ClassInternal, Message: "stored secret is invalid: " + err.Error()}
		}
		sigs[i] = signer.Sign(c.EventID, start.Unix(), c.Body)
	}
	// One signature per secret, space-separated: during a rotation, new first.
	res.Signature = strings.Join(sigs, " ")

	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return Outcome{ErrorClass: ClassInternal, Message: "build request: " + err.Error()}
	}
	// The webhook's own headers first: the names it may use exclude every header set below
	// (db.ValidateHeaders), and setting these last would not let one through anyway.
	for name, value := range c.Headers {
		req.Header.Set(name, value)
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
	out := Outcome{StatusCode: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		out.RetryAfter, _ = RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return out
}
