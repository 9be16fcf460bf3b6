package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets of the retention scenarios (issue 14).
const (
	pruneP99Limit    = 2   // ingest p99 while pruning, at most this times the baseline's
	steadySizeGrowth = 1.5 // file size after the first retention period, at most this times
)

// prune is scenario p: build a history of about PruneRows rows (events with one delivery
// and one attempt each) that a one-second retention makes old at once, while the pruner
// waits for its second round; measure ingest open loop at RateR before the round (the
// baseline) and while the round deletes the history, in one-second slices: from the first in
// which hookrelay_retention_deleted_total moved to the second after the last in which it did.
func (r *runner) prune(ctx context.Context) (_ []*Result, err error) {
	c := r.cfg
	events := c.PruneRows / 3
	s := spec{name: "p", title: fmt.Sprintf("%.0f events/s while the pruner deletes ~%d rows", c.RateR, c.PruneRows),
		mode: modeOpen, webhooks: 1, rate: c.RateR, duration: c.Duration, conns: c.OpenConns, dataBytes: c.DataBytes,
		env: []string{"HOOKRELAY_RETENTION=1s", "HOOKRELAY_PRUNE_INTERVAL=" + c.PruneAfter.String()}}
	r.logf("%s: %s (the round starts %s after the server)", s.name, s.title, c.PruneAfter)
	h, err := r.setUp(ctx, s, append(slices.Clone(c.ServerEnv), s.env...))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, h.tearDown()) }()
	round := h.start.Add(c.PruneAfter)

	build := h.ingester(64, max(c.Conns/8, 2)).closedLoop(ctx, max(c.Conns/8, 2), c.PruneAfter/2, events, c.BatchSize, nil)
	if _, how := h.drain(ctx, h.healthy, int64(len(build.Accepted)), c.Drain, c.DrainStall); how != drainComplete {
		return nil, fmt.Errorf("building the history: deliveries did not drain (%s)", how)
	}
	built := int64(len(build.Accepted))
	r.logf("%s: history of %d events (%d rows) built in %.0fs; baseline", s.name, built, 3*built, time.Since(build.Start).Seconds())
	if time.Until(round) < s.duration+5*time.Second {
		return nil, fmt.Errorf("building the history took too long: the pruner's round is due in %s; raise --prune-after", time.Until(round).Round(time.Second))
	}

	ing := h.ingester(s.dataBytes, s.conns)
	base := ing.openLoop(ctx, s.conns, s.rate, s.duration)
	sleep(ctx, time.Until(round.Add(-2*time.Second)))

	// Slices until the counter has moved and then stood still for two slices.
	var (
		during            = &loadResult{Start: time.Now()}
		all               = slices.Clone(base.Accepted)
		started, stopped  time.Time
		last              = h.deleted(ctx)
		still, slicesSeen int
		deadline          = time.Now().Add(c.BacklogDrain)
	)
	for still < 2 && time.Now().Before(deadline) && ctx.Err() == nil {
		sl := ing.openLoop(ctx, s.conns, s.rate, time.Second)
		all = append(all, sl.Accepted...)
		now := h.deleted(ctx)
		slicesSeen++
		switch {
		case now > last:
			if started.IsZero() {
				started = sl.Start
			}
			stopped, still = sl.End, 0
		case !started.IsZero():
			still++
		}
		// From the first slice that deleted to the second still one after the last: the
		// round ends by giving the freed pages back, which the counter does not show.
		if !started.IsZero() {
			during.extend(sl)
		}
		last = now
	}
	if started.IsZero() {
		return nil, fmt.Errorf("the pruner deleted nothing in %d one-second slices", slicesSeen)
	}
	during.Start, during.End = started, time.Now()
	_, how := h.drain(ctx, h.healthy, int64(len(all)), c.Drain, c.DrainStall)
	res := h.result(s, during)
	res.NoE2E = true // the history's deliveries queued behind its batch ingest
	res.DrainEnd = how
	res.LoadSeconds = stopped.Sub(started).Seconds()
	res.Timeline = h.tl.counts(time.Since(h.start))
	h.stop(res)
	// Every event ingested in the measured phases must arrive; the history's arrived before.
	h.tally(res, all)
	baseP99 := percentiles(base.Latencies, 0.99)[0]
	p99Ratio := ratio(res.IngestP99, baseP99)
	res.Extra["historyEvents"] = built
	res.Extra["rowsDeleted"] = last
	res.Extra["pruneSeconds"] = stopped.Sub(started).Seconds()
	res.Extra["rowsDeletedPerSec"] = rate(last, stopped.Sub(started))
	res.Extra["baselineIngestP99Ms"] = baseP99
	res.Extra["ingestP99VsBaseline"] = p99Ratio
	res.Checks = append(res.Checks, atLeast("rows deleted", float64(last), float64(3*built)))
	r.target(res, atMost("ingest p99 while pruning vs baseline", p99Ratio, pruneP99Limit))
	res.Summary = fmt.Sprintf("deleted %d rows in %.0fs; ingest p99 %.1f ms vs %.1f ms before (%.2fx)",
		last, stopped.Sub(started).Seconds(), res.IngestP99, baseP99, p99Ratio)
	r.logf("%s: %s", s.name, res.line())
	return []*Result{res}, nil
}

