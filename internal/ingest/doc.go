// Package ingest accepts events over HTTP, validates them and stores them in JetStream before answering.
package ingest
