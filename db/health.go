package db

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// HealthChange is what one batch of recorded attempts says about one webhook's run of
// failures: the stores apply it in the transaction that records the attempts (see
// HealthChanges).
type HealthChange struct {
	WebhookID string
	// Succeeded: an attempt succeeded, which ends the run of failures; if the webhook was
	// alerted on, the administrators are told it recovered. Success is that attempt.
	Succeeded bool
	Success   AttemptResult
	// FailingFrom is the first failed attempt after the batch's last success (zero if none).
	// With Succeeded the run starts there afresh; otherwise it starts there unless it had
	// started already.
	FailingFrom time.Time
	// DisableReason disables the webhook whatever its run says (a 410 Gone answer).
	DisableReason string
	// DisableAfter, when positive, disables the webhook if its run of failures began at or
	// before LastFailure's time minus DisableAfter.
	DisableAfter time.Duration
	// LastFailure is the attempt that disables the webhook: the one that asked for it, or the
	// latest failure.
	LastFailure AttemptResult
}

// DisableIfFailingSince is the latest start of a run of failures that disables the webhook
// now; zero when the run's length does not matter.
func (c HealthChange) DisableIfFailingSince() time.Time {
	if c.DisableAfter <= 0 {
		return time.Time{}
	}
	return c.LastFailure.AttemptedAt.Add(-c.DisableAfter)
}

// MayDisable reports whether the store must check (or, with DisableReason, do) a disable.
func (c HealthChange) MayDisable() bool {
	return c.DisableReason != "" || !c.DisableIfFailingSince().IsZero()
}

// Reason is what a webhook disabled by this change says: DisableReason, or how long it
// failed with its last error.
func (c HealthChange) Reason() string {
	if c.DisableReason != "" {
		return c.DisableReason
	}
	return fmt.Sprintf("no successful attempt for %s (HOOKRELAY_DISABLE_AFTER); last error: %s",
		c.DisableAfter, LastError(c.LastFailure))
}

// RecoveredReason is what the "recovered" alert says.
func (c HealthChange) RecoveredReason() string {
	return fmt.Sprintf("delivery %s succeeded at %s", c.Success.Claim.DeliveryID, FormatTime(c.Success.AttemptedAt))
}

// HealthChanges folds the attempts that held their lease (owned) into one change per webhook,
// sorted by webhook id so that two instances recording for the same webhooks lock them in one
// order. Results of a webhook are taken in the order given. A lease that expired is not a
// failure of the receiver and changes nothing.
func HealthChanges(results []AttemptResult, owned func(AttemptResult) bool) []HealthChange {
	by := map[string]*HealthChange{}
	for _, r := range results {
		if !owned(r) {
			continue
		}
		w := r.Claim.WebhookID
		c := by[w]
		if c == nil {
			c = &HealthChange{WebhookID: w}
			by[w] = c
		}
		switch {
		case r.Next == StateSucceeded:
			if !c.Succeeded {
				c.Succeeded, c.Success = true, r
			}
			c.FailingFrom = time.Time{}
			if c.DisableReason == "" {
				// The run of failures so far is over; a 410 stays: the receiver said so.
				c.DisableAfter, c.LastFailure = 0, AttemptResult{}
			}
		case FailedAttempt(r):
			if c.FailingFrom.IsZero() {
				c.FailingFrom = r.AttemptedAt
			}
			if c.DisableReason != "" {
				continue
			}
			if r.DisableReason != "" {
				c.DisableReason, c.LastFailure = r.DisableReason, r
				continue
			}
			if r.DisableAfter > 0 {
				c.DisableAfter, c.LastFailure = r.DisableAfter, r
			}
		}
	}
	out := make([]HealthChange, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b HealthChange) int { return strings.Compare(a.WebhookID, b.WebhookID) })
	return out
}
