package certverify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// This file is the network side of CRL revocation checking: downloading
// CRLs from the http(s) distribution points named in certificates, caching
// them until their nextUpdate and refreshing them in the background. It
// parses but never trusts: signatures, scope and time rules (RFC 5280
// section 6.3) are checked by the caller on every use.

// Defaults for fetchConfig.
const (
	defaultFetchTimeout  = 5 * time.Second
	defaultCRLMaxBytes   = 20 << 20 // 20 MiB
	defaultRefreshTick   = 30 * time.Second
	defaultRefreshFloor  = time.Minute
	maxFetchRedirects    = 3
	refreshAtFraction    = 0.9 // refresh at 90% of thisUpdate..nextUpdate
	fetchUserAgent       = "spineauth-certverify/1"
	crlAcceptContentType = "application/pkix-crl, application/x-pkcs7-crl;q=0.5, */*;q=0.1"
)

// Errors a fetch can fail with. They are wrapped with the URL and cause;
// match them with errors.Is.
var (
	errFetchScheme     = errors.New("only http and https distribution points are fetched")
	errFetchHTTPStatus = errors.New("unexpected HTTP status")
	errFetchTooLarge   = errors.New("response exceeds the size limit")
	errFetchParse      = errors.New("response is not a CRL")
	errFetchStale      = errors.New("CRL is past its nextUpdate")
	errFetchClosed     = errors.New("fetcher is closed")
)

// fetchConfig configures downloads for both CRLs and OCSP. The zero value
// is usable: every field has a default.
type fetchConfig struct {
	Client   *http.Client     // nil → a client with Timeout and limited redirects
	Timeout  time.Duration    // per download, default 5s
	MaxBytes int64            // response size cap; default 20 MiB for CRLs, 1 MiB for OCSP
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default discard

	// RefreshTick is how often the background refresher looks for CRLs
	// due for refresh (default 30s). Only CRL fetching uses it.
	RefreshTick time.Duration
	// RefreshFloor is the least time between two downloads of one URL by
	// the background refresher, and the retry delay after a failed
	// refresh (default 1 minute). Only CRL fetching uses it.
	RefreshFloor time.Duration
}

// withDefaults returns cfg with zero fields filled in; maxBytes is the
// size cap to use when cfg.MaxBytes is zero.
func (cfg fetchConfig) withDefaults(maxBytes int64) fetchConfig {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultFetchTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = maxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: checkFetchRedirect,
		}
	}
	if cfg.RefreshTick <= 0 {
		cfg.RefreshTick = defaultRefreshTick
	}
	if cfg.RefreshFloor <= 0 {
		cfg.RefreshFloor = defaultRefreshFloor
	}
	return cfg
}

// checkFetchRedirect follows at most a few redirects, and only to http or
// https URLs.
func checkFetchRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxFetchRedirects {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	if err := checkFetchURL(req.URL); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// checkFetchURL accepts absolute http and https URLs with a host.
func checkFetchURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w (scheme %q)", errFetchScheme, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("%w (no host)", errFetchScheme)
	}
	return nil
}

// httpExchange performs one bounded HTTP exchange: body nil means GET,
// otherwise POST with contentType.
// It enforces the timeout (through ctx), requires status 200 and reads at
// most maxBytes of the response.
func httpExchange(ctx context.Context, client *http.Client, rawURL string, body []byte, contentType, accept string, maxBytes int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetchScheme, err)
	}
	if err := checkFetchURL(u); err != nil {
		return nil, err
	}
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", fetchUserAgent)
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%w %d", errFetchHTTPStatus, resp.StatusCode)
	}
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("%w: Content-Length %d > %d bytes", errFetchTooLarge, resp.ContentLength, maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", errFetchTooLarge, maxBytes)
	}
	return data, nil
}

// parseCRLBody parses a downloaded CRL: DER, or PEM ("X509 CRL") when the
// body looks like PEM. It does not check the signature.
func parseCRLBody(data []byte) (*x509.RevocationList, error) {
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, _ := pem.Decode(trimmed)
		if block == nil {
			return nil, fmt.Errorf("%w: bad PEM", errFetchParse)
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("%w: PEM block %q", errFetchParse, block.Type)
		}
		data = block.Bytes
	}
	crl, err := parseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetchParse, err)
	}
	return crl, nil
}

