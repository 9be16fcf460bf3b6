package db

import (
	"strings"
	"time"
	"unicode/utf8"
)

// AuditAction names what an audit record records. The names are part of the API (clients
// filter on them), so they never change meaning.
type AuditAction string

// Every action the audit log records: each change, and each read of a secret.
const (
	AuditWebhookCreate      AuditAction = "webhook.create"
	AuditWebhookUpdate      AuditAction = "webhook.update"
	AuditWebhookDelete      AuditAction = "webhook.delete"
	AuditWebhookEnable      AuditAction = "webhook.enable"
	AuditWebhookDisable     AuditAction = "webhook.disable" // by a user, a key, or the system (auto-disable)
	AuditSecretReveal       AuditAction = "webhook.secret.reveal"
	AuditSecretRotate       AuditAction = "webhook.secret.rotate"
	AuditHeadersReveal      AuditAction = "webhook.headers.reveal"
	AuditWebhookTest        AuditAction = "webhook.test"
	AuditWebhookRetryFailed AuditAction = "webhook.retry_failed"
	AuditDeliveryRetry      AuditAction = "delivery.retry"
	AuditDeliveryRecover    AuditAction = "delivery.recover"
	AuditEventReplay        AuditAction = "event.replay"
	AuditTestEmail          AuditAction = "alert.test_email"
	AuditUserCreate         AuditAction = "user.create"
	AuditUserRole           AuditAction = "user.role"
	AuditUserDisable        AuditAction = "user.disable"
	AuditUserEnable         AuditAction = "user.enable"
	AuditUserDelete         AuditAction = "user.delete"
	AuditUserPasswordReset  AuditAction = "user.password_reset"
	AuditUserPasswordChange AuditAction = "user.password_change"
	AuditAPIKeyCreate       AuditAction = "api_key.create"
	AuditAPIKeyRevoke       AuditAction = "api_key.revoke"
	AuditSignIn             AuditAction = "auth.sign_in"
	AuditSignInFailed       AuditAction = "auth.sign_in_failed"
	AuditLockout            AuditAction = "auth.lockout"
	AuditSignOut            AuditAction = "auth.sign_out"
)

// AuditActions lists every action, in the order the UI's filter offers them.
var AuditActions = []AuditAction{
	AuditWebhookCreate, AuditWebhookUpdate, AuditWebhookDelete, AuditWebhookEnable, AuditWebhookDisable,
	AuditSecretReveal, AuditSecretRotate, AuditHeadersReveal,
	AuditWebhookTest, AuditWebhookRetryFailed, AuditDeliveryRetry, AuditDeliveryRecover, AuditEventReplay, AuditTestEmail,
	AuditUserCreate, AuditUserRole, AuditUserDisable, AuditUserEnable, AuditUserDelete, AuditUserPasswordReset, AuditUserPasswordChange,
	AuditAPIKeyCreate, AuditAPIKeyRevoke,
	AuditSignIn, AuditSignInFailed, AuditLockout, AuditSignOut,
}

// ActorKind says who did what an audit record records.
type ActorKind string

const (
	ActorUser ActorKind = "user" // a signed-in user; ID is usr_…, Name the email
	ActorKey  ActorKind = "key"  // an API key; ID is key_…, Name the key's name
	// ActorToken is a static token of the configuration (HOOKRELAY_ADMIN_TOKEN or
	// HOOKRELAY_INGEST_TOKEN), named by its variable; it has no ID.
	ActorToken ActorKind = "token"
	// ActorSystem is hookrelay itself, such as a webhook disabled after failing too long.
	ActorSystem ActorKind = "system"
	// ActorCommand is someone with the database at hand, running a hookrelay command (user
	// create) or starting the server with HOOKRELAY_ADMIN_EMAIL; Name says which.
	ActorCommand ActorKind = "command"
)

// Actor is who did what an audit record records.
type Actor struct {
	Kind ActorKind
	ID   string // empty for tokens, the system and commands
	Name string
}

// SystemActor is hookrelay acting on its own.
var SystemActor = Actor{Kind: ActorSystem, Name: "system"}

// Target kinds of audit records: what a link to the target leads to.
const (
	TargetWebhook  = "webhook"
	TargetDelivery = "delivery"
	TargetEvent    = "event"
	TargetUser     = "user"
	TargetAPIKey   = "api_key"
	TargetEmail    = "email" // the test email; ID is empty
)

// AuditTarget is what an action was done to.
type AuditTarget struct {
	Kind string
	ID   string
}

// Limits of an audit record's free text, so that a record stays a line, not a document.
const (
	maxAuditSummary = 1000
	maxAuditName    = 254
)

// NewAuditRecord is a record to append. Summary says what changed in words and values that
// are not secret: never a secret, a key, a password or a header value.
type NewAuditRecord struct {
	Actor         Actor
	Action        AuditAction
	Target        AuditTarget
	ClientAddress string // the request's remote address; empty for the system
	Summary       string
}

// Clean returns the record with its free text cut to the limits the stores keep, at a rune
// boundary, and with control characters replaced: a typed email or a URL cannot break a
// log line or a table.
func (n NewAuditRecord) Clean() NewAuditRecord {
	n.Actor.Name = clip(n.Actor.Name, maxAuditName)
	n.Actor.ID = clip(n.Actor.ID, maxAuditName)
	n.Target.ID = clip(n.Target.ID, maxAuditName)
	n.ClientAddress = clip(n.ClientAddress, 64)
	n.Summary = clip(n.Summary, maxAuditSummary)
	return n
}

func clip(s string, most int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= most {
		return s
	}
	return string([]rune(s)[:most-1]) + "…"
}

// AuditRecord is one appended record. Records are never changed or deleted (both stores
// refuse it with a trigger).
type AuditRecord struct {
	ID string // aud_…
	At time.Time
	NewAuditRecord
}

// AuditFilter selects audit records, newest first. Zero fields select all.
type AuditFilter struct {
	// Actor matches the actor's ID exactly, or its name ignoring case ("system" for the
	// system, an email, a key's name).
	Actor    string
	Action   AuditAction
	TargetID string
	Since    time.Time // at or after
	Until    time.Time // before
	Cursor   string
	Limit    int // 50 when 0, at most 500
}
