package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// Result is one scenario's measurements. Rates are per second of the load phase; latencies
// are in milliseconds. Deliveries and latencies count the healthy webhooks only (all of
// them but e's slow one).
type Result struct {
	Scenario     string   `json:"scenario"`
	Title        string   `json:"title"`
	Mode         string   `json:"mode"`
	Webhooks     int      `json:"webhooks"`
	SlowWebhooks int      `json:"slowWebhooks,omitempty"`
	Conns        int      `json:"conns"`
	Rate         float64  `json:"scheduledEventsPerSec,omitempty"`
	BatchSize    int      `json:"batchSize,omitempty"`
	DataBytes    int      `json:"dataBytes"`
	ServerEnv    []string `json:"serverEnv,omitempty"`
	LoadSeconds  float64  `json:"loadSeconds"`

	Events           int64   `json:"events"`
	Requests         int64   `json:"requests"`
	IngestErrors     int64   `json:"ingestErrors"`
	FirstIngestError string  `json:"firstIngestError,omitempty"`
	EventsPerSec     float64 `json:"eventsPerSec"`
	// DeliveriesPerSec counts unique deliveries that arrived during the load phase.
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	BacklogAtLoadEnd int64   `json:"backlogAtLoadEnd"`
	DrainSeconds     float64 `json:"drainSeconds"`
	DrainEnd         string  `json:"drainEnd"` // complete, stalled, deadline, server exited
	// ArrivalSpanSeconds runs from the first send to the last arrival (the drain included).
	ArrivalSpanSeconds float64 `json:"firstSendToLastArrivalSeconds"`

	IngestP50 float64 `json:"ingestP50Ms"`
	IngestP99 float64 `json:"ingestP99Ms"`
	E2EP50    float64 `json:"firstAttemptP50Ms"` // send (or scheduled send) → first arrival
	E2EP99    float64 `json:"firstAttemptP99Ms"`
	NoE2E     bool    `json:"-"` // latency to the first attempt means nothing here (f)

	Expected      int64 `json:"expected"`
	Delivered     int64 `json:"delivered"`
	Lost          int64 `json:"lost"`      // missing when the drain ended complete or stalled
	Undrained     int64 `json:"undrained"` // missing when it ended at its deadline, still arriving
	Duplicates    int64 `json:"duplicates"`
	Unexpected    int64 `json:"unexpected"`
	BadSignatures int64 `json:"badSignatures"`

	ServerCPUSeconds  float64 `json:"serverCpuSeconds"`
	HarnessCPUSeconds float64 `json:"harnessCpuSeconds"`
	ServerPeakRSSMB   float64 `json:"serverPeakRssMB"`
	LoadAvg           string  `json:"loadAvgAtEnd"`

	Checks   []Check        `json:"checks"`
	Summary  string         `json:"summary,omitempty"`
	Extra    map[string]any `json:"extra,omitempty"`
	Timeline []int64        `json:"deliveriesPerSecond,omitempty"` // healthy deliveries in each second since start
}

// Check is one target of issue 5 (or the zero-loss rule) and whether the run met it.
type Check struct {
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

func atLeast(what string, got, want float64) Check {
	return Check{What: what, Want: "≥ " + num(want), Got: num(got), Pass: got >= want}
}

func atMost(what string, got, want float64) Check {
	return Check{What: what, Want: "≤ " + num(want), Got: num(got), Pass: got <= want}
}

func num(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

// Passed reports whether every check passed.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// maxRate is the highest event rate the scenario sustained: what was ingested, or what was
// delivered per webhook when delivery fell behind.
func (r *Result) maxRate() float64 {
	per := r.DeliveriesPerSec / float64(max(r.Webhooks-r.SlowWebhooks, 1))
	return min(r.EventsPerSec, per)
}

func (r *Result) line() string {
	s := fmt.Sprintf("%.0f events/s, %.0f deliveries/s, ingest p99 %.1f ms, first attempt p50 %.1f / p99 %.1f ms, "+
		"lost %d, dup %d, cpu %.1fs, rss %.0f MB", r.EventsPerSec, r.DeliveriesPerSec, r.IngestP99, r.E2EP50, r.E2EP99,
		r.Lost, r.Duplicates, r.ServerCPUSeconds, r.ServerPeakRSSMB)
	if r.Undrained > 0 {
		s += fmt.Sprintf(", %d undelivered at the drain deadline", r.Undrained)
	}
	if r.IngestErrors > 0 {
		s += fmt.Sprintf(", %d ingest errors (first: %s)", r.IngestErrors, r.FirstIngestError)
	}
	return s
}

// WriteTable prints one row per result, with its checks against the targets.
func (rep *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tevents/s\tdeliv/s\tingest p50\tp99 ms\t1st attempt p50\tp99 ms\tlost\tdup\tcpu s\trss MB\tverdict\t")
	for _, r := range rep.Results {
		e50, e99 := num(r.E2EP50), num(r.E2EP99)
		if r.NoE2E {
			e50, e99 = "-", "-"
		}
		verdict := "PASS"
		if !r.Passed() {
			verdict = "FAIL"
		}
		lost := fmt.Sprint(r.Lost)
		if r.Undrained > 0 {
			lost = fmt.Sprintf("?%d", r.Undrained) // not arrived by the deadline, still coming
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%.0f\t%s\t\n", r.Scenario, r.EventsPerSec,
			r.DeliveriesPerSec, num(r.IngestP50), num(r.IngestP99), e50, e99, lost, r.Duplicates,
			r.ServerCPUSeconds, r.ServerPeakRSSMB, verdict)
	}
	tw.Flush()
	for _, r := range rep.Results {
		if r.Undrained > 0 {
			fmt.Fprintln(w, "lost ?N: N deliveries had not arrived when the drain deadline passed, but were still arriving")
			break
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tcheck\ttarget\tgot\t\t")
	for _, r := range rep.Results {
		for _, c := range r.Checks {
			v := "PASS"
			if !c.Pass {
				v = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, c.What, c.Want, c.Got, v)
		}
		if r.Summary != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\n", r.Scenario, r.Summary)
		}
	}
	tw.Flush()
}

// WriteJSON writes the report to dir/<start time>.json and returns the path.
func (rep *Report) WriteJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create result directory: %w", err)
	}
	name := rep.Started.Format("20060102T150405Z")
	if rep.Smoke {
		name += "-smoke"
	}
	path := filepath.Join(dir, name+".json")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write result: %w", err)
	}
	return path, nil
}

// Failures lists every failed check, one per line.
func (rep *Report) Failures() string {
	var b strings.Builder
	for _, r := range rep.Results {
		for _, c := range r.Checks {
			if !c.Pass {
				fmt.Fprintf(&b, "%s: %s: want %s, got %s\n", r.Scenario, c.What, c.Want, c.Got)
			}
		}
	}
	return b.String()
}
