package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics of every sink; the sink label is a configured name, so its values are bounded.
type metrics struct {
	deliveries  *prometheus.CounterVec   // sink, result: delivered, failed (retried later), dead_lettered, skipped
	latency     *prometheus.HistogramVec // sink
	deadLetters *prometheus.CounterVec   // sink
	firing      prometheus.Gauge
	pending     prometheus.Gauge
	mails       *prometheus.CounterVec // kind (digest, owner), result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		deliveries: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_notify_deliveries_total",
			Help: "Notification delivery attempts, by sink and result (delivered, failed: retried later, dead_lettered, skipped: nothing to send)."}, []string{"sink", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_notify_delivery_seconds",
			Help: "Time of one delivery attempt, by sink.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"sink"}),
		deadLetters: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_notify_dead_letters_total",
			Help: "Notifications given up on and copied to vigil.dlq.notify.<sink>, by sink."}, []string{"sink"}),
		firing: f.NewGauge(prometheus.GaugeOpts{Name: "vigil_notify_alerts_firing",
			Help: "Incidents the Alertmanager sink keeps firing (re-sent until reviewed as resolved)."}),
		pending: f.NewGauge(prometheus.GaugeOpts{Name: "vigil_notify_digest_pending",
			Help: "Events waiting for the next e-mail digest."}),
		mails: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_notify_mails_total",
			Help: "Notification mails, by kind (digest, owner) and result (sent, failed)."}, []string{"kind", "result"}),
	}
}
