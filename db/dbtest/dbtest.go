// Package dbtest gives tests a real, migrated SQLite database in t.TempDir and small
// fixture builders. Import it from _test files only.
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

// Secret is a fixed, valid signing secret for fixtures.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Webhook creates an enabled webhook for url subscribed to patterns ("*" when none).
func Webhook(t testing.TB, store *sqlite.DB, url string, patterns ...string) db.Webhook {
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
func Event(t testing.TB, store *sqlite.DB, typ string, n int) db.IngestResult {
	t.Helper()
	data, _ := json.Marshal(map[string]int{"n": n})
	res, err := store.CreateEvents(context.Background(), []db.NewEvent{{Type: typ, Data: data}})
	if err != nil {
		t.Fatalf("create event: %v", err)
	}
	return res[0]
}

// Deliveries returns every delivery of a webhook, newest first.
func Deliveries(t testing.TB, store *sqlite.DB, webhookID string) []db.Delivery {
	t.Helper()
	out, _, err := store.ListDeliveries(context.Background(), db.DeliveryFilter{WebhookID: webhookID, Limit: 500})
	if err != nil {
		t.Fatalf("list deliveries: %v", err)
	}
	return out
}

// Attempts returns every attempt of a delivery.
func Attempts(t testing.TB, store *sqlite.DB, deliveryID string) []db.Attempt {
	t.Helper()
	out, err := store.ListAttempts(context.Background(), deliveryID)
	if err != nil {
		t.Fatalf("list attempts: %v", err)
	}
	return out
}

// Delivery returns the delivery with the given id.
func Delivery(t testing.TB, store *sqlite.DB, id string) db.Delivery {
	t.Helper()
	d, err := store.FindDelivery(context.Background(), id)
	if err != nil {
		t.Fatalf("find delivery: %v", err)
	}
	return d
}

// Clock is a settable clock for sqlite.DB.Clock (store.Clock = clock.Now), safe for concurrent use.
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
