// Package app wires Vigil's components into processes: the single node, ingest and detector.
package app
