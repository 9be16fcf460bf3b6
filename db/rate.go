package db

import (
	"math"
	"time"
)

// MaxRateLimit is the highest rate limit a webhook may have, in attempts per second.
const MaxRateLimit = 100_000

// RateBurst is how far ahead of its steady pace a rate-limited webhook's attempts may run.
// Attempts go out as an even stream rather than a burst at the start of each second, and the
// engines need to claim about ten times a second to keep up; over any second, a webhook gets
// at most its limit plus a tenth of it, plus one.
const RateBurst = 100 * time.Millisecond

// Rate is a webhook's rate limiter: the generic cell rate algorithm, whose only state is the
// theoretical arrival time of the next attempt (TAT, unix microseconds). The stores keep it
// in the webhook's row and change it in the transaction that claims, so every instance
// draws on the same allowance.
type Rate struct {
	Limit int   // attempts per second; 0 for no limit
	TAT   int64 // unix microseconds
}

// interval is the steady time between two attempts, in microseconds.
func (r Rate) interval() float64 { return 1e6 / float64(r.Limit) }

// Allow returns how many of want attempts may start at now.
func (r Rate) Allow(now time.Time, want int) int {
	if r.Limit <= 0 || want <= 0 {
		return max(want, 0)
	}
	slack := now.UnixMicro() + RateBurst.Microseconds() - max(r.TAT, now.UnixMicro())
	if slack < 0 {
		return 0
	}
	return min(want, int(math.Floor(float64(slack)/r.interval()))+1)
}

// Take returns the limiter's state after n attempts started at now.
func (r Rate) Take(now time.Time, n int) Rate {
	if r.Limit <= 0 || n <= 0 {
		return r
	}
	r.TAT = max(r.TAT, now.UnixMicro()) + int64(math.Round(float64(n)*r.interval()))
	return r
}

// Next returns when the next attempt may start; the zero time when there is no limit.
func (r Rate) Next() time.Time {
	if r.Limit <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(r.TAT - RateBurst.Microseconds()).UTC()
}
