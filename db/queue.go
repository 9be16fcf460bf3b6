package db

import (
	"fmt"
	"time"
)

// ClaimRequest asks for up to Limit due deliveries of one webhook.
type ClaimRequest struct {
	WebhookID string
	Limit     int
	// Cap, when positive, is the most deliveries of the webhook that may be leased at once
	// over every engine sharing the store. A store that serves several instances enforces it
	// (db/postgres); a store with one process per database leaves it to the engine.
	Cap int
}

// ClassLeaseExpired is the error class of an attempt whose result was never recorded: the
// instance that made it stopped, or the attempt outlived its lease. RescueExpired records
// it; a result recorded late replaces it.
const ClassLeaseExpired = "lease_expired"

// Claim is a delivery leased to the engine for one attempt. Pass it back unchanged in an
// AttemptResult: it carries the lease that proves the attempt is still the current one.
//
// The attempt is counted when it is claimed, not when its result is recorded: a delivery
// whose attempts never come back (the instance dies each time, or every attempt outlives its
// lease) still uses up its schedule, and RescueExpired fails it at the end instead of
// handing it out forever.
type Claim struct {
	DeliveryID string
	WebhookID  string
	URL        string
	Secrets    []string // signing secrets, current first
	// Headers are the webhook's custom headers, sent with the attempt. Claims of one webhook
	// share the map: read it, never change it.
	Headers    map[string]string
	EventID    string
	EventType  string
	Body       []byte
	Attempts   int  // attempts made before this one; this one is number Attempts+1
	Manual     bool // this attempt is a manual retry
	LeaseUntil time.Time
	// CreatedAt is when the delivery was created (its event ingested): the first attempt's
	// delay since then is what ingest-to-first-attempt latency measures.
	CreatedAt time.Time

	// Row and LeaseToken belong to the store that made the claim: its key of the delivery,
	// and the lease that RecordAndClaim checks before it changes the delivery's state.
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
	// Failed holds the webhooks whose deliveries could not be claimed, with why (a signing
	// secret that does not decrypt, say). Their work stays pending; the others' is claimed as
	// usual, so one broken webhook cannot stall the rest.
	Failed map[string]error
}

// Number is the attempt's number among its delivery's attempts, counting from 1.
func (c Claim) Number() int { return c.Attempts + 1 }

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
	RetryAfter        time.Duration // what a 429 or 503 asked for with Retry-After; 0 if nothing
	Signature         string
	// DisableReason, when set, disables the webhook in the same transaction, with this
	// reason (the receiver answered 410 Gone).
	DisableReason string
	// DisableAfter, when positive, disables the webhook once this attempt has failed and the
	// webhook has had no successful attempt for at least this long (HOOKRELAY_DISABLE_AFTER).
	DisableAfter time.Duration
	// Next is the delivery's new state: StatePending (with NextAt), StateSucceeded or
	// StateFailed.
	Next   State
	NextAt time.Time
}

// LastError is what a delivery shows as its last error: the error class, or "HTTP nnn" for
// an answer other than 2xx.
func LastError(r AttemptResult) string {
	if r.ErrorClass == "" && r.StatusCode != 0 && (r.StatusCode < 200 || r.StatusCode > 299) {
		return fmt.Sprintf("HTTP %d", r.StatusCode)
	}
	return r.ErrorClass
}

// LeaseExpired is the result a store's rescuer records for an attempt whose lease ran out
// at now: error class ClassLeaseExpired, and the delivery due again at once, or failed when
// it was a manual retry or the maxAttempts-th attempt.
func LeaseExpired(c Claim, claimedAt time.Time, maxAttempts int, now time.Time) AttemptResult {
	r := AttemptResult{Claim: c, AttemptedAt: claimedAt, ErrorClass: ClassLeaseExpired,
		ErrorMessage: "no result was recorded before the lease expired: the instance stopped, or the attempt outlived its lease",
		Next:         StatePending, NextAt: now}
	if c.Manual || c.Number() >= maxAttempts {
		r.Next, r.NextAt = StateFailed, time.Time{}
	}
	return r
}

// RetryAfterSeconds is how an attempt's RetryAfter is stored: whole seconds, rounded up so
// that a wait asked for is never shown shorter than it was; 0 when nothing was asked.
func RetryAfterSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// FailedAttempt reports whether the attempt counts against its webhook for auto-disable: it
// was not a success, and it was made (a lease that expired says nothing of the receiver).
func FailedAttempt(r AttemptResult) bool {
	return r.Next != StateSucceeded && r.ErrorClass != ClassLeaseExpired
}

// ErrorClasses lists every error class an attempt may record: the engine's (package
// delivery, which a test keeps in step) and the rescuer's. Filters accept these.
var ErrorClasses = []string{"timeout", "dns", "connection", "tls", "blocked", "protocol", "internal", "canceled", ClassLeaseExpired}
