package login

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts logins by outcome and times them. Register it on the
// registry the daemon passes in.
type Metrics struct {
	logins   *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewMetrics registers the login metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_logins_total",
			Help: "Card logins by outcome (ok or the error code).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authd_login_duration_seconds",
			Help:    "Time to answer POST /v1/login.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	reg.MustRegister(m.logins, m.duration)
	return m
}

func (m *Metrics) observeLogin(err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = string(CodeInternal)
		var e *Error
		if errors.As(err, &e) {
			outcome = string(e.Code)
		}
	}
	m.logins.WithLabelValues(outcome).Inc()
	m.duration.Observe(d.Seconds())
}
