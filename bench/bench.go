package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// Scenario names, in the order they run. c is measured at half of a's maximum and e at half
// of b's, so a and b run first when selected.
var Scenarios = []string{"cal", "a", "a-sync", "b", "burst-1", "burst-10", "c", "d", "e", "f", "g", "r", "p", "s", "pg-a", "pg-1", "pg-2", "pg-3", "pg-3-d", "pg-burst-1", "pg-burst-10"}

// Config selects scenarios and bounds every phase of a run.
type Config struct {
	Server    string   // path of the hookrelay binary
	Scenarios []string // subset of Scenarios; empty means all
	Smoke     bool     // small, short runs of a, b, c, f and g that check only for losses

	CalibrationDuration time.Duration // how long cal posts to the loopback server
	BurstConns          int           // senders of the burst scenarios, and cal's connections
	BurstDuration       time.Duration // load phase of a burst scenario
	BurstRuns           int           // runs of each burst scenario; the result is their median

	DurationA    time.Duration // load phase of a (closed loop)
	Duration     time.Duration // load phase of every other scenario
	Conns        int           // connections of closed-loop ingest
	Window       int64         // closed loop: most deliveries per webhook accepted but not received; 0 for no limit
	OpenConns    int           // connections of open-loop ingest
	BatchSize    int           // events per request in g and when building f's backlog
	DataBytes    int           // size of each event's data object
	MaxEvents    int64         // cap on the events of one closed-loop phase
	RateC, RateE float64       // events/s of c and e; 0 derives them from a and b
	RateD        float64       // events/s of d
	SlowDelay    time.Duration // how long e's slow receiver takes per request

	Backlog          int64         // deliveries pending in f
	BacklogDataBytes int           // data size of f's events
	BacklogBuild     time.Duration // cap on building f's backlog
	BacklogDrain     time.Duration // cap on draining it

	Recover int64   // failed deliveries r recovers
	RateR   float64 // events/s of r's and p's ingest, before and while they recover or prune

	PruneRows       int64         // rows of history p has pruned (a third each events, deliveries, attempts)
	PruneAfter      time.Duration // p's prune interval: its second round, which deletes the history
	RateS           float64       // events/s of s
	SteadyRetention time.Duration // s's retention
	SteadyDuration  time.Duration // s's load phase

	Drain      time.Duration // cap on waiting for deliveries after a load phase
	DrainStall time.Duration // give up waiting when nothing arrived for this long
	ServerEnv  []string      // extra HOOKRELAY_* settings for every server, KEY=VALUE
	// PostgresURL is a server the PostgreSQL scenarios create their databases on (a user
	// allowed to CREATE DATABASE); empty starts a throwaway cluster.
	PostgresURL string

	ProfileScenario string        // scenario whose server is CPU-profiled ("" for none)
	ProfileDuration time.Duration // length of the profile, taken in the load phase

	OutDir string    // where the JSON result (and a profile) are written; "" for nowhere
	Note   string    // free text stored with the result, e.g. how busy the machine was
	Log    io.Writer // progress lines; nil for none
}

// Defaults returns the settings of a full `make bench` run: every scenario in about 30
// minutes on two cores.
func Defaults() Config {
	return Config{
		Server: "bin/hookrelay", DurationA: 60 * time.Second, Duration: 20 * time.Second,
		CalibrationDuration: 5 * time.Second, BurstConns: 32, BurstDuration: 15 * time.Second, BurstRuns: 3,
		Conns: 64, Window: 1000, OpenConns: 64, BatchSize: 100, DataBytes: 256, MaxEvents: 5_000_000,
		RateD: 50, SlowDelay: 5 * time.Second,
		Backlog: 1_000_000, BacklogDataBytes: 1024, BacklogBuild: 4 * time.Minute, BacklogDrain: 4 * time.Minute,
		Recover: 100_000, RateR: 200,
		PruneRows: 1_000_000, PruneAfter: 3 * time.Minute,
		RateS: 500, SteadyRetention: time.Minute, SteadyDuration: 4 * time.Minute,
		Drain: 2 * time.Minute, DrainStall: 15 * time.Second, ProfileDuration: 20 * time.Second,
		OutDir: "bench/results",
	}
}

