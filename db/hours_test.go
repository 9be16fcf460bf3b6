package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookrelay/hookrelay/db"
)

func TestLastHoursFillsTheGaps(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)
	got := db.LastHours([]db.HourCount{
		{Hour: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Succeeded: 3},
		{Hour: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Failed: 2},
		{Hour: time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), Failed: 9}, // too old: left out
	}, now, 24)
	assert.Len(t, got, 24)
	assert.Equal(t, time.Date(2026, 2, 28, 13, 0, 0, 0, time.UTC), got[0].Hour, "oldest first")
	assert.Equal(t, db.HourCount{Hour: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Succeeded: 3}, got[23], "now's hour last")
	assert.Equal(t, 2, got[21].Failed)
	total := 0
	for _, c := range got {
		total += c.Succeeded + c.Failed
	}
	assert.Equal(t, 5, total)
}

func TestHourCountsFoldsABatch(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 59, 0, 0, time.UTC)
	r := func(w string, at time.Time, next db.State) db.AttemptResult {
		return db.AttemptResult{Claim: db.Claim{WebhookID: w}, AttemptedAt: at, Next: next}
	}
	got := db.HourCounts([]db.AttemptResult{
		r("whk_b", at, db.StateSucceeded), r("whk_a", at, db.StateFailed), r("whk_a", at, db.StatePending),
		r("whk_a", at.Add(time.Minute), db.StateSucceeded), r("whk_c", at, db.StateSucceeded),
	}, func(x db.AttemptResult) bool { return x.Claim.WebhookID != "whk_c" })
	assert.Equal(t, []db.HourCount{
		{WebhookID: "whk_a", Hour: at.Truncate(time.Hour), Failed: 2},
		{WebhookID: "whk_a", Hour: at.Add(time.Minute).Truncate(time.Hour), Succeeded: 1},
		{WebhookID: "whk_b", Hour: at.Truncate(time.Hour), Succeeded: 1},
	}, got, "by webhook and hour, in order; lost leases left out")
}
