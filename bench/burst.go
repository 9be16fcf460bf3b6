package bench

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Targets of the burst scenarios (issue 15): deliveries/s as a share of the HTTP-only bound.
const burstTarget = 0.5

// Exchanges per delivery, the divisors of the HTTP-only bound: one webhook needs an ingest and
// an attempt per delivery; fan-out ×10 needs one ingest per ten attempts.
const (
	exchangesOne    = 2.0
	exchangesFanout = 1.1
)

// calibrate measures what this machine's loopback HTTP does with no hookrelay in the path:
// BurstConns keep-alive connections posting 1 KiB bodies as fast as a minimal Go server
// answers them, for CalibrationDuration. The bursts' bounds are fractions of it, so their
// figures compare across machines that differ threefold in absolute speed.
func (r *runner) calibrate(ctx context.Context) (*Result, error) {
	c := r.cfg
	r.logf("cal: loopback HTTP, %d connections, 1 KiB POSTs (%s)", c.BurstConns, c.CalibrationDuration)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("calibration listener: %w", err)
	}
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// As much work as a receiver must do: read the body, answer 2xx.
		buf := bufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, err := buf.ReadFrom(req.Body)
		bufs.Put(buf)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	var served sync.WaitGroup
	served.Go(func() { srv.Serve(ln) })
	defer func() {
		srv.Close()
		served.Wait()
	}()

	url := "http://" + ln.Addr().String() + "/"
	body := bytes.Repeat([]byte("x"), 1024)
	client := newIngestClient(c.BurstConns)
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	end := start.Add(c.CalibrationDuration)
	var wg sync.WaitGroup
	for range c.BurstConns {
		wg.Go(func() {
			var sink bytes.Buffer
			for ctx.Err() == nil && time.Now().Before(end) {
				if err := post(ctx, client, url, body, &sink); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	perSec := rate(ok.Load(), elapsed)
	res := &Result{Scenario: "cal", Title: "loopback HTTP calibration, 1 KiB POSTs, no hookrelay", Mode: modeClosed,
		Conns: c.BurstConns, DataBytes: len(body), LoadSeconds: elapsed.Seconds(), Requests: ok.Load() + failed.Load(),
		EventsPerSec: perSec, IngestErrors: failed.Load(), NoE2E: true, LoadAvg: loadAverage(),
		Extra: map[string]any{"requestsPerSec": perSec}}
	if p := firstErr.Load(); p != nil {
		res.FirstIngestError = (*p).Error()
	}
	res.Summary = fmt.Sprintf("%.0f requests/s: bounds %.0f deliveries/s for one webhook (÷%g), %.0f for fan-out x10 (÷%g)",
		perSec, perSec/exchangesOne, exchangesOne, perSec/exchangesFanout, exchangesFanout)
	res.Checks = []Check{{What: "calibration requests refused", Want: "0", Got: fmt.Sprint(failed.Load()), Pass: failed.Load() == 0 && perSec > 0}}
	r.cal = perSec
	r.logf("cal: %s", res.Summary)
	return res, nil
}

func post(ctx context.Context, client *http.Client, url string, body []byte, sink *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	sink.Reset()
	_, err = sink.ReadFrom(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("calibration server answered %s", resp.Status)
	}
	return err
}

// burst runs a burst scenario BurstRuns times, each on a fresh server: BurstConns senders
// post single events as fast as they are answered for BurstDuration, with no window, so
// ingest runs flat out and the backlog is whatever the engine leaves behind; then the
// backlog drains. A run's rate is unique deliveries received over the time from the first
// send to the last arrival, which counts the drain: a server that accepts fast and delivers
// later gains nothing. The result is the median run, with the others' figures beside it.
func (r *runner) burst(ctx context.Context, name string) ([]*Result, error) {
	c := r.cfg
	var out []*Result
	if r.cal <= 0 { // the bound needs a calibration from this run
		cal, err := r.calibrate(ctx)
		if err != nil {
			return list(cal), err
		}
		out = append(out, cal)
	}
	s := spec{name: name, mode: modeClosed, webhooks: 1, duration: c.BurstDuration, conns: c.BurstConns,
		dataBytes: c.DataBytes, maxEvents: c.MaxEvents, noWindow: true}
	exchanges := exchangesOne
	if name == "burst-10" || name == "pg-burst-10" {
		s.webhooks, exchanges = 10, exchangesFanout
	}
	if name == "pg-burst-1" || name == "pg-burst-10" {
		s.postgres, s.instances = true, 1
	}
	s.title = fmt.Sprintf("burst, %d webhook(s), %d senders, no window", s.webhooks, s.conns)
	bound := r.cal / exchanges
	var runs []*Result
	for i := range max(c.BurstRuns, 1) {
		res, err := r.measure(ctx, s)
		if err != nil {
			return append(out, res), err
		}
		res.Extra["runOf"] = fmt.Sprintf("%d/%d", i+1, c.BurstRuns)
		runs = append(runs, res)
	}
	sum := r.summarizeBurst(runs, bound)
	r.logf("%s: %s", name, sum.Summary)
	return append(out, sum), nil
}

// summarizeBurst is the result of a burst scenario's runs: the median run, with the median
// rate as its deliveries/s, every run's rate beside it, and each check failed by any run.
func (r *runner) summarizeBurst(runs []*Result, bound float64) *Result {
	rates := make([]float64, len(runs))
	for i, res := range runs {
		rates[i] = res.burstRate()
	}
	med := median(rates)
	mid := runs[0]
	for _, res := range runs {
		if math.Abs(res.burstRate()-med) < math.Abs(mid.burstRate()-med) {
			mid = res // for an even count, the run nearest the median
		}
	}
	sum := *mid
	sum.Extra = maps.Clone(mid.Extra)
	sum.Checks = slices.Clone(mid.Checks)
	sum.DeliveriesPerSec = med
	sum.Extra["burstDeliveriesPerSec"] = rates
	sum.Extra["httpBoundDeliveriesPerSec"] = bound
	sum.Extra["fractionOfBound"] = med / bound
	for _, res := range runs {
		sum.Lost = max(sum.Lost, res.Lost)
		sum.Duplicates = max(sum.Duplicates, res.Duplicates)
		sum.Undrained = max(sum.Undrained, res.Undrained)
		for _, ch := range res.Checks {
			if ch.Pass {
				continue
			}
			if i := slices.IndexFunc(sum.Checks, func(o Check) bool { return o.What == ch.What }); i >= 0 {
				if sum.Checks[i].Pass {
					sum.Checks[i] = ch
				}
			} else {
				sum.Checks = append(sum.Checks, ch)
			}
		}
	}
	sum.Checks = append(sum.Checks, Check{What: "duplicates", Want: "0", Got: fmt.Sprint(sum.Duplicates), Pass: sum.Duplicates == 0})
	r.target(&sum, atLeast("deliveries/s vs HTTP bound", med/bound, burstTarget))
	sum.Summary = fmt.Sprintf("%.0f deliveries/s = %.0f%% of the HTTP-only bound %.0f/s; median of %d [%.0f–%.0f]",
		med, 100*med/bound, bound, len(runs), slices.Min(rates), slices.Max(rates))
	return &sum
}

// burstRate is unique deliveries over the time from the first send to the last arrival.
func (r *Result) burstRate() float64 {
	if r.ArrivalSpanSeconds <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.ArrivalSpanSeconds
}
