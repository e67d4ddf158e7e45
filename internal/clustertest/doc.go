// Package clustertest runs Vigil's components against a real three-node NATS cluster (testenv.NATSCluster) and kills
// nodes under load. It has no code of its own; see cluster_test.go.
package clustertest