// steady is scenario s: open loop at RateS with SteadyRetention for SteadyDuration, the
// pruner every 5 s; the database file (and its WAL) is sampled every 5 s. Once the first
// retention period (and a prune interval) has passed, the file should not grow past 1.5x its
// size then: deleted pages are reused.
func (r *runner) steady(ctx context.Context) (_ []*Result, err error) {
	c := r.cfg
	s := spec{name: "s", title: fmt.Sprintf("%.0f events/s for %s with a retention of %s", c.RateS, c.SteadyDuration, c.SteadyRetention),
		mode: modeOpen, webhooks: 1, rate: c.RateS, duration: c.SteadyDuration, conns: c.OpenConns, dataBytes: c.DataBytes,
		env: []string{"HOOKRELAY_RETENTION=" + c.SteadyRetention.String(), "HOOKRELAY_PRUNE_INTERVAL=5s"}}
	r.logf("%s: %s", s.name, s.title)
	h, err := r.setUp(ctx, s, append(slices.Clone(c.ServerEnv), s.env...))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, h.tearDown()) }()
	ing := h.ingester(s.dataBytes, s.conns)
	load := &loadResult{Start: time.Now()}
	type sample struct {
		Seconds float64 `json:"s"`
		MB      float64 `json:"mb"`
	}
	var samples []sample
	settled := c.SteadyRetention + 10*time.Second
	var ref, peak float64
	for time.Since(load.Start) < s.duration && ctx.Err() == nil {
		sl := ing.openLoop(ctx, s.conns, s.rate, 5*time.Second)
		load.extend(sl)
		mbNow := mb(dbSize(h.dir))
		at := time.Since(load.Start)
		samples = append(samples, sample{Seconds: at.Seconds(), MB: mbNow})
		if at >= settled {
			if ref == 0 {
				ref = mbNow
			}
			peak = max(peak, mbNow)
		}
	}
	load.End = time.Now()
	res := h.finish(ctx, s, load, c.Drain, c.DrainStall)
	growth := ratio(peak, ref)
	res.Extra["fileMBAfterFirstRetention"] = ref
	res.Extra["fileMBPeakAfter"] = peak
	res.Extra["fileSizeGrowth"] = growth
	res.Extra["fileSamples"] = samples
	r.target(res, atMost("file size after the first retention period, growth", growth, steadySizeGrowth))
	res.Summary = fmt.Sprintf("file %.1f MB after the first retention period, at most %.1f MB after (%.2fx)", ref, peak, growth)
	r.logf("%s: %s", s.name, res.line())
	return []*Result{res}, nil
}

// dbSize is the size of the scenario's database file and its write-ahead log.
func dbSize(dir string) int64 {
	var n int64
	for _, f := range []string{"hookrelay.db", "hookrelay.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// deleted reads hookrelay_retention_deleted_total, summed over its tables, from the
// server's /metrics; -1 when it cannot.
func (h *harness) deleted(ctx context.Context) int64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/metrics", nil)
	if err != nil {
		return -1
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := h.client.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "hookrelay_retention_deleted_total{") {
			continue
		}
		if f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			total += f
		}
	}
	return int64(total)
}
