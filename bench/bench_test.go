package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/webhook"
)

func TestPercentilesNearestRank(t *testing.T) {
	t.Parallel()
	samples := make([]int64, 100)
	for i := range samples {
		samples[i] = int64(100-i) * int64(time.Millisecond) // 100 ms down to 1 ms, unsorted
	}
	assert.Equal(t, []float64{50, 99, 100, 1}, percentiles(samples, 0.5, 0.99, 1, 0))
	assert.Equal(t, []float64{0, 0}, percentiles(nil, 0.5, 0.99))
	assert.Equal(t, []float64{7}, percentiles([]int64{7 * int64(time.Millisecond)}, 0.99))
	assert.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	// The command name may hold spaces and parentheses; utime=250 and stime=150 ticks.
	stat := []byte("4242 (hook relay (x)) S 1 4242 4242 0 -1 4194560 1009 0 0 0 250 150 0 0 20 0 9 0 123 0 0")
	d, err := parseStatCPU(stat)
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, d)
	_, err = parseStatCPU([]byte("4242 (x) S 1"))
	assert.Error(t, err)
}

func TestParseStatusMemory(t *testing.T) {
	t.Parallel()
	m, err := parseStatusMemory([]byte("Name:\thookrelay\nVmPeak:\t 900000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n"))
	require.NoError(t, err)
	assert.Equal(t, memory{RSS: 20 << 20, Peak: 40 << 20}, m)
	_, err = parseStatusMemory([]byte("Name:\thookrelay\nVmRSS:\t 1 kB\n"))
	assert.Error(t, err, "VmHWM missing")
}

func TestSentAtReadsTheStampWithoutDecoding(t *testing.T) {
	t.Parallel()
	g := &ingester{eventType: "bench.event", pad: padFor(256)}
	body := g.appendEvent(nil, 1764338531123456789, 7)
	n, ok := sentAt([]byte(`{"id":"evt_1","data":` + string(body[strings.Index(string(body), `{"sent"`):len(body)-1]) + `}`))
	assert.True(t, ok)
	assert.Equal(t, int64(1764338531123456789), n)
	_, ok = sentAt([]byte(`{"data":{}}`))
	assert.False(t, ok)

	var ev struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &ev), "the generated event is valid JSON")
	data := body[strings.Index(string(body), `{"sent"`) : len(body)-1]
	assert.InDelta(t, 256, len(data), 25, "data is about the size asked for")
}

func TestServerEnvDropsInheritedSettings(t *testing.T) {
	t.Parallel()
	got := serverEnv([]string{"PATH=/bin", "HOOKRELAY_SYNC=full", "HOME=/root"}, []string{"HOOKRELAY_ADDR=127.0.0.1:0"})
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root", "HOOKRELAY_ADDR=127.0.0.1:0"}, got)
}

