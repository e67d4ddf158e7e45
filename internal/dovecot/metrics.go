package dovecot

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a report was not kept (the reason label of vigil_dovecot_dropped_total).
const (
	reasonMalformed  = "malformed"   // not a JSON report (answered 400)
	reasonMissing    = "missing"     // a required attribute is not configured (answered 400)
	reasonInvalid    = "invalid"     // a report that breaks the event schema, e.g. a user name with spaces
	reasonBufferFull = "buffer_full" // the event store was too slow for too long
	reasonStore      = "store"       // still unstored when the flusher stopped
)

type metrics struct {
	requests *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	latency  prometheus.Histogram
	verdicts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_dovecot_requests_total",
			Help: "Dovecot auth policy requests by command (allow, report, other) and result (ok, bad_request, unauthorized).",
		}, []string{"command", "result"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_dovecot_dropped_total",
			Help: "Dovecot reports not stored, by reason (malformed, missing, invalid, buffer_full, store).",
		}, []string{"reason"}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_dovecot_request_seconds",
			Help:    "Time to answer a Dovecot auth policy request.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
		}),
		verdicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_dovecot_verdicts_total",
			Help: "Answers to Dovecot's allow requests by verdict: allow, block_login, tarpit (decisions enforced); not_ready, unreadable (allowed: decisions not loaded, body unreadable); observe (no decisions index: enforcement off).",
		}, []string{"verdict"}),
	}
	for _, v := range []string{verdictAllow, verdictBlock, verdictTarpit, verdictNotReady, verdictUnreadable, verdictObserve} {
		m.verdicts.WithLabelValues(v)
	}
	for _, r := range []string{reasonMalformed, reasonMissing, reasonInvalid, reasonBufferFull, reasonStore} {
		m.dropped.WithLabelValues(r) // export zeros, so alerts see the series before the first drop
	}
	return m
}
