package cardagent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/pcsc"
	"github.com/carespine/spineauth/sessions"
)

// CardToken is what the agent needs from the token of an inserted card;
// *pkcs11.Token is the real one.
type CardToken interface {
	AuthCertificate(ctx context.Context) (*x509.Certificate, error)
	Login(ctx context.Context, p pkcs11.PIN) error
	Signer(ctx context.Context) (crypto.Signer, error)
	Info() pkcs11.TokenInfo
	Close() error
}

// TokenSource opens the token of the card in a PC/SC reader.
type TokenSource interface {
	OpenReader(ctx context.Context, reader string) (CardToken, error)
}

var _ CardToken = (*pkcs11.Token)(nil)

// ModuleTokens finds a reader's token in a PKCS#11 module by its slot
// description (OpenSC names each slot after its reader), waiting up to Wait
// for the library to notice a card just inserted.
type ModuleTokens struct {
	Module *pkcs11.Module
	Wait   time.Duration
}

// OpenReader implements TokenSource.
func (m ModuleTokens) OpenReader(ctx context.Context, reader string) (CardToken, error) {
	deadline := time.Now().Add(m.Wait)
	for {
		tok, err := m.Module.OpenToken(ctx, pkcs11.Selector{Reader: reader})
		if err == nil {
			return tok, nil
		}
		if !errors.Is(err, pkcs11.ErrTokenNotPresent) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Options are the agent's settings (from DaemonConfig).
type Options struct {
	Workstation string
	Refresh     time.Duration // longest time between session checks
	RetryMin    time.Duration // back-off bounds when authd is unreachable
	RetryMax    time.Duration
	// PINTries is how many wrong PINs lock a card (3 on the spine's
	// cards); 0 when unknown.
	PINTries int
	// LogoutTimeout bounds how long, after a removal, the agent keeps
	// trying to end the session at authd (default 1 minute).
	LogoutTimeout time.Duration
}

// Agent holds one session per card in a reader: it logs in when a card is
// inserted and ends the session when it is removed. Create it with
// NewAgent and feed it reader events with Run.
type Agent struct {
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	client  *Client
	tokens  TokenSource
	prompt  Prompter
	metrics *Metrics
	Board   *Board // what local applications see

	// stopping ends logouts still retrying when the agent stops: it is
	// cancelled a grace period after Run's end.
	stopping context.Context
	stopNow  context.CancelFunc

	wg    sync.WaitGroup
	mu    sync.Mutex
	cards map[string]*cardRun // guarded by mu; by reader
}

// Deps are the agent's live dependencies.
type Deps struct {
	Logger   *slog.Logger
	Now      func() time.Time
	Client   *Client
	Tokens   TokenSource
	Prompter Prompter
	Metrics  *Metrics // may be nil
}

// NewAgent builds an agent.
func NewAgent(o Options, d Deps) *Agent {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if o.LogoutTimeout == 0 {
		o.LogoutTimeout = time.Minute
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Minute
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 250 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	stopping, stopNow := context.WithCancel(context.Background())
	return &Agent{opt: o, log: d.Logger, now: d.Now, client: d.Client, tokens: d.Tokens, prompt: d.Prompter,
		metrics: d.Metrics, Board: NewBoard(d.Now), cards: map[string]*cardRun{}, stopping: stopping, stopNow: stopNow}
}

// cardRun is the work for one inserted card.
type cardRun struct {
	cancel context.CancelCauseFunc // with a *removal, or errShutdown
	done   chan struct{}
}

// removal is the cause of a card's context ending when the card left.
type removal struct{ at time.Time }

func (r *removal) Error() string { return "card removed" }

// errShutdown is the cause when the agent stops.
var errShutdown = errors.New("agent stopping")

// Run follows reader events until ctx ends or events closes, then ends
// every session (as if every card were removed) and returns.
func (a *Agent) Run(ctx context.Context, events <-chan pcsc.Event) error {
	defer a.stopAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			a.handle(ctx, e)
		}
	}
}

func (a *Agent) handle(ctx context.Context, e pcsc.Event) {
	a.metrics.cardEvents.WithLabelValues(e.Kind.String()).Inc()
	switch e.Kind {
	case pcsc.CardInserted:
		a.log.Info("card inserted", "reader", e.Reader)
		a.start(ctx, e.Reader)
	case pcsc.CardRemoved, pcsc.ReaderRemoved:
		a.log.Info("card removed", "reader", e.Reader, "event", e.Kind.String())
		a.stop(e.Reader)
	case pcsc.ServiceDown:
		a.log.Warn("pcscd unreachable: no card can be seen", "err", e.Err)
	case pcsc.ServiceUp:
		a.log.Info("connected to pcscd")
	}
}

// start begins the work for a card in reader, after any earlier card's
// work there has finished.
func (a *Agent) start(ctx context.Context, reader string) {
	a.mu.Lock()
	prev := a.cards[reader]
	cctx, cancel := context.WithCancelCause(ctx)
	run := &cardRun{cancel: cancel, done: make(chan struct{})}
	a.cards[reader] = run
	a.mu.Unlock()
	if prev != nil {
		prev.cancel(&removal{at: a.now()})
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(run.done)
		defer cancel(nil)
		if prev != nil {
			<-prev.done
		}
		a.serveCard(cctx, reader)
	}()
}

// stop ends the work for the card in reader; its session is ended at
// authd by serveCard as it returns.
func (a *Agent) stop(reader string) {
	a.mu.Lock()
	run := a.cards[reader]
	delete(a.cards, reader)
	a.mu.Unlock()
	if run != nil {
		run.cancel(&removal{at: a.now()})
	}
}

func (a *Agent) stopAll() {
	a.mu.Lock()
	for r, run := range a.cards {
		run.cancel(errShutdown)
		delete(a.cards, r)
	}
	a.mu.Unlock()
	// Logouts get a grace period; one that authd does not answer by then
	// is given up (the session ends at authd's idle time-out).
	t := time.AfterFunc(shutdownGrace, a.stopNow)
	a.wg.Wait()
	t.Stop()
	a.stopNow()
}

// shutdownGrace is how long a stopping agent keeps trying to end its
// sessions at authd.
const shutdownGrace = 5 * time.Second

// backoff is an exponential back-off with full jitter in [d/2, d).
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(2*b.cur, b.max)
	return d
}

func (b *backoff) reset() { b.cur = 0 }

// wait sleeps d unless ctx ends first.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// held is a session the agent holds for a card.
type held struct {
	token sessions.Token
	view  SessionView
}
