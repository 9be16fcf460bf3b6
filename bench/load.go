package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ingester posts events to one server.
type ingester struct {
	urls      []string // the instances to post to, in turn by event number
	client    *http.Client
	eventType string
	pad       string // filler that brings each event's data to the wanted size
	clock     func() time.Time
	accepted  atomic.Int64 // events accepted so far, for progress
}

// newIngestClient returns a keep-alive client with conns connections to the server, so that
// no request waits for a connection and none is opened per request.
func newIngestClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// padFor returns the filler that makes an event's data object dataBytes long. The rest of
// the object ({"sent":<19 digits>,"seq":<n>,"pad":""}) takes about 50 bytes.
func padFor(dataBytes int) string {
	return strings.Repeat("x", max(dataBytes-50, 0))
}

func (g *ingester) appendEvent(b []byte, sent, seq int64) []byte {
	b = append(b, `{"eventType":"`...)
	b = append(b, g.eventType...)
	b = append(b, `","data":{"sent":`...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"pad":"`...)
	b = append(b, g.pad...)
	return append(b, `"}}`...)
}

// loadResult is what one load phase did.
type loadResult struct {
	Start, End time.Time
	Accepted   []string // ids of the events the server accepted (2xx)
	Latencies  []int64  // ns per request, from its send (or scheduled) time to its answer
	Requests   int64
	Errors     int64 // requests that failed or were refused; their events are not expected
	FirstError string
}

func (l *loadResult) merge(w *workerResult) {
	l.Accepted = append(l.Accepted, w.accepted...)
	l.Latencies = append(l.Latencies, w.latencies...)
	l.Requests += w.requests
	l.Errors += w.errors
	if l.FirstError == "" {
		l.FirstError = w.firstError
	}
}

// extend adds a later phase's outcome o to l (the phases of a scenario measured in slices).
func (l *loadResult) extend(o *loadResult) {
	l.Accepted = append(l.Accepted, o.Accepted...)
	l.Latencies = append(l.Latencies, o.Latencies...)
	l.Requests += o.Requests
	l.Errors += o.Errors
	if l.FirstError == "" {
		l.FirstError = o.FirstError
	}
}

type workerResult struct {
	accepted   []string
	latencies  []int64
	requests   int64
	errors     int64
	firstError string
	buf        []byte
	resp       bytes.Buffer
}

func (w *workerResult) fail(err error) {
	w.errors++
	if w.firstError == "" {
		w.firstError = err.Error()
	}
}

// closedLoop runs conns workers that each send the next request as soon as the previous one
// is answered, until d has passed or maxEvents events have been sent. batch > 1 posts that
// many events per request to the batch endpoint. Before each request a worker calls wait,
// which may hold it back (see harness.window); nil waits for nothing.
func (g *ingester) closedLoop(ctx context.Context, conns int, d time.Duration, maxEvents int64, batch int,
	wait func(ctx context.Context, end time.Time) bool) *loadResult {
	res := &loadResult{Start: g.clock()}
	end := res.Start.Add(d)
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			w := &workerResult{}
			for ctx.Err() == nil && g.clock().Before(end) {
				if wait != nil && !wait(ctx, end) {
					break
				}
				n := int64(max(batch, 1))
				first := next.Add(n) - n
				if first >= maxEvents {
					break
				}
				n = min(n, maxEvents-first)
				sent := g.clock()
				g.send(ctx, w, sent, first, int(n), batch > 1)
			}
			mu.Lock()
			res.merge(w)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.End = g.clock()
	return res
}

// openLoop sends events at a fixed rate for d, whatever the server's answers: event i is
// scheduled at start + i/rate and its latency counts from then, so a stalled server shows
// as latency. conns workers share the schedule; if all of them are busy, the events due
// meanwhile go out as soon as one is free, late, and their lateness is counted.
func (g *ingester) openLoop(ctx context.Context, conns int, perSecond float64, d time.Duration) *loadResult {
	res := &loadResult{Start: g.clock()}
	interval := time.Duration(float64(time.Second) / perSecond)
	count := int64(d / interval)
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			w := &workerResult{}
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= count {
					break
				}
				at := res.Start.Add(time.Duration(i) * interval)
				if wait := at.Sub(g.clock()); wait > 0 {
					sleep(ctx, wait)
				}
				g.send(ctx, w, at, i, 1, false)
			}
			mu.Lock()
			res.merge(w)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.End = g.clock()
	return res
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// send posts n events numbered from seq, stamped with sent, and records the outcome in w.
func (g *ingester) send(ctx context.Context, w *workerResult, sent time.Time, seq int64, n int, batch bool) {
	stamp := sent.UnixNano()
	b := w.buf[:0]
	path := "/api/v1/events"
	if batch {
		path = "/api/v1/events/batch"
		b = append(b, `{"events":[`...)
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = g.appendEvent(b, stamp, seq+int64(i))
		}
		b = append(b, "]}"...)
	} else {
		b = g.appendEvent(b, stamp, seq)
	}
	w.buf = b
	w.requests++
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.urls[int(seq%int64(len(g.urls)))]+path, bytes.NewReader(b))
	if err != nil {
		w.fail(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			w.fail(err)
		}
		return
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	done := g.clock()
	if err != nil {
		w.fail(fmt.Errorf("read answer: %w", err))
		return
	}
	if resp.StatusCode != http.StatusAccepted {
		w.fail(fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(w.resp.Bytes())))
		return
	}
	w.latencies = append(w.latencies, done.Sub(sent).Nanoseconds())
	if !batch {
		var one struct{ ID string }
		if err := json.Unmarshal(w.resp.Bytes(), &one); err != nil || one.ID == "" {
			w.fail(fmt.Errorf("POST %s: answer without id: %q", path, w.resp.Bytes()))
			return
		}
		w.accepted = append(w.accepted, one.ID)
		g.accepted.Add(1)
		return
	}
	var many struct {
		Results []struct {
			ID    string
			Error *struct{ Message string }
		}
	}
	if err := json.Unmarshal(w.resp.Bytes(), &many); err != nil || len(many.Results) != n {
		w.fail(fmt.Errorf("POST %s: odd answer: %.200q", path, w.resp.Bytes()))
		return
	}
	for _, r := range many.Results {
		if r.ID == "" {
			msg := "no id"
			if r.Error != nil {
				msg = r.Error.Message
			}
			w.fail(fmt.Errorf("POST %s: item refused: %s", path, msg))
			continue
		}
		w.accepted = append(w.accepted, r.ID)
		g.accepted.Add(1)
	}
}
