package handlers

import (
	"context"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Store is what the handlers need of hookrelay's store; db/sqlite and db/postgres implement
// it. Errors are classified by the store (db.ErrNotFound, db.ErrConflict, db.ErrUnavailable),
// and fail maps them to answers.
type Store interface {
	Ping(ctx context.Context) error
	// QueueStats reads the queue's figures (for /readyz: are deliveries due?).
	QueueStats(ctx context.Context) (db.QueueStats, error)

	CreateEvents(ctx context.Context, events []db.NewEvent) ([]db.IngestResult, error)
	FindEvent(ctx context.Context, id string) (db.Event, error)
	ListEvents(ctx context.Context, f db.EventFilter) ([]db.Event, string, error)
	CreateTestEvent(ctx context.Context, webhookID string) (db.Delivery, error)

	CreateWebhook(ctx context.Context, n db.NewWebhook) (db.Webhook, error)
	FindWebhook(ctx context.Context, id string) (db.Webhook, error)
	ListWebhooks(ctx context.Context) ([]db.Webhook, error)
	UpdateWebhook(ctx context.Context, id string, u db.WebhookUpdate) (db.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	FindWebhookSecrets(ctx context.Context, id string) (db.WebhookSecrets, error)
	RotateSecret(ctx context.Context, id, secret string, grace time.Duration) (db.WebhookSecrets, error)

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

	CountDeliveries(ctx context.Context, webhookID string, since time.Time) (db.DeliveryCounts, error)
	CountFailed(ctx context.Context, webhookID string) (int, error)
	ListWebhookStats(ctx context.Context, since time.Time) (map[string]db.WebhookStats, error)
	ListFailingWebhooks(ctx context.Context) ([]db.FailingWebhook, error)

	ListAlerts(ctx context.Context, f db.AlertFilter) ([]db.Alert, string, error)
	CountUnsentAlerts(ctx context.Context) (int, error)
	CountAlertsSince(ctx context.Context, since time.Time) (int, error)

	FindUserByEmail(ctx context.Context, email string) (db.User, error)
	FindUser(ctx context.Context, id string) (db.User, error)
	ListUsers(ctx context.Context) ([]db.User, error)
	AddUser(ctx context.Context, n db.NewUser) (db.User, error)
	UpdateUser(ctx context.Context, id string, u db.UserUpdate) (db.User, error)
	DeleteUser(ctx context.Context, id string) error
	CreateSession(ctx context.Context, userID, replaces string, expiredBefore time.Time) (db.Session, error)
	FindSession(ctx context.Context, id string) (db.Session, error)
	TouchSession(ctx context.Context, id string) error
	DeleteSession(ctx context.Context, id string) error

	CreateAPIKey(ctx context.Context, n db.NewAPIKey) (db.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]db.APIKey, error)
	FindAPIKey(ctx context.Context, id string) (db.APIKey, error)
	FindAPIKeyByHash(ctx context.Context, hash string) (db.APIKey, error)
	DeleteAPIKey(ctx context.Context, id string) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// AppendAudit records a change or a read of a secret; see audit.go.
	AppendAudit(ctx context.Context, n db.NewAuditRecord) (db.AuditRecord, error)
	ListAudit(ctx context.Context, f db.AuditFilter) ([]db.AuditRecord, string, error)
}
