// Package metrics is hookrelay's Prometheus adapter: the metric families of docs/operating.md
// (their names are fixed: dashboards and alerting rules depend on them), registered on a
// registry that main creates and serves at GET /metrics.
//
// The components never import this package. Each declares the small interface it reports
// through (delivery.Metrics, alert.Metrics, handlers.Metrics, and the pruner's), and *Metrics
// implements them all; main wires it in. Nothing here is package-level state, so tests and
// several servers in one process each have their own registry.
//
// Two kinds of figures. Counters and histograms count what this instance did (its ingests,
// its attempts): with several instances sharing a store, sum them over instances. The gauges
// (hookrelay_deliveries, hookrelay_oldest_due_delivery_age_seconds) are read from the shared
// store and are the same on every instance: take max over instances, never sum.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookrelay/hookrelay/db"
)

// Options configure the metric families.
type Options struct {
	// Version is the build's version, the label of hookrelay_build_info.
	Version string
	// PerWebhook adds a webhook_id label to the attempt and finished families. Off by
	// default: each webhook then costs a series per outcome, trigger and histogram bucket.
	PerWebhook bool
	// Queue reads the figures of the gauges; nil leaves the gauges out.
	Queue Queue
	// MaxAge is how long the gauges' figures are reused before a scrape reads them again
	// (default 15s).
	MaxAge time.Duration
	// QueryTimeout bounds one read of the gauges' figures (default 5s).
	QueryTimeout time.Duration
}

// Outcomes of an attempt, the values of the outcome label: success for a 2xx answer, the
// class of any other status (http_3xx: redirects are not followed; http_4xx; http_5xx;
// http_other), or the error class of an attempt that got no answer (timeout, dns,
// connection, tls, blocked, protocol, internal, canceled; see delivery's Class constants).
// Everything but success is a failure.
const (
	OutcomeSuccess   = "success"
	OutcomeHTTP3xx   = "http_3xx"
	OutcomeHTTP4xx   = "http_4xx"
	OutcomeHTTP5xx   = "http_5xx"
	OutcomeHTTPOther = "http_other"
)

// errorOutcomes are the error classes the engine records (delivery.Class*), listed so that
// their series exist from the start: a rate over a series that appears only with its first
// failure misses that failure.
var errorOutcomes = []string{"timeout", "dns", "connection", "tls", "blocked", "protocol", "internal", "canceled"}

// RetentionTables are the tables the pruner deletes from, the values of the table label of
// hookrelay_retention_deleted_total known from the start. Another table is counted too.
var RetentionTables = []string{"events", "deliveries", "attempts", "alerts", "sessions"}

// Metrics holds hookrelay's metric families. Its methods are safe for concurrent use and
// never block.
type Metrics struct {
	perWebhook bool

	eventsIngested   prometheus.Counter
	attempts         *prometheus.CounterVec
	attemptDuration  *prometheus.HistogramVec
	finished         *prometheus.CounterVec
	ingestToFirst    prometheus.Histogram
	alertEmails      *prometheus.CounterVec
	leaseRescues     prometheus.Counter
	retentionDeleted *prometheus.CounterVec
}

