package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/db"
)

// Queue is what the gauges need of the store: one indexed read of the queue's figures
// (db/sqlite and db/postgres implement it).
type Queue interface {
	QueueStats(ctx context.Context) (db.QueueStats, error)
}

// queueGauges serves hookrelay_deliveries and hookrelay_oldest_due_delivery_age_seconds from
// figures read at most once per maxAge: a scrape with fresh figures at hand costs no query,
// and scrapes that find them stale at the same moment share one read (the first reads while
// the others wait on mu, then find the figures fresh). A failed read is not kept: the next
// scrape tries again.
type queueGauges struct {
	q       Queue
	maxAge  time.Duration
	timeout time.Duration

	deliveries, oldestDue *prometheus.Desc

	mu     sync.Mutex
	stats  db.QueueStats
	readAt time.Time // this process's clock; zero before the first read
}

func newQueueGauges(q Queue, maxAge, timeout time.Duration) *queueGauges {
	if maxAge <= 0 {
		maxAge = 15 * time.Second
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &queueGauges{
		q: q, maxAge: maxAge, timeout: timeout,
		deliveries: prometheus.NewDesc("hookrelay_deliveries",
			"Deliveries by state over the whole store (the same on every instance): pending (waiting for an attempt, due or later), "+
				"delivering (an attempt in flight) and failed (retry schedule used up). Read at most every 15s.",
			[]string{"status"}, nil),
		oldestDue: prometheus.NewDesc("hookrelay_oldest_due_delivery_age_seconds",
			"How long the most overdue pending delivery of an enabled webhook has been due, over the whole store; 0 when none is due. "+
				"Read at most every 15s.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (g *queueGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.deliveries
	ch <- g.oldestDue
}

// Collect implements prometheus.Collector.
func (g *queueGauges) Collect(ch chan<- prometheus.Metric) {
	q, err := g.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.deliveries, err)
		ch <- prometheus.NewInvalidMetric(g.oldestDue, err)
		return
	}
	for _, s := range []struct {
		state db.State
		n     int
	}{{db.StatePending, q.Pending}, {db.StateDelivering, q.Delivering}, {db.StateFailed, q.Failed}} {
		ch <- prometheus.MustNewConstMetric(g.deliveries, prometheus.GaugeValue, float64(s.n), string(s.state))
	}
	ch <- prometheus.MustNewConstMetric(g.oldestDue, prometheus.GaugeValue, q.OldestDueAge().Seconds())
}

// read returns the figures, reading them again when they are older than maxAge.
func (g *queueGauges) read() (db.QueueStats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.readAt.IsZero() && time.Since(g.readAt) < g.maxAge {
		return g.stats, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	q, err := g.q.QueueStats(ctx)
	if err != nil {
		return db.QueueStats{}, fmt.Errorf("read the queue's figures: %w", err)
	}
	g.stats, g.readAt = q, time.Now()
	return q, nil
}
