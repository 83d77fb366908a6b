package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loadConfig is one load run.
type loadConfig struct {
	URL          string
	Mode         string
	Concurrency  int
	Duration     time.Duration
	Warmup       time.Duration
	MaxRequests  int64
	Batch        int
	Timeout      time.Duration
	RequestsFile string
	Label        string
	Tag          string
	ServerPID    int
}

func (c loadConfig) validate() error {
	var problems []string
	if c.URL == "" {
		problems = append(problems, "--url is required")
	}
	if c.Mode != modeAuthZEN && c.Mode != modeOPA {
		problems = append(problems, "--mode must be authzen or opa")
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		problems = append(problems, "--concurrency must be 1..1024")
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		problems = append(problems, "--duration must be in (0, 1h]")
	}
	if c.Warmup < 0 || c.Warmup > 10*time.Minute {
		problems = append(problems, "--warmup must be in [0, 10m]")
	}
	if c.MaxRequests < 1 {
		problems = append(problems, "--max-requests must be positive")
	}
	if c.Batch < 0 || c.Batch > 100 {
		problems = append(problems, "--batch must be 0 (single endpoint) or 1..100")
	}
	if c.Timeout <= 0 {
		problems = append(problems, "--timeout must be positive")
	}
	if c.RequestsFile == "" {
		problems = append(problems, "--requests-file is required")
	}
	if len(problems) > 0 {
		return usagef("load: %s", strings.Join(problems, "; "))
	}
	return nil
}

// loadResult is what a run reports (the --json output that report reads).
type loadResult struct {
	Label       string  `json:"label"`
	Tag         string  `json:"tag,omitempty"`
	Mode        string  `json:"mode"`
	URL         string  `json:"url"`
	Batch       int     `json:"batch"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"` // the measured window
	WarmupS     float64 `json:"warmup_s"`
	Bodies      int     `json:"bodies"` // distinct bodies rotated through
	StartedAt   string  `json:"started_at"`

	Requests  int64 `json:"requests"`  // successful, in the window
	Decisions int64 `json:"decisions"` // requests × max(1, batch)
	Errors    int64 `json:"errors"`    // failed, in the window
	// ExcludedRequests started in the warm-up or finished after the
	// window: sent, but not counted.
	ExcludedRequests int64   `json:"excluded_requests"`
	RequestsPerS     float64 `json:"requests_per_s"`
	DecisionsPerS    float64 `json:"decisions_per_s"`
	CappedByCount    bool    `json:"capped_by_count"`

	Latency      latencySummary   `json:"latency"`
	StatusCounts map[string]int64 `json:"status_counts,omitempty"`
	ErrorSample  string           `json:"error_sample,omitempty"`

	// Machine context: this machine runs the servers and the load
	// generator side by side, so CPU is shared.
	CPUs             int     `json:"cpus"`
	LoadAvgStart     string  `json:"loadavg_start,omitempty"`
	LoadAvgEnd       string  `json:"loadavg_end,omitempty"`
	ClientCPUS       float64 `json:"client_cpu_s"`           // this process, user+system, measured window
	ServerCPUS       float64 `json:"server_cpu_s,omitempty"` // --server-pid, user+system, measured window
	DecisionsPerCPUS float64 `json:"decisions_per_server_cpu_s,omitempty"`
	// MachineBusyCPUS is all CPUs' busy time in the window (/proc/stat);
	// OtherCPUS what neither the server nor the load generator used:
	// other processes on the machine, the kernel's own work.
	MachineBusyCPUS float64 `json:"machine_busy_cpu_s,omitempty"`
	OtherCPUS       float64 `json:"other_cpu_s,omitempty"`
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("load", stderr)
	var c loadConfig
	var files tlsFiles
	files.register(fs)
	fs.StringVar(&c.URL, "url", "", "base URL of the server (https://127.0.0.1:PORT)")
	fs.StringVar(&c.Mode, "mode", modeAuthZEN, "authzen (POST /access/v1/evaluation[s]) or opa (POST /v1/data/spine/authzen/...)")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "closed-loop workers (each with its own keep-alive connection)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time, after the warm-up")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "time before measuring (connections, caches, JIT of the policy); excluded")
	fs.Int64Var(&c.MaxRequests, "max-requests", 5_000_000, "stop after this many requests in all (warm-up included)")
	fs.IntVar(&c.Batch, "batch", 0, "0: the single endpoint; K: the batch endpoint with K evaluations per request")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&c.RequestsFile, "requests-file", "", "JSON Lines of AuthZEN evaluation requests")
	fs.StringVar(&c.Label, "label", "", "name of the server in reports (default: the mode)")
	fs.StringVar(&c.Tag, "tag", "", "free-form grouping for report (run.sh: compare, rels=N)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "process ID of the server, to report the CPU time it used in the window")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Label == "" {
		c.Label = c.Mode
	}
	base, err := checkLoopback(c.URL)
	if err != nil {
		return err
	}
	path, err := endpointPath(c.Mode, c.Batch)
	if err != nil {
		return err
	}
	reqs, err := readRequests(c.RequestsFile)
	if err != nil {
		return err
	}
	bodies, err := buildBodies(reqs, c.Mode, c.Batch)
	if err != nil {
		return err
	}
	tc, err := files.config()
	if err != nil {
		return err
	}
	client := newClient(tc, c.Concurrency, c.Timeout)
	defer client.CloseIdleConnections()

	res, err := loadRun(ctx, client, strings.TrimSuffix(base.String(), "/")+path, bodies, c)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printResult(stdout, res)
	return nil
}

