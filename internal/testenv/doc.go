// Package testenv starts the real servers tests need: an in-process NATS server with JetStream and a private
// ClickHouse server.
package testenv
