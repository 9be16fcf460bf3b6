package db

import (
	"slices"
	"strings"
	"time"
)

// HourCount is how many attempts to a webhook (or to all, in a chart of all) were made in
// one hour, by outcome.
type HourCount struct {
	WebhookID string
	Hour      time.Time // the start of the hour, UTC
	Succeeded int
	Failed    int
}

// DayCount is how many attempts to a webhook (or to all) were made in one UTC day, by
// outcome: the hourly counts summed, and the days the pruner rolled up (see
// PruneRequest.Before).
type DayCount struct {
	WebhookID string
	Day       time.Time // midnight UTC at the start of the day
	Succeeded int
	Failed    int
}

// DayStart is midnight UTC at the start of t's day.
func DayStart(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// HourCounts folds the attempts that held their lease (owned) into counts per webhook and
// hour, sorted by webhook and hour so that concurrent recorders take row locks in one order.
// An attempt whose lease was lost is counted by the result that replaced it.
func HourCounts(results []AttemptResult, owned func(AttemptResult) bool) []HourCount {
	type key struct {
		w string
		h int64
	}
	by := map[key]*HourCount{}
	for _, r := range results {
		if !owned(r) {
			continue
		}
		h := r.AttemptedAt.UTC().Truncate(time.Hour)
		k := key{r.Claim.WebhookID, h.UnixMilli()}
		c := by[k]
		if c == nil {
			c = &HourCount{WebhookID: k.w, Hour: h}
			by[k] = c
		}
		if r.Next == StateSucceeded {
			c.Succeeded++
		} else {
			c.Failed++
		}
	}
	out := make([]HourCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b HourCount) int {
		if c := strings.Compare(a.WebhookID, b.WebhookID); c != 0 {
			return c
		}
		return a.Hour.Compare(b.Hour)
	})
	return out
}

// LastHours returns the n hours up to and including now's, oldest first, with the counts
// given filled in and the others zero: what a chart draws.
func LastHours(counts []HourCount, now time.Time, n int) []HourCount {
	end := now.UTC().Truncate(time.Hour)
	out := make([]HourCount, n)
	idx := map[int64]int{}
	for i := range out {
		out[i].Hour = end.Add(time.Duration(i-n+1) * time.Hour)
		idx[out[i].Hour.UnixMilli()] = i
	}
	for _, c := range counts {
		if i, ok := idx[c.Hour.UTC().UnixMilli()]; ok {
			out[i].Succeeded += c.Succeeded
			out[i].Failed += c.Failed
		}
	}
	return out
}
