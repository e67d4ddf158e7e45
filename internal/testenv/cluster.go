package testenv

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is a three-node NATS cluster of in-process servers with routes and JetStream on loopback. Each node keeps
// its JetStream store in its own t.TempDir(), so a stopped node restarts on its data with the same name and ports.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	opts  []*server.Options
	nodes []*server.Server // nil while a node is stopped
}

// ClusterSize is the number of nodes NATSCluster starts.
const ClusterSize = 3

// NATSCluster starts a three-node cluster, waits until JetStream has a meta leader that every node follows, and
// shuts every node down when the test ends.
func NATSCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	clientPorts := make([]int, ClusterSize)
	routePorts := make([]int, ClusterSize)
	for i := range ClusterSize {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	for i := range ClusterSize {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "vigil-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     routes,
		})
	}
	c.nodes = make([]*server.Server, ClusterSize)
	for i := range ClusterSize {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range ClusterSize {
			c.Stop(i)
		}
	})
	c.WaitJetStream()
	return c
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("start nats node %s: %v", o.ServerName, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("nats node %s not ready after 10s", o.ServerName)
	}
	c.mu.Lock()
	c.nodes[i] = s
	c.mu.Unlock()
}

// URLs returns every node's client URL, comma-separated, for nats.Connect.
func (c *Cluster) URLs() string {
	var us []string
	for _, o := range c.opts {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(us, ",")
}

// Name returns node i's server name (n1, n2, n3).
func (c *Cluster) Name(i int) string { return c.opts[i].ServerName }

// Index returns the node index of a server name, or -1.
func (c *Cluster) Index(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

// Server returns node i, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Stop shuts node i down and waits until it has stopped; stopping a stopped node does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts a stopped node again on its store and ports, and waits until JetStream is current everywhere.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		c.t.Fatalf("restart nats node %s: it is running", c.Name(i))
	}
	c.start(i)
	c.WaitJetStream()
}

// WaitJetStream waits (up to 30s) until one running node is the JetStream meta leader, every running node is
// current with it and the leader counts every running node as an online peer.
func (c *Cluster) WaitJetStream() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		leaders, current, running, online := 0, 0, 0, 0
		for i := range ClusterSize {
			s := c.Server(i)
			if s == nil {
				continue
			}
			running++
			if s.JetStreamIsLeader() {
				leaders++
				online = len(s.JetStreamClusterPeers())
			}
			if s.JetStreamIsCurrent() {
				current++
			}
		}
		// The leader places a stream's replicas only on peers it has current statistics of: until it has them of
		// every running node, creating an R3 stream fails with "no suitable peers for placement".
		if leaders == 1 && current == running && online >= running {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats cluster: no JetStream meta leader with every node online after 30s (leaders %d, current %d of %d, online by the leader %d)", leaders, current, running, online)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Connect opens a client connection that knows every node's URL and reconnects forever; it is closed when the test
// ends.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		t.Fatalf("connect nats cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
