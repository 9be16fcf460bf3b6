package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Attempt claims the webhook's earliest due delivery and records res for it as the engine
// would (res.Claim is filled in; a zero AttemptedAt means the store's now). It returns the
// claim.
func Attempt(t testing.TB, store Store, webhookID string, res db.AttemptResult) db.Claim {
	t.Helper()
	ctx := context.Background()
	claimed, err := store.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: webhookID, Limit: 1}}, time.Minute)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(claimed.Claims) != 1 {
		t.Fatalf("no due delivery for %s", webhookID)
	}
	res.Claim = claimed.Claims[0]
	if res.AttemptedAt.IsZero() {
		res.AttemptedAt = store.Now()
	}
	if err := store.RecordAttempts(ctx, []db.AttemptResult{res}); err != nil {
		t.Fatalf("record attempt: %v", err)
	}
	return res.Claim
}

// Fail records a last failed attempt, answered with status, for the webhook's earliest due
// delivery: the delivery becomes failed as when its schedule is used up.
func Fail(t testing.TB, store Store, webhookID string, status int) db.Claim {
	t.Helper()
	return Attempt(t, store, webhookID, db.AttemptResult{StatusCode: status, Next: db.StateFailed})
}

// Succeed records a successful attempt for the webhook's earliest due delivery.
func Succeed(t testing.TB, store Store, webhookID string) db.Claim {
	t.Helper()
	return Attempt(t, store, webhookID, db.AttemptResult{StatusCode: 200, Next: db.StateSucceeded})
}
