// Package bench measures the pipeline against raw JetStream and ClickHouse baselines.
package bench