// crlFetcher downloads CRLs from http/https distribution points and caches
// each parsed CRL until its nextUpdate. A background goroutine refreshes
// cached CRLs that are in use at 90% of their thisUpdate..nextUpdate
// interval (never sooner than RefreshFloor after the last download), so
// logins rarely wait for a download. Concurrent requests for one URL share
// one download.
//
// A CRL past its nextUpdate is never served: it is downloaded again, and if
// that fails the caller gets an error. A CRL without nextUpdate is returned
// to its caller but not cached. The fetcher does not verify signatures.
// Returned CRLs are shared between callers and must not be modified.
type crlFetcher struct {
	cfg       fetchConfig
	ownClient bool // cfg.Client was made here and may be closed by Close
	log       *slog.Logger
	ctx       context.Context // cancelled by Close; parent of every download
	cancel    context.CancelFunc
	stop      chan struct{} // closed by Close to stop the refresher
	wg        sync.WaitGroup

	mu       sync.Mutex
	closed   bool                  // guarded by mu
	cache    map[string]*crlEntry  // guarded by mu
	inflight map[string]*crlFlight // guarded by mu
}

// crlEntry is one cached CRL.
type crlEntry struct {
	crl       *x509.RevocationList
	fetchedAt time.Time
	refreshAt time.Time // when the background refresher should download again
	used      bool      // served to a caller since it was downloaded
}

// crlFlight is one download in progress; done is closed when crl/err are set.
type crlFlight struct {
	done    chan struct{}
	waiters int // callers waiting on this flight; guarded by crlFetcher.mu
	crl     *x509.RevocationList
	err     error
}

// newCRLFetcher returns a fetcher and starts its background refresher;
// call Close to stop it.
func newCRLFetcher(cfg fetchConfig) *crlFetcher {
	own := cfg.Client == nil
	cfg = cfg.withDefaults(defaultCRLMaxBytes)
	ctx, cancel := context.WithCancel(context.Background())
	f := &crlFetcher{
		cfg:       cfg,
		ownClient: own,
		log:       cfg.Logger.With("component", "crl-fetch"),
		ctx:       ctx,
		cancel:    cancel,
		stop:      make(chan struct{}),
		cache:     make(map[string]*crlEntry),
		inflight:  make(map[string]*crlFlight),
	}
	f.wg.Add(1)
	go f.refreshLoop()
	return f
}

// Close stops the background refresher and cancels downloads in progress.
// It is safe to call more than once; fetch fails after Close.
func (f *crlFetcher) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	f.mu.Unlock()
	close(f.stop)
	f.cancel()
	f.wg.Wait()
	if f.ownClient {
		f.cfg.Client.CloseIdleConnections()
	}
}

// fetch returns the current CRL published at rawURL: from the cache when
// it is not past its nextUpdate, otherwise downloaded (sharing a download
// already in progress). Waiting ends early when ctx is done; the download
// itself continues, bounded by the configured timeout, for other callers.
func (f *crlFetcher) fetch(ctx context.Context, rawURL string) (*x509.RevocationList, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("CRL distribution point %q: %w: %v", rawURL, errFetchScheme, err)
	}
	if err := checkFetchURL(u); err != nil {
		return nil, fmt.Errorf("CRL distribution point %q: %w", rawURL, err)
	}
	now := f.cfg.Now()
	f.mu.Lock()
	if e, ok := f.cache[rawURL]; ok {
		if now.Before(e.crl.NextUpdate) {
			e.used = true
			f.mu.Unlock()
			return e.crl, nil
		}
		delete(f.cache, rawURL) // stale: never served
	}
	fl, err := f.startLocked(rawURL)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	fl.waiters++
	f.mu.Unlock()

	select {
	case <-fl.done:
	case <-ctx.Done():
		f.mu.Lock()
		fl.waiters--
		f.mu.Unlock()
		return nil, fmt.Errorf("CRL %s: %w", rawURL, ctx.Err())
	}
	if fl.err != nil {
		return nil, fl.err
	}
	f.mu.Lock()
	if e, ok := f.cache[rawURL]; ok && e.crl == fl.crl {
		e.used = true
	}
	f.mu.Unlock()
	return fl.crl, nil
}

// startLocked returns the download of rawURL in progress, starting one if
// there is none. f.mu must be held.
func (f *crlFetcher) startLocked(rawURL string) (*crlFlight, error) {
	if f.closed {
		return nil, fmt.Errorf("CRL %s: %w", rawURL, errFetchClosed)
	}
	if fl, ok := f.inflight[rawURL]; ok {
		return fl, nil
	}
	fl := &crlFlight{done: make(chan struct{})}
	f.inflight[rawURL] = fl
	f.wg.Add(1) // before Close's Wait: Close sets closed under mu first
	go f.run(rawURL, fl)
	return fl, nil
}

