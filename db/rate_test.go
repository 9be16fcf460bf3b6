package db

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRateUnlimitedAllowsAll(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	assert.Equal(t, 50, Rate{}.Allow(now, 50))
	assert.Equal(t, Rate{}, Rate{}.Take(now, 50))
	assert.True(t, Rate{}.Next().IsZero())
}

// Claiming as fast as allowed for ten seconds, in steps of 7 ms, gives the limit per second
// over the whole run and at most limit + limit/10 + 1 in any one second.
func TestRateHoldsItsLimit(t *testing.T) {
	for _, limit := range []int{1, 3, 10, 250, 5000} {
		start := time.Unix(1_700_000_000, 0)
		r := Rate{Limit: limit}
		var starts []time.Time
		for now := start; now.Before(start.Add(10 * time.Second)); now = now.Add(7 * time.Millisecond) {
			n := r.Allow(now, 1000)
			if n > 0 {
				assert.False(t, now.Before(r.Next()), "limit %d: allowed before Next", limit)
			}
			r = r.Take(now, n)
			for range n {
				starts = append(starts, now)
			}
		}
		total := float64(len(starts))
		assert.InDelta(t, float64(limit*10), total, float64(limit)*10*0.1+1, "limit %d over 10 s", limit)
		most := 0
		for i, j := 0, 0; i < len(starts); i++ {
			for j < len(starts) && starts[j].Sub(starts[i]) < time.Second {
				j++
			}
			most = max(most, j-i)
		}
		assert.LessOrEqual(t, most, limit+limit/10+1, "limit %d: most attempts in one second", limit)
	}
}

// An idle webhook does not save up: after a minute without attempts it gets one burst, not a
// minute's worth.
func TestRateDoesNotSaveUp(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	r := Rate{Limit: 100}.Take(now, 1)
	later := now.Add(time.Minute)
	assert.Equal(t, 11, r.Allow(later, 1000))
	r = r.Take(later, 11)
	assert.Equal(t, 0, r.Allow(later, 1000))
	assert.Equal(t, later.Add(10*time.Millisecond).UTC(), r.Next())
}
