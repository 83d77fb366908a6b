package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// report turns load results (load --json) into markdown. Results carry a
// tag of comma-separated key=value pairs; run.sh tags the side-by-side
// runs group=compare and the latency-vs-relationships runs
// group=scale,relationships=N,patients=P,store=S.

func runReport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usagef("report: give the result files")
	}
	var results []*loadResult
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r loadResult
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		results = append(results, &r)
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].StartedAt < results[j].StartedAt })
	var compare, scale []*loadResult
	for _, r := range results {
		switch tagValue(r.Tag, "group") {
		case "compare":
			compare = append(compare, r)
		case "scale":
			scale = append(scale, r)
		}
	}
	if len(compare) > 0 {
		writeCompare(stdout, compare)
	}
	if len(scale) > 0 {
		writeScale(stdout, scale)
	}
	writeMachine(stdout, results)
	return nil
}

// tagValue returns the value of key in a "k=v,k=v" tag.
func tagValue(tag, key string) string {
	for _, kv := range strings.Split(tag, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func workload(batch int) string {
	if batch == 0 {
		return "single"
	}
	return fmt.Sprintf("batch of %d", batch)
}

// aggregate is several rounds of one server on one workload.
type aggregate struct {
	rounds                  int
	dpsMean, dpsMin, dpsMax float64
	p50, p99                float64 // medians over rounds
	perCPU                  float64 // mean over rounds that measured it
	errors                  int64
}

func aggregateOf(rs []*loadResult) aggregate {
	var a aggregate
	var p50s, p99s []float64
	var cpuN int
	for i, r := range rs {
		a.rounds++
		a.dpsMean += r.DecisionsPerS
		if i == 0 || r.DecisionsPerS < a.dpsMin {
			a.dpsMin = r.DecisionsPerS
		}
		a.dpsMax = max(a.dpsMax, r.DecisionsPerS)
		p50s = append(p50s, r.Latency.P50MS)
		p99s = append(p99s, r.Latency.P99MS)
		if r.DecisionsPerCPUS > 0 {
			a.perCPU += r.DecisionsPerCPUS
			cpuN++
		}
		a.errors += r.Errors
	}
	if a.rounds > 0 {
		a.dpsMean /= float64(a.rounds)
	}
	if cpuN > 0 {
		a.perCPU /= float64(cpuN)
	}
	a.p50, a.p99 = median(p50s), median(p99s)
	return a
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func writeCompare(w io.Writer, rs []*loadResult) {
	batches := []int{}
	byKey := map[string][]*loadResult{}
	for _, r := range rs {
		if !slices.Contains(batches, r.Batch) {
			batches = append(batches, r.Batch)
		}
		k := r.Label + "/" + strconv.Itoa(r.Batch)
		byKey[k] = append(byKey[k], r)
	}
	slices.Sort(batches)
	fmt.Fprintf(w, "## authd PDP vs OPA server: same policy, same facts, same load\n\n")
	fmt.Fprintf(w, "Concurrency %d, %.0fs measured after %.0fs warm-up per round; rounds alternate authd, opa, authd, opa.\n",
		rs[0].Concurrency, rs[0].DurationS, rs[0].WarmupS)
	fmt.Fprintf(w, "Decisions/s is the mean over rounds, latencies the median over rounds of each round's exact percentile (per HTTP request; a batch request carries K decisions).\n\n")
	fmt.Fprintf(w, "| workload | server | rounds | decisions/s | min–max | p50 ms | p99 ms | decisions per server CPU-s | errors |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, b := range batches {
		for _, label := range []string{"authd", "opa"} {
			g := byKey[label+"/"+strconv.Itoa(b)]
			if len(g) == 0 {
				continue
			}
			a := aggregateOf(g)
			fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.0f–%.0f | %.3f | %.3f | %s | %d |\n",
				workload(b), label, a.rounds, a.dpsMean, a.dpsMin, a.dpsMax, a.p50, a.p99, orNA(a.perCPU), a.errors)
		}
	}
	fmt.Fprintf(w, "\n| workload | decisions/s authd/opa | p50 authd/opa | p99 authd/opa | decisions per CPU-s authd/opa |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|\n")
	for _, b := range batches {
		ga, go_ := byKey["authd/"+strconv.Itoa(b)], byKey["opa/"+strconv.Itoa(b)]
		if len(ga) == 0 || len(go_) == 0 {
			continue
		}
		a, o := aggregateOf(ga), aggregateOf(go_)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", workload(b),
			ratio(a.dpsMean, o.dpsMean), ratio(a.p50, o.p50), ratio(a.p99, o.p99), ratio(a.perCPU, o.perCPU))
	}
	fmt.Fprintf(w, "\nRounds in the order run (CPU-seconds in the measured window: the server under test, the load generator, everything else on the machine):\n\n")
	fmt.Fprintf(w, "| # | workload | server | decisions/s | p50 ms | p90 ms | p99 ms | max ms | server CPU-s | load gen CPU-s | other CPU-s |\n")
	fmt.Fprintf(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range rs {
		fmt.Fprintf(w, "| %d | %s | %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.1f |\n",
			i+1, workload(r.Batch), r.Label, r.DecisionsPerS, r.Latency.P50MS, r.Latency.P90MS, r.Latency.P99MS,
			r.Latency.MaxMS, r.ServerCPUS, r.ClientCPUS, r.OtherCPUS)
	}
	fmt.Fprintln(w)
}

func orNA(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}

func writeScale(w io.Writer, rs []*loadResult) {
	fmt.Fprintf(w, "## authd decision latency vs relationships in the store\n\n")
	fmt.Fprintf(w, "| relationships | patients | store | concurrency | decisions/s | p50 ms | p90 ms | p99 ms | max ms | other CPU-s | errors |\n")
	fmt.Fprintf(w, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	sort.SliceStable(rs, func(i, j int) bool {
		a, _ := strconv.Atoi(tagValue(rs[i].Tag, "relationships"))
		b, _ := strconv.Atoi(tagValue(rs[j].Tag, "relationships"))
		if a != b {
			return a < b
		}
		return storeOf(rs[i]) > storeOf(rs[j]) // sqlite, then postgres
	})
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %.1f | %d |\n",
			tagValue(r.Tag, "relationships"), tagValue(r.Tag, "patients"), storeOf(r), r.Concurrency, r.DecisionsPerS,
			r.Latency.P50MS, r.Latency.P90MS, r.Latency.P99MS, r.Latency.MaxMS, r.OtherCPUS, r.Errors)
	}
	fmt.Fprintln(w)
}

// storeOf is the registration store a scale run used (tag store=...;
// runs from before the tag existed were on SQLite).
func storeOf(r *loadResult) string {
	if s := tagValue(r.Tag, "store"); s != "" {
		return s
	}
	return "sqlite"
}

// writeMachine notes that the load generator and whatever else runs on
// the machine share the CPUs with the server under test.
func writeMachine(w io.Writer, rs []*loadResult) {
	if len(rs) == 0 {
		return
	}
	var clientCPU, otherCPU, window float64
	for _, r := range rs {
		clientCPU += r.ClientCPUS
		otherCPU += r.OtherCPUS
		window += r.DurationS
	}
	window = max(window, 1e-9)
	fmt.Fprintf(w, "Machine: %d CPUs shared by the server under test, the idle other server, the load generator "+
		"(%.2f CPUs on average over the measured windows) and other processes (%.2f CPUs on average). "+
		"Absolute numbers are lower than on a machine of the servers' own; the load generator's share is alike for both servers, "+
		"other processes' share is not controlled: compare rounds, and prefer the per-CPU-second column when it varied.\n",
		rs[0].CPUs, clientCPU/window, otherCPU/window)
}