// deliver sends one signed delivery of event id, stamped sent, to the receiver's handler.
func deliver(t *testing.T, r *receiver, ctx context.Context, id string, sent time.Time) int {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"eventType":"bench.event","data":{"sent":%d,"seq":1,"pad":""}}`, id, sent.UnixNano())
	key, err := webhook.ParseSecret(benchSecret)
	require.NoError(t, err)
	now := r.clock()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(key, id, now.Unix(), []byte(body)))
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return rec.Code
}

func testReceiver(t *testing.T, now time.Time) *receiver {
	t.Helper()
	r, err := newReceiver(benchSecret, func() time.Time { return now }, newTimeline(now, time.Minute))
	require.NoError(t, err)
	r.ln.Close() // ServeHTTP is called directly
	return r
}

func TestReceiverDeduplicatesAndFindsLosses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := testReceiver(t, now)
	ctx := t.Context()
	assert.Equal(t, http.StatusOK, deliver(t, r, ctx, "evt_a", now.Add(-3*time.Millisecond)))
	assert.Equal(t, http.StatusOK, deliver(t, r, ctx, "evt_b", now.Add(-5*time.Millisecond)))
	assert.Equal(t, http.StatusOK, deliver(t, r, ctx, "evt_b", now.Add(-5*time.Millisecond)), "a retry is answered")
	assert.Equal(t, http.StatusOK, deliver(t, r, ctx, "evt_x", now))

	got := r.check([]string{"evt_a", "evt_b", "evt_c"})
	assert.Equal(t, tally{Expected: 3, Delivered: 2, Lost: 1, Duplicates: 1, Unexpected: 1}, got)
	assert.Equal(t, int64(3), r.unique.Load())
	assert.ElementsMatch(t, []int64{int64(3 * time.Millisecond), int64(5 * time.Millisecond), 0}, r.takeLatencies(),
		"one latency per first arrival, from the stamp in data")
	assert.Equal(t, []int64{3}, r.timeline.counts(0))
}

func TestReceiverCountsABadSignature(t *testing.T) {
	t.Parallel()
	now := time.Now()
	r := testReceiver(t, now)
	r.secret = webhook.NewSecret() // not the one deliveries are signed with
	deliver(t, r, t.Context(), "evt_a", now)
	assert.Equal(t, int64(1), r.check([]string{"evt_a"}).BadSignatures)
}

func TestPausedReceiverCountsOnlyAnsweredDeliveries(t *testing.T) {
	t.Parallel()
	now := time.Now()
	r := testReceiver(t, now)
	r.pause()

	// The server gives up on a held request: nothing is counted, so its retry is not a dup.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	deliver(t, r, ctx, "evt_a", now)
	assert.Zero(t, r.unique.Load())

	done := make(chan int)
	go func() { done <- deliver(t, r, t.Context(), "evt_a", now) }()
	select {
	case <-done:
		t.Fatal("a paused receiver answered")
	case <-time.After(20 * time.Millisecond): // a negative check: nothing may arrive meanwhile
	}
	r.release()
	assert.Equal(t, http.StatusOK, <-done)
	assert.Equal(t, tally{Expected: 1, Delivered: 1}, r.check([]string{"evt_a"}))
}

// fakeIngest answers every POST /api/v1/events with 202 and a fresh id after delay(n),
// where n counts requests from 0. It runs inside a synctest bubble, so no socket.
type fakeIngest struct {
	n     atomic.Int64
	delay func(n int64) time.Duration
}

func (f *fakeIngest) RoundTrip(req *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, req.Body)
	n := f.n.Add(1) - 1
	time.Sleep(f.delay(n))
	return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader(fmt.Sprintf(`{"id":"evt_%d","deliveries":1}`, n))),
		Header: http.Header{}, Request: req}, nil
}

func TestOpenLoopMeasuresFromTheScheduledTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// 100 events/s for 1s over one connection; the first request stalls for 200 ms.
		f := &fakeIngest{delay: func(n int64) time.Duration {
			if n == 0 {
				return 200 * time.Millisecond
			}
			return time.Millisecond
		}}
		g := &ingester{urls: []string{"http://server.test"}, client: &http.Client{Transport: f}, eventType: "bench.event", clock: time.Now}
		res := g.openLoop(t.Context(), 1, 100, time.Second)

		require.Len(t, res.Accepted, 100)
		assert.Zero(t, res.Errors)
		// Event k is due at 10k ms but cannot leave before the stalled request returns at
		// 200 ms: its latency counts from when it was due, so the stall shows in 21 events.
		p := percentiles(res.Latencies, 0.5, 0.99, 1)
		assert.Equal(t, 200.0, p[2], "the stalled request")
		assert.Greater(t, p[1], 100.0, "the events queued behind it are late")
		assert.Equal(t, 1.0, p[0], "the rest take the 1 ms the server takes")
		assert.Equal(t, int64(100), g.accepted.Load())
	})
}

func TestClosedLoopStopsAtItsCountAndHonoursTheBrake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeIngest{delay: func(int64) time.Duration { return time.Millisecond }}
		g := &ingester{urls: []string{"http://server.test"}, client: &http.Client{Transport: f}, eventType: "bench.event", clock: time.Now}
		res := g.closedLoop(t.Context(), 4, time.Minute, 50, 1, nil)
		assert.Len(t, res.Accepted, 50, "maxEvents bounds the run")
		assert.Equal(t, 13*time.Millisecond, res.End.Sub(res.Start), "50 requests of 1 ms over 4 connections")
		assert.Equal(t, []float64{1}, percentiles(res.Latencies, 0.99), "closed-loop latency counts from the send")

		// A brake that lets 10 requests through and then holds until the end.
		var allowed atomic.Int64
		wait := func(ctx context.Context, end time.Time) bool {
			if allowed.Add(1) <= 10 {
				return true
			}
			time.Sleep(time.Until(end))
			return false
		}
		g2 := &ingester{urls: []string{"http://server.test"}, client: &http.Client{Transport: f}, eventType: "bench.event", clock: time.Now}
		res = g2.closedLoop(t.Context(), 4, time.Second, 1000, 1, wait)
		assert.Len(t, res.Accepted, 10)
	})
}

func TestChecksDecideTheVerdict(t *testing.T) {
	t.Parallel()
	r := &Result{Scenario: "a", Checks: []Check{atLeast("deliveries/s", 5200, 5000), atMost("p99 ms", 20, 20)}}
	assert.True(t, r.Passed())
	r.Checks = append(r.Checks, atMost("p50 ms", 5.5, 5))
	assert.False(t, r.Passed())
	rep := &Report{Results: []*Result{r}}
	assert.False(t, rep.Passed())
	assert.Equal(t, "a: p50 ms: want ≤ 5.00, got 5.50\n", rep.Failures())
	assert.False(t, (&Report{}).Passed(), "a run without results passes nothing")

	var b strings.Builder
	rep.WriteTable(&b)
	assert.Contains(t, b.String(), "FAIL")
}

func TestMaxRateIsWhatWasSustained(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 3000.0, (&Result{Webhooks: 1, EventsPerSec: 5000, DeliveriesPerSec: 3000}).maxRate(), "delivery fell behind")
	assert.Equal(t, 1200.0, (&Result{Webhooks: 10, EventsPerSec: 1200, DeliveriesPerSec: 12500}).maxRate())
}

func TestRSSAtFindsTheFirstSampleWithThatBacklog(t *testing.T) {
	t.Parallel()
	s := []rssSample{{Pending: 0, RSSMB: 10}, {Pending: 300, RSSMB: 40}, {Pending: 900, RSSMB: 60}}
	assert.Equal(t, 40.0, rssAt(s, 250))
	assert.Equal(t, 60.0, rssAt(s, 5000), "the last when none reached it")
	assert.Zero(t, rssAt(nil, 1))
}

func TestTallyTellsLostFromUndrained(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		drainEnd          string
		lost, undrained   int64
		lostCheckContains string
	}{
		{drainStalled, 1, 0, "1"},
		{drainComplete, 1, 0, "1"},
		{drainDeadline, 0, 1, "still arriving"},
	} {
		t.Run(tc.drainEnd, func(t *testing.T) {
			t.Parallel()
			healthy, slow := testReceiver(t, now), testReceiver(t, now)
			slow.Slow = time.Second
			deliver(t, healthy, t.Context(), "evt_a", now)
			h := &harness{receivers: []*receiver{healthy, slow}, healthy: []*receiver{healthy}}
			res := &Result{DrainEnd: tc.drainEnd, Extra: map[string]any{}}
			h.tally(res, []string{"evt_a", "evt_b"})

			assert.Equal(t, int64(2), res.Expected, "the slow webhook's deliveries are not expected")
			assert.Equal(t, int64(1), res.Delivered)
			assert.Equal(t, tc.lost, res.Lost)
			assert.Equal(t, tc.undrained, res.Undrained)
			assert.Equal(t, int64(0), res.Extra["slowWebhookDelivered"])
			require.NotEmpty(t, res.Checks)
			assert.Equal(t, "lost deliveries", res.Checks[0].What)
			assert.False(t, res.Checks[0].Pass)
			assert.Contains(t, res.Checks[0].Got, tc.lostCheckContains)
		})
	}
}

// A burst's rate counts the drain: unique deliveries over first send to last arrival.
func TestBurstRateCountsTheDrain(t *testing.T) {
	r := &Result{Delivered: 9000, LoadSeconds: 1, ArrivalSpanSeconds: 3}
	assert.Equal(t, 3000.0, r.burstRate())
	assert.Zero(t, (&Result{Delivered: 5}).burstRate(), "no span, no rate")
}

// The summary is the median run's, and a check any run failed fails it.
func TestBurstSummaryIsTheMedianRunWithEveryFailure(t *testing.T) {
	run := func(delivered int64, lost int64) *Result {
		return &Result{Delivered: delivered, ArrivalSpanSeconds: 1, Lost: lost, Extra: map[string]any{},
			Checks: []Check{{What: "lost deliveries", Want: "0", Got: fmt.Sprint(lost), Pass: lost == 0}}}
	}
	r := &runner{}
	sum := r.summarizeBurst([]*Result{run(4000, 0), run(6000, 2), run(5000, 0)}, 10000)
	assert.Equal(t, 5000.0, sum.DeliveriesPerSec)
	assert.Equal(t, int64(5000), sum.Delivered, "the median run's figures")
	assert.Equal(t, 0.5, sum.Extra["fractionOfBound"])
	assert.Equal(t, int64(2), sum.Lost)
	assert.False(t, sum.Passed(), "one run lost deliveries")
	assert.Contains(t, sum.Summary, "median of 3 [4000–6000]")

	ok := r.summarizeBurst([]*Result{run(4000, 0), run(6000, 0)}, 20000)
	assert.Equal(t, 5000.0, ok.DeliveriesPerSec)
	assert.False(t, ok.Passed(), "25% of the bound misses the target")
	assert.Contains(t, ok.Checks, Check{What: "deliveries/s vs HTTP bound", Want: "≥ 0.50", Got: "0.25", Pass: false})
}

// The calibration posts to a real loopback server and reports what it did.
func TestCalibrationMeasuresLoopbackHTTP(t *testing.T) {
	r := &runner{cfg: Config{BurstConns: 4, CalibrationDuration: 200 * time.Millisecond, Log: io.Discard}}
	res, err := r.calibrate(t.Context())
	require.NoError(t, err)
	assert.True(t, res.Passed())
	assert.Positive(t, res.Requests)
	assert.Positive(t, r.cal)
	assert.Equal(t, r.cal, res.EventsPerSec)
}
