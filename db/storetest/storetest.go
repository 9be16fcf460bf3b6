// Package storetest is the conformance suite every hookrelay store passes: the same tests,
// run against db/sqlite and db/postgres, so that both behave alike (River's riverdrivertest
// is the model). A store's own test file calls Run with a Harness that opens it. Import it
// from _test files only.
//
// # Two clocks
//
// A store shared by several instances cannot let one instance's clock decide when another
// instance's lease is over, so lease times (ClaimDue's lease, RescueExpired, TryLead's ttl)
// come from the database's clock: now() on PostgreSQL. Everything else follows the clock
// the store was opened with (Options.Clock): created_at and other stamps, due times
// (next_attempt_at is due when it is at or before the store's Now), alert windows, session
// idleness and the end of an old secret's grace period. A store with one process per
// database (SQLite) may take both from Options.Clock.
//
// RescueExpired tells which leases are over on the database's clock, but what it writes is
// on the store's: the delivery is due again at the store's Now, and the lost attempt is
// stamped with when it was claimed.
//
// So the suite moves the injected clock only for stamps, due times and windows, never to
// make a lease run out. A lease is over when its expiry is at or before the database's
// now: a lease (or ttl) of 0 is over at once, and a long one (a day) holds for the whole
// test. Exact lease times (Claim.LeaseUntil, the instant a lease ends) are checked by each
// store's own tests, against its own clock.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
)

// Store is everything a hookrelay store does: what the engine (delivery.Queue), the alert
// sender (alert.Outbox), the handlers (handlers.Store) and the commands need, together.
type Store interface {
	Close() error
	Ping(ctx context.Context) error
	Now() time.Time
	Setting(ctx context.Context, key string, value []byte) ([]byte, error)
	TryLead(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)

	// Events and fan-out.
	CreateEvents(ctx context.Context, events []db.NewEvent) ([]db.IngestResult, error)
	FindEvent(ctx context.Context, id string) (db.Event, error)
	ListEvents(ctx context.Context, f db.EventFilter) ([]db.Event, string, error)
	CreateTestEvent(ctx context.Context, webhookID string) (db.Delivery, error)

	// Webhooks and their secrets.
	CreateWebhook(ctx context.Context, n db.NewWebhook) (db.Webhook, error)
	FindWebhook(ctx context.Context, id string) (db.Webhook, error)
	ListWebhooks(ctx context.Context) ([]db.Webhook, error)
	UpdateWebhook(ctx context.Context, id string, u db.WebhookUpdate) (db.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	FindWebhookSecrets(ctx context.Context, id string) (db.WebhookSecrets, error)
	RotateSecret(ctx context.Context, id, secret string, grace time.Duration) (db.WebhookSecrets, error)

	// Deliveries, attempts and the queue.
	FindDelivery(ctx context.Context, id string) (db.Delivery, error)
	ListDeliveries(ctx context.Context, f db.DeliveryFilter) ([]db.Delivery, string, error)
	ListAttempts(ctx context.Context, deliveryID string) ([]db.Attempt, error)
	RetryDelivery(ctx context.Context, id string) (db.Delivery, error)
	RetryFailed(ctx context.Context, webhookID string) (int, error)
	ReplayEvent(ctx context.Context, eventID string, webhookIDs []string) ([]db.Replayed, error)
	RecoverFailed(ctx context.Context, f db.RecoverFilter) (int, error)
	CountRecoverable(ctx context.Context, f db.RecoverFilter) (int, error)
	AttemptsByHour(ctx context.Context, webhookID string, since time.Time) ([]db.HourCount, error)
	AttemptsByDay(ctx context.Context, webhookID string, since time.Time) ([]db.DayCount, error)
	PruneBatch(ctx context.Context, r db.PruneRequest) (db.Pruned, error)
	ClaimDue(ctx context.Context, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error)
	RecordAttempts(ctx context.Context, results []db.AttemptResult) error
	RecordAndClaim(ctx context.Context, results []db.AttemptResult, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error)
	RescueExpired(ctx context.Context, maxAttempts int) (int, error)
	DueWebhooks(ctx context.Context) (map[string]time.Time, error)
	OnDue(fn func(webhookIDs []string))
	QueueStats(ctx context.Context) (db.QueueStats, error)

	// Counts for the dashboard and lists.
	CountDeliveries(ctx context.Context, webhookID string, since time.Time) (db.DeliveryCounts, error)
	CountFailed(ctx context.Context, webhookID string) (int, error)
	ListWebhookStats(ctx context.Context, since time.Time) (map[string]db.WebhookStats, error)
	ListFailingWebhooks(ctx context.Context) ([]db.FailingWebhook, error)

	// Alerts.
	OnAlertQueued(fn func())
	AlertWork(ctx context.Context) (outbox bool, nextDue time.Time, err error)
	FoldAlertFailures(ctx context.Context, window time.Duration) (db.FoldResult, error)
	DueAlerts(ctx context.Context, limit int) ([]db.Alert, error)
	ClaimDueAlerts(ctx context.Context, limit int, lease time.Duration) ([]db.Alert, error)
	FindAlert(ctx context.Context, id string) (db.Alert, error)
	RecordAlertSend(ctx context.Context, r db.AlertSend) error
	ListAlerts(ctx context.Context, f db.AlertFilter) ([]db.Alert, string, error)
	CountUnsentAlerts(ctx context.Context) (int, error)
	CountAlertsSince(ctx context.Context, since time.Time) (int, error)

	// Users and sessions.
	CreateUser(ctx context.Context, email, passwordHash string) (db.User, error)
	AddUser(ctx context.Context, n db.NewUser) (db.User, error)
	FindUser(ctx context.Context, id string) (db.User, error)
	ListUsers(ctx context.Context) ([]db.User, error)
	UpdateUser(ctx context.Context, id string, u db.UserUpdate) (db.User, error)
	DeleteUser(ctx context.Context, id string) error
	CreateFirstUser(ctx context.Context, email, passwordHash string) (bool, error)
	FindUserByEmail(ctx context.Context, email string) (db.User, error)
	ListUserEmails(ctx context.Context) ([]string, error)
	CountUsers(ctx context.Context) (int, error)
	CreateSession(ctx context.Context, userID, replaces string, expiredBefore time.Time) (db.Session, error)
	FindSession(ctx context.Context, id string) (db.Session, error)
	TouchSession(ctx context.Context, id string) error
	DeleteSession(ctx context.Context, id string) error

	// API keys.
	CreateAPIKey(ctx context.Context, n db.NewAPIKey) (db.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]db.APIKey, error)
	FindAPIKey(ctx context.Context, id string) (db.APIKey, error)
	FindAPIKeyByHash(ctx context.Context, hash string) (db.APIKey, error)
	DeleteAPIKey(ctx context.Context, id string) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// The audit log.
	AppendAudit(ctx context.Context, n db.NewAuditRecord) (db.AuditRecord, error)
	ListAudit(ctx context.Context, f db.AuditFilter) ([]db.AuditRecord, string, error)
}

