package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/metrics"
)

// families are the names issue 14 fixes: dashboards and alerting rules depend on them.
var families = []string{
	"hookrelay_events_ingested_total",
	"hookrelay_delivery_attempts_total",
	"hookrelay_delivery_attempt_duration_seconds",
	"hookrelay_deliveries_finished_total",
	"hookrelay_deliveries",
	"hookrelay_oldest_due_delivery_age_seconds",
	"hookrelay_ingest_to_first_attempt_seconds",
	"hookrelay_alert_emails_total",
	"hookrelay_lease_rescues_total",
	"hookrelay_retention_deleted_total",
	"hookrelay_build_info",
}

// countingQueue counts the reads of the gauges' figures from a real store.
type countingQueue struct {
	metrics.Queue
	reads atomic.Int32
}

func (q *countingQueue) QueueStats(ctx context.Context) (db.QueueStats, error) {
	q.reads.Add(1)
	return q.Queue.QueueStats(ctx)
}

func newMetrics(t testing.TB, o metrics.Options) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := metrics.NewRegistry()
	m, err := metrics.New(reg, o)
	require.NoError(t, err)
	return m, reg
}

func gatheredNames(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

func TestEveryFamilyIsServedFromTheStart(t *testing.T) {
	t.Parallel()
	_, reg := newMetrics(t, metrics.Options{Version: "v1.2.3", Queue: dbtest.New(t)})
	names := gatheredNames(t, reg)
	for _, f := range families {
		assert.Contains(t, names, f)
	}
	assert.Contains(t, names, "go_goroutines", "Go's collector")
	assert.Contains(t, names, "process_cpu_seconds_total", "the process collector")
	for _, n := range names {
		if strings.HasPrefix(n, "hookrelay_") {
			assert.Contains(t, families, n, "a family outside the fixed list")
		}
	}

	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hookrelay_build_info Always 1; the version label is the running build's.
# TYPE hookrelay_build_info gauge
hookrelay_build_info{version="v1.2.3"} 1
`), "hookrelay_build_info"))
	// Counters that rules take rates of exist at zero before the first event.
	assert.Equal(t, 1, testutil.CollectAndCount(reg, "hookrelay_events_ingested_total"))
	assert.Equal(t, 26, testutil.CollectAndCount(reg, "hookrelay_delivery_attempts_total"), "13 outcomes × 2 triggers")
	assert.Equal(t, 2, testutil.CollectAndCount(reg, "hookrelay_deliveries_finished_total"))
	assert.Equal(t, 2, testutil.CollectAndCount(reg, "hookrelay_alert_emails_total"))
	assert.Equal(t, len(metrics.RetentionTables), testutil.CollectAndCount(reg, "hookrelay_retention_deleted_total"))
}

func TestRegistriesAreIndependent(t *testing.T) {
	t.Parallel()
	a, regA := newMetrics(t, metrics.Options{})
	_, regB := newMetrics(t, metrics.Options{})
	a.EventsIngested(3)
	assert.NoError(t, testutil.GatherAndCompare(regA, strings.NewReader(`
# HELP hookrelay_events_ingested_total Events stored by this instance's ingest API; a duplicate idempotency key is not counted.
# TYPE hookrelay_events_ingested_total counter
hookrelay_events_ingested_total 3
`), "hookrelay_events_ingested_total"))
	assert.NoError(t, testutil.GatherAndCompare(regB, strings.NewReader(`
# HELP hookrelay_events_ingested_total Events stored by this instance's ingest API; a duplicate idempotency key is not counted.
# TYPE hookrelay_events_ingested_total counter
hookrelay_events_ingested_total 0
`), "hookrelay_events_ingested_total"))
	assert.Error(t, func() error { _, err := metrics.New(regA, metrics.Options{}); return err }(), "registered twice")
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		r    db.AttemptResult
		want string
	}{
		{"2xx", db.AttemptResult{StatusCode: 204}, "success"},
		{"2xx with a body cut short", db.AttemptResult{StatusCode: 200, ErrorClass: "connection"}, "success"},
		{"redirect", db.AttemptResult{StatusCode: 302}, "http_3xx"},
		{"client error", db.AttemptResult{StatusCode: 410}, "http_4xx"},
		{"server error", db.AttemptResult{StatusCode: 503}, "http_5xx"},
		{"informational", db.AttemptResult{StatusCode: 101}, "http_other"},
		{"server error then a broken body", db.AttemptResult{StatusCode: 500, ErrorClass: "timeout"}, "timeout"},
		{"no answer", db.AttemptResult{ErrorClass: "dns"}, "dns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, metrics.Outcome(tc.r))
		})
	}
}

func TestAttemptsAreCounted(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t, metrics.Options{})
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	claim := db.Claim{WebhookID: "whk_a", CreatedAt: created}
	m.AttemptRecorded(db.AttemptResult{Claim: claim, AttemptedAt: created.Add(40 * time.Millisecond),
		StatusCode: 503, Duration: 30 * time.Millisecond, Next: db.StatePending})
	claim.Attempts = 1
	m.AttemptRecorded(db.AttemptResult{Claim: claim, AttemptedAt: created.Add(time.Minute),
		StatusCode: 200, Duration: 2 * time.Second, Next: db.StateSucceeded})
	manual := db.Claim{WebhookID: "whk_b", CreatedAt: created, Attempts: 7, Manual: true}
	m.AttemptRecorded(db.AttemptResult{Claim: manual, AttemptedAt: created.Add(time.Hour),
		ErrorClass: "timeout", Duration: 15 * time.Second, Next: db.StateFailed})
	m.LeasesRescued(2)
	m.AlertEmail(false)
	m.AlertEmail(true)
	m.RetentionDeleted("attempts", 500)
	m.RetentionDeleted("attempts", 20)

	value := func(name string, labels ...string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, mt := range mf.GetMetric() {
				var got []string
				for _, l := range mt.GetLabel() {
					got = append(got, l.GetName()+"="+l.GetValue())
				}
				if !slices.Equal(got, labels) {
					continue
				}
				switch {
				case mt.Counter != nil:
					return mt.Counter.GetValue()
				case mt.Histogram != nil:
					return float64(mt.Histogram.GetSampleCount())
				}
			}
		}
		t.Fatalf("no series %s%v", name, labels)
		return 0
	}
	assert.Equal(t, 1.0, value("hookrelay_delivery_attempts_total", "outcome=http_5xx", "trigger=scheduled"))
	assert.Equal(t, 1.0, value("hookrelay_delivery_attempts_total", "outcome=success", "trigger=scheduled"))
	assert.Equal(t, 1.0, value("hookrelay_delivery_attempts_total", "outcome=timeout", "trigger=manual"))
	assert.Equal(t, 0.0, value("hookrelay_delivery_attempts_total", "outcome=success", "trigger=manual"))
	assert.Equal(t, 3.0, value("hookrelay_delivery_attempt_duration_seconds"))
	assert.Equal(t, 1.0, value("hookrelay_deliveries_finished_total", "status=succeeded"))
	assert.Equal(t, 1.0, value("hookrelay_deliveries_finished_total", "status=failed"))
	assert.Equal(t, 1.0, value("hookrelay_ingest_to_first_attempt_seconds"), "first attempts only")
	assert.Equal(t, 2.0, value("hookrelay_lease_rescues_total"))
	assert.Equal(t, 1.0, value("hookrelay_alert_emails_total", "result=sent"))
	assert.Equal(t, 1.0, value("hookrelay_alert_emails_total", "result=failed"))
	assert.Equal(t, 520.0, value("hookrelay_retention_deleted_total", "table=attempts"))

	// The first attempt started 40ms after the delivery was created, and took 30ms.
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hookrelay_ingest_to_first_attempt_seconds Time from a delivery's creation (its event's ingest) to the start of its first attempt, for this instance's attempts.
# TYPE hookrelay_ingest_to_first_attempt_seconds histogram
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.005"} 0
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.01"} 0
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.025"} 0
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.05"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.1"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.25"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="0.5"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="1"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="2.5"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="5"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="10"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="30"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="60"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="300"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="900"} 1
hookrelay_ingest_to_first_attempt_seconds_bucket{le="+Inf"} 1
hookrelay_ingest_to_first_attempt_seconds_sum 0.04
hookrelay_ingest_to_first_attempt_seconds_count 1
`), "hookrelay_ingest_to_first_attempt_seconds"))
}

