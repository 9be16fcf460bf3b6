package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// The queue's hot statements, each through the group-commit writer as the server runs them.
// rows/s counts events (CreateEvents) or deliveries (ClaimDue, RecordAttempts) per second of
// the measured calls only. Compare runs with benchstat (docs/development.md, Micro-benchmarks).

// benchData is an event's data object of about 256 bytes, the size make bench sends.
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

// openBench opens a fresh database with sync mode sync and one webhook subscribed to all.
func openBench(b *testing.B, sync string) (*sqlite.DB, db.Webhook) {
	b.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store, dbtest.Webhook(b, store, "http://127.0.0.1:9/hook", "*")
}

// BenchmarkCreateEvents ingests one event per call (one after the other, and from parallel
// callers that group commit folds into shared transactions) and 100 per call, each fanned
// out to one webhook.
func BenchmarkCreateEvents(b *testing.B) {
	for _, sync := range []string{"normal", "full"} {
		b.Run("single/sync="+sync, func(b *testing.B) {
			store, _ := openBench(b, sync)
			one := benchEvents(1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.CreateEvents(b.Context(), one); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, 1)
		})
		b.Run("parallel/sync="+sync, func(b *testing.B) {
			store, _ := openBench(b, sync)
			b.SetParallelism(16) // 16 callers per GOMAXPROCS, like concurrent ingest requests
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
		b.Run("batch100/sync="+sync, func(b *testing.B) {
			store, _ := openBench(b, sync)
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
}

// BenchmarkClaimDue leases 100 due deliveries of one webhook per call. The 100 are ingested
// before each call, outside the timer.
func BenchmarkClaimDue(b *testing.B) {
	store, wh := openBench(b, "normal")
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

// BenchmarkRecordAttempts records 100 successful attempts per call: the attempt rows and
// each delivery's new state. The deliveries are ingested and claimed before each call,
// outside the timer.
func BenchmarkRecordAttempts(b *testing.B) {
	store, wh := openBench(b, "normal")
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
