// Package dbtest gives tests a real, migrated SQLite database in t.TempDir and small
// fixture builders that work on any store (see Store). Import it from tests only: _test
// files, and the conformance suite in db/storetest.
package dbtest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// New opens a fresh database file in t.TempDir and closes it when the test ends.
func New(t testing.TB) *sqlite.DB {
	t.Helper()
	return Open(t, filepath.Join(t.TempDir(), "hookrelay.db"))
}

// Open opens the database at path and closes it when the test ends.
func Open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close database: %v", err)
		}
	})
	return store
}

// Store is what the fixture builders use of a store. *sqlite.DB has it, and so does every
// store the conformance suite (db/storetest) runs against.
type Store interface {
	Now() time.Time
	CreateWebhook(ctx context.Context, n db.NewWebhook) (db.Webhook, error)
	CreateEvents(ctx context.Context, events []db.NewEvent) ([]db.IngestResult, error)
	FindDelivery(ctx context.Context, id string) (db.Delivery, error)
	ListDeliveries(ctx context.Context, f db.DeliveryFilter) ([]db.Delivery, string, error)
	ListAttempts(ctx context.Context, deliveryID string) ([]db.Attempt, error)
	ClaimDue(ctx context.Context, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error)
	RecordAttempts(ctx context.Context, results []db.AttemptResult) error
}

var _ Store = (*sqlite.DB)(nil)

// Secret is a fixed, valid signing secret for fixtures.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Webhook creates an enabled webhook for url subscribed to patterns ("*" when none).
func Webhook(t testing.TB, store Store, url string, patterns ...string) db.Webhook {
	t.Helper()
	if len(patterns) == 0 {
		patterns = []string{"*"}
	}
	w, err := store.CreateWebhook(context.Background(), db.NewWebhook{URL: url, EventTypes: patterns, Secret: Secret, Enabled: true})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	return w
}

// Event ingests one event of type typ with data {"n": n} and returns its result.
func Event(t testing.TB, store Store, typ string, n int) db.IngestResult {
	t.Helper()
	data, _ := json.Marshal(map[string]int{"n": n})
	res, err := store.CreateEvents(context.Background(), []db.NewEvent{{Type: typ, Data: data}})
	if err != nil {
		t.Fatalf("create event: %v", err)
	}
	return res[0]
}

// Deliveries returns every delivery of a webhook, newest first.
func Deliveries(t testing.TB, store Store, webhookID string) []db.Delivery {
	t.Helper()
	out, _, err := store.ListDeliveries(context.Background(), db.DeliveryFilter{WebhookID: webhookID, Limit: 500})
	if err != nil {
		t.Fatalf("list deliveries: %v", err)
	}
	return out
}

// Attempts returns every attempt of a delivery.
func Attempts(t testing.TB, store Store, deliveryID string) []db.Attempt {
	t.Helper()
	out, err := store.ListAttempts(context.Background(), deliveryID)
	if err != nil {
		t.Fatalf("list attempts: %v", err)
	}
	return out
}

// Delivery returns the delivery with the given id.
func Delivery(t testing.TB, store Store, id string) db.Delivery {
	t.Helper()
	d, err := store.FindDelivery(context.Background(), id)
	if err != nil {
		t.Fatalf("find delivery: %v", err)
	}
	return d
}

// Clock is a settable clock for a store (sqlite.DB.Clock = clock.Now, or
// storetest.Options.Clock), safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d and returns the new time.
func (c *Clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
