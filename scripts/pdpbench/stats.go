package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest recorded value such that at least p %
// of all values are at or below it. It is always one of the recorded
// latencies (no interpolation), so p100 is the maximum. It returns 0 for
// no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	// The tiny epsilon keeps p*n that should be an integer (50% of 10)
	// from rounding up past it through floating-point error.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// latencySummary is what a run reports about its latencies, in
// milliseconds (JSON-friendly, and the unit the table uses).
type latencySummary struct {
	Count  int     `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p99_9_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// summarize sorts lat in place and computes its exact percentiles.
func summarize(lat []time.Duration) latencySummary {
	slices.Sort(lat)
	s := latencySummary{Count: len(lat)}
	if len(lat) == 0 {
		return s
	}
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	s.MinMS = ms(lat[0])
	s.MeanMS = ms(total / time.Duration(len(lat)))
	s.P50MS = ms(percentile(lat, 50))
	s.P90MS = ms(percentile(lat, 90))
	s.P99MS = ms(percentile(lat, 99))
	s.P999MS = ms(percentile(lat, 99.9))
	s.MaxMS = ms(lat[len(lat)-1])
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// merge concatenates the workers' latency slices.
func merge(parts [][]time.Duration) []time.Duration {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]time.Duration, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
