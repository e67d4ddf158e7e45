package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/chserver"
)

// ClickHouseClusterName is the cluster (remote_servers entry) the test cluster defines.
const ClickHouseClusterName = "vigil"

// CHCluster is a ClickHouse cluster of one shard with two replicas on 127.0.0.1, coordinated by a private ZooKeeper:
// what VIGIL_CLICKHOUSE_CLUSTER expects, at test size.
type CHCluster struct {
	Addrs   []string // native protocol addresses, one per replica
	servers []*chserver.Server
}

var (
	chcOnce sync.Once
	chc     *CHCluster
	chcErr  error
)

// ClickHouseCluster returns the test binary's replicated ClickHouse cluster, started on first use (two Debian
// clickhouse-server processes and one ZooKeeper) and stopped by Main. Tests share it: each uses its own database.
func ClickHouseCluster(t testing.TB) *CHCluster {
	t.Helper()
	zk := ZooKeeper(t)
	chcOnce.Do(func() { chc, chcErr = startCHCluster(zk) })
	if chcErr != nil {
		t.Fatalf("ClickHouse cluster for tests: %v (make test installs clickhouse-server and zookeeper)", chcErr)
	}
	return chc
}

func startCHCluster(zk string) (*CHCluster, error) {
	const n = 2
	zkHost, zkPort, _ := net.SplitHostPort(zk)
	tcp := make([]int, n)
	for i := range tcp {
		p, err := pickPort()
		if err != nil {
			return nil, err
		}
		tcp[i] = p
	}
	var replicas strings.Builder
	for _, p := range tcp {
		fmt.Fprintf(&replicas, "<replica><host>127.0.0.1</host><port>%d</port></replica>", p)
	}
	c := &CHCluster{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		dir, err := os.MkdirTemp("", "vigil-test-chcluster-")
		if err != nil {
			return nil, err
		}
		addMainCleanup(func() { os.RemoveAll(dir) })
		inter, err := pickPort()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, "config.d"), 0o750); err != nil {
			return nil, err
		}
		conf := clusterXML(i, inter, zkHost, zkPort, replicas.String())
		if err := os.WriteFile(filepath.Join(dir, "config.d", "cluster.xml"), []byte(conf), 0o640); err != nil {
			return nil, err
		}
		s, err := chserver.Start(ctx, chserver.Options{Dir: dir, TCPPort: tcp[i]})
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i+1, err)
		}
		addMainCleanup(func() { s.Stop() })
		c.servers = append(c.servers, s)
		c.Addrs = append(c.Addrs, s.Addr())
	}
	return c, nil
}

// clusterXML is the config.d fragment of replica i: its macros, the shared cluster, ZooKeeper and the distributed
// DDL queue. Every replica has its own interserver port, since all of them share 127.0.0.1.
func clusterXML(i, interPort int, zkHost, zkPort, replicas string) string {
	return `<?xml version="1.0"?>
<yandex>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>` + strconv.Itoa(interPort) + `</interserver_http_port>
    <zookeeper>
        <node><host>` + zkHost + `</host><port>` + zkPort + `</port></node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>01</shard>
        <replica>r` + strconv.Itoa(i+1) + `</replica>
    </macros>
    <remote_servers>
        <` + ClickHouseClusterName + `>
            <shard><internal_replication>true</internal_replication>` + replicas + `</shard>
        </` + ClickHouseClusterName + `>
    </remote_servers>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
`
}

// ErrLog returns the end of replica i's server error log, for failure messages.
func (c *CHCluster) ErrLog(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.servers[i].Dir(), "log", "server.err.log"))
	return tail(string(b))
}