func TestPerWebhookLabelsOnlyWhenAskedFor(t *testing.T) {
	t.Parallel()
	r := db.AttemptResult{Claim: db.Claim{WebhookID: "whk_a"}, StatusCode: 200, Duration: time.Millisecond, Next: db.StateSucceeded}

	plain, reg := newMetrics(t, metrics.Options{})
	plain.AttemptRecorded(r)
	out := scrape(t, metrics.Handler(reg, nil))
	assert.NotContains(t, out, "webhook_id")
	assert.Contains(t, out, `hookrelay_delivery_attempts_total{outcome="success",trigger="scheduled"} 1`)

	per, reg := newMetrics(t, metrics.Options{PerWebhook: true})
	per.AttemptRecorded(r)
	out = scrape(t, metrics.Handler(reg, nil))
	assert.Contains(t, out, `hookrelay_delivery_attempts_total{outcome="success",trigger="scheduled",webhook_id="whk_a"} 1`)
	assert.Contains(t, out, `hookrelay_delivery_attempt_duration_seconds_count{webhook_id="whk_a"} 1`)
	assert.Contains(t, out, `hookrelay_deliveries_finished_total{status="succeeded",webhook_id="whk_a"} 1`)
	assert.NotContains(t, out, `hookrelay_ingest_to_first_attempt_seconds_count{webhook_id`, "only the attempt and finished families")
}

