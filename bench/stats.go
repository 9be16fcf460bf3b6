package bench

import (
	"slices"
	"time"
)

// percentiles returns the given quantiles (0..1) of samples in milliseconds, by the
// nearest-rank method. It sorts samples in place. Empty input gives zeros.
func percentiles(samples []int64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(samples) == 0 {
		return out
	}
	slices.Sort(samples)
	for i, q := range qs {
		rank := int(q*float64(len(samples))+0.999999999) - 1 // ceil(q*n) - 1
		rank = min(max(rank, 0), len(samples)-1)
		out[i] = ms(samples[rank])
	}
	return out
}

func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

// median returns the median of xs (the mean of the middle two when even), 0 when empty.
// It sorts a copy.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rate is n per second over d, 0 when d is not positive.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