var _ dbtest.Store = Store(nil) // the fixture builders work on every store

// Options open a store for one test.
type Options struct {
	// Clock is the store's clock (stamps, due times); nil is time.Now.
	Clock func() time.Time
	// EncryptionKey, when set, encrypts webhook secrets at rest (db.EncryptionKeySize bytes).
	EncryptionKey []byte
}

// Harness is how the suite reaches one kind of store. Its functions are called from
// parallel tests. See the package doc for which clock a store uses where.
type Harness struct {
	// Name is the store's name in test output ("sqlite", "postgres").
	Name string
	// Open returns a fresh, migrated, empty database of its own and a store on it, closed
	// when the test ends (again, if the test closed it: Close must be idempotent).
	Open func(t *testing.T, o Options) Store
	// OpenAgain returns another store on the database s was opened on, as a second process
	// or instance would open it, closed when the test ends. It returns the error of opening
	// (a wrong encryption key, say) instead of failing the test.
	OpenAgain func(t *testing.T, s Store, o Options) (Store, error)
	// Exec runs one statement on s's database, as another program changing it would. The
	// query is written with ? placeholders and in SQL both stores accept. The suite relies
	// on these names of both schemas: tables events, deliveries, attempts, alert_failures,
	// webhook_old_secrets (column secret) and webhooks (columns public_id, secret, headers,
	// description), secrets and headers stored as db.SecretBox seals them.
	Exec func(t *testing.T, s Store, query string, args ...any)
	// Count returns how many rows table has.
	Count func(t *testing.T, s Store, table string) int
}

// test is one behaviour every store must have. It opens its own stores through h.
type test struct {
	name string
	run  func(t *testing.T, h Harness)
}

// Run runs the whole suite against the store h opens: one parallel subtest per behaviour,
// named <h.Name>/<area>/<behaviour>, each on a fresh database of its own (see Harness.Open).
// Lease tests rely on a lease of 0 being over at once and one of a day holding (see the
// package doc).
func Run(t *testing.T, h Harness) {
	t.Helper()
	t.Run(h.Name, func(t *testing.T) {
		t.Parallel()
		for _, area := range []struct {
			name  string
			tests []test
		}{
			{"events", eventTests()},
			{"webhooks", webhookTests()},
			{"secrets", secretTests()},
			{"headers", headerTests()},
			{"rate", rateTests()},
			{"deliveries", deliveryTests()},
			{"queue", queueTests()},
			{"rescue", rescueTests()},
			{"alerts", alertTests()},
			{"health", healthTests()},
			{"replay", replayTests()},
			{"recover", recoverTests()},
			{"hours", hoursTests()},
			{"prune", pruneTests()},
			{"users", userTests()},
			{"sessions", sessionTests()},
			{"roles", roleTests()},
			{"apikeys", apiKeyTests()},
			{"audit", auditTests()},
			{"settings", settingTests()},
			{"stats", statsTests()},
			{"leases", leaseTests()},
			{"instances", instanceTests()},
			{"lifecycle", lifecycleTests()},
		} {
			t.Run(area.name, func(t *testing.T) {
				t.Parallel()
				for _, tc := range area.tests {
					t.Run(tc.name, func(t *testing.T) {
						t.Parallel()
						tc.run(t, h)
					})
				}
			})
		}
	})
}
