package respond

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	would       *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	incidents   *prometheus.CounterVec
	lifts       *prometheus.CounterVec
	kicks       *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	purged      prometheus.Counter
	latency     prometheus.Histogram
	released    *prometheus.CounterVec
	fed         prometheus.Counter
	reviewsSeen *prometheus.CounterVec

	policyLoaded       prometheus.Gauge
	policyReloadErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		would: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_decisions_would_total",
			Help: "Decisions the containment policy would have taken in observe mode (once per incident and action), by rule and action."}, []string{"rule", "action"}),
		decisions: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_decisions_enforced_total",
			Help: "Decisions the containment policy took in enforce mode (once per incident and action), by rule and action."}, []string{"rule", "action"}),
		incidents: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_incidents_total",
			Help: "Incident versions the responder handled, by result (decided, nothing, resolved, invalid)."}, []string{"result"}),
		lifts: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_lifts_total",
			Help: "Decisions the responder lifted, by cause (review, trusted_range)."}, []string{"cause"}),
		kicks: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_kicks_total",
			Help: "Kick decisions carried out through doveadm, by outcome (ok; abandoned: lifted or expired before an attempt succeeded; unconfigured: no doveadm), once per decision."}, []string{"result"}),
		attempts: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_kick_attempts_total",
			Help: "Calls of doveadm kick by this responder, by result (ok, failed)."}, []string{"result"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_errors_total",
			Help: "Failed operations of the responder (each is retried), by operation."}, []string{"op"}),
		purged: f.NewCounter(prometheus.CounterOpts{Name: "vigil_responder_purged_total",
			Help: "Lifted or expired decision records the janitor deleted."}),
		latency: f.NewHistogram(prometheus.HistogramOpts{Name: "vigil_responder_decision_seconds",
			Help:    "Time from an incident version entering VIGIL_INCIDENTS to its decisions stored.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		released: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_quarantine_releases_total",
			Help: "Requests to release an incident's held mail after a harmless resolution, by result (ok, failed)."}, []string{"result"}),
		fed: f.NewCounter(prometheus.CounterOpts{Name: "vigil_responder_feed_incidents_total",
			Help: "Incident versions read from the whole incidents stream (the last day at start, then live), so combinations see every incident."}),
		reviewsSeen: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_responder_reviews_total",
			Help: "Review records the responder read, by effect (lift, none, invalid)."}, []string{"effect"}),
		policyLoaded: f.NewGauge(prometheus.GaugeOpts{Name: "vigil_containment_policy_loaded_timestamp_seconds",
			Help: "When the containment policy in force was loaded (at start or by a reload), in Unix seconds."}),
		policyReloadErrors: f.NewCounter(prometheus.CounterOpts{Name: "vigil_containment_policy_reload_errors_total",
			Help: "Reloads of the containment policy file that failed (unreadable or invalid); the previous policy stayed in force."}),
	}
}
