package chstore

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	seconds *prometheus.HistogramVec
	rows    *prometheus.CounterVec
	errors  *prometheus.CounterVec
	batch   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		seconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_clickhouse_write_seconds", Help: "Time to insert one batch, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"table"}),
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_clickhouse_rows_written_total", Help: "Rows inserted, by table.",
		}, []string{"table"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_clickhouse_write_errors_total", Help: "Failed batch inserts, by table.",
		}, []string{"table"}),
		batch: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_clickhouse_batch_rows", Help: "Rows per batch insert, by table.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}, []string{"table"}),
	}
}
