package postfix

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons an event was not kept (the reason label of vigil_postfix_dropped_total).
const (
	reasonInvalid    = "invalid"     // a message request that breaks the event schema
	reasonBufferFull = "buffer_full" // the event store was too slow for too long
	reasonStore      = "store"       // still unstored when the flusher stopped
)

type metrics struct {
	requests    *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	connections prometheus.Gauge
	verdicts    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_postfix_requests_total",
			Help: "Postfix policy requests by result (send, ignored, malformed).",
		}, []string{"result"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_postfix_dropped_total",
			Help: "Send events not stored, by reason (invalid, buffer_full, store).",
		}, []string{"reason"}),
		connections: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_postfix_connections",
			Help: "Open Postfix policy connections.",
		}),
		verdicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_postfix_verdicts_total",
			Help: "Answers at END-OF-MESSAGE of authenticated senders by verdict: dunno, hold_mail, defer_mail (decisions enforced); not_ready (DUNNO: decisions not loaded); observe (no decisions index: enforcement off).",
		}, []string{"verdict"}),
	}
	for _, v := range []string{verdictDunno, verdictHold, verdictDefer, verdictNotReady, verdictObserve} {
		m.verdicts.WithLabelValues(v)
	}
	for _, r := range []string{reasonInvalid, reasonBufferFull, reasonStore} {
		m.dropped.WithLabelValues(r)
	}
	return m
}