// New creates the metric families and registers them, with the gauges when o.Queue is set,
// on reg. Register Go's and the process's collectors on reg too (main does).
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	byWebhook := func(labels ...string) []string {
		if o.PerWebhook {
			return append([]string{"webhook_id"}, labels...)
		}
		return labels
	}
	m := &Metrics{
		perWebhook: o.PerWebhook,
		eventsIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookrelay_events_ingested_total",
			Help: "Events stored by this instance's ingest API; a duplicate idempotency key is not counted.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_delivery_attempts_total",
			Help: "Delivery attempts recorded by this instance, by outcome (success; http_3xx, http_4xx, http_5xx, http_other; " +
				"or the error class: timeout, dns, connection, tls, blocked, protocol, internal, canceled) and trigger (scheduled, manual).",
		}, byWebhook("outcome", "trigger")),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookrelay_delivery_attempt_duration_seconds",
			Help:    "Duration of this instance's delivery attempts: connect, send, and read the answer (bounded by the delivery timeout).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60},
		}, byWebhook()),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_deliveries_finished_total",
			Help: "Deliveries that this instance's attempts brought to a final state: succeeded, or failed with the retry schedule used up.",
		}, byWebhook("status")),
		ingestToFirst: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookrelay_ingest_to_first_attempt_seconds",
			Help:    "Time from a delivery's creation (its event's ingest) to the start of its first attempt, for this instance's attempts.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}),
		alertEmails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_alert_emails_total",
			Help: "Failure alert emails this instance tried to send, by result: sent, or failed (retried with backoff).",
		}, []string{"result"}),
		leaseRescues: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookrelay_lease_rescues_total",
			Help: "Expired delivery leases ended by this instance's rescuer: attempts whose result never came back (an instance stopped mid-attempt).",
		}),
		retentionDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_retention_deleted_total",
			Help: "Rows this instance's pruner deleted for being older than the retention, by table.",
		}, []string{"table"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "hookrelay_build_info",
		Help:        "Always 1; the version label is the running build's.",
		ConstLabels: prometheus.Labels{"version": o.Version},
	})
	buildInfo.Set(1)

	if !o.PerWebhook {
		for _, trigger := range []db.Trigger{db.TriggerScheduled, db.TriggerManual} {
			for _, outcome := range append([]string{OutcomeSuccess, OutcomeHTTP3xx, OutcomeHTTP4xx, OutcomeHTTP5xx, OutcomeHTTPOther}, errorOutcomes...) {
				m.attempts.WithLabelValues(outcome, string(trigger))
			}
		}
		m.attemptDuration.WithLabelValues()
		m.finished.WithLabelValues(string(db.StateSucceeded))
		m.finished.WithLabelValues(string(db.StateFailed))
	}
	m.alertEmails.WithLabelValues("sent")
	m.alertEmails.WithLabelValues("failed")
	for _, table := range RetentionTables {
		m.retentionDeleted.WithLabelValues(table)
	}

	cs := []prometheus.Collector{m.eventsIngested, m.attempts, m.attemptDuration, m.finished, m.ingestToFirst,
		m.alertEmails, m.leaseRescues, m.retentionDeleted, buildInfo}
	if o.Queue != nil {
		cs = append(cs, newQueueGauges(o.Queue, o.MaxAge, o.QueryTimeout))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// NewRegistry returns a registry with the Go runtime's and the process's collectors
// (go_*, process_*), for New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics in the Prometheus exposition format. A family that cannot
// be read (the gauges, with the database down) is left out and logged through errorLog,
// and the others are still served.
func Handler(reg *prometheus.Registry, errorLog promhttp.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog,
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg, // promhttp_metric_handler_errors_total counts what was left out
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	})
}

// EventsIngested counts n events stored by the ingest API (handlers.Metrics).
func (m *Metrics) EventsIngested(n int) { m.eventsIngested.Add(float64(n)) }

// AttemptRecorded counts one recorded attempt: its outcome, duration, the delivery's end
// when the attempt ended it, and, for a first attempt, how long after its creation it
// started (delivery.Metrics).
func (m *Metrics) AttemptRecorded(r db.AttemptResult) {
	var webhook []string
	if m.perWebhook {
		webhook = []string{r.Claim.WebhookID}
	}
	m.attempts.WithLabelValues(append(webhook, Outcome(r), string(r.Claim.Trigger()))...).Inc()
	m.attemptDuration.WithLabelValues(webhook...).Observe(r.Duration.Seconds())
	if r.Next.Final() {
		m.finished.WithLabelValues(append(webhook, string(r.Next))...).Inc()
	}
	if r.Claim.Attempts == 0 && !r.Claim.CreatedAt.IsZero() {
		m.ingestToFirst.Observe(max(r.AttemptedAt.Sub(r.Claim.CreatedAt), 0).Seconds())
	}
}

// LeasesRescued counts leases the rescuer ended (delivery.Metrics).
func (m *Metrics) LeasesRescued(n int) { m.leaseRescues.Add(float64(n)) }

// AlertEmail counts one alert email tried (alert.Metrics).
func (m *Metrics) AlertEmail(sent bool) {
	result := "failed"
	if sent {
		result = "sent"
	}
	m.alertEmails.WithLabelValues(result).Inc()
}

// RetentionDeleted counts n rows of table deleted by the pruner for being older than the
// retention. The pruner takes it through an interface of its own, such as
//
//	type Metrics interface{ RetentionDeleted(table string, n int) }
//
// and calls it after each batch it committed, with the table's name (RetentionTables).
func (m *Metrics) RetentionDeleted(table string, n int) {
	m.retentionDeleted.WithLabelValues(table).Add(float64(n))
}

// Outcome is the outcome label of an attempt (see OutcomeSuccess and the list above it).
func Outcome(r db.AttemptResult) string {
	switch c := r.StatusCode; {
	case c >= 200 && c <= 299:
		return OutcomeSuccess
	case r.ErrorClass != "":
		return r.ErrorClass
	case c >= 300 && c <= 399:
		return OutcomeHTTP3xx
	case c >= 400 && c <= 499:
		return OutcomeHTTP4xx
	case c >= 500 && c <= 599:
		return OutcomeHTTP5xx
	default:
		return OutcomeHTTPOther
	}
}
