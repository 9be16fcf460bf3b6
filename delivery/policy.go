package delivery

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// DefaultSchedule is the delay before each retry: 7 attempts in all.
var DefaultSchedule = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// Policy decides what happens after an attempt.
type Policy struct {
	// Schedule[i] is the delay after failed scheduled attempt i+1. When it is used up the
	// delivery is failed: len(Schedule)+1 attempts in all.
	Schedule []time.Duration
	// Jitter spreads each delay uniformly over ±Jitter of itself (0.1 = ±10%), so that
	// deliveries that failed together do not all retry in the same instant. 0 disables it.
	Jitter float64
	// Rand returns a number in [0, 1). Nil means math/rand/v2.
	Rand func() float64
	// RetryAfterMax caps how long a receiver's Retry-After may push the next attempt out, so
	// a receiver asking for a year cannot park a delivery for a year. 0 ignores Retry-After.
	RetryAfterMax time.Duration
}

// Next returns the delivery's state after an attempt: attempt is its number among scheduled
// attempts (1 for the first), ok whether it succeeded, manual whether it was a manual retry.
// A failed manual retry does not restart the schedule: the delivery goes back to failed.
func (p Policy) Next(attempt int, ok, manual bool, now time.Time) (db.State, time.Time) {
	switch {
	case ok:
		return db.StateSucceeded, time.Time{}
	case manual || attempt > len(p.Schedule) || attempt < 1:
		return db.StateFailed, time.Time{}
	}
	return db.StatePending, now.Add(p.delay(p.Schedule[attempt-1]))
}

// Defer moves a pending delivery's next attempt out to the time the receiver asked for with
// Retry-After (asked after now, capped at RetryAfterMax) when that is later than the
// schedule's time. It never moves an attempt earlier and never adds one: the schedule still
// counts the attempt that was answered, as Standard Webhooks senders do.
func (p Policy) Defer(next time.Time, asked time.Duration, now time.Time) time.Time {
	if next.IsZero() || asked <= 0 || p.RetryAfterMax <= 0 {
		return next
	}
	if at := now.Add(min(asked, p.RetryAfterMax)); at.After(next) {
		return at
	}
	return next
}

// RetryAfter reads a Retry-After header (delta-seconds or an HTTP-date) as a delay from
// now. It reports false for a missing, malformed or past value: such an answer is retried
// on the schedule.
func RetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		// Beyond this a delay overflows time.Duration; the cap applies long before.
		const most = int64(math.MaxInt64 / int64(time.Second))
		if secs <= 0 {
			return 0, false
		}
		return time.Duration(min(secs, most)) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil || !t.After(now) {
		return 0, false
	}
	return t.Sub(now), true
}

// Gone reports whether an answer with this status ends its delivery at once and disables
// the webhook, with the reason to record: 410 Gone, which Standard Webhooks reserves for a
// receiver that wants no more deliveries.
func Gone(status int) (reason string, gone bool) {
	if status != http.StatusGone {
		return "", false
	}
	return "the receiver answered 410 Gone", true
}

// MaxAttempts is how many scheduled attempts a delivery gets: one more than the delays.
func (p Policy) MaxAttempts() int { return len(p.Schedule) + 1 }

func (p Policy) delay(d time.Duration) time.Duration {
	if p.Jitter <= 0 {
		return d
	}
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	return time.Duration(float64(d) * (1 + p.Jitter*(2*r()-1)))
}

// ParseSchedule reads a comma-separated list of Go durations ("1m,5m,30m"). Every delay
// must be positive; an empty list means "no retries".
func ParseSchedule(s string) ([]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for part := range strings.SplitSeq(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration like 30s, 5m or 2h", strings.TrimSpace(part))
		}
		if d <= 0 {
			return nil, fmt.Errorf("%q: delays must be positive", strings.TrimSpace(part))
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatSchedule is the inverse of ParseSchedule.
func FormatSchedule(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}
