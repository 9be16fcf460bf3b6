package db

import (
	"fmt"
	"time"
)

// State is where a delivery is in its life. The list is mirrored by a CHECK constraint.
type State string

// Delivery states. pending → delivering → succeeded | pending (retry scheduled) | failed.
// A manual retry moves failed or succeeded back to pending.
const (
	// StatePending: waiting for next_attempt_at (new, or a retry is scheduled).
	StatePending State = "pending"
	// StateDelivering: claimed by the engine under a lease; an attempt is in flight.
	StateDelivering State = "delivering"
	// StateSucceeded: a receiver answered 2xx. Final unless retried by hand.
	StateSucceeded State = "succeeded"
	// StateFailed: the retry schedule is used up (or a manual attempt failed). Final unless
	// retried by hand.
	StateFailed State = "failed"
)

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateDelivering, StateSucceeded, StateFailed:
		return true
	}
	return false
}

// Final reports whether no further attempt will be made without an admin's action.
func (s State) Final() bool { return s == StateSucceeded || s == StateFailed }

// Trigger says why an attempt was made.
type Trigger string

// Attempt triggers.
const (
	TriggerScheduled Trigger = "scheduled"
	TriggerManual    Trigger = "manual"
)

// ErrInFlight is returned when a retry is asked for a delivery that is pending or in flight.
var ErrInFlight = fmt.Errorf("%w: delivery is already pending or in flight", ErrConflict)

// ErrWebhookDisabled is returned when a retry is asked for a delivery of a disabled webhook.
var ErrWebhookDisabled = fmt.Errorf("%w: webhook is disabled", ErrConflict)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID             string // dlv_…
	WebhookID      string
	EventID        string
	EventType      string
	State          State
	Attempts       int
	Manual         bool      // the next attempt is a manual retry
	NextAttemptAt  time.Time // zero when no attempt is scheduled
	LastAttemptAt  time.Time
	LastStatusCode int // 0 when the last attempt got no response
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// CanRetry reports whether an admin may retry the delivery now.
func (d Delivery) CanRetry() bool { return d.State.Final() }

// Attempt is one HTTP request made for a delivery and what came back.
type Attempt struct {
	Number            int
	Trigger           Trigger
	AttemptedAt       time.Time
	StatusCode        int // 0 when no response was received
	Duration          time.Duration
	ResponseBody      []byte
	ResponseTruncated bool
	ErrorClass        string // timeout, connection, dns, tls, …; empty when a status code came back
	ErrorMessage      string
	Signature         string        // the webhook-signature header sent
	RetryAfter        time.Duration // what the answer asked for with Retry-After (whole seconds); 0 if nothing
}

// DeliveryFilter selects deliveries for ListDeliveries. Zero fields do not filter.
type DeliveryFilter struct {
	WebhookID string
	EventID   string
	State     State
	EventType string
	// WorkflowID selects the deliveries of the events of one workflow.
	WorkflowID string
	// StatusFrom and StatusTo, when StatusFrom is set, select deliveries whose last attempt
	// was answered with a status code in [StatusFrom, StatusTo] (one code, or a class such
	// as 500–599).
	StatusFrom, StatusTo int
	// ErrorClass selects deliveries whose last attempt ended with that error class (one of
	// ErrorClasses), or "HTTP nnn" for an answer other than 2xx.
	ErrorClass string
	Since      time.Time // created at or after
	Until      time.Time // created before
	Cursor     string    // from a previous page's next cursor
	Limit      int       // default 50, at most 500
}

// Replayed is one delivery that a replay created.
type Replayed struct {
	DeliveryID string
	WebhookID  string
}

// MaxReplayWebhooks bounds the webhooks one replay may list.
const MaxReplayWebhooks = 100

// RecoverFilter selects the failed deliveries that a recover retries: created in
// [Since, Until), of one webhook and one event type when set. Deliveries of disabled
// webhooks are left failed: they could not be attempted until the webhook is enabled.
type RecoverFilter struct {
	Since     time.Time
	Until     time.Time // zero: up to now
	WebhookID string
	EventType string
}

// RecoverBatch bounds one transaction of a recover, so that a hundred thousand failed
// deliveries never hold the writer (or, on PostgreSQL, row locks) for long.
const RecoverBatch = 1000