// run performs one download, stores a usable result in the cache and
// releases the waiters.
func (f *crlFetcher) run(rawURL string, fl *crlFlight) {
	defer f.wg.Done()
	start := f.cfg.Now()
	crl, err := f.download(rawURL)
	now := f.cfg.Now()

	f.mu.Lock()
	delete(f.inflight, rawURL)
	if err == nil {
		crl = f.storeLocked(rawURL, crl, now)
	}
	fl.crl, fl.err = crl, err
	f.mu.Unlock()
	close(fl.done)

	if err != nil {
		f.log.Warn("CRL download failed", "url", rawURL, "err", err)
		return
	}
	f.log.Debug("CRL downloaded", "url", rawURL, "this_update", crl.ThisUpdate,
		"next_update", crl.NextUpdate, "entries", len(crl.RevokedCertificateEntries),
		"took", now.Sub(start))
}

// download fetches and parses one CRL and refuses one that is already
// past its nextUpdate.
func (f *crlFetcher) download(rawURL string) (*x509.RevocationList, error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout)
	defer cancel()
	data, err := httpExchange(ctx, f.cfg.Client, rawURL, nil, "", crlAcceptContentType, f.cfg.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", rawURL, err)
	}
	crl, err := parseCRLBody(data)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", rawURL, err)
	}
	if now := f.cfg.Now(); !crl.NextUpdate.IsZero() && !now.Before(crl.NextUpdate) {
		return nil, fmt.Errorf("CRL %s: %w (nextUpdate %s, now %s)", rawURL, errFetchStale,
			crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return crl, nil
}

// storeLocked caches a freshly downloaded CRL and returns the CRL callers
// should get: the cached one instead when it is newer (a lagging mirror
// must not roll the cache back). f.mu must be held.
func (f *crlFetcher) storeLocked(rawURL string, crl *x509.RevocationList, now time.Time) *x509.RevocationList {
	if crl.NextUpdate.IsZero() {
		f.log.Warn("CRL has no nextUpdate; not cached", "url", rawURL)
		return crl
	}
	if old, ok := f.cache[rawURL]; ok && now.Before(old.crl.NextUpdate) && old.crl.ThisUpdate.After(crl.ThisUpdate) {
		f.log.Warn("downloaded CRL is older than the cached one; keeping the cached one",
			"url", rawURL, "cached_this_update", old.crl.ThisUpdate, "downloaded_this_update", crl.ThisUpdate)
		old.refreshAt = now.Add(f.cfg.RefreshFloor)
		return old.crl
	}
	f.cache[rawURL] = &crlEntry{
		crl:       crl,
		fetchedAt: now,
		refreshAt: f.refreshTime(crl, now),
	}
	return crl
}

// refreshTime is when the background refresher should download a CRL
// fetched at now again: at 90% of its thisUpdate..nextUpdate interval, but
// no sooner than RefreshFloor after now.
func (f *crlFetcher) refreshTime(crl *x509.RevocationList, now time.Time) time.Time {
	interval := crl.NextUpdate.Sub(crl.ThisUpdate)
	at := crl.ThisUpdate.Add(time.Duration(float64(interval) * refreshAtFraction))
	if floor := now.Add(f.cfg.RefreshFloor); at.Before(floor) {
		at = floor
	}
	return at
}

// refreshLoop runs until Close, refreshing due CRLs every RefreshTick.
func (f *crlFetcher) refreshLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.RefreshTick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.refreshDue()
		}
	}
}

// refreshDue evicts stale CRLs, lets CRLs nobody used since their last
// download expire, and starts background downloads of those due for
// refresh. It does not wait for the downloads.
func (f *crlFetcher) refreshDue() {
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for u, e := range f.cache {
		switch {
		case !now.Before(e.crl.NextUpdate):
			delete(f.cache, u)
		case now.Before(e.refreshAt), !e.used:
			// not due yet, or not in use: it expires at nextUpdate
		default:
			// A failed refresh is retried after RefreshFloor; the cached
			// CRL stays in service until its nextUpdate meanwhile.
			e.refreshAt = now.Add(f.cfg.RefreshFloor)
			if _, err := f.startLocked(u); err != nil {
				return // closed
			}
			f.log.Debug("refreshing CRL", "url", u, "next_update", e.crl.NextUpdate)
		}
	}
}
