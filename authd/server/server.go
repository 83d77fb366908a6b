package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/authd/pdp"
	"github.com/carespine/spineauth/authd/ra"
	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	policies "github.com/carespine/spineauth/rego"
	"github.com/carespine/spineauth/sessions"
)

// Options are what the caller supplies besides the configuration.
type Options struct {
	Logger *slog.Logger     // default: from cfg.Log, to stderr
	Now    func() time.Time // default time.Now
	// Registry receives the metrics; default a fresh registry with the Go
	// and process collectors.
	Registry *prometheus.Registry
}

// Server is a built authd.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	handler  http.Handler
	verifier *certverify.Verifier
	store    registration.Store
	storeID  string // what the store is, for logs (no secrets)
	sessions interface {
		sessions.Store
		sessions.ChallengeStore
	}
	redis  redis.UniversalClient // nil for the memory backend
	Login  *login.Service
	PDP    *pdp.Service
	RA     *ra.Service
	policy *policy.Engine
	dlog   *policy.SQLiteLog
	ca     *caParts // nil without a ca section
	closed bool
}

// New builds the server's parts from cfg. Close releases them.
func New(ctx context.Context, cfg *config.Config, opts Options) (s *Server, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = NewLogger(os.Stderr, cfg.Log)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s = &Server{cfg: cfg, log: opts.Logger}
	built := s // "return nil, err" clears s before the deferred Close runs
	defer func() {
		if err != nil {
			built.Close()
		}
	}()

	vcfg, err := verifierConfig(cfg.PKI)
	if err != nil {
		return nil, err
	}
	vcfg.Now, vcfg.Logger = opts.Now, opts.Logger.With("component", "certverify")
	if s.verifier, err = certverify.New(vcfg); err != nil {
		return nil, err
	}

	cat := registration.DefaultCatalogue()
	if cfg.Catalogue != "" {
		f, err := os.Open(cfg.Catalogue)
		if err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		cat, err = registration.LoadCatalogue(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", cfg.Catalogue, err)
		}
	}
	if s.store, s.storeID, err = openStore(ctx, cfg.Store, opts.Logger.With("component", "registration")); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	scfg := sessions.Config{Lifetime: cfg.Sessions.Lifetime, IdleTimeout: cfg.Sessions.IdleTimeout, Now: opts.Now}
	switch cfg.Sessions.Backend {
	case "redis":
		r := cfg.Sessions.Redis
		s.redis = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:      r.Addrs,
			MasterName: r.MasterName,
			DB:         r.DB,
			Password:   os.Getenv(r.PasswordEnv),
		})
		if err := s.redis.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("sessions: redis: %w", err)
		}
		s.sessions = sessions.NewRedis(s.redis, scfg, r.KeyPrefix)
	default:
		s.sessions = sessions.NewMemory(scfg)
	}

	s.Login, err = login.New(login.Config{Audience: cfg.Audience}, login.Deps{
		Verifier:   s.verifier,
		Directory:  s.store,
		Catalogue:  cat,
		Sessions:   s.sessions,
		Challenges: s.sessions,
		Audit:      s.store,
		Now:        opts.Now,
		Logger:     opts.Logger.With("component", "login"),
		Metrics:    login.NewMetrics(opts.Registry),
	})
	if err != nil {
		return nil, err
	}

	src := policy.FSSource(policies.FS)
	if cfg.PDP.PolicyDir != "" {
		src = policy.DirSource(cfg.PDP.PolicyDir)
	}
	s.policy, err = policy.New(ctx, policy.Config{
		Source:   src,
		Queries:  map[string]string{pdp.AccessQuery: "data.spine.access.decision", ra.Query: "data.spine.ra.decision"},
		RunTests: *cfg.PDP.RunPolicyTests,
		Data:     cfg.PDP.Data,
		Now:      opts.Now,
		Logger:   opts.Logger.With("component", "policy"),
	})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if s.dlog, err = policy.OpenSQLiteLog(ctx, cfg.PDP.DecisionLog, policy.WithLogger(opts.Logger.With("component", "decision-log"))); err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	s.PDP, err = pdp.New(pdp.Deps{
		Sessions:  s.sessions,
		Facts:     s.store,
		Catalogue: cat,
		Policy:    s.policy,
		Log:       s.dlog,
		Now:       opts.Now,
		Logger:    opts.Logger.With("component", "pdp"),
		Metrics:   pdp.NewMetrics(opts.Registry),
	})
	if err != nil {
		return nil, err
	}

	if cfg.CA.Enabled() {
		cs, ok := s.store.(cardca.Store)
		if !ok {
			return nil, fmt.Errorf("ca: the %s store does not keep the card CA's records", cfg.Store.Driver)
		}
		if s.ca, err = buildCA(ctx, cfg.CA, cs, s.verifier, opts.Now, opts.Logger.With("component", "ca"), opts.Registry); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
	}

	radeps := ra.Deps{
		Store:     s.store,
		Sessions:  s.sessions,
		Policy:    s.policy,
		Catalogue: cat,
		Now:       opts.Now,
		Logger:    opts.Logger.With("component", "ra"),
	}
	if s.ca != nil {
		radeps.CA = s.ca.ca
	}
	if s.RA, err = ra.New(radeps); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	s.Login.Register(mux)
	s.PDP.Register(mux)
	s.RA.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}))
	s.handler = mux
	if s.ca != nil {
		s.ca.serve.Register(mux)
		s.handler = s.ca.serve.Wrap(mux)
	}
	return s, nil
}

