package detector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type addrMetrics struct {
	republished     prometheus.Counter
	republishErrors prometheus.Counter
	events          prometheus.Counter
	keys            prometheus.Gauge
	owned           prometheus.Gauge
	takeovers       prometheus.Counter
}

func newAddrMetrics(reg prometheus.Registerer) *addrMetrics {
	f := promauto.With(reg)
	return &addrMetrics{
		republished: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_addr_republished_total", Help: "Messages republished to the address partitions (each up to 1,000 failures and first successes from an address).",
		}),
		republishErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_addr_republish_errors_total", Help: "Republish rounds with failed publishes (each is retried).",
		}),
		events: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_addr_events_total", Help: "Logins applied to the address windows.",
		}),
		keys: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_addresses_tracked", Help: "Client addresses and /24 or /64 prefixes with state in the address windows.",
		}),
		owned: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_addr_partitions_owned", Help: "Address partitions whose windows this detector holds and whose logins it processes.",
		}),
		takeovers: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_addr_partition_takeovers_total", Help: "Address partitions taken over from the group (group mode): their windows were rebuilt before live work.",
		}),
	}
}