// scrape GETs the metrics from h and returns the exposition text.
func scrape(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Body.String()
}

func TestGaugesAreReadFromTheStoreAtMostEvery15s(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		q := &countingQueue{Queue: store}
		_, reg := newMetrics(t, metrics.Options{Queue: q})
		h := metrics.Handler(reg, nil)
		dbtest.Webhook(t, store, "https://wh.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		time.Sleep(3 * time.Second) // due three seconds ago, and no engine runs

		out := scrape(t, h)
		assert.Contains(t, out, `hookrelay_deliveries{status="pending"} 1`)
		assert.Contains(t, out, `hookrelay_deliveries{status="delivering"} 0`)
		assert.Contains(t, out, `hookrelay_deliveries{status="failed"} 0`)
		assert.Contains(t, out, "hookrelay_oldest_due_delivery_age_seconds 3\n")
		assert.Equal(t, int32(1), q.reads.Load())

		// Within 15s scrapes reuse the figures, however many and whatever changed.
		dbtest.Event(t, store, "a.b", 2)
		time.Sleep(15*time.Second - time.Millisecond)
		for range 10 {
			assert.Contains(t, scrape(t, h), `hookrelay_deliveries{status="pending"} 1`)
		}
		assert.Equal(t, int32(1), q.reads.Load())

		// Then they are read again; scrapes at the same moment share one read.
		time.Sleep(time.Millisecond)
		var wg sync.WaitGroup
		for range 4 { // Handler serves at most 4 scrapes at a time
			wg.Go(func() { assert.Contains(t, scrape(t, h), `hookrelay_deliveries{status="pending"} 2`) })
		}
		wg.Wait()
		assert.Equal(t, int32(2), q.reads.Load())
	})
}

func TestAStoreThatCannotBeReadLeavesOnlyTheGaugesOut(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	q := &countingQueue{Queue: store}
	m, reg := newMetrics(t, metrics.Options{Queue: q})
	m.EventsIngested(1)
	var logged strings.Builder
	h := metrics.Handler(reg, logLine{&logged})
	require.NoError(t, store.Close())

	for range 2 {
		out := scrape(t, h)
		assert.Contains(t, out, "hookrelay_events_ingested_total 1")
		assert.Contains(t, out, "go_goroutines")
		assert.NotContains(t, out, "hookrelay_deliveries{")
		assert.NotContains(t, out, "hookrelay_oldest_due_delivery_age_seconds ")
	}
	assert.Equal(t, int32(2), q.reads.Load(), "a failed read is not kept: each scrape tries again")
	assert.Contains(t, logged.String(), "read the queue's figures")
}

// logLine is a promhttp.Logger writing into a builder.
type logLine struct{ b *strings.Builder }

func (l logLine) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok {
			l.b.WriteString(err.Error())
		} else if s, ok := x.(string); ok {
			l.b.WriteString(s)
		}
	}
	l.b.WriteString("\n")
}

// BenchmarkScrape measures one whole scrape of GET /metrics, exposition included, with the
// gauges' figures fresh in the cache: what a Prometheus server costs hookrelay every scrape
// interval. It reports the store reads per scrape, which must be 0.
func BenchmarkScrape(b *testing.B) {
	store := dbtest.New(b)
	dbtest.Webhook(b, store, "https://wh.test/hook")
	for i := range 100 {
		dbtest.Event(b, store, "a.b", i)
	}
	q := &countingQueue{Queue: store}
	m, reg := newMetrics(b, metrics.Options{Queue: q, MaxAge: time.Hour})
	for i := range 1000 {
		m.AttemptRecorded(db.AttemptResult{Claim: db.Claim{CreatedAt: time.Now()}, AttemptedAt: time.Now(),
			StatusCode: 200 + i%400, Duration: time.Duration(i) * time.Millisecond, Next: db.StateSucceeded})
	}
	h := metrics.Handler(reg, nil)
	scrape(b, h) // warms the cache
	reads := q.reads.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	b.ReportMetric(float64(q.reads.Load()-reads)/float64(b.N), "store-reads/op")
}
