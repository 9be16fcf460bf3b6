package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// The queue's hot statements, as db/sqlite's queue_bench_test.go measures them, on the
// test cluster (fsync=off: these figures leave the disk out, unlike a server's). rows/s
// counts events (CreateEvents) or deliveries (ClaimDue, RecordAttempts) per second of the
// measured calls only.

var benchData = json.RawMessage(`{"sent":1764338531000000000,"seq":1,"pad":"` + strings.Repeat("x", 200) + `"}`)

func benchEvents(n int) []db.NewEvent {
	evs := make([]db.NewEvent, n)
	for i := range evs {
		evs[i] = db.NewEvent{Type: "bench.event", Data: benchData}
	}
	return evs
}

func reportRows(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func openBench(b *testing.B) (*postgres.DB, db.Webhook) {
	b.Helper()
	store, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	w, err := store.CreateWebhook(context.Background(), db.NewWebhook{URL: "http://127.0.0.1:9/hook", EventTypes: []string{"*"},
		Secret: secret, Enabled: true})
	if err != nil {
		b.Fatal(err)
	}
	return store, w
}

// BenchmarkCreateEvents ingests one event per call (one after the other, and from parallel
// callers) and 100 per call, each fanned out to one webhook.
func BenchmarkCreateEvents(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		store, _ := openBench(b)
		one := benchEvents(1)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.CreateEvents(b.Context(), one); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b, 1)
	})
	b.Run("parallel", func(b *testing.B) {
		store, _ := openBench(b)
		b.SetParallelism(8) // 8 callers per GOMAXPROCS, within the pool's 20 connections
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			one := benchEvents(1)
			for pb.Next() {
				if _, err := store.CreateEvents(context.Background(), one); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRows(b, 1)
	})
	b.Run("batch100", func(b *testing.B) {
		store, _ := openBench(b)
		batch := benchEvents(100)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.CreateEvents(b.Context(), batch); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b, 100)
	})
}

// BenchmarkClaimDue leases 100 due deliveries of one webhook per call. (Without a cap: the
// leased rows pile up here, and the count a cap needs would measure the pile.) The 100 are
// ingested before each call, outside the timer.
func BenchmarkClaimDue(b *testing.B) {
	store, wh := openBench(b)
	batch := benchEvents(100)
	req := []db.ClaimRequest{{WebhookID: wh.ID, Limit: 100}}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if _, err := store.CreateEvents(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c, err := store.ClaimDue(b.Context(), req, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Claims) != 100 {
			b.Fatalf("claimed %d, want 100", len(c.Claims))
		}
	}
	reportRows(b, 100)
}

// BenchmarkRecordAttempts records 100 successful attempts per call. The deliveries are
// ingested and claimed before each call, outside the timer.
func BenchmarkRecordAttempts(b *testing.B) {
	store, wh := openBench(b)
	batch := benchEvents(100)
	req := []db.ClaimRequest{{WebhookID: wh.ID, Limit: 100}}
	results := make([]db.AttemptResult, 100)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if _, err := store.CreateEvents(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
		c, err := store.ClaimDue(b.Context(), req, time.Minute)
		if err != nil || len(c.Claims) != 100 {
			b.Fatalf("claim: %d claims, %v", len(c.Claims), err)
		}
		now := time.Now()
		for i, cl := range c.Claims {
			results[i] = db.AttemptResult{Claim: cl, AttemptedAt: now, StatusCode: 200, Duration: time.Millisecond,
				ResponseBody: []byte("ok"), Signature: "v1,x", Next: db.StateSucceeded}
		}
		b.StartTimer()
		if err := store.RecordAttempts(b.Context(), results); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, 100)
}
