package db

import (
	"fmt"
	"time"
)

// ClaimRequest asks for up to Limit due deliveries of one webhook.
type ClaimRequest struct {
	WebhookID string
	Limit     int
}

// Claim is a delivery leased to the engine for one attempt. Pass it back unchanged in an
// AttemptResult: it carries the lease that proves the attempt is still the current one.
type Claim struct {
	DeliveryID string
	WebhookID  string
	URL        string
	Secrets    []string // signing secrets, current first
	EventID    string
	EventType  string
	Body       []byte
	Attempts   int  // attempts made before this one
	Manual     bool // this attempt is a manual retry
	LeaseUntil time.Time

	Row        int64
	LeaseToken int64
}

// Trigger returns why this attempt is made.
func (c Claim) Trigger() Trigger {
	if c.Manual {
		return TriggerManual
	}
	return TriggerScheduled
}

// Claimed is what ClaimDue returns.
type Claimed struct {
	Claims []Claim
	// NextDue holds, for each webhook asked about, when its earliest remaining pending
	// delivery is due. A webhook that is absent has nothing pending, is disabled or is gone.
	NextDue map[string]time.Time
}

// AttemptResult is the outcome of one attempt and what the policy decided next.
type AttemptResult struct {
	Claim             Claim
	AttemptedAt       time.Time
	StatusCode        int // 0 when no response was received
	Duration          time.Duration
	ResponseBody      []byte
	ResponseTruncated bool
	ErrorClass        string
	ErrorMessage      string
	Signature         string
	// Next is the delivery's new state: StatePending (with NextAt), StateSucceeded or
	// StateFailed.
	Next   State
	NextAt time.Time
}

// lastError is what a delivery shows as its last error: the error class, or "HTTP nnn" for
// an answer other than 2xx.
func LastError(r AttemptResult) string {
	if r.ErrorClass == "" && r.StatusCode != 0 && (r.StatusCode < 200 || r.StatusCode > 299) {
		return fmt.Sprintf("HTTP %d", r.StatusCode)
	}
	return r.ErrorClass
}
