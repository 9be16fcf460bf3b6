package db

import "time"

// DeliveryCounts counts deliveries by state.
type DeliveryCounts map[State]int

// Total is the number of deliveries counted.
func (c DeliveryCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// QueueStats is the state of the delivery queue over every webhook, for the gauges an
// operator watches: how much work waits, how much is in flight, how much failed for good,
// and how late the most overdue delivery is.
type QueueStats struct {
	Pending    int // deliveries waiting for an attempt, due or scheduled later
	Due        int // of those, the ones due now
	Delivering int // deliveries leased for an attempt in flight
	Failed     int // deliveries whose schedule is used up
	// OldestDue is when the earliest pending delivery became due; zero when nothing is
	// pending. It may lie in the future, when nothing is due yet.
	OldestDue time.Time
	// At is the store's clock when the figures were read.
	At time.Time
}

// OldestDueAge is how long the most overdue delivery has waited at the time the figures
// were read: zero when nothing is due.
func (q QueueStats) OldestDueAge() time.Duration {
	if q.OldestDue.IsZero() || !q.OldestDue.Before(q.At) {
		return 0
	}
	return q.At.Sub(q.OldestDue)
}

// WebhookStats sums up one webhook's recent deliveries.
type WebhookStats struct {
	Succeeded     int       // deliveries created in the window that succeeded
	Failed        int       // … that failed for good
	LastAttemptAt time.Time // the webhook's latest attempt ever; zero when none
}

// SuccessRate is the share of finished deliveries that succeeded, and false when none
// finished.
func (w WebhookStats) SuccessRate() (float64, bool) {
	if w.Succeeded+w.Failed == 0 {
		return 0, false
	}
	return float64(w.Succeeded) / float64(w.Succeeded+w.Failed), true
}

// FailingWebhook is a webhook whose latest attempt failed.
type FailingWebhook struct {
	Webhook        Webhook
	DeliveryID     string // the delivery of that attempt
	LastError      string // "HTTP 503", "timeout", …
	LastStatusCode int
	LastAttemptAt  time.Time
}

// EventFilter selects events for ListEvents. Zero fields do not filter.
type EventFilter struct {
	TypePrefix string // event types equal to it or starting with it
	WorkflowID string
	Since      time.Time // received at or after
	Until      time.Time // received before
	Cursor     string
	Limit      int // default 50, at most 500
}

// TestEventType is the type of the events an admin sends to one webhook to try it.
const TestEventType = "hookrelay.test"