// SmokeDefaults returns the settings of the smoke run: a few seconds per scenario, small
// counts, checked only for losses.
func SmokeDefaults() Config {
	c := Defaults()
	c.Smoke = true
	c.DurationA, c.Duration = time.Second, time.Second
	c.Conns, c.OpenConns, c.MaxEvents = 8, 8, 1000
	c.RateC = 200
	c.CalibrationDuration, c.BurstConns, c.BurstDuration, c.BurstRuns = time.Second, 8, time.Second, 1
	c.Backlog, c.BacklogBuild, c.BacklogDrain = 1000, 30*time.Second, 30*time.Second
	c.Recover = 1000
	c.Drain, c.DrainStall = 30*time.Second, 10*time.Second
	c.OutDir = ""
	return c
}

// Report is the JSON result file.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Note     string    `json:"note,omitempty"`
	Smoke    bool      `json:"smoke"`
	Machine  Machine   `json:"machine"`
	Settings settings  `json:"settings"`
	Results  []*Result `json:"results"`
	Profile  string    `json:"profile,omitempty"` // path of the CPU profile taken
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"goVersion"` // of the harness
	LoadStart string `json:"loadAvgAtStart"`
}

type settings struct {
	Server           string   `json:"server"`
	DurationA        string   `json:"durationA"`
	Duration         string   `json:"duration"`
	Conns            int      `json:"conns"`
	Window           int64    `json:"window"`
	OpenConns        int      `json:"openConns"`
	BatchSize        int      `json:"batchSize"`
	DataBytes        int      `json:"dataBytes"`
	Backlog          int64    `json:"backlog"`
	BacklogDataBytes int      `json:"backlogDataBytes"`
	ServerEnv        []string `json:"serverEnv,omitempty"`
}

// Passed reports whether every check of every result passed.
func (r *Report) Passed() bool {
	for _, res := range r.Results {
		if !res.Passed() {
			return false
		}
	}
	return len(r.Results) > 0
}

// Run runs the selected scenarios one after the other, each against a fresh server and
// database, and returns their results. A scenario that cannot run (the server does not
// start, say) ends the run with an error; results so far are returned with it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	selected := cfg.Scenarios
	if len(selected) == 0 {
		selected = Scenarios
		if cfg.Smoke {
			selected = []string{"a", "b", "burst-1", "c", "f", "g", "r"}
		}
	}
	for _, s := range selected {
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("unknown scenario %q (want some of %s)", s, strings.Join(Scenarios, ","))
		}
	}
	if _, err := os.Stat(cfg.Server); err != nil {
		return nil, fmt.Errorf("server binary: %w (run make build)", err)
	}
	rep := &Report{
		Started: time.Now().UTC(), Note: cfg.Note, Smoke: cfg.Smoke,
		Machine: Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
			GoVersion: runtime.Version(), LoadStart: loadAverage()},
		Settings: settings{Server: cfg.Server, DurationA: cfg.DurationA.String(), Duration: cfg.Duration.String(),
			Conns: cfg.Conns, Window: cfg.Window, OpenConns: cfg.OpenConns, BatchSize: cfg.BatchSize, DataBytes: cfg.DataBytes,
			Backlog: cfg.Backlog, BacklogDataBytes: cfg.BacklogDataBytes, ServerEnv: cfg.ServerEnv},
	}
	r := &runner{cfg: cfg, rep: rep}
	defer r.stopPostgres()
	for _, name := range Scenarios { // run in the canonical order whatever the flag's order
		if !slices.Contains(selected, name) {
			continue
		}
		results, err := r.scenario(ctx, name)
		rep.Results = append(rep.Results, results...)
		if err != nil {
			rep.Finished = time.Now().UTC()
			return rep, fmt.Errorf("scenario %s: %w", name, err)
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, nil
}

type runner struct {
	cfg Config
	rep *Report
	pg  *pgtest.Cluster // started by the first PostgreSQL scenario, stopped by Run
	pg1 *Result         // for pg-2's and pg-3's comparison
	a   *Result         // for c's rate
	b   *Result         // for e's rate
	cal float64         // loopback requests/s, the bursts' yardstick
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// spec is one load phase against one fresh server.
type spec struct {
	name, title string
	webhooks    int
	slow        int // the last slow webhooks answer after SlowDelay
	mode        string
	rate        float64 // open loop: events/s
	duration    time.Duration
	conns       int
	batch       int
	dataBytes   int
	maxEvents   int64
	env         []string
	instances   int  // servers on one database; more than one needs postgres
	postgres    bool // on a fresh PostgreSQL database instead of a SQLite file
	noWindow    bool // closed loop without the window: ingest may outrun delivery
}

const (
	modeClosed  = "closed"
	modeOpen    = "open"
	modeBatch   = "batch"
	modeBacklog = "backlog"
)

func (r *runner) scenario(ctx context.Context, name string) ([]*Result, error) {
	c := r.cfg
	closed := spec{mode: modeClosed, webhooks: 1, duration: c.Duration, conns: c.Conns, dataBytes: c.DataBytes, maxEvents: c.MaxEvents}
	switch name {
	case "a":
		s := closed
		s.name, s.title, s.duration = "a", "one webhook, closed loop", c.DurationA
		res, err := r.measure(ctx, s)
		if res != nil {
			r.a = res
			r.target(res, atLeast("deliveries/s", res.DeliveriesPerSec, 5000))
		}
		return list(res), err
	case "a-sync":
		s := closed
		s.name, s.title, s.env = "a-sync", "a with HOOKRELAY_SYNC=full", []string{"HOOKRELAY_SYNC=full"}
		res, err := r.measure(ctx, s)
		if res != nil && r.a != nil && r.a.DeliveriesPerSec > 0 {
			res.Extra = map[string]any{"deliveriesPerSecVsNormal": res.DeliveriesPerSec / r.a.DeliveriesPerSec,
				"ingestP99VsNormal": ratio(res.IngestP99, r.a.IngestP99)}
			res.Summary = fmt.Sprintf("%.0f%% of a's deliveries/s", 100*res.DeliveriesPerSec/r.a.DeliveriesPerSec)
		}
		return list(res), err
	case "b":
		s := closed
		s.name, s.title, s.webhooks = "b", "fan-out x10, closed loop", 10
		if c.Smoke {
			s.maxEvents = c.MaxEvents / 10
		}
		res, err := r.measure(ctx, s)
		if res != nil {
			r.b = res
			r.target(res, atLeast("deliveries/s", res.DeliveriesPerSec, 15000))
		}
		return list(res), err
	case "c":
		rate, how := c.RateC, "set by --rate-c"
		if rate == 0 {
			if r.a == nil || r.a.maxRate() <= 0 {
				return nil, errors.New("needs a's result for its rate: run a too, or set --rate-c")
			}
			rate, how = r.a.maxRate()/2, "half of a's maximum"
		}
		s := spec{name: "c", title: fmt.Sprintf("open loop, %.0f events/s (%s)", rate, how), mode: modeOpen, webhooks: 1,
			rate: rate, duration: c.Duration, conns: c.OpenConns, dataBytes: c.DataBytes}
		res, err := r.measure(ctx, s)
		if res != nil {
			r.target(res, atMost("p99 ingest→first attempt ms", res.E2EP99, 50),
				atMost("p50 ingest→first attempt ms", res.E2EP50, 5))
		}
		return list(res), err
	case "d":
		s := spec{name: "d", title: fmt.Sprintf("open loop, %.0f events/s", c.RateD), mode: modeOpen, webhooks: 1,
			rate: c.RateD, duration: c.Duration, conns: c.OpenConns, dataBytes: c.DataBytes}
		res, err := r.measure(ctx, s)
		if res != nil {
			r.target(res, atMost("p99 ingest→first attempt ms", res.E2EP99, 20))
		}
		return list(res), err
	case "e":
		return r.slowReceiver(ctx)
	case "f":
		res, err := r.backlog(ctx)
		return list(res), err
	case "r":
		return r.recoverFailed(ctx)
	case "p":
		return r.prune(ctx)
	case "s":
		return r.steady(ctx)
	case "cal":
		res, err := r.calibrate(ctx)
		return list(res), err
	case "burst-1", "burst-10", "pg-burst-1", "pg-burst-10":
		return r.burst(ctx, name)
	case "pg-a", "pg-1", "pg-2", "pg-3", "pg-3-d":
		return r.postgresScenario(ctx, name)
	case "g":
		s := closed
		s.name, s.title, s.mode, s.batch = "g", fmt.Sprintf("batch ingest, %d events per request", c.BatchSize), modeBatch, c.BatchSize
		s.conns = max(c.Conns/8, 2)
		res, err := r.measure(ctx, s)
		return list(res), err
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// target adds checks against issue 5's targets, except in a smoke run, which checks only
// that nothing is lost.
func (r *runner) target(res *Result, checks ...Check) {
	if !r.cfg.Smoke {
		res.Checks = append(res.Checks, checks...)
	}
}

func list(r *Result) []*Result {
	if r == nil {
		return nil
	}
	return []*Result{r}
}

// slowReceiver runs e twice at the same rate: nine healthy webhooks alone, then the same
// nine plus one that takes SlowDelay per request, and compares the healthy nine.
func (r *runner) slowReceiver(ctx context.Context) ([]*Result, error) {
	c := r.cfg
	rate, how := c.RateE, "set by --rate-e"
	if rate == 0 {
		if r.b == nil || r.b.maxRate() <= 0 {
			return nil, errors.New("needs b's result for its rate: run b too, or set --rate-e")
		}
		rate, how = r.b.maxRate()/2, "half of b's maximum"
	}
	base := spec{name: "e-base", title: fmt.Sprintf("9 healthy webhooks, open loop, %.0f events/s (%s)", rate, how),
		mode: modeOpen, webhooks: 9, rate: rate, duration: c.Duration, conns: c.OpenConns, dataBytes: c.DataBytes}
	without, err := r.measure(ctx, base)
	if err != nil {
		return list(without), err
	}
	slow := base
	slow.name, slow.webhooks, slow.slow = "e", 10, 1
	slow.title = fmt.Sprintf("the same 9 + 1 webhook answering after %s", c.SlowDelay)
	with, err := r.measure(ctx, slow)
	if err != nil {
		return []*Result{without, with}, err
	}
	tput := ratio(with.DeliveriesPerSec, without.DeliveriesPerSec)
	p99 := ratio(with.E2EP99, without.E2EP99)
	with.Extra["healthyThroughputRatio"] = tput
	with.Extra["healthyP99Ratio"] = p99
	r.target(with, atLeast("healthy deliveries/s vs e-base", tput, 0.95),
		atMost("healthy p99 vs e-base", p99, 1.2))
	with.Summary = fmt.Sprintf("healthy: %.1f%% of e-base throughput, p99 %.2fx", 100*tput, p99)
	return []*Result{without, with}, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// measure runs one spec: a fresh server, its receivers, a load phase, a drain phase.
func (r *runner) measure(ctx context.Context, s spec) (_ *Result, err error) {
	r.logf("%s: %s (%s)", s.name, s.title, s.duration)
	env := append(slices.Clone(r.cfg.ServerEnv), s.env...)
	h, err := r.setUp(ctx, s, env)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, h.tearDown()) }()
	ing := h.ingester(s.dataBytes, s.conns)
	window := h.window(ing, r.cfg.Window)
	if s.noWindow {
		window = nil
	}
	profileDone := r.profile(ctx, s.name, h)
	var load *loadResult
	switch s.mode {
	case modeOpen:
		load = ing.openLoop(ctx, s.conns, s.rate, s.duration)
	case modeBatch:
		load = ing.closedLoop(ctx, s.conns, s.duration, s.maxEvents, s.batch, window)
	default:
		load = ing.closedLoop(ctx, s.conns, s.duration, s.maxEvents, 1, window)
	}
	profileDone()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := h.finish(ctx, s, load, r.cfg.Drain, r.cfg.DrainStall)
	r.logf("%s: %s", s.name, res.line())
	return res, nil
}

// harness is one scenario's server and receivers.
type harness struct {
	dir       string
	srv       *server
	others    []*server // more instances on the same PostgreSQL database
	pprofAddr string
	client    *http.Client
	receivers []*receiver
	healthy   []*receiver
	tl        *timeline
	start     time.Time
	cpu0      time.Duration
	self0     time.Duration
	wg        sync.WaitGroup
	err       error
}

func (r *runner) setUp(ctx context.Context, s spec, env []string) (*harness, error) {
	dir, err := os.MkdirTemp("", "hookrelay-bench-"+s.name+"-")
	if err != nil {
		return nil, err
	}
	h := &harness{dir: dir, client: &http.Client{Timeout: 30 * time.Second}}
	if s.name == r.cfg.ProfileScenario {
		addr, err := freeAddr()
		if err != nil {
			h.tearDown()
			return nil, err
		}
		env = append(env, "HOOKRELAY_PPROF_ADDR="+addr)
		h.pprofAddr = addr
	}
	if s.postgres {
		url, err := r.postgresDatabase(ctx)
		if err != nil {
			h.tearDown()
			return nil, err
		}
		env = append(env, "HOOKRELAY_DB="+url)
	}
	srv, err := startServer(ctx, r.cfg.Server, dir, h.client, env)
	if err != nil {
		h.tearDown() // h.err is nil: nothing to keep
		return nil, err
	}
	h.srv = srv
	for i := 1; i < s.instances; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("instance-%d", i+1))
		if err := os.Mkdir(sub, 0o755); err != nil {
			h.tearDown()
			return nil, err
		}
		o, err := startServer(ctx, r.cfg.Server, sub, h.client, env)
		if err != nil {
			h.tearDown()
			return nil, err
		}
		h.others = append(h.others, o)
	}
	h.start = time.Now()
	h.tl = newTimeline(h.start, 2*time.Hour)
	for i := range s.webhooks {
		rc, err := newReceiver(benchSecret, time.Now, h.tl)
		if err != nil {
			h.tearDown()
			return nil, err
		}
		h.receivers = append(h.receivers, rc)
		if i >= s.webhooks-s.slow {
			rc.Slow = r.cfg.SlowDelay
		} else {
			h.healthy = append(h.healthy, rc)
		}
		h.wg.Go(rc.serve)
		if _, err := srv.createWebhook(ctx, rc.URL, benchSecret); err != nil {
			h.tearDown()
			return nil, err
		}
	}
	h.cpu0 = h.serverCPU()
	h.self0 = selfCPU()
	return h, nil
}

// benchSecret signs every delivery of a run.
const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func (h *harness) ingester(dataBytes, conns int) *ingester {
	urls := []string{h.srv.URL}
	for _, o := range h.others {
		urls = append(urls, o.URL)
	}
	return &ingester{urls: urls, client: newIngestClient(conns), eventType: "bench.event", pad: padFor(dataBytes), clock: time.Now}
}

func (h *harness) delivered(rs []*receiver) int64 {
	var n int64
	for _, rc := range rs {
		n += rc.unique.Load()
	}
	return n
}

// window returns the closed loop's brake: a worker waits while more than perWebhook
// deliveries per healthy webhook are accepted but not yet received. Without it, ingest
// outruns delivery, the backlog grows for as long as the run lasts, and neither rate is one
// the server could sustain. perWebhook 0 means no brake.
func (h *harness) window(ing *ingester, perWebhook int64) func(context.Context, time.Time) bool {
	if perWebhook <= 0 {
		return nil
	}
	n := int64(len(h.healthy))
	limit := perWebhook * n
	return func(ctx context.Context, end time.Time) bool {
		for ing.accepted.Load()*n-h.delivered(h.healthy) > limit {
			if ctx.Err() != nil || !time.Now().Before(end) {
				return false
			}
			time.Sleep(200 * time.Microsecond)
		}
		return true
	}
}

// How a drain phase ended.
const (
	drainComplete = "complete" // everything accepted arrived
	drainStalled  = "stalled"  // nothing arrived for DrainStall: what is missing is lost
	drainDeadline = "deadline" // deliveries were still arriving when time ran out
	drainExited   = "server exited"
)

// drain waits until the receivers rs hold want deliveries, nothing has arrived for stall,
// or timeout has passed. It returns when the last delivery it saw arrived, and why it
// stopped waiting.
func (h *harness) drain(ctx context.Context, rs []*receiver, want int64, timeout, stall time.Duration) (time.Time, string) {
	deadline := time.Now().Add(timeout)
	last, lastChange := h.delivered(rs), time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := h.delivered(rs)
		now := time.Now()
		if n != last {
			last, lastChange = n, now
		}
		switch {
		case n >= want:
			return lastChange, drainComplete
		case now.Sub(lastChange) > stall:
			return lastChange, drainStalled
		case now.After(deadline):
			return lastChange, drainDeadline
		case !h.srv.alive():
			return lastChange, drainExited
		}
		select {
		case <-ctx.Done():
			return lastChange, ctx.Err().Error()
		case <-tick.C:
		}
	}
}

// finish drains, reads the server's CPU and memory, stops everything and builds the result.
func (h *harness) finish(ctx context.Context, s spec, load *loadResult, drainFor, stall time.Duration) *Result {
	loadDur := load.End.Sub(load.Start)
	inWindow := h.delivered(h.healthy)
	want := int64(len(load.Accepted)) * int64(len(h.healthy))
	lastArrival, how := h.drain(ctx, h.healthy, want, drainFor, stall)
	res := h.result(s, load)
	res.DrainEnd = how
	res.DeliveriesPerSec = rate(inWindow, loadDur)
	res.BacklogAtLoadEnd = want - inWindow
	if d := lastArrival.Sub(load.End); d > 0 && res.BacklogAtLoadEnd > 0 {
		res.DrainSeconds = d.Seconds()
	}
	res.ArrivalSpanSeconds = lastArrival.Sub(load.Start).Seconds()
	res.Timeline = h.tl.counts(lastArrival.Sub(h.start))
	h.stop(res)
	h.tally(res, load.Accepted)
	return res
}

// result fills what every scenario reports from the load phase.
func (h *harness) result(s spec, load *loadResult) *Result {
	loadDur := load.End.Sub(load.Start)
	res := &Result{
		Scenario: s.name, Title: s.title, Mode: s.mode, Webhooks: s.webhooks, SlowWebhooks: s.slow, Conns: s.conns,
		Rate: s.rate, BatchSize: s.batch, DataBytes: s.dataBytes, ServerEnv: s.env, LoadSeconds: loadDur.Seconds(),
		Events: int64(len(load.Accepted)), Requests: load.Requests, IngestErrors: load.Errors, FirstIngestError: load.FirstError,
		EventsPerSec: rate(int64(len(load.Accepted)), loadDur), LoadAvg: loadAverage(), Extra: map[string]any{},
	}
	p := percentiles(load.Latencies, 0.5, 0.99)
	res.IngestP50, res.IngestP99 = p[0], p[1]
	return res
}

// stop reads the servers' CPU and memory, stops them and the receivers. With several
// instances, CPU is their sum and peak RSS the largest.
func (h *harness) stop(res *Result) {
	var cpu time.Duration
	for _, s := range append([]*server{h.srv}, h.others...) {
		c, mem, err := s.stats()
		if err != nil {
			h.err = errors.Join(h.err, err)
		}
		cpu += c
		res.ServerPeakRSSMB = max(res.ServerPeakRSSMB, mb(mem.Peak))
	}
	res.ServerCPUSeconds = (cpu - h.cpu0).Seconds()
	res.HarnessCPUSeconds = (selfCPU() - h.self0).Seconds()
	for _, s := range append([]*server{h.srv}, h.others...) {
		if err := s.stop(); err != nil {
			h.err = errors.Join(h.err, err)
		}
	}
	h.closeReceivers()
}

// serverCPU is the CPU time of every instance so far.
func (h *harness) serverCPU() time.Duration {
	var cpu time.Duration
	for _, s := range append([]*server{h.srv}, h.others...) {
		c, _ := processCPU(s.Pid)
		cpu += c
	}
	return cpu
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// tally checks every healthy receiver against the accepted events.
func (h *harness) tally(res *Result, accepted []string) {
	var t tally
	var lat []int64
	for _, rc := range h.healthy {
		t.add(rc.check(accepted))
		lat = append(lat, rc.takeLatencies()...)
	}
	res.Expected, res.Delivered, res.Duplicates = t.Expected, t.Delivered, t.Duplicates
	res.Unexpected, res.BadSignatures = t.Unexpected, t.BadSignatures
	lost := Check{What: "lost deliveries", Want: "0", Got: fmt.Sprint(t.Lost), Pass: t.Lost == 0 && t.Expected > 0}
	if res.DrainEnd == drainDeadline {
		// Still arriving when time ran out: slow, not (known to be) lost.
		res.Undrained = t.Lost
		lost.Got = fmt.Sprintf("unknown: %d not delivered when the drain deadline passed, still arriving", t.Lost)
	} else {
		res.Lost = t.Lost
	}
	p := percentiles(lat, 0.5, 0.99)
	res.E2EP50, res.E2EP99 = p[0], p[1]
	for _, rc := range h.receivers {
		if rc.Slow > 0 {
			st := rc.check(accepted)
			res.Extra["slowWebhookDelivered"] = st.Delivered
			res.Extra["slowWebhookExpected"] = st.Expected
		}
		if rc.serveErr != nil {
			h.err = errors.Join(h.err, fmt.Errorf("receiver: %w", rc.serveErr))
		}
	}
	res.Checks = append([]Check{lost,
		{What: "bad signatures", Want: "0", Got: fmt.Sprint(res.BadSignatures), Pass: res.BadSignatures == 0}}, res.Checks...)
}

func (h *harness) closeReceivers() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, rc := range h.receivers {
		rc.close(ctx)
	}
	h.wg.Wait()
	h.receivers = nil
}

// tearDown stops whatever still runs and removes the scenario's directory (database and
// server log), unless something failed: then it keeps them and returns the failure, naming
// the directory.
func (h *harness) tearDown() error {
	for _, s := range append([]*server{h.srv}, h.others...) {
		if s != nil && s.alive() {
			s.kill()
		}
	}
	h.closeReceivers()
	if h.err != nil {
		return fmt.Errorf("%w (server files kept in %s)", h.err, h.dir)
	}
	os.RemoveAll(h.dir)
	return nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// profile starts a CPU profile of the server if this scenario is the one to profile, taken
// over the middle of its load phase, and returns a func that waits for it.
func (r *runner) profile(ctx context.Context, scenario string, h *harness) func() {
	if scenario != r.cfg.ProfileScenario || r.cfg.OutDir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sleep(ctx, 3*time.Second) // past the start-up
		path, err := fetchProfile(ctx, h.client, h.pprofAddr, r.cfg.ProfileDuration, filepath.Join(r.cfg.OutDir,
			r.rep.Started.Format("20060102T150405Z")+"-"+scenario+".cpu.pprof"))
		if err != nil {
			r.logf("%s: cpu profile: %v", scenario, err)
			return
		}
		r.rep.Profile = path
		r.logf("%s: cpu profile written to %s (go tool pprof -top %s %s)", scenario, path, r.cfg.Server, path)
	})
	return wg.Wait
}
