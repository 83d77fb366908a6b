package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Errors of evaluation. Each means the caller must deny.
var (
	// ErrUndefined: the query produced no value (the policy has no answer
	// for this input, or the rule does not exist).
	ErrUndefined = errors.New("policy: decision undefined")
	// ErrUnknownQuery: the query name is not in Config.Queries.
	ErrUnknownQuery = errors.New("policy: unknown query")
	// ErrAmbiguous: the query produced more than one value.
	ErrAmbiguous = errors.New("policy: decision ambiguous")
)

// DefaultReload is the poll interval of a watched source.
const DefaultReload = 2 * time.Second

// Config configures an Engine.
type Config struct {
	// Source is where the policy set comes from.
	Source Source
	// Queries names the queries callers evaluate, e.g. "access" →
	// "data.spine.access.decision". Each is prepared once per load.
	Queries map[string]string
	// RunTests runs the *_test.rego files of the set on every load; a set
	// whose tests fail (or do not compile) is refused.
	RunTests bool
	// Data is merged over the set's data documents (objects merge key by
	// key, anything else replaces): deployment overrides of
	// data.spine.config. Rego tests see the set's own data, not these.
	Data map[string]any
	// Now is the clock: load times and the time builtins (time.now_ns)
	// see. Defaults to time.Now.
	Now func() time.Time
	// Logger receives load and reload outcomes, never inputs. Defaults to
	// discarding.
	Logger *slog.Logger
	// Reload is the poll interval of a watched source (DefaultReload when
	// zero).
	Reload time.Duration
}

func (c *Config) validate() error {
	var errs []error
	if c.Source == nil {
		errs = append(errs, errors.New("source: required"))
	}
	if len(c.Queries) == 0 {
		errs = append(errs, errors.New("queries: at least one required"))
	}
	for name, q := range c.Queries {
		if name == "" {
			errs = append(errs, errors.New("queries: empty name"))
		}
		if _, err := ast.ParseBody(q); err != nil {
			errs = append(errs, fmt.Errorf("queries[%s]: %w", name, err))
		}
	}
	if c.Reload < 0 {
		errs = append(errs, errors.New("reload: must not be negative"))
	}
	if _, err := json.Marshal(c.Data); err != nil {
		errs = append(errs, fmt.Errorf("data: %w", err))
	}
	return errors.Join(errs...)
}

// Result is the outcome of one evaluation.
type Result struct {
	// Value is the query's value as Go values (objects are map[string]any,
	// arrays []any, numbers json.Number).
	Value any
	// Revision names the policy set that produced it.
	Revision string
}

// Status describes the loaded policy set, for a health endpoint.
type Status struct {
	Revision    string
	LoadedAt    time.Time
	LastError   string // the most recent failed load, kept after recovery
	LastErrorAt time.Time
	TestsPassed int // Rego tests that passed when Revision was loaded
	// Degraded: the most recent load failed, so the source holds
	// something other than what is being enforced.
	Degraded bool
}

// compiled is one loaded policy set; it never changes once published.
type compiled struct {
	revision    string
	queries     map[string]rego.PreparedEvalQuery
	testsPassed int
}

// Engine evaluates the queries of the current policy set. It is safe for
// concurrent use; a reload swaps the whole set at once, and evaluations
// already running finish on the set they started with.
type Engine struct {
	src      Source
	queries  map[string]string
	runTests bool
	data     []byte // Config.Data as JSON, decoded afresh for every load
	now      func() time.Time
	log      *slog.Logger
	caps     *ast.Capabilities

	cur atomic.Pointer[compiled]

	reloadMu  sync.Mutex // serialises loads
	lastTried string     // guarded by reloadMu: revision (or read error) of the last snapshot tried

	mu        sync.Mutex
	loadedAt  time.Time // guarded by mu
	lastErr   string    // guarded by mu
	lastErrAt time.Time // guarded by mu
	degraded  bool      // guarded by mu

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// New loads, compiles and (with RunTests) tests the policy set, prepares
// every query and, for a watched source, starts polling it. It fails if
// the first load fails: there is no policy to fall back on.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("policy: config: %w", err)
	}
	data, _ := json.Marshal(cfg.Data) // checked by validate
	e := &Engine{
		src:      cfg.Source,
		queries:  make(map[string]string, len(cfg.Queries)),
		runTests: cfg.RunTests,
		data:     data,
		now:      cfg.Now,
		log:      cfg.Logger,
		caps:     capabilities(),
		done:     make(chan struct{}),
	}
	for k, v := range cfg.Queries {
		e.queries[k] = v
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if err := e.check(ctx, true); err != nil {
		return nil, err
	}
	interval := cfg.Reload
	if interval == 0 {
		interval = DefaultReload
	}
	if !e.src.Watched() {
		close(e.done)
		e.stop = func() {}
		return e, nil
	}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = stop
	go e.poll(pctx, interval)
	return e, nil
}

