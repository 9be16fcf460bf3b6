package db

import "time"

// AlertKind says what an alert is about: failures (sent at once, or a window's digest), a
// webhook that hookrelay disabled, or a webhook that was alerted on and delivers again.
type AlertKind string

// Alert kinds.
const (
	// AlertImmediate reports the failure that started an incident, sent at once.
	AlertImmediate AlertKind = "immediate"
	// AlertDigest reports the further failures of one window, sent when the window closes.
	AlertDigest AlertKind = "digest"
	// AlertWebhookDisabled reports a webhook that hookrelay disabled (Reason says why), sent
	// at once. Its one failure is the attempt that disabled it.
	AlertWebhookDisabled AlertKind = "webhook_disabled"
	// AlertRecovered reports that a webhook alerted on delivers again, sent at once.
	AlertRecovered AlertKind = "recovered"
)

// AlertState is where an alert's email is. The list is mirrored by a CHECK constraint.
type AlertState string

// Alert states. pending → sent | failed_to_send → … → sent.
const (
	// AlertPending: not tried yet (a digest waits for its window to close; with email off
	// every alert stays pending).
	AlertPending AlertState = "pending"
	// AlertSent: the SMTP server accepted the email. Final.
	AlertSent AlertState = "sent"
	// AlertFailedToSend: the last try failed; it is tried again at NextAttemptAt.
	AlertFailedToSend AlertState = "failed_to_send"
)

// Valid reports whether s is one of the known alert states.
func (s AlertState) Valid() bool {
	switch s {
	case AlertPending, AlertSent, AlertFailedToSend:
		return true
	}
	return false
}

// AlertFailuresListed is how many of an alert's failed deliveries Alert.Failures holds,
// oldest first; DeliveryCount counts them all.
const AlertFailuresListed = 20

// Alert is one alert email about one webhook, sent or to be sent.
type Alert struct {
	ID                 string // alr_…
	Kind               AlertKind
	Reason             string // what happened, for webhook_disabled and recovered; empty for failures
	State              AlertState
	WebhookID          string
	WebhookURL         string
	WebhookDescription string
	FailingSince       time.Time // when the incident's first failed delivery was first attempted
	WindowEndsAt       time.Time // a digest is sent then; for an immediate alert, the window it opened
	DeliveryCount      int
	EventTypes         []string       // distinct, sorted
	Failures           []AlertFailure // the first AlertFailuresListed, oldest first
	Last               AlertFailure   // the latest failure
	Attempts           int            // send attempts made
	LastAttemptAt      time.Time
	LastError          string // of the latest failed send; kept after a later success
	NextAttemptAt      time.Time
	SentAt             time.Time
	Recipients         []string // who it was sent to
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// AlertFailure is one delivery that failed for good, as it stood when it failed.
type AlertFailure struct {
	DeliveryID     string
	EventID        string
	EventType      string
	Attempts       int
	StatusCode     int    // of the last attempt; 0 when it got no answer
	Error          string // "HTTP 503", or an error class such as "timeout"
	ErrorMessage   string
	FirstAttemptAt time.Time
	FailedAt       time.Time
}

// FoldResult tells what FoldAlertFailures did.
type FoldResult struct {
	Failures int      // outbox rows folded
	Raised   []string // ids of the alerts it created
	More     bool     // the batch was full: more may wait in the outbox
}

// AlertSend is the outcome of one try to send an alert.
type AlertSend struct {
	AlertID    string
	Recipients []string
	// Err is the SMTP error; empty when the server accepted the email.
	Err string
	// RetryIn is how long after now to try again when Err is set.
	RetryIn time.Duration
}

// AlertFilter selects alerts for ListAlerts. Zero fields do not filter.
type AlertFilter struct {
	State  AlertState
	Cursor string // from a previous page's next cursor
	Limit  int    // default 50, at most 500
}
