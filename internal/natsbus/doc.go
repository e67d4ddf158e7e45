// Package natsbus connects Vigil to NATS JetStream: the events stream, publishing with deduplication, and an embedded
// server for the single-node distribution.
package natsbus