// worker state; latencies are recorded for every successful request in
// the window (no sampling), so the percentiles are exact.
type workerStats struct {
	lat      []time.Duration
	errors   int64
	warm     int64
	status   map[int]int64
	errMsg   string
	lastDone time.Time
}

// loadRun drives the closed loop: Concurrency workers each send a request,
// wait for the whole answer, and send the next, until the window ends or
// MaxRequests have been sent. A request counts when it started after the
// warm-up and finished by the end of the window; the window is exactly
// Duration unless the request cap stopped the run first.
func loadRun(ctx context.Context, client *http.Client, endpoint string, bodies [][]byte, c loadConfig) (*loadResult, error) {
	res := &loadResult{
		Label: c.Label, Tag: c.Tag, Mode: c.Mode, URL: endpoint, Batch: c.Batch,
		Concurrency: c.Concurrency, WarmupS: c.Warmup.Seconds(), Bodies: len(bodies),
		CPUs: runtime.NumCPU(), LoadAvgStart: loadAvg(),
	}
	// A first request to fail fast on a wrong URL, certificate or policy.
	if err := probe(ctx, client, endpoint, bodies[0], c); err != nil {
		return nil, err
	}
	rot := newRotation(len(bodies))
	var sent atomic.Int64
	var capped atomic.Bool

	start := time.Now()
	res.StartedAt = start.UTC().Format(time.RFC3339)
	warmEnd := start.Add(c.Warmup)
	end := warmEnd.Add(c.Duration)
	// The CPU clocks are read when the window opens and when it closes
	// (not when the last answers in flight arrive, which are not counted).
	var open, closed cpuClocks
	var openOnce, closeOnce sync.Once
	markOpen := func() { openOnce.Do(func() { open = readClocks(c.ServerPID) }) }
	markClose := func() { closeOnce.Do(func() { closed = readClocks(c.ServerPID) }) }
	openTimer := time.AfterFunc(c.Warmup, markOpen)
	defer openTimer.Stop()
	closeTimer := time.AfterFunc(c.Warmup+c.Duration, markClose)
	defer closeTimer.Stop()

	stats := make([]*workerStats, c.Concurrency)
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		st := &workerStats{lat: make([]time.Duration, 0, 8192), status: map[int]int64{}}
		stats[w] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				if sent.Add(1) > c.MaxRequests {
					capped.Store(true)
					return
				}
				body := bodies[rot.Next()]
				t0 := time.Now()
				status, err := send(ctx, client, endpoint, body, &buf)
				if err == nil {
					err = checkAnswer(c.Mode, c.Batch, status, buf.Bytes())
				}
				done := time.Now()
				if t0.Before(warmEnd) || done.After(end) {
					st.warm++
					continue
				}
				st.status[status]++
				if err != nil {
					st.errors++
					if st.errMsg == "" {
						st.errMsg = err.Error()
					}
					continue
				}
				st.lat = append(st.lat, done.Sub(t0))
				st.lastDone = done
			}
		}()
	}
	wg.Wait()
	markOpen()
	markClose() // at once if the run stopped before the end of the window
	closeTimer.Stop()
	windowEnd := end
	if capped.Load() || ctx.Err() != nil {
		windowEnd = warmEnd
		for _, st := range stats {
			if st.lastDone.After(windowEnd) {
				windowEnd = st.lastDone
			}
		}
	}
	window := windowEnd.Sub(warmEnd)
	res.DurationS = window.Seconds()
	res.CappedByCount = capped.Load()
	res.LoadAvgEnd = loadAvg()
	res.ClientCPUS = closed.client - open.client

	parts := make([][]time.Duration, len(stats))
	res.StatusCounts = map[string]int64{}
	for i, st := range stats {
		parts[i] = st.lat
		res.Errors += st.errors
		res.ExcludedRequests += st.warm
		for code, n := range st.status {
			res.StatusCounts[statusKey(code)] += n
		}
		if res.ErrorSample == "" {
			res.ErrorSample = st.errMsg
		}
	}
	lat := merge(parts)
	res.Requests = int64(len(lat))
	res.Decisions = res.Requests * int64(max(1, c.Batch))
	if window > 0 {
		res.RequestsPerS = float64(res.Requests) / window.Seconds()
		res.DecisionsPerS = float64(res.Decisions) / window.Seconds()
	}
	res.Latency = summarize(lat)
	if open.serverOK && closed.serverOK {
		res.ServerCPUS = closed.server - open.server
		if res.ServerCPUS > 0 {
			res.DecisionsPerCPUS = float64(res.Decisions) / res.ServerCPUS
		}
	}
	if open.machineOK && closed.machineOK {
		res.MachineBusyCPUS = closed.machine - open.machine
		if open.serverOK && closed.serverOK {
			res.OtherCPUS = max(0, res.MachineBusyCPUS-res.ServerCPUS-res.ClientCPUS)
		}
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("load run interrupted: %w", ctx.Err())
	}
	return res, nil
}

