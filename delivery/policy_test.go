package delivery_test

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/delivery"
)

func TestPolicyNext(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := delivery.Policy{Schedule: delivery.DefaultSchedule}
	type want struct {
		state db.State
		at    time.Time
	}
	type nextCase struct {
		name    string
		p       delivery.Policy
		attempt int
		ok      bool
		manual  bool
		want    want
	}
	cases := []nextCase{
		{name: "success", p: p, attempt: 1, ok: true, want: want{db.StateSucceeded, time.Time{}}},
		{name: "success on the last attempt", p: p, attempt: 7, ok: true, want: want{db.StateSucceeded, time.Time{}}},
		{name: "manual success", p: p, attempt: 9, ok: true, manual: true, want: want{db.StateSucceeded, time.Time{}}},
		{name: "failure at attempt 7 exhausts the schedule", p: p, attempt: 7, want: want{db.StateFailed, time.Time{}}},
		{name: "failure past the schedule", p: p, attempt: 8, want: want{db.StateFailed, time.Time{}}},
		{name: "manual failure does not restart the schedule", p: p, attempt: 1, manual: true, want: want{db.StateFailed, time.Time{}}},
		{name: "manual failure after exhaustion", p: p, attempt: 8, manual: true, want: want{db.StateFailed, time.Time{}}},
		{name: "empty schedule fails at once", p: delivery.Policy{Schedule: []time.Duration{}}, attempt: 1, want: want{db.StateFailed, time.Time{}}},
		{name: "nil schedule fails at once", p: delivery.Policy{}, attempt: 1, want: want{db.StateFailed, time.Time{}}},
		{name: "attempt 0 is not a scheduled attempt", p: p, attempt: 0, want: want{db.StateFailed, time.Time{}}},
	}
	for i, d := range []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		cases = append(cases, nextCase{name: fmt.Sprintf("failure at attempt %d", i+1), p: p, attempt: i + 1,
			want: want{db.StatePending, now.Add(d)}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			state, at := tc.p.Next(tc.attempt, tc.ok, tc.manual, now)
			assert.Equal(t, tc.want, want{state, at})
		})
	}
}

func TestDefaultScheduleIsSevenAttempts(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1m0s,5m0s,30m0s,2h0m0s,12h0m0s,24h0m0s", delivery.FormatSchedule(delivery.DefaultSchedule))
}

func TestPolicyJitterBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		jitter float64
		rand   float64
		want   func(d time.Duration) (lo, hi time.Duration)
	}{
		{"low end", 0.1, 0, func(d time.Duration) (time.Duration, time.Duration) { return d * 9 / 10, d * 9 / 10 }},
		{"middle", 0.1, 0.5, func(d time.Duration) (time.Duration, time.Duration) { return d, d }},
		{"high end", 0.1, 0.999999, func(d time.Duration) (time.Duration, time.Duration) { return d*11/10 - d/10000, d * 11 / 10 }},
		{"wide jitter, low end", 0.5, 0, func(d time.Duration) (time.Duration, time.Duration) { return d / 2, d / 2 }},
		{"wide jitter, high end", 0.5, 0.999999, func(d time.Duration) (time.Duration, time.Duration) { return d*3/2 - d/10000, d * 3 / 2 }},
		{"no jitter ignores rand", 0, 0, func(d time.Duration) (time.Duration, time.Duration) { return d, d }},
		{"no jitter ignores rand, high", 0, 0.999999, func(d time.Duration) (time.Duration, time.Duration) { return d, d }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := delivery.Policy{Schedule: delivery.DefaultSchedule, Jitter: tc.jitter, Rand: func() float64 { return tc.rand }}
			for i, d := range delivery.DefaultSchedule {
				state, at := p.Next(i+1, false, false, now)
				require.Equal(t, db.StatePending, state)
				lo, hi := tc.want(d)
				got := at.Sub(now)
				assert.GreaterOrEqual(t, got, lo, "attempt %d", i+1)
				assert.LessOrEqual(t, got, hi, "attempt %d", i+1)
			}
		})
	}
	t.Run("default rand stays within bounds", func(t *testing.T) {
		t.Parallel()
		p := delivery.Policy{Schedule: []time.Duration{time.Hour}, Jitter: 0.1}
		distinct := map[time.Duration]bool{}
		for range 1000 {
			_, at := p.Next(1, false, false, now)
			got := at.Sub(now)
			require.GreaterOrEqual(t, got, 54*time.Minute)
			require.Less(t, got, 66*time.Minute)
			distinct[got] = true
		}
		assert.Greater(t, len(distinct), 900, "delays are spread")
	})
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []time.Duration // nil: an error is expected
	}{
		{"default", "1m,5m,30m,2h,12h,24h", delivery.DefaultSchedule},
		{"one delay", "200ms", []time.Duration{200 * time.Millisecond}},
		{"spaces", " 30s , 2m ", []time.Duration{30 * time.Second, 2 * time.Minute}},
		{"compound durations", "1h30m,1m0.5s", []time.Duration{90 * time.Minute, time.Minute + 500*time.Millisecond}},
		{"empty means no retries", "", []time.Duration{}},
		{"blank means no retries", "   ", []time.Duration{}},
		{"no unit", "30", nil},
		{"unknown unit", "3d", nil},
		{"zero", "0s", nil},
		{"negative", "1m,-5m", nil},
		{"empty item", "1m,,5m", nil},
		{"trailing comma", "1m,", nil},
		{"words", "often", nil},
		{"semicolons", "1m;5m", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := delivery.ParseSchedule(tc.in)
			if tc.want == nil {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := delivery.ParseSchedule(delivery.FormatSchedule(got))
			require.NoError(t, err)
			assert.Equal(t, got, again, "FormatSchedule is the inverse")
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"Sun, 01 Mar 2026 13:00:00 GMT", time.Hour, true},
		{"Sunday, 01-Mar-26 12:00:30 GMT", 30 * time.Second, true}, // RFC 850, still valid HTTP
		{"99999999999999999999", 0, false},                         // not an int64: not a date either
		{"9223372036854775807", time.Duration(math.MaxInt64/int64(time.Second)) * time.Second, true},
		{"", 0, false},
		{"0", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, false}, // in the past
	}
	for _, c := range cases {
		got, ok := delivery.RetryAfter(c.header, now)
		assert.Equal(t, c.ok, ok, "%q", c.header)
		assert.Equal(t, c.want, got, "%q", c.header)
	}
}

func TestPolicyDeferTakesTheLaterTimeUpToTheCap(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	scheduled := now.Add(5 * time.Minute)
	p := delivery.Policy{Schedule: delivery.DefaultSchedule, RetryAfterMax: 24 * time.Hour}
	assert.Equal(t, now.Add(time.Hour), p.Defer(scheduled, time.Hour, now), "asked later than the schedule")
	assert.Equal(t, scheduled, p.Defer(scheduled, time.Minute, now), "asked sooner: the schedule stands")
	assert.Equal(t, now.Add(24*time.Hour), p.Defer(scheduled, 30*24*time.Hour, now), "capped")
	assert.Equal(t, scheduled, p.Defer(scheduled, 0, now), "nothing asked")
	assert.True(t, p.Defer(time.Time{}, time.Hour, now).IsZero(), "no next attempt stays none")
	off := delivery.Policy{Schedule: delivery.DefaultSchedule}
	assert.Equal(t, scheduled, off.Defer(scheduled, time.Hour, now), "RetryAfterMax 0 ignores Retry-After")
}

func TestGoneEndsTheDeliveryAndDisables(t *testing.T) {
	t.Parallel()
	reason, gone := delivery.Gone(http.StatusGone)
	assert.True(t, gone)
	assert.Equal(t, "the receiver answered 410 Gone", reason)
	for _, code := range []int{200, 404, 429, 500, 503} {
		_, gone := delivery.Gone(code)
		assert.False(t, gone, "%d", code)
	}
}
