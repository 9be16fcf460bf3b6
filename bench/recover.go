package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Checks of scenario r (issue 12 item 5).
const recoverP99Limit = 2 // ingest p99 while recovering, at most this times the baseline's

// recoverFailed is scenario r: Recover deliveries fail for good (a receiver answering 500, a
// schedule of one retry); then ingest runs open loop at RateR to a healthy webhook for
// Duration, the baseline; then again, for as long, while POST /api/v1/deliveries/recover
// gives every failed delivery a new attempt and the receiver, now healthy, takes them. The
// target: ingest p99 meanwhile stays under twice the baseline's, and nothing is lost on
// either webhook.
func (r *runner) recoverFailed(ctx context.Context) (_ []*Result, err error) {
	c := r.cfg
	s := spec{name: "r", title: fmt.Sprintf("%.0f events/s while recovering %d failed deliveries", c.RateR, c.Recover),
		mode: modeOpen, rate: c.RateR, duration: c.Duration, conns: c.OpenConns, dataBytes: c.DataBytes,
		env: []string{"HOOKRELAY_RETRY_SCHEDULE=1s", "HOOKRELAY_RETRY_JITTER=0"}}
	r.logf("%s: %s (%s before, %s during)", s.name, s.title, s.duration, s.duration)
	h, err := r.setUp(ctx, s, append(slices.Clone(c.ServerEnv), s.env...))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, h.tearDown()) }()
	dead, err := h.addReceiver(ctx, "dead.*")
	if err != nil {
		return nil, err
	}
	live, err := h.addReceiver(ctx, "bench.*")
	if err != nil {
		return nil, err
	}
	h.healthy = []*receiver{live.rc}
	s.webhooks = 2

	// The failures: Recover events to the dead receiver, each attempted twice.
	dead.rc.failing.Store(true)
	since := time.Now().UTC().Add(-time.Second)
	deadIng := h.ingester(64, max(c.Conns/8, 2))
	deadIng.eventType = "dead.event"
	build := deadIng.closedLoop(ctx, max(c.Conns/8, 2), c.BacklogBuild, c.Recover, c.BatchSize, nil)
	if n := int64(len(build.Accepted)); n != c.Recover {
		return nil, fmt.Errorf("building the failures: %d of %d events accepted (%s)", n, c.Recover, build.FirstError)
	}
	if err := h.waitFailed(ctx, dead, c.Recover, c.BacklogBuild); err != nil {
		return nil, err
	}
	r.logf("%s: %d deliveries failed in %.0fs; baseline", s.name, c.Recover, time.Since(build.Start).Seconds())

	ing := h.ingester(s.dataBytes, s.conns)
	base := ing.openLoop(ctx, s.conns, s.rate, s.duration)
	if _, how := h.drain(ctx, h.healthy, int64(len(base.Accepted)), c.Drain, c.DrainStall); how != drainComplete {
		return nil, fmt.Errorf("baseline: deliveries did not drain (%s)", how)
	}

	dead.rc.failing.Store(false)
	var (
		recovered struct{ Retried int64 }
		callErr   error
		callTime  time.Duration
		done      = make(chan struct{})
	)
	go func() {
		defer close(done)
		t := time.Now()
		callErr = h.srv.api(ctx, http.MethodPost, "/api/v1/deliveries/recover",
			map[string]any{"since": since.Format(time.RFC3339Nano), "webhookId": dead.id}, &recovered)
		callTime = time.Since(t)
	}()
	during := ing.openLoop(ctx, s.conns, s.rate, s.duration)
	<-done
	if callErr != nil {
		return nil, callErr
	}
	_, deadHow := h.drain(ctx, []*receiver{dead.rc}, c.Recover, c.BacklogDrain, c.DrainStall)
	// The drain notices an arrival only when it looks, and it starts looking after the load
	// phase: the receiver knows when the last recovered delivery came.
	lastDead := time.Unix(0, dead.rc.lastNew.Load())
	all := &loadResult{Start: base.Start, End: during.End, Accepted: slices.Concat(base.Accepted, during.Accepted)}
	lastLive, how := h.drain(ctx, h.healthy, int64(len(all.Accepted)), c.Drain, c.DrainStall)

	res := h.result(s, during)
	res.DrainEnd = how
	// The deliveries that matter here are the recovered ones: how fast they went out.
	res.DeliveriesPerSec = rate(dead.rc.unique.Load(), lastDead.Sub(during.Start))
	last := lastLive
	if lastDead.After(last) {
		last = lastDead
	}
	res.Timeline = h.tl.counts(last.Sub(h.start))
	h.stop(res)
	h.tally(res, all.Accepted)
	baseP99 := percentiles(base.Latencies, 0.99)[0]
	p99Ratio := ratio(res.IngestP99, baseP99)
	deadGot, deadDups := dead.rc.unique.Load(), dead.rc.dupCount()
	res.Extra["baselineIngestP99Ms"] = baseP99
	res.Extra["ingestP99VsBaseline"] = p99Ratio
	res.Extra["recoverRetried"] = recovered.Retried
	res.Extra["recoverCallSeconds"] = callTime.Seconds()
	res.Extra["recoveredDelivered"] = deadGot
	res.Extra["recoveredDuplicates"] = deadDups
	res.Extra["recoverDrainSeconds"] = lastDead.Sub(during.Start).Seconds()
	res.Extra["recoverDrainEnd"] = deadHow
	res.Checks = append(res.Checks,
		atLeast("failed deliveries recovered", float64(recovered.Retried), float64(c.Recover)),
		atLeast("recovered deliveries received", float64(deadGot), float64(c.Recover)),
		atMost("recovered deliveries received twice", float64(deadDups), 0))
	r.target(res, atMost("ingest p99 while recovering vs baseline", p99Ratio, recoverP99Limit))
	res.Summary = fmt.Sprintf("recovered %d in %.1fs (call %.1fs); ingest p99 %.1f ms vs %.1f ms before (%.2fx)",
		deadGot, lastDead.Sub(during.Start).Seconds(), callTime.Seconds(), res.IngestP99, baseP99, p99Ratio)
	r.logf("%s: %s", s.name, res.line())
	return []*Result{res}, nil
}

// subscribed is a receiver with its webhook.
type subscribed struct {
	rc *receiver
	id string
}

// addReceiver starts a receiver and subscribes it to patterns.
func (h *harness) addReceiver(ctx context.Context, patterns ...string) (subscribed, error) {
	rc, err := newReceiver(benchSecret, time.Now, h.tl)
	if err != nil {
		return subscribed{}, err
	}
	h.receivers = append(h.receivers, rc)
	h.wg.Go(rc.serve)
	id, err := h.srv.subscribe(ctx, rc.URL, benchSecret, patterns...)
	return subscribed{rc: rc, id: id}, err
}

// waitFailed waits until every one of the webhook's n deliveries has failed: the receiver has
// refused both attempts of each, and none is left pending or in flight.
func (h *harness) waitFailed(ctx context.Context, s subscribed, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if s.rc.attempts.Load() >= 2*n {
			var left int
			for _, status := range []string{"pending", "delivering"} {
				var page struct{ Data []struct{ ID string } }
				if err := h.srv.api(ctx, http.MethodGet, "/api/v1/webhooks/"+s.id+"/deliveries?limit=1&status="+status, nil, &page); err != nil {
					return err
				}
				left += len(page.Data)
			}
			if left == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) || !h.srv.alive() {
			return fmt.Errorf("building the failures: %d of %d attempts refused when time ran out", s.rc.attempts.Load(), 2*n)
		}
		sleep(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