func statusKey(code int) string {
	if code == 0 {
		return "transport_error"
	}
	return strconv.Itoa(code)
}

// send posts body and reads the whole answer into buf.
func send(ctx context.Context, client *http.Client, endpoint string, body []byte, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

// checkAnswer is a cheap check that the server answered a decision (not
// an error page, an undefined OPA document or a truncated body); compare
// checks the decisions themselves.
func checkAnswer(mode string, batch, status int, body []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", status, body)
	}
	var want string
	switch {
	case mode == modeOPA:
		want = `"result"` // an undefined decision has no result
	case batch == 0:
		want = `"decision"`
	default:
		want = `"evaluations"`
	}
	if !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("answer without %s: %.200s", want, body)
	}
	if n := len(body); n == 0 || body[n-1] != '\n' && body[n-1] != '}' {
		return fmt.Errorf("truncated answer")
	}
	return nil
}

// probe sends one request and checks its answer fully.
func probe(ctx context.Context, client *http.Client, endpoint string, body []byte, c loadConfig) error {
	var buf bytes.Buffer
	status, err := send(ctx, client, endpoint, body, &buf)
	if err != nil {
		return fmt.Errorf("first request to %s: %w", endpoint, err)
	}
	if err := checkAnswer(c.Mode, c.Batch, status, buf.Bytes()); err != nil {
		return fmt.Errorf("first request to %s: %w", endpoint, err)
	}
	if !json.Valid(buf.Bytes()) {
		return fmt.Errorf("first request to %s: answer is not JSON", endpoint)
	}
	return nil
}

// cpuClocks are CPU times (seconds) read at one instant.
type cpuClocks struct {
	server, client, machine float64
	serverOK, machineOK     bool
}

func readClocks(serverPID int) cpuClocks {
	var c cpuClocks
	var err error
	if serverPID > 0 {
		c.server, err = pidCPU(serverPID)
		c.serverOK = err == nil
	}
	c.client = processCPU()
	c.machine, err = machineBusyCPU()
	c.machineOK = err == nil
	return c
}

// processCPU is this process's user+system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// pidCPU reads another process's user+system CPU time (all threads) from
// /proc/PID/stat, fields 14 and 15, in clock ticks of USER_HZ, which
// Linux fixes at 100 for user space.
func pidCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(string(b))
}

func parseProcStatCPU(stat string) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	const userHZ = 100
	return float64(ut+st) / userHZ, nil
}

// machineBusyCPU is the busy time of all CPUs since boot, in seconds,
// from the first line of /proc/stat (user nice system idle iowait irq
// softirq steal ..., in USER_HZ ticks): everything but idle and iowait.
func machineBusyCPU() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatBusy(string(b))
}

func parseProcStatBusy(stat string) (float64, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat format")
	}
	var busy uint64
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/stat format")
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	const userHZ = 100
	return float64(busy) / userHZ, nil
}

// loadAvg is the first three fields of /proc/loadavg, if readable.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func printResult(w io.Writer, r *loadResult) {
	kind := "single"
	if r.Batch > 0 {
		kind = fmt.Sprintf("batch of %d", r.Batch)
	}
	fmt.Fprintf(w, "%s (%s, %s) %s\n", r.Label, r.Mode, kind, r.URL)
	fmt.Fprintf(w, "  concurrency %d, window %.1fs after %.1fs warm-up, %d distinct bodies\n",
		r.Concurrency, r.DurationS, r.WarmupS, r.Bodies)
	fmt.Fprintf(w, "  requests %d (%.0f/s), decisions %d (%.0f/s), errors %d\n",
		r.Requests, r.RequestsPerS, r.Decisions, r.DecisionsPerS, r.Errors)
	l := r.Latency
	fmt.Fprintf(w, "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f)\n",
		l.P50MS, l.P90MS, l.P99MS, l.P999MS, l.MaxMS, l.MeanMS)
	if r.ServerCPUS > 0 {
		fmt.Fprintf(w, "  server CPU %.2fs in window (%.0f decisions per CPU-second)\n", r.ServerCPUS, r.DecisionsPerCPUS)
	}
	fmt.Fprintf(w, "  load generator CPU %.2fs, other processes %.2fs; %d CPUs; loadavg %s -> %s\n",
		r.ClientCPUS, r.OtherCPUS, r.CPUs, r.LoadAvgStart, r.LoadAvgEnd)
	if r.ErrorSample != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.ErrorSample)
	}
}