// CA is the card CA, or nil when none is configured (the RA API's way to
// issue, renew and revoke card certificates).
func (s *Server) CA() *cardca.CA {
	if s.ca == nil {
		return nil
	}
	return s.ca.ca
}

// Store is the registration store (for seeding demo data and tests).
func (s *Server) Store() registration.Store { return s.store }

// Policy is the policy engine (for reloads and status).
func (s *Server) Policy() *policy.Engine { return s.policy }

// DecisionLog is the durable decision log.
func (s *Server) DecisionLog() *policy.SQLiteLog { return s.dlog }

// Sessions is the session store.
func (s *Server) Sessions() sessions.Store { return s.sessions }

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// handleReady reports whether the dependencies answer.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	if _, err := s.store.Person(ctx, "000000000000"); err != nil && !errors.Is(err, registration.ErrNotFound) {
		checks["store"], status = "failing", http.StatusServiceUnavailable
		s.log.Warn("readiness: store", "err", err)
	} else {
		checks["store"] = "ok"
	}
	// A policy that failed to reload is reported (decisions continue on
	// the last good one), without making the node unready.
	ps := s.policy.Status()
	checks["policy_revision"] = ps.Revision
	checks["policy"] = "ok"
	if ps.Degraded {
		checks["policy"] = "degraded: " + ps.LastError
	}
	if s.redis != nil {
		if err := s.redis.Ping(ctx).Err(); err != nil {
			checks["sessions"], status = "failing", http.StatusServiceUnavailable
			s.log.Warn("readiness: redis", "err", err)
		} else {
			checks["sessions"] = "ok"
		}
	} else {
		checks["sessions"] = "ok"
	}
	writeHealth(w, status, checks)
}

func writeHealth(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Serve accepts connections on l until ctx ends, then shuts down
// gracefully (in-flight requests get up to 10 seconds).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if len(s.cfg.PDP.ClientCAs) > 0 {
			pool, err := certPool(s.cfg.PDP.ClientCAs)
			if err != nil {
				return err
			}
			// Workstations log in without a client certificate; spine
			// services present one, verified here against the service CAs.
			hs.TLSConfig.ClientCAs = pool
			hs.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
		}
		l = tls.NewListener(l, hs.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	s.log.Info("authd serving", "addr", l.Addr().String(), "audience", s.cfg.Audience,
		"sessions", s.cfg.Sessions.Backend, "store", s.storeID)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	<-errc
	return err
}

// Close releases the server's resources. It is safe to call twice, and
// on a nil *Server (what New returns when it fails).
func (s *Server) Close() error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.verifier != nil {
		s.verifier.Close()
	}
	if s.policy != nil {
		s.policy.Close()
	}
	if s.dlog != nil {
		errs = append(errs, s.dlog.Close())
	}
	if s.sessions != nil {
		errs = append(errs, s.sessions.Close())
	}
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	if s.ca != nil {
		errs = append(errs, s.ca.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// sensitiveKeys are log attribute keys whose values are never written,
// whatever a caller passes: the one place that strips secrets from logs.
var sensitiveKeys = map[string]bool{
	"pin": true, "password": true, "token": true, "session_token": true,
	"authorization": true, "signature": true, "private_key": true, "so_pin": true,
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if sensitiveKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "REDACTED")
	}
	return a
}

// NewLogger builds the daemon's logger from the log section.
func NewLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
