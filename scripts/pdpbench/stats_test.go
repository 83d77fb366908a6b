package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	oneToHundred := make([]int, 100)
	for i := range oneToHundred {
		oneToHundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single value is every percentile", durations(7), 50, 7 * time.Millisecond},
		{"single value p99", durations(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100 is 50", durations(oneToHundred...), 50, 50 * time.Millisecond},
		{"p90 of 1..100 is 90", durations(oneToHundred...), 90, 90 * time.Millisecond},
		{"p99 of 1..100 is 99", durations(oneToHundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", durations(oneToHundred...), 100, 100 * time.Millisecond},
		{"p99.9 of 1..100 rounds up to the max", durations(oneToHundred...), 99.9, 100 * time.Millisecond},
		{"p0 is the min", durations(oneToHundred...), 0, 1 * time.Millisecond},
		{"p50 of 4 values is the 2nd (nearest rank, no interpolation)", durations(10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"p51 of 4 values is the 3rd", durations(10, 20, 30, 40), 51, 30 * time.Millisecond},
		{"p25 of 4 values is the 1st", durations(10, 20, 30, 40), 25, 10 * time.Millisecond},
		{"p99 of 10 values is the 10th", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of 10 values is the 9th", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p50 of 3 values is the median", durations(1, 5, 9), 50, 5 * time.Millisecond},
		{"ties", durations(3, 3, 3, 3, 8), 80, 3 * time.Millisecond},
		{"above 100 clamps to max", durations(1, 2), 150, 2 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.sorted, c.p); got != c.want {
				t.Fatalf("percentile(%v, %v) = %v, want %v", c.sorted, c.p, got, c.want)
			}
		})
	}
}

// TestPercentileDefinition checks the nearest-rank definition against a
// brute-force count on random data: the result is a recorded value, at
// least p% of values are <= it, and fewer than p% are < it.
func TestPercentileDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + rng.IntN(500)
		lat := make([]time.Duration, n)
		for i := range lat {
			lat[i] = time.Duration(rng.IntN(50)) * time.Microsecond // many ties
		}
		slices.Sort(lat)
		for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
			v := percentile(lat, p)
			if !slices.Contains(lat, v) {
				t.Fatalf("trial %d: p%v = %v is not a recorded value", trial, p, v)
			}
			atOrBelow, below := 0, 0
			for _, d := range lat {
				if d <= v {
					atOrBelow++
				}
				if d < v {
					below++
				}
			}
			if float64(atOrBelow) < p/100*float64(n)-1e-9 {
				t.Fatalf("trial %d: p%v = %v: only %d of %d at or below", trial, p, v, atOrBelow, n)
			}
			if float64(below) >= p/100*float64(n) {
				t.Fatalf("trial %d: p%v = %v is not the smallest such value (%d of %d below)", trial, p, v, below, n)
			}
		}
	}
}

func TestSummarizeSortsAndReportsExactValues(t *testing.T) {
	lat := durations(40, 10, 30, 20, 50)
	s := summarize(lat)
	if !slices.IsSorted(lat) {
		t.Fatal("summarize must sort in place")
	}
	want := latencySummary{Count: 5, MinMS: 10, MeanMS: 30, P50MS: 30, P90MS: 50, P99MS: 50, P999MS: 50, MaxMS: 50}
	if s != want {
		t.Fatalf("summarize = %+v, want %+v", s, want)
	}
	if got := summarize(nil); got != (latencySummary{}) {
		t.Fatalf("summarize(nil) = %+v", got)
	}
}

func TestMerge(t *testing.T) {
	got := merge([][]time.Duration{durations(1, 2), nil, durations(3)})
	if !slices.Equal(got, durations(1, 2, 3)) {
		t.Fatalf("merge = %v", got)
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// pid (comm with spaces and a parenthesis) state ppid ... utime stime ...
	stat := "1234 (authd (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"
	got, err := parseProcStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.0 { // (250 + 50) / 100
		t.Fatalf("cpu = %v, want 3", got)
	}
	if _, err := parseProcStatCPU("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestParseProcStatBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\n"
	got, err := parseProcStatBusy(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1.7 { // (100+5+50+3+2+10) / 100: idle and iowait left out
		t.Fatalf("busy = %v, want 1.7", got)
	}
	if _, err := parseProcStatBusy("intr 1 2 3"); err == nil {
		t.Fatal("garbage parsed")
	}
}
