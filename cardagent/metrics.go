package cardagent

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the agent's Prometheus metrics. They never carry a user,
// PIN or token: only reasons and outcomes.
type Metrics struct {
	Registry     *prometheus.Registry
	cardEvents   *prometheus.CounterVec
	logins       *prometheus.CounterVec
	ended        *prometheus.CounterVec
	authdErrors  *prometheus.CounterVec
	logoutTime   prometheus.Histogram
	activeGauges prometheus.Gauge
}

// NewMetrics registers the agent's metrics on reg (a new registry when
// nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		cardEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardagent_reader_events_total", Help: "PC/SC reader events by kind."}, []string{"kind"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardagent_logins_total", Help: "Card logins by outcome."}, []string{"outcome"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardagent_sessions_ended_total", Help: "Sessions ended by reason."}, []string{"reason"}),
		authdErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardagent_authd_unreachable_total", Help: "Requests to authd that got no answer, by operation."}, []string{"op"}),
		logoutTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cardagent_removal_logout_seconds", Help: "From the removal event to authd confirming the logout.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		activeGauges: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cardagent_sessions_active", Help: "Sessions held now."}),
	}
	reg.MustRegister(m.cardEvents, m.logins, m.ended, m.authdErrors, m.logoutTime, m.activeGauges)
	return m
}
