package detector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	events           *prometheus.CounterVec
	incidents        *prometheus.CounterVec
	incidentUpdates  *prometheus.CounterVec
	pending          *prometheus.GaugeVec
	users            prometheus.Gauge
	batchRows        prometheus.Histogram
	commitSeconds    prometheus.Histogram
	commitErrors     prometheus.Counter
	redelivered      prometheus.Counter
	deadLetters      prometheus.Counter
	replayed         prometheus.Counter
	consumerRestarts prometheus.Counter
	owned            prometheus.Gauge
	assigned         prometheus.Gauge
	members          prometheus.Gauge
	takeovers        prometheus.Counter

	incidentPublishSeconds    prometheus.Histogram
	incidentPublishErrors     prometheus.Counter
	incidentPublishDuplicates prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_events_total", Help: "Events applied to the windows, by kind.",
		}, []string{"kind"}),
		incidents: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_incidents_total", Help: "Incidents opened, by rule.",
		}, []string{"rule"}),
		incidentUpdates: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_incident_updates_total", Help: "Incident rows written (openings and updates), by rule.",
		}, []string{"rule"}),
		pending: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_detector_consumer_pending", Help: "Messages waiting in the stream for a partition's consumer.",
		}, []string{"partition"}),
		users: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_users_tracked", Help: "Users with state in the windows.",
		}),
		batchRows: f.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_detector_batch_rows", Help: "Rows committed per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		commitSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_detector_commit_seconds", Help: "Time to commit a batch to the store.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		commitErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_commit_errors_total", Help: "Failed commits (each is retried).",
		}),
		redelivered: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_redelivered_total", Help: "Redelivered messages already applied, acknowledged without reprocessing.",
		}),
		deadLetters: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_dead_letters_total", Help: "Messages copied to the dead-letter stream and terminated.",
		}),
		replayed: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_replayed_events_total", Help: "Events replayed from the stream to rebuild windows at start.",
		}),
		owned: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_partitions_owned", Help: "Partitions whose windows this detector holds and whose events it processes.",
		}),
		assigned: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_partitions_assigned", Help: "Partitions the detector group assigns to this member (group mode).",
		}),
		members: f.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_group_members", Help: "Live members of the detector group as this member sees them (group mode).",
		}),
		takeovers: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_partition_takeovers_total", Help: "Partitions taken over from the group (group mode): their windows were rebuilt before live work.",
		}),
		incidentPublishSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_detector_incident_publish_seconds", Help: "Time to store a batch's incident versions in the incidents stream (VIGIL_INCIDENTS).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		incidentPublishErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_incident_publish_errors_total", Help: "Incident versions the incidents stream did not acknowledge (each is retried before the batch is acknowledged).",
		}),
		incidentPublishDuplicates: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_incident_publish_duplicates_total", Help: "Incident versions the incidents stream already held (a redelivered batch), stored once.",
		}),
		consumerRestarts: f.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_consumer_restarts_total", Help: "Partition consumers restarted after a gap in their delivery sequence (deliveries lost in transit).",
		}),
	}
}
