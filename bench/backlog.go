package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// rssSample is the server's resident memory at one moment of scenario f.
type rssSample struct {
	Seconds float64 `json:"s"`
	Pending int64   `json:"pending"`
	RSSMB   float64 `json:"rssMB"`
}

// Memory checks of scenario f.
const (
	backlogRSSLimitMB  = 256 // issue 5: at most this with the whole backlog pending
	backlogRSSGrowthMB = 16  // "not growing with the backlog": from 25% to 100% of it
)

// backlog is scenario f: with the receiver holding every request unanswered, ingest
// Backlog events in batches so that as many deliveries are pending; watch the server's
// memory as the backlog grows; then let the receiver answer and time the drain.
func (r *runner) backlog(ctx context.Context) (_ *Result, err error) {
	c := r.cfg
	s := spec{name: "f", title: fmt.Sprintf("backlog of %d deliveries with %d-byte data, then drained", c.Backlog, c.BacklogDataBytes),
		mode: modeBacklog, webhooks: 1, conns: max(c.Conns/8, 2), batch: c.BatchSize, dataBytes: c.BacklogDataBytes,
		maxEvents: c.Backlog, duration: c.BacklogBuild,
		// The paused receiver holds the attempts in flight; a long timeout keeps them waiting
		// rather than failing and being retried, so the drain starts from a clean queue.
		env: []string{"HOOKRELAY_DELIVERY_TIMEOUT=30m"}}
	r.logf("%s: %s (build at most %s, drain at most %s)", s.name, s.title, c.BacklogBuild, c.BacklogDrain)
	h, err := r.setUp(ctx, s, append(slices.Clone(c.ServerEnv), s.env...))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, h.tearDown()) }()
	rc := h.receivers[0]
	rc.pause()
	ing := h.ingester(s.dataBytes, s.conns)

	var (
		mu      sync.Mutex
		samples []rssSample
		peak    float64
	)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := processMemory(h.srv.Pid); err == nil {
				smp := rssSample{Seconds: time.Since(h.start).Seconds(), Pending: ing.accepted.Load() - rc.unique.Load(), RSSMB: mb(m.RSS)}
				mu.Lock()
				samples = append(samples, smp)
				peak = max(peak, smp.RSSMB)
				mu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	load := ing.closedLoop(ctx, s.conns, s.duration, s.maxEvents, s.batch, nil)
	if err := ctx.Err(); err != nil {
		stopSampling()
		wg.Wait()
		return nil, err
	}
	m, err := processMemory(h.srv.Pid)
	if err != nil {
		stopSampling()
		wg.Wait()
		return nil, err
	}
	mu.Lock()
	peakWhilePending := max(peak, mb(m.RSS))
	quarter := rssAt(samples, int64(len(load.Accepted))/4)
	mu.Unlock()
	pending := int64(len(load.Accepted))
	r.logf("%s: %d events pending after %.0fs (%.0f events/s); server RSS %.0f MB (at 25%%: %.0f MB); draining",
		s.name, pending, load.End.Sub(load.Start).Seconds(), rate(pending, load.End.Sub(load.Start)), mb(m.RSS), quarter)

	released := time.Now()
	rc.release()
	lastArrival, how := h.drain(ctx, h.healthy, pending, c.BacklogDrain, c.DrainStall)
	stopSampling()
	wg.Wait()

	res := h.result(s, load)
	res.DrainEnd = how
	res.NoE2E = true
	res.BacklogAtLoadEnd = pending
	res.DrainSeconds = lastArrival.Sub(released).Seconds()
	res.DeliveriesPerSec = rate(rc.unique.Load(), lastArrival.Sub(released))
	res.Timeline = h.tl.counts(lastArrival.Sub(h.start))
	h.stop(res)
	h.tally(res, load.Accepted)
	growth := mb(m.RSS) - quarter
	res.Extra["pendingAtRelease"] = pending
	res.Extra["rssWithBacklogMB"] = mb(m.RSS)
	res.Extra["rssAtQuarterBacklogMB"] = quarter
	res.Extra["peakRssWhilePendingMB"] = peakWhilePending
	res.Extra["rssSamples"] = samples
	res.Checks = append(res.Checks, atLeast("deliveries pending", float64(pending), float64(c.Backlog)))
	r.target(res,
		atMost("RSS MB with the backlog pending", peakWhilePending, backlogRSSLimitMB),
		atMost("RSS growth MB, 25% → 100% of the backlog", growth, backlogRSSGrowthMB))
	res.Summary = fmt.Sprintf("built at %.0f events/s, drained %d in %.0fs (%s)", res.EventsPerSec, res.Delivered, res.DrainSeconds, how)
	r.logf("%s: %s", s.name, res.line())
	return res, nil
}

// rssAt returns the RSS of the first sample with at least pending deliveries pending, or of
// the last sample when none has.
func rssAt(samples []rssSample, pending int64) float64 {
	for _, s := range samples {
		if s.Pending >= pending {
			return s.RSSMB
		}
	}
	if len(samples) == 0 {
		return 0
	}
	return samples[len(samples)-1].RSSMB
}
