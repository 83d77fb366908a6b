package pdp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts decisions and times them.
type Metrics struct {
	decisions *prometheus.CounterVec
	duration  prometheus.Histogram
}

// NewMetrics registers the PDP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_pdp_decisions_total",
			Help: "Access decisions by result and first reason code.",
		}, []string{"decision", "reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authd_pdp_decision_duration_seconds",
			Help:    "Time to decide one evaluation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
	}
	reg.MustRegister(m.decisions, m.duration)
	return m
}

func (m *Metrics) observe(r EvaluationResponse, d time.Duration) {
	if m == nil {
		return
	}
	decision, reason := "deny", ""
	if r.Decision {
		decision = "allow"
	}
	if len(r.Context.ReasonCodes) > 0 {
		reason = r.Context.ReasonCodes[0]
	}
	m.decisions.WithLabelValues(decision, reason).Inc()
	m.duration.Observe(d.Seconds())
}