// capabilities are OPA's built-ins without those that reach the network or
// the process environment: a policy decides from its input and data alone.
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	denied := map[string]bool{"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true}
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !denied[b.Name] {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	caps.AllowNet = []string{}
	return caps
}

// Eval evaluates the named query against input on the current policy set.
// input is an ast.Value, or Go values that encoding/json would encode
// (converted with ast.InterfaceToValue, which falls back to a JSON round
// trip only for types it does not know). Any error, including an
// undefined result, means the caller must deny.
func (e *Engine) Eval(ctx context.Context, query string, input any) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("policy: eval %s: %w", query, err)
	}
	c := e.cur.Load()
	pq, ok := c.queries[query]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownQuery, query)
	}
	// rego.EvalInput would send every input through a JSON round trip
	// before the same conversion.
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, fmt.Errorf("policy: eval %s: input: %w", query, err)
	}
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(v), rego.EvalTime(e.now()))
	if err != nil {
		return nil, fmt.Errorf("policy: eval %s at revision %s: %w", query, c.revision, err)
	}
	switch {
	case len(rs) == 0 || len(rs[0].Expressions) == 0:
		return nil, fmt.Errorf("%w: %s at revision %s", ErrUndefined, query, c.revision)
	case len(rs) > 1 || len(rs[0].Expressions) > 1:
		return nil, fmt.Errorf("%w: %s at revision %s gave %d results", ErrAmbiguous, query, c.revision, len(rs))
	}
	return &Result{Value: rs[0].Expressions[0].Value, Revision: c.revision}, nil
}

// Revision names the loaded policy set: the short hex SHA-256 of its file
// names and contents.
func (e *Engine) Revision() string { return e.cur.Load().revision }

// Reload re-reads the source now (for SIGHUP). If the set is unchanged and
// healthy it does nothing. A set that fails to read, compile or pass its
// tests is refused: the last good set stays in force, and the error is
// logged, recorded in Status and returned.
func (e *Engine) Reload(ctx context.Context) error { return e.check(ctx, true) }

// Status reports the loaded revision and the last load error.
func (e *Engine) Status() Status {
	c := e.cur.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{
		Revision:    c.revision,
		LoadedAt:    e.loadedAt,
		LastError:   e.lastErr,
		LastErrorAt: e.lastErrAt,
		TestsPassed: c.testsPassed,
		Degraded:    e.degraded,
	}
}

// Close stops watching the source. Evaluation keeps working on the last
// loaded set.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		e.stop()
		<-e.done
	})
}

func (e *Engine) poll(ctx context.Context, interval time.Duration) {
	defer close(e.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = e.check(ctx, false) // recorded and logged by check
		}
	}
}

// check reads the source and loads it if it differs from the loaded set
// (or, unless force, from the last set tried, so that a broken set is
// reported once rather than on every poll).
func (e *Engine) check(ctx context.Context, force bool) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	snap, err := e.read()
	key := "error:"
	if err != nil {
		key += err.Error()
	} else {
		key = snap.revision
	}
	if !force && key == e.lastTried {
		return nil
	}
	e.lastTried = key
	if err != nil {
		return e.fail(ctx, "", fmt.Errorf("policy: read %s: %w", e.src, err))
	}
	cur := e.cur.Load()
	e.mu.Lock()
	unchanged := cur != nil && cur.revision == snap.revision && !e.degraded
	e.mu.Unlock()
	if unchanged {
		return nil
	}
	c, err := e.build(ctx, snap)
	if err != nil && ctx.Err() != nil {
		// Stopped (Close, or the caller gave up): not a verdict on the
		// policy, so not recorded; the next check tries again.
		e.lastTried = ""
		return fmt.Errorf("policy: load %s: %w", snap.revision, err)
	}
	if err != nil {
		return e.fail(ctx, snap.revision, fmt.Errorf("policy: revision %s from %s refused: %w", snap.revision, e.src, err))
	}
	e.cur.Store(c)
	e.mu.Lock()
	e.loadedAt = e.now()
	e.degraded = false
	e.mu.Unlock()
	attrs := []any{"revision", c.revision, "source", e.src.String(), "files", len(snap.files), "tests_passed", c.testsPassed}
	if cur != nil {
		attrs = append(attrs, "previous", cur.revision)
	}
	e.log.InfoContext(ctx, "policy: loaded", attrs...)
	return nil
}

func (e *Engine) read() (*snapshot, error) {
	fsys, err := e.src.FS()
	if err != nil {
		return nil, err
	}
	return readSnapshot(fsys)
}

// fail records a refused load. Before the first load there is nothing to
// fall back on, and New returns the error.
func (e *Engine) fail(ctx context.Context, revision string, err error) error {
	if e.cur.Load() == nil {
		return err
	}
	e.mu.Lock()
	e.lastErr = err.Error()
	e.lastErrAt = e.now()
	e.degraded = true
	e.mu.Unlock()
	e.log.ErrorContext(ctx, "policy: load refused, keeping the last good policy",
		"revision", revision, "enforced", e.cur.Load().revision, "err", err)
	return err
}
