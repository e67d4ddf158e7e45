// Package natsbus connects Vigil to NATS JetStream: the events stream, publishing with deduplication, the dead-letter
// stream, and an embedded server for the single-node distribution. It is the one owner of every NATS name (names.go):
// streams, event subjects and partition filters, dead-letter, incident and audit subjects.
package natsbus
